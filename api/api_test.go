package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heimdall/edged/store"
)

// Ensure that a predict on a beacon D burst, in Heimdall's JSON, returns beacon D's site,
// and that the same request again is a cache hit with the identical body.
func TestPredictJSONBeaconDThenCacheHit(t *testing.T) {
	e := newEnv(t, nil)
	d := beaconD(t)
	body := heimdallJSON(burst(16384, 250e3, d.OffsetHz, 1))

	first := e.do(t, "POST", "/api/v1/predict", "application/json", body)
	if first.status != 200 {
		t.Fatalf("status %d: %s", first.status, first.body)
	}
	if got := first.header.Get("X-Edged-Cache"); got != "miss" {
		t.Errorf("X-Edged-Cache %q, want miss", got)
	}
	f := decodeFix(t, first.body)
	assertAt(t, f, d)
	if f.Type != "Feature" || !strings.HasPrefix(f.ID, "rx1:predict:") || len(f.ID) != len("rx1:predict:")+16 {
		t.Errorf("type %q id %q", f.Type, f.ID)
	}
	if _, err := hex.DecodeString(strings.TrimPrefix(f.ID, "rx1:predict:")); err != nil {
		t.Errorf("id %q: %v", f.ID, err)
	}
	if f.Properties.SampleRateHz != 250e3 || f.Properties.ReceiverID != "rx1" || f.Properties.SNRDB < 10 {
		t.Errorf("properties %+v", f.Properties)
	}
	if _, err := time.Parse(time.RFC3339Nano, f.Properties.Time); err != nil {
		t.Errorf("time %q: %v", f.Properties.Time, err)
	}

	second := e.do(t, "POST", "/api/v1/predict", "application/json", body)
	if second.status != 200 || second.header.Get("X-Edged-Cache") != "hit" {
		t.Fatalf("second: status %d cache %q", second.status, second.header.Get("X-Edged-Cache"))
	}
	if !bytes.Equal(first.body, second.body) {
		t.Errorf("cache hit body differs:\n%s\n%s", first.body, second.body)
	}
	// Spelling the same numbers differently is the same input.
	spaced := bytes.ReplaceAll(body, []byte(","), []byte(", "))
	if r := e.do(t, "POST", "/api/v1/predict", "application/json; charset=utf-8", spaced); r.header.Get("X-Edged-Cache") != "hit" {
		t.Errorf("respaced JSON: status %d cache %q", r.status, r.header.Get("X-Edged-Cache"))
	}
	if h, m := counterValue(t, e.srv.metrics.cacheHits), counterValue(t, e.srv.metrics.cacheMisses); h != 2 || m != 1 {
		t.Errorf("cache hits %v misses %v, want 2 and 1", h, m)
	}
	// cache_enabled false neither reads nor writes the cache.
	off := append([]byte(`{"cache_enabled":false,`), body[1:]...)
	for range 2 {
		if r := e.do(t, "POST", "/api/v1/predict", "application/json", off); r.status != 200 || r.header.Get("X-Edged-Cache") != "off" {
			t.Errorf("cache_enabled false: status %d cache %q", r.status, r.header.Get("X-Edged-Cache"))
		}
	}
	// The same body with another query is another input.
	if r := e.do(t, "POST", "/api/v1/predict?center_freq=433.92M", "application/json", body); r.header.Get("X-Edged-Cache") != "miss" {
		t.Errorf("other query: status %d cache %q", r.status, r.header.Get("X-Edged-Cache"))
	}
}

// Ensure that every raw format, at the model's rate and at a rate it must resample from,
// gives beacon D.
func TestPredictRaw(t *testing.T) {
	e := newEnv(t, nil)
	d := beaconD(t)
	for _, tc := range []struct {
		format string
		rate   string
		rateHz float64
	}{
		{"cu8", "250k", 250e3}, {"cs8", "250k", 250e3}, {"cs16", "250000", 250e3}, {"cf32", "250k", 250e3},
		{"cu8", "1M", 1e6}, {"cs16", "1024k", 1024e3},
	} {
		t.Run(tc.format+"@"+tc.rate, func(t *testing.T) {
			n := int(16384 * tc.rateHz / 250e3)
			body := encode(burst(n, tc.rateHz, d.OffsetHz, 2), tc.format)
			r := e.do(t, "POST", "/api/v1/predict?format="+tc.format+"&sample_rate="+tc.rate+"&center_freq=433.92M",
				"application/octet-stream", body)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			f := decodeFix(t, r.body)
			assertAt(t, f, d)
			if f.Properties.SampleRateHz != tc.rateHz || f.Properties.CenterFreqHz != 433.92e6 {
				t.Errorf("sample_rate_hz %v center_freq_hz %v", f.Properties.SampleRateHz, f.Properties.CenterFreqHz)
			}
		})
	}
}

// Ensure that an input shorter than a window is zero-padded, and that of several windows
// the one holding the burst answers.
func TestPredictShortAndLong(t *testing.T) {
	e := newEnv(t, nil)
	d := beaconD(t)
	short := burst(2048, 250e3, d.OffsetHz, 3)
	r := e.do(t, "POST", "/api/v1/predict", "application/json", heimdallJSON(short))
	if r.status != 200 {
		t.Fatalf("short: status %d: %s", r.status, r.body)
	}
	assertAt(t, decodeFix(t, r.body), d)

	// Three windows: noise, a beacon E burst, noise.
	eb, err := referenceBeacon("E")
	if err != nil {
		t.Fatal(err)
	}
	long := burst(3*16384, 250e3, 0, 4)
	tone := burst(16384, 250e3, eb.OffsetHz, 5)
	for i := range long {
		long[i] *= 0.02
	}
	copy(long[16384:], tone)
	r = e.do(t, "POST", "/api/v1/predict?format=cf32&sample_rate=250k", "application/octet-stream", encode(long, "cf32"))
	if r.status != 200 {
		t.Fatalf("long: status %d: %s", r.status, r.body)
	}
	f := decodeFix(t, r.body)
	assertAt(t, f, eb)
	var full struct {
		Properties struct {
			SampleOffset uint64 `json:"sample_offset"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(r.body, &full); err != nil || full.Properties.SampleOffset != 16384 {
		t.Errorf("sample_offset %d, want 16384 (%v)", full.Properties.SampleOffset, err)
	}
}

// Ensure that bad input gets the right 4xx and a JSON error naming the problem.
func TestPredictBadInput(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.MaxBodyBytes = 1 << 20 })
	good := heimdallJSON(burst(64, 250e3, 0, 6))
	big := make([]byte, 1<<20+1)
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		code, want                string
	}{
		{"no content type", "POST", "/api/v1/predict", "", good, 415, codeUnsupportedMedia, "Content-Type"},
		{"form content type", "POST", "/api/v1/predict", "application/x-www-form-urlencoded", good, 415, codeUnsupportedMedia, "application/json"},
		{"malformed JSON", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data": [[1,2],`), 400, codeInvalidJSON, "JSON"},
		{"syntax error", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data": [[1,2]]]}`), 400, codeInvalidJSON, "malformed"},
		{"empty body", "POST", "/api/v1/predict", "application/json", nil, 400, codeInvalidJSON, "empty"},
		{"not an object", "POST", "/api/v1/predict", "application/json", []byte(`[1,2]`), 400, codeInvalidField, "body"},
		{"unknown field", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1,2]],"iq":1}`), 400, codeInvalidField, `"iq"`},
		{"trailing data", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1,2]]} {}`), 400, codeInvalidJSON, "trailing"},
		{"missing iq_data", "POST", "/api/v1/predict", "application/json", []byte(`{}`), 400, codeMissingField, "iq_data"},
		{"null iq_data", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":null}`), 400, codeMissingField, "iq_data"},
		{"empty iq_data", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[]}`), 400, codeInvalidField, "iq_data"},
		{"iq_data string", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":"abc"}`), 400, codeInvalidField, "iq_data"},
		{"triple", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1,2],[1,2,3]]}`), 400, codeInvalidField, "iq_data[1]"},
		{"single", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1]]}`), 400, codeInvalidField, "iq_data[0]"},
		{"string sample", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1,"2"]]}`), 400, codeInvalidField, "iq_data[0][1]"},
		{"huge number", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1,2],[1e999,0]]}`), 400, codeInvalidField, "iq_data[1][0]"},
		{"beyond float32", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1e39,0]]}`), 400, codeInvalidField, "outside"},
		{"beyond full scale", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[0,-1.5e9]]}`), 400, codeInvalidField, "iq_data[0][1]"},
		{"huge cf32", "POST", "/api/v1/predict?format=cf32&sample_rate=170k", "application/octet-stream", []byte("00Xb0000"), 400, codeInvalidField, "sample 0"},
		{"NaN literal", "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[NaN,0]]}`), 400, codeInvalidJSON, "malformed"},
		{"oversized JSON", "POST", "/api/v1/predict", "application/json", big, 413, codeBodyTooLarge, "limit"},
		{"oversized raw", "POST", "/api/v1/predict?format=cu8&sample_rate=250k", "application/octet-stream", big, 413, codeBodyTooLarge, "limit"},
		{"format with JSON", "POST", "/api/v1/predict?format=cu8", "application/json", good, 400, codeInvalidParam, "format"},
		{"unknown param", "POST", "/api/v1/predict?samplerate=250k", "application/json", good, 400, codeInvalidParam, "samplerate"},
		{"bad rate", "POST", "/api/v1/predict?sample_rate=fast", "application/json", good, 400, codeInvalidParam, "sample_rate"},
		{"negative rate", "POST", "/api/v1/predict?sample_rate=-250k", "application/json", good, 400, codeInvalidParam, "sample_rate"},
		{"irrational rate", "POST", "/api/v1/predict?sample_rate=250000.123", "application/json", good, 400, codeInvalidParam, "sample_rate"},
		{"raw without format", "POST", "/api/v1/predict?sample_rate=250k", "application/octet-stream", []byte{1, 2}, 400, codeMissingField, "format"},
		{"raw without rate", "POST", "/api/v1/predict?format=cu8", "application/octet-stream", []byte{1, 2}, 400, codeMissingField, "sample_rate"},
		{"wrong format", "POST", "/api/v1/predict?format=cs32&sample_rate=250k", "application/octet-stream", []byte{1, 2}, 400, codeInvalidParam, "format"},
		{"unknown format", "POST", "/api/v1/predict?format=wav&sample_rate=250k", "application/octet-stream", []byte{1, 2}, 400, codeInvalidParam, "format"},
		{"partial sample", "POST", "/api/v1/predict?format=cs16&sample_rate=250k", "application/octet-stream", []byte{1, 2, 3}, 400, codeInvalidField, "whole number"},
		{"empty raw", "POST", "/api/v1/predict?format=cu8&sample_rate=250k", "application/octet-stream", nil, 400, codeMissingField, "body"},
		{"NaN cf32", "POST", "/api/v1/predict?format=cf32&sample_rate=250k", "application/octet-stream", []byte{0, 0, 0xc0, 0x7f, 0, 0, 0, 0}, 400, codeInvalidField, "sample 0"},
		{"GET predict", "GET", "/api/v1/predict", "", nil, 405, codeMethodNotAllowed, "POST"},
		{"unknown route", "GET", "/api/v2/predict", "", nil, 404, codeNotFound, "/api/v2/predict"},
		{"trailing slash", "POST", "/api/v1/predict/", "application/json", good, 404, codeNotFound, "/api/v1/predict/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, tc.ctype, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			ae := apiErr(t, r)
			if ae.Code != tc.code || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("error %q %q, want code %q and a message naming %q", ae.Code, ae.Message, tc.code, tc.want)
			}
		})
	}
	if r := e.do(t, "PUT", "/api/v1/predict", "", nil); r.header.Get("Allow") != "POST" {
		t.Errorf("405 Allow %q", r.header.Get("Allow"))
	}
}

// Ensure that MaxSamples bounds the samples of an input.
func TestPredictTooManySamples(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.MaxSamples = 100 })
	r := e.do(t, "POST", "/api/v1/predict", "application/json", heimdallJSON(make([]complex64, 101)))
	if ae := apiErr(t, r); r.status != 413 || !strings.Contains(ae.Message, "101 samples") {
		t.Errorf("status %d %+v", r.status, ae)
	}
	r = e.do(t, "POST", "/api/v1/predict?format=cu8&sample_rate=250k", "application/octet-stream", make([]byte, 202))
	if ae := apiErr(t, r); r.status != 413 || !strings.Contains(ae.Message, "101 samples") {
		t.Errorf("raw: status %d %+v", r.status, ae)
	}
}

func batchBody(items ...string) []byte {
	return []byte(`{"items":[` + strings.Join(items, ",") + `]}`)
}

func batchItemJSON(id string, s []complex64) string {
	iq := heimdallJSON(s)
	return fmt.Sprintf(`{"id":%q,"iq_data":%s}`, id, iq[len(`{"iq_data":`):len(iq)-1])
}

// Ensure that a batch answers every item, a bad item fails alone and names itself, and
// that 0 or 101 items are refused naming the limit.
func TestBatch(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.BatchConcurrency = 2 })
	d := beaconD(t)
	eb, err := referenceBeacon("E")
	if err != nil {
		t.Fatal(err)
	}
	body := batchBody(
		batchItemJSON("d", burst(4096, 250e3, d.OffsetHz, 7)),
		`{"id":"bad","iq_data":[[1,2,3]]}`,
		batchItemJSON("e", burst(4096, 250e3, eb.OffsetHz, 8)),
		`{"id":"none"}`,
		batchItemJSON("", burst(4096, 250e3, d.OffsetHz, 7)),
	)
	r := e.do(t, "POST", "/api/v1/predict/batch", "application/json", body)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var res struct {
		Predictions []struct {
			ID    string          `json:"id"`
			Fix   json.RawMessage `json:"fix"`
			Cache string          `json:"cache"`
			Error *apiError       `json:"error"`
		} `json:"predictions"`
		TotalTimeMS      float64 `json:"total_time_ms"`
		SamplesPerSecond float64 `json:"samples_per_second"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Predictions) != 5 || res.TotalTimeMS <= 0 || res.SamplesPerSecond <= 0 {
		t.Fatalf("response %s", r.body)
	}
	p := res.Predictions
	assertAt(t, decodeFix(t, p[0].Fix), d)
	assertAt(t, decodeFix(t, p[2].Fix), eb)
	if p[1].ID != "bad" || p[1].Error == nil || !strings.Contains(p[1].Error.Message, "items[1].iq_data[0]") || p[1].Fix != nil {
		t.Errorf("bad item: %+v", p[1])
	}
	if p[3].Error == nil || p[3].Error.Code != codeMissingField || !strings.Contains(p[3].Error.Message, "items[3].iq_data") {
		t.Errorf("item without iq_data: %+v", p[3].Error)
	}
	if p[4].ID != "4" || p[4].Error != nil {
		t.Errorf("item without id: %+v", p[4])
	}
	// Item 4 repeats item 0's input: one of them computed it, the other hit or (computed
	// at the same time) missed too; the bodies are those of the same input.
	if decodeFix(t, p[4].Fix).ID != decodeFix(t, p[0].Fix).ID {
		t.Errorf("same input, different fix ids")
	}

	many := make([]string, 101)
	for i := range many {
		many[i] = `{"id":"x","iq_data":[[0,0]]}`
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"zero items", batchBody(), 400, "0 items, want 1 to 100"},
		{"id not a string", []byte(`{"items":[{"id":5,"iq_data":[[0,0]]}]}`), 400, "items[0].id"},
		{"item unknown field", []byte(`{"items":[{"sample_id":"a","iq_data":[[0,0]]}]}`), 400, "sample_id"},
		{"item not object", []byte(`{"items":[[0,0]]}`), 400, "items[0]"},
		{"broken item iq_data", []byte(`{"items":[{"id":"a","iq_data":[[0,0]}]}`), 400, "malformed"},
		{"no items", []byte(`{}`), 400, "items"},
		{"101 items", batchBody(many...), 400, "more than 100 items, want 1 to 100"},
		{"unknown field", []byte(`{"iq_samples":[]}`), 400, "iq_samples"},
		{"malformed", []byte(`{"items":[{]}`), 400, "malformed"},
		{"items not array", []byte(`{"items":{}}`), 400, "items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/api/v1/predict/batch", "application/json", tc.body)
			ae := apiErr(t, r)
			if r.status != tc.status || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("status %d %+v, want %d naming %q", r.status, ae, tc.status, tc.want)
			}
		})
	}
	if r := e.do(t, "POST", "/api/v1/predict/batch", "application/octet-stream", []byte{1}); r.status != 415 {
		t.Errorf("raw batch: status %d", r.status)
	}
}

// Ensure that fixes come from the store as a FeatureCollection, filtered and limited, and
// that bad parameters are refused naming them.
func TestFixes(t *testing.T) {
	e := newEnv(t, nil)
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	var fixes []store.Fix
	for i := range 5 {
		id := fmt.Sprintf("rx1:%d", i*16384)
		fixes = append(fixes, store.Fix{ID: id, Receiver: "rx1", Time: t0.Add(time.Duration(i) * time.Second),
			Body: storedFix(t, uint64(i), t0.Add(time.Duration(i)*time.Second))})
	}
	if _, err := e.db.Commit(fixes...); err != nil {
		t.Fatal(err)
	}
	get := func(q string) (response, []string) {
		r := e.do(t, "GET", "/api/v1/fixes"+q, "", nil)
		var fc struct {
			Type     string `json:"type"`
			Features []struct {
				ID string `json:"id"`
			} `json:"features"`
		}
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &fc); err != nil || fc.Type != "FeatureCollection" {
				t.Fatalf("%s: %s (%v)", q, r.body, err)
			}
		}
		var ids []string
		for _, f := range fc.Features {
			ids = append(ids, f.ID)
		}
		return r, ids
	}
	if _, ids := get(""); len(ids) != 5 || ids[0] != "rx1:0" {
		t.Errorf("all: %v", ids)
	}
	if _, ids := get("?since=2026-11-27T08:00:03Z&limit=1"); len(ids) != 1 || ids[0] != "rx1:49152" {
		t.Errorf("since+limit: %v", ids)
	}
	if _, ids := get("?since=2027-01-01T00:00:00Z"); len(ids) != 0 {
		t.Errorf("future: %v", ids)
	}
	for _, q := range []string{"?since=yesterday", "?since=2026-11-27", "?limit=0", "?limit=10001", "?limit=abc", "?limit=-1", "?sinc=x", "?limit=1&limit=2"} {
		r, _ := get(q)
		if ae := apiErr(t, r); r.status != 400 || ae.Code != codeInvalidParam {
			t.Errorf("%s: status %d %+v", q, r.status, ae)
		}
	}
	noDB := newEnv(t, func(_ *Config, d *Deps) { d.DB = nil })
	if r := noDB.do(t, "GET", "/api/v1/fixes", "", nil); r.status != 503 {
		t.Errorf("no store: status %d", r.status)
	}
	if r := noDB.do(t, "POST", "/api/v1/predict", "application/json", heimdallJSON(burst(64, 250e3, 0, 9))); r.status != 200 || r.header.Get("X-Edged-Cache") != "off" {
		t.Errorf("predict without store: status %d cache %q", r.status, r.header.Get("X-Edged-Cache"))
	}
}

// Ensure health, readiness and metrics answer as documented.
func TestProbesAndMetrics(t *testing.T) {
	var notReady error = errors.New("source not delivering")
	e := newEnv(t, func(_ *Config, d *Deps) { d.Ready = func() error { return notReady } })
	if r := e.do(t, "GET", "/healthz", "", nil); r.status != 200 || !bytes.Contains(r.body, []byte(`"status":"ok"`)) {
		t.Errorf("healthz %d %s", r.status, r.body)
	}
	r := e.do(t, "GET", "/readyz", "", nil)
	if ae := apiErr(t, r); r.status != 503 || !strings.Contains(ae.Message, "source not delivering") {
		t.Errorf("readyz %d %+v", r.status, ae)
	}
	notReady = nil
	if r := e.do(t, "GET", "/readyz", "", nil); r.status != 200 {
		t.Errorf("readyz when ready: %d", r.status)
	}
	if r := e.do(t, "POST", "/healthz", "", nil); r.status != 405 {
		t.Errorf("POST healthz: %d", r.status)
	}
	r = e.do(t, "GET", "/metrics", "", nil, "Accept", "application/openmetrics-text; version=1.0.0")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/openmetrics-text") {
		t.Fatalf("metrics %d %q", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{`edged_api_requests_total{code="200",route="/healthz"} 1`,
		`edged_api_requests_total{code="503",route="/readyz"} 1`,
		`edged_api_request_duration_seconds_bucket{route="/readyz"`, "edged_cache_hits_total 0"} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Ensure the model routes and the bearer token on the mutating ones.
func TestModelRoutesAndToken(t *testing.T) {
	v1 := ModelInfo{Name: "beacon", Version: "1", SHA256: strings.Repeat("ab", 32), Active: true, Source: "embedded"}
	v2 := ModelInfo{Name: "beacon", Version: "2", SHA256: strings.Repeat("cd", 32), Active: true, Source: "mlflow"}
	mm := &fakeModels{active: v1, list: []ModelInfo{v1}, reloadTo: v2, rollErr: fmt.Errorf("models: %w", ErrNoRollback)}
	e := newEnv(t, func(c *Config, d *Deps) { c.Token = "s3cret"; d.Models = mm })

	r := e.do(t, "GET", "/api/v1/model", "", nil)
	var got modelResponse
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 || got.Version != "1" || got.WindowSamples != 16384 || got.SampleRateHz != 250e3 {
		t.Errorf("model %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/api/v1/models", "", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"models":[{"name":"beacon","version":"1"`)) {
		t.Errorf("models %d %s", r.status, r.body)
	}
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Basic czNjcmV0"}, {"Authorization", "Bearer"}} {
		r := e.do(t, "POST", "/api/v1/model/reload", "", nil, hdr...)
		ae := apiErr(t, r)
		if r.status != 401 || ae.Code != codeUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%v: status %d %+v %q", hdr, r.status, ae, r.header.Get("WWW-Authenticate"))
		}
	}
	if mm.reloads != 0 {
		t.Fatalf("reload ran without a token")
	}
	r = e.do(t, "POST", "/api/v1/model/reload", "", nil, "Authorization", "bearer s3cret")
	var ch changeResponse
	if err := json.Unmarshal(r.body, &ch); err != nil || r.status != 200 || ch.Previous.Version != "1" || ch.Active.Version != "2" || mm.reloads != 1 {
		t.Errorf("reload %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/api/v1/model/rollback", "", nil, "Authorization", "Bearer s3cret")
	if ae := apiErr(t, r); r.status != 409 || !strings.Contains(ae.Message, "no previous model") {
		t.Errorf("rollback %d %+v", r.status, ae)
	}
	// Activate: token checked, version required and known.
	mm.mu.Lock()
	mm.list = []ModelInfo{v1, {Name: "beacon", Version: "3", SHA256: strings.Repeat("ef", 32), Source: "mlflow"}}
	mm.registry = RegistryInfo{Follows: "models:/beacon@champion", Target: "3", Divergence: "rolled_back"}
	mm.mu.Unlock()
	if r := e.do(t, "POST", "/api/v1/model/activate?version=3", "", nil); r.status != 401 || mm.Active().Version != "2" {
		t.Errorf("activate without a token: %d, active %s", r.status, mm.Active().Version)
	}
	for q, want := range map[string]int{"": 400, "?version=": 400, "?v=3": 400, "?version=3&version=1": 400, "?version=9": 404} {
		r := e.do(t, "POST", "/api/v1/model/activate"+q, "", nil, "Authorization", "Bearer s3cret")
		if ae := apiErr(t, r); r.status != want || (want == 404 && !strings.Contains(ae.Message, "not installed")) {
			t.Errorf("activate%s: %d %+v, want %d", q, r.status, ae, want)
		}
	}
	r = e.do(t, "POST", "/api/v1/model/activate?version=3", "", nil, "Authorization", "Bearer s3cret")
	if err := json.Unmarshal(r.body, &ch); err != nil || r.status != 200 || ch.Status != "activated" || ch.Previous.Version != "2" || ch.Active.Version != "3" {
		t.Errorf("activate 3: %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/api/v1/models", "", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"registry":{"follows":"models:/beacon@champion","target":"3","divergence":"rolled_back"}`)) {
		t.Errorf("models with a registry: %d %s", r.status, r.body)
	}

	// Reads and predict need no token.
	if r := e.do(t, "POST", "/api/v1/predict", "application/json", heimdallJSON(burst(64, 250e3, 0, 10))); r.status != 200 {
		t.Errorf("predict with a token configured: %d", r.status)
	}

	// Without a token configured the mutating routes are open; without a manager they 503.
	open := newEnv(t, nil)
	if r := open.do(t, "POST", "/api/v1/model/reload", "", nil); r.status != 503 {
		t.Errorf("reload without manager: %d", r.status)
	}
	if r := open.do(t, "GET", "/api/v1/models", "", nil); r.status != 200 || !bytes.Contains(r.body, []byte(`"source":"engine"`)) {
		t.Errorf("models without manager: %d %s", r.status, r.body)
	}
}

// Ensure that when every slot is taken, an /api/ request gets 503 after QueueWait while the
// probes still answer, and that the slot is given back.
func TestConcurrencyBound(t *testing.T) {
	mm := &fakeModels{entered: make(chan struct{}, 1), block: make(chan struct{}), active: fakeInfo("1"), reloadTo: fakeInfo("2")}
	e := newEnv(t, func(c *Config, d *Deps) {
		c.MaxConcurrent = 1
		c.QueueWait = 20 * time.Millisecond
		d.Models = mm
	})
	done := make(chan response)
	go func() { done <- e.do(t, "POST", "/api/v1/model/reload", "", nil) }()
	<-mm.entered // the reload holds the only slot

	r := e.do(t, "GET", "/api/v1/model", "", nil)
	if ae := apiErr(t, r); r.status != 503 || ae.Code != codeOverloaded || r.header.Get("Retry-After") == "" {
		t.Errorf("over the bound: %d %+v", r.status, ae)
	}
	if r := e.do(t, "GET", "/healthz", "", nil); r.status != 200 {
		t.Errorf("healthz while full: %d", r.status)
	}
	close(mm.block)
	if r := <-done; r.status != 200 {
		t.Errorf("held request: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/api/v1/model", "", nil); r.status != 200 {
		t.Errorf("after release: %d", r.status)
	}
}

// Ensure that RequestTimeout ends a request that takes too long with 503.
func TestRequestTimeout(t *testing.T) {
	mm := &fakeModels{block: make(chan struct{}), active: fakeInfo("1")}
	e := newEnv(t, func(c *Config, d *Deps) { c.RequestTimeoutSeconds = 0.01; d.Models = mm })
	r := e.do(t, "POST", "/api/v1/model/reload", "", nil)
	if ae := apiErr(t, r); r.status != 503 || !strings.Contains(ae.Message, "deadline") {
		t.Errorf("status %d %+v", r.status, ae)
	}
}

// Ensure that Serve shuts down when its context ends and that a cached answer reaches bbolt.
func TestServeShutdownFlushesCache(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln) }()

	body := heimdallJSON(burst(1024, 250e3, beaconD(t).OffsetHz, 11))
	res, err := http.Post("http://"+ln.Addr().String()+"/api/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var f fix
	if err := json.NewDecoder(res.Body).Decode(&f); err != nil || res.StatusCode != 200 {
		t.Fatalf("status %d: %v", res.StatusCode, err)
	}
	res.Body.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Errorf("still serving after shutdown")
	}
	// The fix id carries the key's first 8 bytes: find the entry by computing the key.
	k, err := e.srv.kitFor()
	if err != nil {
		t.Fatal(err)
	}
	req, err := parsePredict(body)
	if err != nil {
		t.Fatal(err)
	}
	key := cacheKey(&input{samples: req.samples, format: formatJSON, rateHz: 250e3}, k.model)
	if !strings.HasSuffix(f.ID, hex.EncodeToString(key[:8])) {
		t.Fatalf("fix id %q does not carry key %x", f.ID, key[:8])
	}
	if _, ok, err := e.db.CacheGet(key[:]); !ok || err != nil {
		t.Errorf("cache entry not in bbolt after shutdown: %v %v", ok, err)
	}
}

// Ensure New refuses a bad config.
func TestNewRejects(t *testing.T) {
	eng := testEngine(t)
	for _, tc := range []struct {
		cfg  Config
		deps Deps
	}{
		{Config{}, Deps{}},
		{Config{Listen: "nonsense"}, Deps{Engine: eng}},
		{Config{ConfidenceLevel: 1.5}, Deps{Engine: eng}},
		{Config{MaxBodyBytes: -1}, Deps{Engine: eng}},
	} {
		if _, err := New(tc.cfg, tc.deps, nil); err == nil {
			t.Errorf("New(%+v) accepted", tc.cfg)
		}
	}
	if c := DefaultConfig(); c.Listen != "127.0.0.1:9717" || c.MaxBodyBytes != 16<<20 || c.MaxMemoryBytes != 64<<20 || c.RequestTimeoutSeconds != 30 || c.MaxConcurrent != 64 {
		t.Errorf("defaults %+v", c)
	}
}
