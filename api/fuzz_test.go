package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

var fuzzContentTypes = []string{"application/json", "application/octet-stream", "", "text/plain", "application/json; charset=utf-8", "multipart/form-data; boundary="}

// checkAnswer fails unless the answer is a 2xx with JSON or a 4xx with a JSON error.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d on garbage: %s", rec.Code, rec.Body.Bytes())
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("status %d: body is not JSON: %q", rec.Code, rec.Body.Bytes())
	}
	if rec.Code >= 400 {
		var e apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("status %d: not a JSON error: %q", rec.Code, rec.Body.Bytes())
		}
	}
}

// FuzzPredict sends arbitrary bodies, content types and queries to predict: never a 5xx,
// never a panic, always JSON.
func FuzzPredict(f *testing.F) {
	f.Add(uint8(0), "", []byte(`{"iq_data":[[0.1,-0.2],[0.3,0.4]]}`))
	f.Add(uint8(0), "sample_rate=1M", []byte(`{"iq_data":[[1e-3,2E+2],[ -0 , 0.5 ]], "session_id":"x","cache_enabled":true}`))
	f.Add(uint8(0), "", []byte(`{"iq_data":[[1,2],[3]]}`))
	f.Add(uint8(4), "center_freq=433.92M", []byte(`{"iq_data":[]}`))
	f.Add(uint8(1), "format=cu8&sample_rate=250k", []byte{127, 128, 0, 255, 10, 20})
	f.Add(uint8(1), "format=cs16&sample_rate=2.4M", []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(1), "format=cf32&sample_rate=250k", []byte{0, 0, 0x80, 0x7f, 0, 0, 0, 0})
	f.Add(uint8(1), "format=cs8&sample_rate=3", []byte{1, 2})
	f.Add(uint8(2), "", []byte(`{"iq_data":[[1,2]]}`))
	f.Add(uint8(0), "", []byte(`{"iq_data":[[1,2]]}{"x":1}`))
	f.Add(uint8(0), "", append([]byte(`{"session_id":`), bytes.Repeat([]byte("["), 40)...))
	f.Add(uint8(1), "format=cu8&sample_rate=61.03515625", make([]byte, 4096))
	f.Add(uint8(1), "format=cu8&sample_rate=15625", make([]byte, 512))
	e := newEnv(f, func(c *Config, _ *Deps) { c.MaxBodyBytes = 64 << 10; c.MaxSamples = 1 << 15 })
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, ct uint8, query string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/predict", bytes.NewReader(body))
		req.URL.RawQuery = query
		if c := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec)
	})
}

// FuzzBatch sends arbitrary JSON bodies to batch predict.
func FuzzBatch(f *testing.F) {
	f.Add([]byte(`{"items":[{"id":"a","iq_data":[[0.1,0.2]]},{"id":"b","iq_data":[[1,2,3]]}]}`))
	f.Add([]byte(`{"items":[]}`))
	f.Add([]byte(`{"items":[{"iq_data":null},{"id":"x"},{"id":5}]}`))
	f.Add([]byte(`{"items":[{"id":"a","iq_data":[[1e400,0]]}],"cache_enabled":false}`))
	f.Add([]byte(`{"items":[{"id":"a","iq_data":{"i":[1],"q":[2]}}]}`))
	f.Add(append([]byte(`{"items":[{"id":`), bytes.Repeat([]byte("[{\"a\":"), 20)...))
	e := newEnv(f, func(c *Config, _ *Deps) { c.MaxBodyBytes = 64 << 10; c.MaxSamples = 1 << 15 })
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/predict/batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec)
	})
}

// FuzzIQ checks the hand-written parser against encoding/json: it must accept exactly
// the valid JSON of the right shape, and decode the same numbers.
func FuzzIQ(f *testing.F) {
	f.Add([]byte(`{"iq_data":[[1,2],[3.5e-1,-4]]}`))
	f.Add([]byte(` { "iq_data" : [ [ 0 , 0 ] ] , "session_id" : "a\u00e9\"" } `))
	f.Add([]byte(`{"iq_data":[[1,2],]}`))
	f.Add([]byte(`{"iq_data":[], "cache_enabled": false}`))
	f.Add([]byte(`{"iq_data":[[01,2]]}`))
	f.Add([]byte(`{"iq_data":[[1.,2]]}`))
	f.Add([]byte(`{"iq_data":[[-0.0e+5,2E-3]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parsePredict(b)
		var want struct {
			IQData       [][]float64 `json:"iq_data"`
			SessionID    *string     `json:"session_id"`
			CacheEnabled *bool       `json:"cache_enabled"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		stdErr := dec.Decode(&want)
		if stdErr == nil {
			if _, e := dec.Token(); e == nil || e.Error() != "EOF" {
				stdErr = e
				if stdErr == nil {
					stdErr = errors.New("trailing data")
				}
			}
		}
		valid := json.Valid(b)
		if err == nil && !valid {
			t.Fatalf("%q: accepted invalid JSON", b)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("%q: error %v is not a 400", b, err)
			}
			if ae.Code == codeInvalidJSON && valid {
				t.Fatalf("%q: called valid JSON malformed: %v", b, err)
			}
			return
		}
		if stdErr != nil {
			t.Fatalf("%q: accepted, encoding/json says %v", b, stdErr)
		}
		if len(want.IQData) != len(got.samples) {
			t.Fatalf("%q: %d samples, encoding/json %d", b, len(got.samples), len(want.IQData))
		}
		for i, p := range want.IQData {
			if len(p) != 2 || float32(p[0]) != real(got.samples[i]) || float32(p[1]) != imag(got.samples[i]) {
				t.Fatalf("%q: sample %d is %v, encoding/json says %v", b, i, got.samples[i], p)
			}
		}
	})
}
