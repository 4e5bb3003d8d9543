package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkParsePredict measures decoding a 2048-sample Heimdall JSON body.
func BenchmarkParsePredict(b *testing.B) {
	body := heimdallJSON(burst(2048, 250e3, -15625, 1))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parsePredict(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredictMiss measures one uncached 2048-sample predict through the handler,
// without the network (no store: every request computes).
func BenchmarkPredictMiss(b *testing.B) {
	e := newEnv(b, func(_ *Config, d *Deps) { d.DB = nil })
	h := e.srv.Handler()
	body := heimdallJSON(burst(2048, 250e3, -15625, 1))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/predict", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
			}
		}
	})
}

// BenchmarkPredictHit measures a cached 2048-sample predict through the handler.
func BenchmarkPredictHit(b *testing.B) {
	e := newEnv(b, nil)
	h := e.srv.Handler()
	body := heimdallJSON(burst(2048, 250e3, -15625, 1))
	do := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/predict", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	do()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := do(); rec.Code != 200 || rec.Header().Get("X-Edged-Cache") != "hit" {
				b.Fatalf("status %d cache %q", rec.Code, rec.Header().Get("X-Edged-Cache"))
			}
		}
	})
}
