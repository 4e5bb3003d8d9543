package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/geo"
	"github.com/heimdall/edged/internal/schematest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
	"github.com/heimdall/edged/store"
)

var (
	engineOnce sync.Once
	engine     *infer.Engine
	engineErr  error
)

// testEngine loads the embedded reference model once per test binary.
func testEngine(t testing.TB) *infer.Engine {
	t.Helper()
	engineOnce.Do(func() {
		if engineErr = infer.Init(""); engineErr != nil {
			return
		}
		var m *infer.Model
		m, engineErr = infer.Load(infer.Source{Data: reference.Model}, infer.Options{})
		if engineErr == nil {
			engine = infer.NewEngine(m)
		}
	})
	if engineErr != nil {
		t.Fatalf("reference model: %v", engineErr)
	}
	return engine
}

type testEnv struct {
	srv  *Server
	ts   *httptest.Server
	db   *store.DB
	reg  *prometheus.Registry
	logs *testenv.Buffer
}

// newEnv serves a Server with the reference model and a fresh bbolt store. modify may
// change the config and deps before New.
func newEnv(t testing.TB, modify func(*Config, *Deps)) *testEnv {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{ReceiverID: "rx1"}
	deps := Deps{Engine: testEngine(t), DB: db, Registerer: reg, Gatherer: reg}
	if modify != nil {
		modify(&cfg, &deps)
	}
	logs := &testenv.Buffer{}
	srv, err := New(cfg, deps, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
		db.Close()
	})
	return &testEnv{srv: srv, ts: ts, db: db, reg: reg, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *testEnv) do(t testing.TB, method, path, ctype string, body []byte, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	conforms(t, openAPI(t), method, req.URL.Path, res.StatusCode, res.Header, b)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

var (
	specOnce sync.Once
	spec     *schematest.OpenAPI
	specErr  error
)

// openAPI is the checker of every answer the tests of this package see.
func openAPI(t testing.TB) *schematest.OpenAPI {
	t.Helper()
	specOnce.Do(func() { spec, specErr = schematest.NewOpenAPI("openapi.json", OpenAPIDocument) })
	if specErr != nil {
		t.Fatalf("OpenAPI document: %v", specErr)
	}
	return spec
}

// conforms holds an answer to the OpenAPI document: a documented operation's answer to
// its response, anything else (a 404 for an unknown path, a 405 for a wrong method) to
// the error schema.
func conforms(t testing.TB, o *schematest.OpenAPI, method, path string, status int, h http.Header, body []byte) {
	t.Helper()
	err := o.Check(method, path, status, h, body)
	if errors.Is(err, schematest.ErrUndocumented) && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) {
		err = o.Validator().Validate("schema/error.json", "http", body)
	}
	if err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
}

// burst is n samples at rateHz: a tone at offsetHz of amplitude 0.5 plus complex noise.
func burst(n int, rateHz, offsetHz float64, seed uint64) []complex64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]complex64, n)
	for i := range out {
		ph := 2 * math.Pi * offsetHz * float64(i) / rateHz
		out[i] = complex(float32(0.5*math.Cos(ph)+0.02*r.NormFloat64()), float32(0.5*math.Sin(ph)+0.02*r.NormFloat64()))
	}
	return out
}

// heimdallJSON is {"iq_data": [[i,q],…]}.
func heimdallJSON(s []complex64) []byte {
	var b strings.Builder
	b.WriteString(`{"iq_data":[`)
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		b.WriteString(strconv.FormatFloat(float64(real(v)), 'g', -1, 32))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(float64(imag(v)), 'g', -1, 32))
		b.WriteByte(']')
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// encode writes s in a raw format.
func encode(s []complex64, format string) []byte {
	var b []byte
	for _, v := range s {
		for _, x := range []float32{real(v), imag(v)} {
			switch format {
			case "cu8":
				b = append(b, byte(math.Round(float64(x)*127.5+127.5)))
			case "cs8":
				b = append(b, byte(int8(math.Round(float64(x)*127))))
			case "cs16":
				b = binary.LittleEndian.AppendUint16(b, uint16(int16(math.Round(float64(x)*32767))))
			case "cf32":
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
			}
		}
	}
	return b
}

// fix is the part of a fix the tests look at.
type fix struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Properties struct {
		ReceiverID   string  `json:"receiver_id"`
		Time         string  `json:"time"`
		Lat          float64 `json:"lat"`
		Lon          float64 `json:"lon"`
		SNRDB        float64 `json:"snr_db"`
		SampleRateHz float64 `json:"sample_rate_hz"`
		CenterFreqHz float64 `json:"center_freq_hz"`
		Model        string  `json:"model"`
	} `json:"properties"`
}

func decodeFix(t testing.TB, b []byte) fix {
	t.Helper()
	var f fix
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("fix %s: %v", b, err)
	}
	return f
}

// storeFix is window seq of a stream of rx1 as the pipeline commits it.
func storeFix(t testing.TB, seq uint64) store.Fix {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	return store.Fix{ID: fmt.Sprintf("rx1:%d", seq*16384), Receiver: "rx1", Time: t0, Body: storedFix(t, seq, t0)}
}

// storedFix is the fix of window seq of a 250 kS/s stream starting at t0, as the
// pipeline stores it: a reference-model estimate at beacon D.
func storedFix(t testing.TB, seq uint64, t0 time.Time) []byte {
	t.Helper()
	d := beaconD(t)
	w := infer.Window{ReceiverID: "rx1", Time: t0, CenterFreqHz: 433.92e6, SampleRateHz: 250e3,
		SampleOffset: seq * 16384, Seq: seq, Measure: dsp.Measure{SNRDB: 20}}
	cov, err := geo.FromSigmas(50, 30, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	r := infer.Result{Estimate: infer.Estimate{LatDeg: d.LatDeg, LonDeg: d.LonDeg, Cov: cov}, Model: testEngine(t).Active()}
	f, err := infer.NewFeature(w, r, infer.FixOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func beaconD(t testing.TB) reference.Beacon {
	t.Helper()
	b, err := reference.Lookup("D")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertAt(t testing.TB, f fix, b reference.Beacon) {
	t.Helper()
	if math.Abs(f.Properties.Lat-b.LatDeg) > 1e-4 || math.Abs(f.Properties.Lon-b.LonDeg) > 1e-4 {
		t.Errorf("fix at %.6f,%.6f, want beacon %s at %.6f,%.6f", f.Properties.Lat, f.Properties.Lon, b.Name, b.LatDeg, b.LonDeg)
	}
}

// apiErr decodes a JSON error body, failing when it is not one.
func apiErr(t testing.TB, r response) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("status %d: body %q is not a JSON error (%v)", r.status, r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	return e
}

// fakeModels is a ModelManager for tests. Reload blocks on block when it is not nil.
type fakeModels struct {
	mu       sync.Mutex
	active   ModelInfo
	list     []ModelInfo
	reloads  int
	rollErr  error
	entered  chan struct{}
	block    chan struct{}
	reloadTo ModelInfo
	registry RegistryInfo
}

// fakeInfo is an active registry version of a model named beacon.
func fakeInfo(version string) ModelInfo {
	return ModelInfo{Name: "beacon", Version: version, SHA256: strings.Repeat("0"+version, 32)[:64], Active: true, Source: "mlflow"}
}

func (f *fakeModels) Active() ModelInfo { f.mu.Lock(); defer f.mu.Unlock(); return f.active }

func (f *fakeModels) List() ([]ModelInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ModelInfo(nil), f.list...), nil
}

func (f *fakeModels) Reload(ctx context.Context) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	f.active = f.reloadTo
	return nil
}

func (f *fakeModels) Rollback(ctx context.Context) error { return f.rollErr }

// Activate makes a listed version active, or fails with ErrUnknownVersion.
func (f *fakeModels) Activate(ctx context.Context, version string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.list {
		if m.Version == version {
			f.active = m
			for k := range f.list {
				f.list[k].Active = k == i
			}
			return nil
		}
	}
	return fmt.Errorf("fake: %w: %s", ErrUnknownVersion, version)
}

func (f *fakeModels) Registry() (RegistryInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registry, f.registry.Follows != ""
}

func referenceBeacon(name string) (reference.Beacon, error) { return reference.Lookup(name) }

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
