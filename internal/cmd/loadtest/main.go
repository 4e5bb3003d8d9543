// Command loadtest drives edged's predict route with concurrent clients and prints latency
// percentiles, throughput, the cache hit rate and errors.
//
// Requests are Heimdall JSON, {"iq_data": [[i,q],…]}, of -samples samples: a beacon D burst
// at 250 kS/s with noise. A -fresh share of them carry inputs never sent before (cache
// misses); the rest repeat a set of -repeat inputs, sent once before the measurement so that
// they are cached. Without -url it starts edged's API in this process on 127.0.0.1:0 with
// the embedded reference model and a temporary bbolt store, so it needs nothing running.
//
//	loadtest -clients 100 -duration 10s -fresh 1          # closed loop, every input new
//	loadtest -clients 100 -duration 10s -fresh 0          # closed loop, every request a hit
//	loadtest -mode open -rate 500 -duration 10s -fresh 1  # open loop at 500 requests/s
//
// Closed loop: each client sends its next request when the previous one is answered.
// Open loop: requests start at fixed times regardless of answers, and latency is measured
// from the time a request was due, so a stalled server cannot hide its queue.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heimdall/edged/api"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/models/reference"
	"github.com/heimdall/edged/store"
)

type options struct {
	url        string
	clients    int
	duration   time.Duration
	requests   int
	mode       string
	rate       float64
	fresh      float64
	samples    int
	repeat     int
	timeout    time.Duration
	cpuProfile string
	noStore    bool
	blockProf  string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "base URL of a running edged API (default: start one in this process)")
	flag.IntVar(&o.clients, "clients", 100, "concurrent clients (closed loop)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	flag.IntVar(&o.requests, "requests", 0, "closed loop: stop after this many requests in all, or at -duration (0: -duration only)")
	flag.StringVar(&o.mode, "mode", "closed", "closed (clients wait for answers) or open (fixed request rate)")
	flag.Float64Var(&o.rate, "rate", 500, "requests per second (open loop)")
	flag.Float64Var(&o.fresh, "fresh", 1, "share of requests with never-seen inputs, 0..1; the rest repeat cached ones")
	flag.IntVar(&o.samples, "samples", 2048, "IQ samples per request")
	flag.IntVar(&o.repeat, "repeat", 32, "number of distinct repeated inputs")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (client and in-process server) to this file")
	flag.StringVar(&o.blockProf, "blockprofile", "", "write a goroutine blocking profile of the run to this file")
	flag.BoolVar(&o.noStore, "no-store", false, "in-process server without a store (no cache), to tell the cache's cost apart")
	flag.Parse()
	if _, err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(o options, w io.Writer) (*results, error) {
	if o.clients < 1 || o.duration <= 0 || o.requests < 0 || o.rate <= 0 || o.fresh < 0 || o.fresh > 1 || o.samples < 1 || o.repeat < 1 {
		return nil, errors.New("bad flags: want clients ≥ 1, duration > 0, requests ≥ 0, rate > 0, 0 ≤ fresh ≤ 1, samples ≥ 1, repeat ≥ 1")
	}
	if o.mode != "closed" && o.mode != "open" {
		return nil, fmt.Errorf("-mode %q: want closed or open", o.mode)
	}
	base := o.url
	if base == "" {
		url, stop, err := startServer(!o.noStore)
		if err != nil {
			return nil, err
		}
		defer stop()
		base = url
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if o.blockProf != "" {
		runtime.SetBlockProfileRate(int(time.Microsecond))
		defer func() {
			if f, err := os.Create(o.blockProf); err == nil {
				pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	conns := o.clients
	if o.mode == "open" {
		conns = max(conns, int(o.rate))
	}
	client := &http.Client{
		Timeout:   o.timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxIdleConns: conns, IdleConnTimeout: time.Minute},
	}
	g := newGenerator(o.samples, o.repeat)
	lt := &loadTest{client: client, url: base + "/api/v1/predict", gen: g, fresh: o.fresh}

	// Warm up: cache the repeated inputs and let the server build its preprocessing.
	for i := range o.repeat {
		if r := lt.send(g.repeated(i)); r.err != nil {
			return nil, fmt.Errorf("warm-up request: %w", r.err)
		}
	}
	cpu0 := cpuTime()
	var res *results
	if o.mode == "closed" {
		res = lt.closed(o.clients, o.duration, o.requests)
	} else {
		res = lt.open(o.rate, o.duration)
	}
	res.cpu = cpuTime() - cpu0
	// Connections dialled but never used would hold up the server's graceful shutdown.
	client.CloseIdleConnections()
	res.print(w, o)
	return res, nil
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the 1-minute load average, for judging how busy the host was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return "?"
	}
	return string(f[0])
}

// startServer runs edged's API with the reference model and a temporary store.
func startServer(withStore bool) (url string, stop func(), err error) {
	if err := infer.Init(""); err != nil {
		return "", nil, err
	}
	m, err := infer.Load(infer.Source{Data: reference.Model}, infer.Options{})
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "edged-loadtest-")
	if err != nil {
		return "", nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var db *store.DB
	if withStore {
		if db, err = store.Open(filepath.Join(dir, "edged.db"), store.Options{}, log); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	closeDB := func() {
		if db != nil {
			db.Close()
		}
	}
	srv, err := api.New(api.Config{ReceiverID: "loadtest"}, api.Deps{Engine: infer.NewEngine(m), DB: db}, log)
	if err != nil {
		closeDB()
		os.RemoveAll(dir)
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeDB()
		os.RemoveAll(dir)
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			log.Warn("loadtest: server", "err", err)
		}
		closeDB()
		os.RemoveAll(dir)
	}, nil
}

// generator makes request bodies: a fixed burst whose first I value carries a counter for
// fresh inputs, and a set of distinct repeated inputs.
type generator struct {
	head, tail []byte   // body = head + first I value + tail
	repeat     [][]byte // cached inputs
	next       atomic.Uint64
}

func newGenerator(samples, repeat int) *generator {
	d, err := reference.Lookup("D")
	if err != nil {
		panic(err) // the embedded catalogue always has D
	}
	r := rand.New(rand.NewPCG(1, 2))
	// The first I value is left out of the burst: the caller writes it between head and tail.
	body := func() (head, tail []byte) {
		var b bytes.Buffer
		b.WriteString(`{"iq_data":[[`)
		head = bytes.Clone(b.Bytes())
		b.Reset()
		for i := range samples {
			ph := 2 * math.Pi * d.OffsetHz * float64(i) / 250e3
			re := float32(0.5*math.Cos(ph) + 0.02*r.NormFloat64())
			im := float32(0.5*math.Sin(ph) + 0.02*r.NormFloat64())
			if i > 0 {
				b.WriteString(",[")
				b.WriteString(strconv.FormatFloat(float64(re), 'g', -1, 32))
			}
			b.WriteByte(',')
			b.WriteString(strconv.FormatFloat(float64(im), 'g', -1, 32))
			b.WriteByte(']')
		}
		b.WriteString("]}")
		return head, b.Bytes()
	}
	g := &generator{}
	g.head, g.tail = body()
	for i := range repeat {
		h, t := body()
		g.repeat = append(g.repeat, slices.Concat(h, []byte(strconv.Itoa(i+1)+"e-3"), t))
	}
	return g
}

// freshBody returns an input never produced before by this generator: its first I value
// is n·2⁻²⁴, exact in float32, for a counter n.
func (g *generator) freshBody() []byte {
	n := g.next.Add(1)
	v := strconv.FormatFloat(float64(n)*math.Pow(2, -24), 'g', -1, 64)
	return slices.Concat(g.head, []byte(v), g.tail)
}

func (g *generator) repeated(i int) []byte { return g.repeat[i%len(g.repeat)] }

type loadTest struct {
	client *http.Client
	url    string
	gen    *generator
	fresh  float64
}

type outcome struct {
	latency time.Duration
	cache   string
	status  int
	err     error
}

func (lt *loadTest) body(r *rand.Rand) []byte {
	if r.Float64() < lt.fresh {
		return lt.gen.freshBody()
	}
	return lt.gen.repeated(r.IntN(len(lt.gen.repeat)))
}

func (lt *loadTest) send(body []byte) outcome {
	start := time.Now()
	res, err := lt.client.Post(lt.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	o := outcome{latency: time.Since(start), cache: res.Header.Get("X-Edged-Cache"), status: res.StatusCode, err: err}
	if o.err == nil && res.StatusCode != http.StatusOK {
		o.err = fmt.Errorf("status %d", res.StatusCode)
	}
	return o
}

func (lt *loadTest) closed(clients int, d time.Duration, limit int) *results {
	res := newResults()
	deadline := time.Now().Add(d)
	start := time.Now()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			var local []outcome
			for time.Now().Before(deadline) && (limit == 0 || sent.Add(1) <= int64(limit)) {
				local = append(local, lt.send(lt.body(r)))
			}
			res.add(local)
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func (lt *loadTest) open(rate float64, d time.Duration) *results {
	res := newResults()
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d.Seconds() * rate)
	start := time.Now()
	r := rand.New(rand.NewPCG(3, 7))
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		body := lt.body(r)
		wg.Go(func() {
			o := lt.send(body)
			if o.err == nil {
				o.latency = time.Since(due) // from when it was due, not when it went out
			}
			out[i] = o
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.add(out)
	return res
}

type results struct {
	mu        sync.Mutex
	latencies []time.Duration
	hits      int
	misses    int
	errors    map[string]int
	elapsed   time.Duration
	cpu       time.Duration // of this process: the client, and the server when in-process
}

func newResults() *results { return &results{errors: map[string]int{}} }

func (r *results) add(os []outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range os {
		if o.err != nil {
			r.errors[o.err.Error()]++
			continue
		}
		r.latencies = append(r.latencies, o.latency)
		switch o.cache {
		case "hit":
			r.hits++
		case "miss":
			r.misses++
		}
	}
}

func (r *results) print(w io.Writer, o options) {
	slices.Sort(r.latencies)
	q := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(math.Ceil(p*float64(len(r.latencies))))-1)]
	}
	nerr := 0
	for _, n := range r.errors {
		nerr += n
	}
	total := len(r.latencies) + nerr
	load := fmt.Sprintf("%d clients", o.clients)
	if o.mode == "open" {
		load = fmt.Sprintf("%g req/s", o.rate)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	hitRate := 0.0
	if r.hits+r.misses > 0 {
		hitRate = float64(r.hits) / float64(r.hits+r.misses)
	}
	fmt.Fprintf(w, "mode %s, %s, %d samples/request, fresh %.2f, %v\n", o.mode, load, o.samples, o.fresh, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  requests    %d (%.1f req/s)\n", total, float64(total)/r.elapsed.Seconds())
	fmt.Fprintf(w, "  latency     P50 %s  P95 %s  P99 %s  max %s\n", ms(q(0.50)), ms(q(0.95)), ms(q(0.99)), ms(q(1)))
	fmt.Fprintf(w, "  cache       %.1f%% hits (%d hits, %d misses)\n", 100*hitRate, r.hits, r.misses)
	fmt.Fprintf(w, "  errors      %d\n", nerr)
	if total > 0 {
		fmt.Fprintf(w, "  cpu         %.3f ms/request (this process, %d CPUs; load average %s)\n",
			float64(r.cpu)/1e6/float64(total), runtime.NumCPU(), loadAverage())
	}
	for e, n := range r.errors {
		fmt.Fprintf(w, "    %6d  %s\n", n, e)
	}
}
