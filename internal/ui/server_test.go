package ui

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heimdall/edged/internal/pipeline"
	"github.com/heimdall/edged/store"
)

// event is one server-sent event.
type event struct{ name, data string }

// sseReader reads events from a live feed, failing the test on a malformed one.
type sseReader struct {
	t  *testing.T
	br *bufio.Reader
}

func (r *sseReader) next() (event, error) {
	var ev event
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "retry: "):
		default:
			r.t.Errorf("malformed event line %q", line)
		}
	}
}

// until reads events until one named name arrives, for at most limit.
func (r *sseReader) until(name string, limit time.Duration, match func(data string) bool) event {
	r.t.Helper()
	type res struct {
		ev  event
		err error
	}
	deadline := time.After(limit)
	for {
		ch := make(chan res, 1)
		go func() { ev, err := r.next(); ch <- res{ev, err} }()
		select {
		case x := <-ch:
			if x.err != nil {
				r.t.Fatalf("feed ended before a %s event: %v", name, x.err)
			}
			if x.ev.name == name && (match == nil || match(x.ev.data)) {
				return x.ev
			}
		case <-deadline:
			r.t.Fatalf("no %s event within %v", name, limit)
		}
	}
}

// serve starts a hub and its handler over a real store on a loopback server.
func serve(t *testing.T, cfg Config, db FixStore) (*Hub, *httptest.Server) {
	t.Helper()
	h, _ := newTestHub(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	srv := httptest.NewServer(h.Handler(db, nil))
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return h, srv
}

func connect(t *testing.T, srv *httptest.Server) (*sseReader, *http.Response) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /ui/events: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	return &sseReader{t: t, br: bufio.NewReader(resp.Body)}, resp
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testFix(i int) store.Fix {
	id := fmt.Sprintf("rx:%d", i)
	return store.Fix{ID: id, Receiver: "rx", Time: time.Unix(int64(1000+i), 0).UTC(),
		Body: []byte(fmt.Sprintf(`{"type":"Feature","id":%q,"properties":{"seq":%d}}`, id, i))}
}

// Ensure a page receives the stream's geometry and the state when it connects, then
// waterfall frames carrying the gate's decision, committed fixes, and the state each
// second.
func TestEventsStream(t *testing.T) {
	h, srv := serve(t, Config{}, nil)
	si := stream()
	h.Stream(si)
	r, _ := connect(t, srv)
	meta := r.until("meta", 5*time.Second, nil)
	if !strings.Contains(meta.data, `"cols":256`) || !strings.Contains(meta.data, `"center_freq_hz":100000000`) {
		t.Errorf("meta %s", meta.data)
	}
	r.until("state", 5*time.Second, nil)

	feat := make([]float32, si.Rows*si.Frames)
	for i := range feat {
		feat[i] = float32(-100 + i%40)
	}
	h.Window(pipeline.WindowInfo{Seq: 41, SNRDB: 17.5, Passed: true, Time: time.Unix(1700000000, 0)}, feat)
	spec := r.until("spec", 5*time.Second, nil)
	var sp specEvent
	if err := json.Unmarshal([]byte(spec.data), &sp); err != nil {
		t.Fatal(err)
	}
	if sp.SeqLast != 41 || sp.Passed != 1 || sp.SNRDB == nil || *sp.SNRDB != 17.5 || len(sp.Pixels) != 256*4 || sp.Time != "2023-11-14T22:13:20Z" {
		t.Errorf("spec event seq %d passed %d snr %v pixels %d time %s", sp.SeqLast, sp.Passed, sp.SNRDB, len(sp.Pixels), sp.Time)
	}

	f := testFix(7)
	h.Fixes([]store.Fix{f})
	if got := r.until("fix", 5*time.Second, nil); got.data != string(f.Body) {
		t.Errorf("fix event %s, want the stored body %s", got.data, f.Body)
	}
	st := r.until("state", 5*time.Second, nil)
	var state stateEvent
	if err := json.Unmarshal([]byte(st.data), &state); err != nil {
		t.Fatal(err)
	}
	if state.SourceState != SourceUp || state.WindowsTotal != 1 || state.PassedTotal != 1 || state.FixesTotal != 1 ||
		state.Clients != 1 || state.MaxClients != DefaultMaxClients {
		t.Errorf("state %+v", state)
	}

	// A page that connects later gets the recent frames at once, after the geometry.
	r2, _ := connect(t, srv)
	if ev, err := r2.next(); err != nil || ev.name != "meta" {
		t.Fatalf("second page: first event %q, %v", ev.name, err)
	}
	if ev, err := r2.next(); err != nil || ev.name != "spec" || ev.data != spec.data {
		t.Fatalf("second page: %q %v, want the recent frame again", ev.name, err)
	}
}

// Ensure the pages beyond MaxClients get 503 with Retry-After and a JSON error naming the
// limit, counted, while the live ones keep their feed.
func TestTooManyPages(t *testing.T) {
	h, srv := serve(t, Config{MaxClients: 2}, nil)
	connect(t, srv)
	connect(t, srv)
	resp, err := http.Get(srv.URL + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "max_live_clients") || !strings.Contains(string(body), `"error":"too_many_clients"`) {
		t.Fatalf("third page: %s %q", resp.Status, body)
	}
	if h.Clients() != 2 || testutil.ToFloat64(h.m.refused) != 1 {
		t.Errorf("%d pages live, %v refused", h.Clients(), testutil.ToFloat64(h.m.refused))
	}
}

// Ensure a browser that stops reading (its socket full) costs the others nothing: the
// publishers return at once, its events are dropped and counted, and a reading page still
// gets the newest events.
func TestStalledPageDoesNotHoldOthers(t *testing.T) {
	h, srv := serve(t, Config{ClientQueue: 8}, nil)
	// A raw connection that asks for the feed and never reads a byte.
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ui/events HTTP/1.1\r\nHost: edged\r\n\r\n")
	r, _ := connect(t, srv)
	r.until("state", 5*time.Second, nil)
	// The raw page joins when the server has parsed its request: poll for it.
	for deadline := time.Now().Add(10 * time.Second); h.Clients() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d pages joined, want 2", h.Clients())
		}
	}
	// Fixes of 256 KiB each fill the stalled page's socket buffers within a few dozen.
	big := bytes.Repeat([]byte("x"), 256<<10)
	batches := make([][]store.Fix, 200)
	for i := range batches {
		f := testFix(i)
		f.Body = []byte(fmt.Sprintf(`{"id":"rx:%d","pad":"%s"}`, i, big))
		batches[i] = []store.Fix{f}
	}
	start := time.Now()
	for _, b := range batches {
		h.Fixes(b)
	}
	publish := time.Since(start)
	// The reading page must get a fix published after the flood; keep publishing markers
	// until one arrives (the flood may still be ahead of it in its queue).
	marker := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-marker:
				return
			default:
			}
			h.Fixes([]store.Fix{{ID: "marker", Body: []byte(fmt.Sprintf(`{"id":"marker-%d"}`, i))}})
			time.Sleep(10 * time.Millisecond) // pacing the markers, not synchronising
		}
	}()
	r.until("fix", 30*time.Second, func(d string) bool { return strings.Contains(d, "marker-") })
	close(marker)
	if testutil.ToFloat64(h.m.slow) == 0 {
		t.Error("no event was dropped for the stalled page")
	}
	t.Logf("200 fixes of 256 KiB published in %v; %v events dropped for the stalled page, %v skipped while the hub was busy",
		publish, testutil.ToFloat64(h.m.slow), testutil.ToFloat64(h.m.busy))
}

// Ensure /ui/fixes answers the newest fixes, oldest first, from the store, and refuses
// bad parameters by name.
func TestRecentFixesRoute(t *testing.T) {
	db := openStore(t)
	for i := range 5 {
		if _, err := db.Commit(testFix(i)); err != nil {
			t.Fatal(err)
		}
	}
	_, srv := serve(t, Config{}, db)
	get := func(q string) (int, string) {
		resp, err := http.Get(srv.URL + "/ui/fixes" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("?n=3")
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			ID string `json:"id"`
		} `json:"features"`
	}
	if err := json.Unmarshal([]byte(body), &fc); err != nil || code != 200 || fc.Type != "FeatureCollection" {
		t.Fatalf("n=3: %d %s %v", code, body, err)
	}
	if len(fc.Features) != 3 || fc.Features[0].ID != "rx:2" || fc.Features[2].ID != "rx:4" {
		t.Errorf("n=3 gave %+v, want rx:2 rx:3 rx:4", fc.Features)
	}
	if code, body := get(""); code != 200 || strings.Count(body, `"type":"Feature"`) != 5 {
		t.Errorf("default: %d %s", code, body)
	}
	for _, q := range []string{"?n=0", "?n=abc", "?n=1001", "?since=1", "?n=1&n=2"} {
		if code, body := get(q); code != 400 || !strings.Contains(body, "invalid_parameter") {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
}

// Ensure the page and its assets are served from the binary with their types, a
// content-security policy that keeps the page to its own origin, revalidation by ETag and
// gzip for the large ones; other paths and methods get JSON errors.
func TestAssets(t *testing.T) {
	_, srv := serve(t, Config{}, nil)
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		// The transport would add Accept-Encoding and decompress behind our back.
		tr := &http.Transport{DisableCompression: true}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for path, ctype := range map[string]string{"/": "text/html", "/ui/app.js": "text/javascript", "/ui/app.css": "text/css",
		"/ui/icon.svg": "image/svg+xml", "/ui/basemap.json": "application/json", "/ui/LICENSE-world-atlas.txt": "text/plain"} {
		resp := get(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if tag := resp.Header.Get("ETag"); tag == "" || get(path, "If-None-Match", tag).StatusCode != http.StatusNotModified {
			t.Errorf("%s: ETag %q does not revalidate", path, tag)
		}
	}
	plain, _ := io.ReadAll(get("/ui/basemap.json").Body)
	gz := get("/ui/basemap.json", "Accept-Encoding", "gzip")
	zr, err := gzip.NewReader(gz.Body)
	if err != nil || gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("basemap gzip: %v %q", err, gz.Header.Get("Content-Encoding"))
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain) || len(plain) < 100000 {
		t.Errorf("gzipped basemap differs from the plain one (%d vs %d bytes)", len(unzipped), len(plain))
	}
	if resp := get("/ui/nothing"); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/ui/nothing: %s", resp.Status)
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %s allow %q", resp.Status, resp.Header.Get("Allow"))
	}
}

// Ensure the committed basemap is Natural Earth as internal/cmd/basemap writes it: enough
// coast and border lines, every position a valid longitude and latitude, and the Ligurian
// coast where it is (Genoa's harbour, 44.40 N 8.92 E).
func TestBasemapData(t *testing.T) {
	b, err := os.ReadFile("web/basemap.json")
	if err != nil {
		t.Fatal(err)
	}
	var bm struct {
		Source           string
		Scale, Translate [2]float64
		Coast, Borders   [][]int64
	}
	if err := json.Unmarshal(b, &bm); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bm.Source, "Natural Earth") || len(bm.Coast) < 1000 || len(bm.Borders) < 300 {
		t.Fatalf("source %q, %d coast and %d border lines", bm.Source, len(bm.Coast), len(bm.Borders))
	}
	nearGenoa := math.Inf(1)
	for _, set := range [][][]int64{bm.Coast, bm.Borders} {
		for _, arc := range set {
			if len(arc) < 4 || len(arc)%2 != 0 {
				t.Fatalf("arc with %d values", len(arc))
			}
			var x, y int64
			for i := 0; i < len(arc); i += 2 {
				x, y = x+arc[i], y+arc[i+1]
				lon, lat := float64(x)*bm.Scale[0]+bm.Translate[0], float64(y)*bm.Scale[1]+bm.Translate[1]
				if lon < -180.001 || lon > 180.001 || lat < -90.001 || lat > 90.001 {
					t.Fatalf("position %v, %v out of range", lon, lat)
				}
				nearGenoa = min(nearGenoa, math.Hypot(lon-8.92, lat-44.40))
			}
		}
	}
	if nearGenoa > 0.05 {
		t.Errorf("nearest coast point to Genoa is %.3f° away", nearGenoa)
	}
}

// Ensure stopping the hub ends every live feed (so the server can shut down promptly) and
// turns new pages away with 503.
func TestFeedEndsWhenHubStops(t *testing.T) {
	h, _ := newTestHub(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	srv := httptest.NewServer(h.Handler(nil, nil))
	defer srv.Close()
	r, resp := connect(t, srv)
	r.until("state", 5*time.Second, nil)
	cancel()
	<-done
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Errorf("feed ended with %v, want a clean end", err)
	}
	again, err := http.Get(srv.URL + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(again.Body)
	again.Body.Close()
	if again.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"error":"unavailable"`) {
		t.Errorf("after stop: %s %s", again.Status, body)
	}
}
