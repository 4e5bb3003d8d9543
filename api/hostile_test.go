package api

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ensure that a body nested past the depth limit is a 400 naming the limit, not a stack
// overflow: 4.5 MB of brackets in session_id once killed the process, and 3.5 MB grew it
// to 1 GB. The same in a batch item.
func TestDeepNestingRefused(t *testing.T) {
	e := newEnv(t, nil)
	deep := func(prefix string, n int) []byte {
		return append([]byte(prefix), bytes.Repeat([]byte("["), n)...)
	}
	for _, tc := range []struct {
		path string
		body []byte
	}{
		{"/api/v1/predict", deep(`{"session_id":`, 4_500_000)},
		{"/api/v1/predict", deep(`{"iq_data":[[0,0]],"cache_enabled":`, 100)},
		{"/api/v1/predict/batch", deep(`{"items":[{"id":`, 1_000_000)},
		{"/api/v1/predict/batch", deep(`{"session_id":{"a":`, 40)},
	} {
		r := e.do(t, "POST", tc.path, "application/json", tc.body)
		if ae := apiErr(t, r); r.status != 400 || ae.Code != codeTooDeep || !strings.Contains(ae.Message, "deeper than 32 levels") {
			t.Errorf("%s %d bytes: %d %+v", tc.path, len(tc.body), r.status, ae)
		}
	}
	// 32 levels are fine.
	ok := `{"iq_data":[[0.1,0.2]],"session_id":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`
	if r := e.do(t, "POST", "/api/v1/predict", "application/json", []byte(ok)); r.status != 400 || apiErr(t, r).Code != codeInvalidField {
		// session_id must be a string: valid JSON within the depth is judged by its type.
		t.Errorf("31 levels: %d %s", r.status, r.body)
	}
}

// Ensure that a sample rate far below the model's is refused before anything is
// upsampled: a 200 kB cu8 body at 61.03515625 S/s was upsampled 4096× in one piece.
func TestUpsamplingBounded(t *testing.T) {
	e := newEnv(t, nil)
	body := make([]byte, 200_000)
	for _, rate := range []string{"61.03515625", "15k"} {
		r := e.do(t, "POST", "/api/v1/predict?format=cu8&sample_rate="+rate, "application/octet-stream", body)
		if ae := apiErr(t, r); r.status != 400 || !strings.Contains(ae.Message, "more than 16× below the model's 250000 S/s") {
			t.Errorf("rate %s: %d %+v", rate, r.status, ae)
		}
	}
	// 16× is allowed: 15.625 kS/s becomes 250 kS/s.
	if r := e.do(t, "POST", "/api/v1/predict?format=cu8&sample_rate=15625", "application/octet-stream", body[:2048]); r.status != 200 {
		t.Errorf("16× up: %d %s", r.status, r.body)
	}
}

// Ensure that memory is reserved before it is allocated: a request needing more than the
// whole budget is 413, and one that finds the budget held by others is 503 with
// Retry-After, while a small one still fits.
func TestMemoryBudget(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.MaxBodyBytes = 1 << 20; c.MaxMemoryBytes = 4 << 20 })
	// 2^20 raw cs8 bytes are 2^19 samples: 4 MiB of complex64 plus the body is over 4 MiB.
	r := e.do(t, "POST", "/api/v1/predict?format=cs8&sample_rate=250k", "application/octet-stream", make([]byte, 1<<20))
	if ae := apiErr(t, r); r.status != 413 || !strings.Contains(ae.Message, "max_memory_bytes") {
		t.Errorf("beyond the budget: %d %+v", r.status, ae)
	}
	hold := e.srv.mem.lease()
	if err := hold.reserve(4<<20-100_000, "a test"); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, "POST", "/api/v1/predict", "application/json", heimdallJSON(burst(2048, 250e3, 0, 1)))
	if ae := apiErr(t, r); r.status != 503 || ae.Code != codeOverloaded || r.header.Get("Retry-After") == "" {
		t.Errorf("budget held: %d %+v %v", r.status, ae, r.header)
	}
	hold.end()
	if r := e.do(t, "POST", "/api/v1/predict", "application/json", heimdallJSON(burst(2048, 250e3, 0, 1))); r.status != 200 {
		t.Errorf("after release: %d %s", r.status, r.body)
	}
	if used := e.srv.mem.used.Load(); used != 0 {
		t.Errorf("%d bytes still reserved with no request running", used)
	}
}

// pythonBatch is a batch body as Python's json.dumps writes it (", " and ": " separators,
// repr floats): Heimdall's largest, 100 items of 2048 samples, is about 9 MB.
func pythonBatch(items, samples int) []byte {
	rng := rand.New(rand.NewPCG(7, 7))
	var b bytes.Buffer
	b.WriteString(`{"items": [`)
	for i := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"id": "item-%d", "iq_data": [`, i)
		for j := range samples {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('[')
			b.WriteString(strconv.FormatFloat(rng.Float64()*2-1, 'g', 17, 64))
			b.WriteString(", ")
			b.WriteString(strconv.FormatFloat(rng.Float64()*2-1, 'g', 17, 64))
			b.WriteByte(']')
		}
		b.WriteString("]}")
	}
	b.WriteString("]}")
	return b.Bytes()
}

// Ensure that Heimdall's largest batch fits the default limits.
func TestLargestHeimdallBatchFits(t *testing.T) {
	e := newEnv(t, nil)
	body := pythonBatch(100, 2048)
	if len(body) < 9_000_000 {
		t.Fatalf("the batch is %d bytes, want Heimdall's ~9.06 MB", len(body))
	}
	r := e.do(t, "POST", "/api/v1/predict/batch", "application/json", body)
	if r.status != 200 {
		t.Fatalf("%d bytes: %d %s", len(body), r.status, truncate(r.body, 200))
	}
	if n := bytes.Count(r.body, []byte(`"fix":`)); n != 100 {
		t.Fatalf("%d fixes in the answer, want 100", n)
	}
}

// Ensure that 100 connections sending their bodies slowly hold no concurrency slot: a
// well-behaved client's requests all succeed meanwhile (they got 503 on 39 of 41), and the
// slow ones are cut off with 408 at the body deadline.
func TestSlowBodiesDoNotStarve(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.BodyReadTimeoutSeconds = 3; c.QueueWait = 50 * time.Millisecond })
	addr := strings.TrimPrefix(e.ts.URL, "http://")
	const slow = 100
	conns := make([]net.Conn, slow)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"iq_data\":[")
		conns[i] = c
	}
	// Every slow request is inside the server, reading its body (each reserved its first
	// buffer) before the good client starts.
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.mem.used.Load() < slow*minBodyBuffer {
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes reserved: the slow requests did not all arrive", e.srv.mem.used.Load())
		}
		runtime.Gosched()
	}
	good := heimdallJSON(burst(2048, 250e3, beaconD(t).OffsetHz, 3))
	for i := range 30 {
		r := e.do(t, "POST", "/api/v1/predict", "application/json", good)
		if r.status != 200 {
			t.Fatalf("good request %d during %d slow bodies: %d %s", i, slow, r.status, r.body)
		}
	}
	var wg sync.WaitGroup
	codes := make(chan int, slow)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusRequestTimeout {
			t.Errorf("slow body answered %d, want 408", code)
		}
	}
}

// Ensure that the body's deadline ends with the body: a request whose body arrived in time
// but then waits for a slot (or computes) longer than body_read_timeout_seconds is
// answered, not cancelled by the deadline passing while net/http watches the connection.
func TestBodyDeadlineEndsWithTheBody(t *testing.T) {
	mm := &fakeModels{entered: make(chan struct{}, 1), block: make(chan struct{}), active: fakeInfo("1"), reloadTo: fakeInfo("2")}
	e := newEnv(t, func(c *Config, d *Deps) {
		c.MaxConcurrent, c.QueueWait, c.BodyReadTimeoutSeconds = 1, 5*time.Second, 0.05
		d.Models = mm
	})
	held := make(chan response)
	go func() { held <- e.do(t, "POST", "/api/v1/model/reload", "", nil) }()
	<-mm.entered // the reload holds the only slot
	answered := make(chan response)
	go func() {
		answered <- e.do(t, "POST", "/api/v1/predict", "application/json", heimdallJSON(burst(2048, 250e3, 0, 4)))
	}()
	// The predict waits for the slot well past its body deadline: what is awaited here is the
	// deadline itself, so a timer is the synchronisation.
	<-time.After(300 * time.Millisecond)
	close(mm.block)
	<-held
	if r := <-answered; r.status != 200 {
		t.Fatalf("predict that waited past its body deadline: %d %s", r.status, r.body)
	}
}
