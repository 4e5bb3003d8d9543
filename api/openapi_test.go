package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heimdall/edged/api/schema"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/schematest"
)

// opModels is a ModelManager whose operations fail as told.
type opModels struct {
	listErr, reloadErr, rollbackErr, activateErr error
}

func (m *opModels) Active() ModelInfo                  { return fakeInfo("1") }
func (m *opModels) List() ([]ModelInfo, error)         { return []ModelInfo{fakeInfo("1")}, m.listErr }
func (m *opModels) Reload(ctx context.Context) error   { return m.reloadErr }
func (m *opModels) Rollback(ctx context.Context) error { return m.rollbackErr }
func (m *opModels) Activate(ctx context.Context, v string) error {
	return m.activateErr
}
func (m *opModels) Registry() (RegistryInfo, bool) {
	return RegistryInfo{Follows: "models:/beacon@champion", Target: "2", Divergence: "failed_verification", RollbackTarget: "1"}, true
}

// Ensure the OpenAPI document describes exactly the routes the server serves, and that the
// documents it serves are the embedded files.
func TestOpenAPIRoutes(t *testing.T) {
	// The status page's routes exist only with a Page; internal/ui serves them.
	e := newEnv(t, func(_ *Config, d *Deps) { d.Page = http.NotFoundHandler() })
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for p, item := range doc.Paths {
		for m := range item {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(documented)
	served := slices.Sorted(slices.Values(e.srv.routeList))
	if !slices.Equal(documented, served) {
		t.Errorf("api/openapi.json documents\n  %v\nthe server serves\n  %v\n(document every route in api/openapi.json)", documented, served)
	}

	for path, want := range map[string][]byte{"/api/v1/openapi.json": OpenAPIDocument, "/api/v1/asyncapi.json": AsyncAPIDocument} {
		if r := e.do(t, "GET", path, "", nil); r.status != 200 || !bytes.Equal(r.body, want) {
			t.Errorf("%s: %d, %d bytes, want the %d embedded", path, r.status, len(r.body), len(want))
		}
	}
	names, err := fs.Glob(schema.FS, "*.json")
	if err != nil || len(names) < 10 {
		t.Fatalf("schemas %v %v", names, err)
	}
	for _, n := range names {
		want, _ := fs.ReadFile(schema.FS, n)
		if r := e.do(t, "GET", "/api/v1/schema/"+n, "", nil); r.status != 200 || !bytes.Equal(r.body, want) {
			t.Errorf("schema %s: %d, %d bytes, want the %d embedded", n, r.status, len(r.body), len(want))
		}
	}
	for _, n := range []string{"nope.json", "schema.go", "..%2Fopenapi.json"} {
		if r := e.do(t, "GET", "/api/v1/schema/"+n, "", nil); r.status != 404 {
			t.Errorf("schema %s: %d, want 404", n, r.status)
		}
	}
}

// Ensure every response the OpenAPI document declares, for every route and status, is
// produced by the server and valid against the document: status, required headers,
// Content-Type and body schema.
func TestOpenAPIEveryAnswer(t *testing.T) {
	o, err := schematest.NewOpenAPI("openapi.json", OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	call := func(e *testEnv, method, path, ctype string, body []byte, want int, hdr ...string) {
		t.Helper()
		r := e.do(t, method, path, ctype, body, hdr...)
		if r.status != want {
			t.Errorf("%s %s: %d, want %d: %.300s", method, path, r.status, want, r.body)
		}
		u, _ := url.Parse(path)
		conforms(t, o, method, u.Path, r.status, r.header, r.body)
	}
	good := heimdallJSON(burst(2048, 250e3, 0, 1))
	item := batchItemJSON("a", burst(2048, 250e3, 0, 2))
	auth := []string{"Authorization", "Bearer s3cret"}

	mm := &opModels{}
	e := newEnv(t, func(c *Config, d *Deps) { c.Token = "s3cret"; c.MaxBodyBytes = 1 << 20; d.Models = mm })
	call(e, "GET", "/healthz", "", nil, 200)
	call(e, "GET", "/readyz", "", nil, 200)
	call(e, "GET", "/metrics", "", nil, 200)
	call(e, "GET", "/metrics", "", nil, 200, "Accept", "application/openmetrics-text; version=1.0.0")
	call(e, "GET", "/api/v1/openapi.json", "", nil, 200)
	call(e, "GET", "/api/v1/asyncapi.json", "", nil, 200)
	call(e, "GET", "/api/v1/schema/fix.json", "", nil, 200)
	call(e, "GET", "/api/v1/schema/fix", "", nil, 404)
	if _, err := e.db.Commit(storeFix(t, 1)); err != nil {
		t.Fatal(err)
	}
	call(e, "GET", "/api/v1/fixes", "", nil, 200)
	call(e, "GET", "/api/v1/fixes?limit=0", "", nil, 400)
	call(e, "POST", "/api/v1/predict", "application/json", good, 200)
	call(e, "POST", "/api/v1/predict?format=cu8&sample_rate=250k", "application/octet-stream", encode(burst(2048, 250e3, 0, 3), "cu8"), 200)
	call(e, "POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[[1,2]`), 400)
	call(e, "POST", "/api/v1/predict", "application/json", make([]byte, 1<<20+1), 413)
	call(e, "POST", "/api/v1/predict", "", good, 415)
	call(e, "POST", "/api/v1/predict/batch", "application/json", batchBody(item, `{"id":"bad","iq_data":[[1]]}`), 200)
	call(e, "POST", "/api/v1/predict/batch", "application/json", batchBody(), 400)
	call(e, "POST", "/api/v1/predict/batch", "application/json", make([]byte, 1<<20+1), 413)
	call(e, "POST", "/api/v1/predict/batch", "text/plain", batchBody(item), 415)
	call(e, "GET", "/api/v1/model", "", nil, 200)
	call(e, "GET", "/api/v1/models", "", nil, 200)
	for _, op := range []string{"reload", "rollback", "activate?version=1"} {
		call(e, "POST", "/api/v1/model/"+op, "", nil, 401)
		call(e, "POST", "/api/v1/model/"+op, "", nil, 200, auth...)
	}
	call(e, "POST", "/api/v1/model/activate", "", nil, 400, auth...)
	mm.reloadErr, mm.rollbackErr = fmt.Errorf("m: %w", ErrBusy), fmt.Errorf("m: %w", ErrNoRollback)
	mm.activateErr, mm.listErr = fmt.Errorf("m: %w", ErrUnknownVersion), fmt.Errorf("state unreadable")
	call(e, "POST", "/api/v1/model/reload", "", nil, 409, auth...)
	call(e, "POST", "/api/v1/model/rollback", "", nil, 409, auth...)
	call(e, "POST", "/api/v1/model/activate?version=9", "", nil, 404, auth...)
	mm.activateErr = fmt.Errorf("m: %w", ErrNoRollback)
	call(e, "POST", "/api/v1/model/activate?version=1", "", nil, 409, auth...)
	call(e, "GET", "/api/v1/models", "", nil, 503)

	// No model, no store, no manager, not ready: 503 wherever edged cannot answer.
	bare := newEnv(t, func(c *Config, d *Deps) {
		d.Engine, d.DB = infer.NewEngine(nil), nil
		d.Ready = func() error { return fmt.Errorf("source stalled") }
	})
	call(bare, "GET", "/readyz", "", nil, 503)
	call(bare, "GET", "/api/v1/fixes", "", nil, 503)
	call(bare, "POST", "/api/v1/predict", "application/json", good, 503)
	call(bare, "GET", "/api/v1/model", "", nil, 503)
	for _, op := range []string{"reload", "rollback", "activate?version=1"} {
		call(bare, "POST", "/api/v1/model/"+op, "", nil, 503)
	}
	// Every slot taken: a batch waits QueueWait, then 503 with Retry-After.
	held := &fakeModels{entered: make(chan struct{}, 1), block: make(chan struct{}), active: fakeInfo("1"), reloadTo: fakeInfo("2")}
	full := newEnv(t, func(c *Config, d *Deps) { c.MaxConcurrent, c.QueueWait, d.Models = 1, time.Millisecond, held })
	done := make(chan response)
	go func() { done <- full.do(t, "POST", "/api/v1/model/reload", "", nil) }()
	<-held.entered
	call(full, "POST", "/api/v1/predict/batch", "application/json", batchBody(item), 503)
	close(held.block)
	<-done

	// A body that does not arrive within body_read_timeout_seconds: 408.
	slow := newEnv(t, func(c *Config, _ *Deps) { c.BodyReadTimeoutSeconds = 0.05 })
	for _, path := range []string{"/api/v1/predict", "/api/v1/predict/batch"} {
		status, header, body := slowPost(t, slow, path)
		if status != http.StatusRequestTimeout {
			t.Errorf("POST %s with a stalled body: %d, want 408: %.300s", path, status, body)
		}
		conforms(t, o, "POST", path, status, header, body)
	}

	documented, err := o.Documented()
	if err != nil {
		t.Fatal(err)
	}
	// Answers no input can provoke with the embedded reference model, whose estimates are
	// always finite catalogued sites.
	unreachable := map[string]bool{"POST /api/v1/predict 422": true}
	seen, page := o.Seen(), 0
	for _, a := range documented {
		if a.Path == "/" || strings.HasPrefix(a.Path, "/ui/") {
			page++ // internal/ui's (Deps.Page): TestE2EInterfacesMatchTheirDocuments checks them
			continue
		}
		if seen[a] == 0 && !unreachable[a.String()] {
			t.Errorf("documented but never produced: %s", a)
		}
	}
	n := 0
	for _, c := range seen {
		n += c
	}
	t.Logf("%d answers validated against api/openapi.json, covering %d of the %d documented responses of the API's %d routes (not %v; the status page's %d are checked end to end)",
		n, len(documented)-page-len(unreachable), len(documented)-page, len(e.srv.routeList), slices.Sorted(maps.Keys(unreachable)), page)
}

// slowPost announces a 100-byte JSON body, sends 10 bytes of it and waits for the answer.
func slowPost(t *testing.T, e *testEnv, path string) (int, http.Header, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"items\":", path)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, body
}
