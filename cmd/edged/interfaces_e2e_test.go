package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/api"
	"github.com/heimdall/edged/api/schema"
	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/schematest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
)

// Ensure that what a real daemon sends through each of its interfaces is what the
// documents say: every fix on stdout, over MQTT and over HTTP is valid against
// api/schema/fix.json and the three carry the same fixes byte for byte; the availability
// and model messages are valid; the daemon serves the embedded OpenAPI document and
// schemas; and its answers on every route, including the model routes against a model
// registry, are valid against that OpenAPI document.
func TestE2EInterfacesMatchTheirDocuments(t *testing.T) {
	fake := registryWithV1(t)
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	dir := t.TempDir()
	rec := synthesize(t, dir, "-beacon", "F", "-windows", "12", "-bursts", "odd")

	var mu sync.Mutex
	mqttFixes := map[string][]byte{}
	got := make(chan struct{}, 64)
	subscribe(t, broker.URL(), "kit-sub", "heimdall/rx-kit/#", func(_ mqtt.Client, m mqtt.Message) {
		if strings.HasSuffix(m.Topic(), "/fix") {
			var f struct{ ID string }
			json.Unmarshal(m.Payload(), &f)
			mu.Lock()
			mqttFixes[f.ID] = append([]byte(nil), m.Payload()...)
			mu.Unlock()
		}
		select {
		case got <- struct{}{}:
		default:
		}
	})
	addr := testenv.FreeAddr(t)
	d := startDaemon(t, fmt.Sprintf(`
receiver_id: rx-kit
state_dir: %s
source:
  file: {path: %s, pace: 0, loop: false}
fix: {print: stdout}
mqtt: {broker: %s, reconnect_min_ms: 100}
http: {listen: %s}
mlflow: {tracking_uri: %s, model_name: edged-beacon, alias: champion, interval_seconds: 1}
`, filepath.Join(dir, "state"), rec, broker.URL(), addr, fake.URL), "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0")
	base := "http://" + addr

	const want = 6 // windows 1, 3, 5, 7, 9, 11
	deadline := time.After(60 * time.Second)
	for n := 0; n < want; {
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("after 60 s: %d fixes of %d at the subscriber", n, want)
		}
		mu.Lock()
		n = len(mqttFixes)
		mu.Unlock()
	}

	// The documents the daemon serves are the embedded ones.
	served := httpGet(t, base+"/api/v1/openapi.json")
	if !bytes.Equal(served, api.OpenAPIDocument) {
		t.Fatalf("the daemon serves %d bytes of OpenAPI, not the %d of api/openapi.json", len(served), len(api.OpenAPIDocument))
	}
	if b := httpGet(t, base+"/api/v1/asyncapi.json"); !bytes.Equal(b, api.AsyncAPIDocument) {
		t.Errorf("the daemon serves %d bytes of AsyncAPI, not the %d of api/asyncapi.json", len(b), len(api.AsyncAPIDocument))
	}
	names, _ := fs.Glob(schema.FS, "*.json")
	for _, n := range names {
		want, _ := fs.ReadFile(schema.FS, n)
		if b := httpGet(t, base+"/api/v1/schema/"+n); !bytes.Equal(b, want) {
			t.Errorf("schema %s: the daemon serves %d bytes, not the %d of api/schema/%s", n, len(b), len(want), n)
		}
	}
	o, err := schematest.NewOpenAPI("openapi.json", served)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, ctype string, body []byte, hdr ...string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		err = o.Check(method, req.URL.Path, resp.StatusCode, resp.Header, b)
		if errors.Is(err, schematest.ErrUndocumented) && (resp.StatusCode == 404 || resp.StatusCode == 405) {
			err = o.Validator().Validate("schema/error.json", "http", b)
		}
		if err != nil {
			t.Errorf("OpenAPI: %v", err)
		}
		return resp.StatusCode, b
	}

	// The registry's version 1 installed and active.
	testenv.Eventually(t, 60*time.Second, "version 1 from the registry active", func() bool {
		_, b := call("GET", "/api/v1/model", "", nil)
		return bytes.Contains(b, []byte(`"version":"1"`)) && bytes.Contains(b, []byte(`"source":"mlflow"`))
	})

	// Fixes over HTTP: the same as over MQTT, byte for byte, each valid.
	status, b := call("GET", "/api/v1/fixes?limit=100", "", nil)
	var fc struct{ Features []json.RawMessage }
	if err := json.Unmarshal(b, &fc); status != 200 || err != nil || len(fc.Features) != want {
		t.Fatalf("fixes: %d, %d features (%v)", status, len(fc.Features), err)
	}
	mu.Lock()
	for _, f := range fc.Features {
		validFix(t, "http", f)
		var id struct{ ID string }
		json.Unmarshal(f, &id)
		if !bytes.Equal(f, mqttFixes[id.ID]) {
			t.Errorf("fix %s differs between HTTP and MQTT:\n%.200s\n%.200s", id.ID, f, mqttFixes[id.ID])
		}
	}
	mqttIDs := slices.Sorted(func(yield func(string) bool) {
		for id := range mqttFixes {
			if !yield(id) {
				return
			}
		}
	})
	mu.Unlock()

	// Fixes on stdout: the same ids, each valid.
	var stdoutIDs []string
	sc := bufio.NewScanner(strings.NewReader(d.stdout.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		validFix(t, "daemon", sc.Bytes())
		var id struct{ ID string }
		json.Unmarshal(sc.Bytes(), &id)
		stdoutIDs = append(stdoutIDs, id.ID)
	}
	slices.Sort(stdoutIDs)
	if !slices.Equal(stdoutIDs, mqttIDs) {
		t.Errorf("fixes on stdout %v, over MQTT %v", stdoutIDs, mqttIDs)
	}

	// Predict: a bursted window of the recording, raw and as Heimdall's JSON.
	raw, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	window := raw[2*16384 : 4*16384] // window 1, cu8: two bytes a sample
	for _, req := range []struct {
		path, ctype string
		body        []byte
	}{
		{"/api/v1/predict?format=cu8&sample_rate=250k&center_freq=433.92M", "application/octet-stream", window},
		{"/api/v1/predict", "application/json", cu8JSON(window)},
	} {
		if status, b := call("POST", req.path, req.ctype, req.body); status != 200 {
			t.Errorf("predict %s: %d %s", req.ctype, status, b)
		} else {
			validFix(t, "http", b)
		}
	}
	batch := []byte(`{"items":[{"id":"w1",` + string(cu8JSON(window)[1:len(cu8JSON(window))-1]) + `},{"id":"bad","iq_data":[[1]]}]}`)
	if status, b := call("POST", "/api/v1/predict/batch", "application/json", batch); status != 200 {
		t.Errorf("batch: %d %s", status, b)
	}
	for _, r := range []struct {
		method, path, ctype string
		body                []byte
		want                int
	}{
		{"GET", "/healthz", "", nil, 200},
		{"GET", "/metrics", "", nil, 200},
		{"GET", "/api/v1/fixes?since=yesterday", "", nil, 400},
		{"GET", "/api/v1/models", "", nil, 200},
		{"POST", "/api/v1/predict", "text/csv", []byte("1,2"), 415},
		{"POST", "/api/v1/predict", "application/json", []byte(`{"iq_data":[]}`), 400},
		{"POST", "/api/v1/predict/batch", "application/json", []byte(`{"items":[]}`), 400},
		{"POST", "/api/v1/model/reload", "", nil, 200},
		{"POST", "/api/v1/model/activate?version=9", "", nil, 404},
		{"POST", "/api/v1/model/activate", "", nil, 400},
		{"POST", "/api/v1/model/activate?version=1", "", nil, 200},
		{"GET", "/api/v1/schema/nothing.json", "", nil, 404},
		{"GET", "/api/v2/fixes", "", nil, 404},
		{"POST", "/healthz", "", nil, 405},
	} {
		if status, b := call(r.method, r.path, r.ctype, r.body); status != r.want {
			t.Errorf("%s %s: %d, want %d: %s", r.method, r.path, status, r.want, b)
		}
	}
	// The status page and what it loads.
	_, page := call("GET", "/", "", nil)
	for _, r := range []struct {
		path string
		want int
		hdr  []string
	}{
		{"/", 304, []string{"If-None-Match", etagOf(t, base+"/")}},
		{"/ui/app.js", 200, nil},
		{"/ui/basemap.json", 200, nil},
		{"/ui/nothing.js", 404, nil},
		{"/ui/fixes?n=3", 200, nil},
		{"/ui/fixes?m=3", 400, nil},
	} {
		if status, b := call("GET", r.path, "", nil, r.hdr...); status != r.want {
			t.Errorf("GET %s: %d, want %d: %.200s", r.path, status, r.want, b)
		}
	}
	if !bytes.Contains(page, []byte("<html")) {
		t.Errorf("GET / is not the page: %.200s", page)
	}
	// The live feed streams until the client leaves: check its answer's head only.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/ui/events", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("live feed: %v", err)
	} else {
		if err := o.Check("GET", "/ui/events", resp.StatusCode, resp.Header, nil); err != nil || resp.StatusCode != 200 {
			t.Errorf("live feed: %d: %v", resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	cancel()

	// Readiness and rollback depend on timing and history: whatever they answer must be
	// documented.
	call("GET", "/readyz", "", nil)
	call("POST", "/api/v1/model/rollback", "", nil)

	seen := o.Seen()
	n := 0
	for _, c := range seen {
		n += c
	}
	t.Logf("%d answers of the daemon valid against its OpenAPI document (%d documented responses seen); fixes: %d on stdout, %d over MQTT, %d over HTTP",
		n, len(seen), len(stdoutIDs), len(mqttIDs), len(fc.Features))
	d.stop(t, 10*time.Second)
}

// registryWithV1 is a model registry whose alias champion names version 1 of edged-beacon:
// the reference model, with its checksum tag.
func registryWithV1(t *testing.T) *mlflowtest.Server {
	fake := mlflowtest.New(t)
	v1 := fake.AddVersion("edged-beacon", mlflowtest.ONNXVersion(reference.Model))
	fake.SetAlias("edged-beacon", "champion", v1)
	return fake
}

// etagOf is the ETag of a GET of url.
func etagOf(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("ETag")
}

// httpGet returns the body of a GET that must answer 200.
func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// cu8JSON is cu8 samples as Heimdall's JSON body, {"iq_data": [[i, q], …]} in full scale.
func cu8JSON(b []byte) []byte {
	var s strings.Builder
	s.WriteString(`{"iq_data":[`)
	for i := 0; i+1 < len(b); i += 2 {
		if i > 0 {
			s.WriteByte(',')
		}
		s.WriteString("[" + strconv.FormatFloat((float64(b[i])-127.5)/127.5, 'g', 6, 64) + "," +
			strconv.FormatFloat((float64(b[i+1])-127.5)/127.5, 'g', 6, 64) + "]")
	}
	s.WriteString("]}")
	return []byte(s.String())
}
