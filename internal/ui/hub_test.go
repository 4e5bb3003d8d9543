package ui

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heimdall/edged/internal/pipeline"
)

func newTestHub(t *testing.T, cfg Config) (*Hub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := NewHub(cfg, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

// stream is a 300-row, 10-frame stream in "natural" FFT order (0 Hz first, then from
// −fs/2), so that rows must be sorted and averaged to fit 256 columns.
func stream() pipeline.StreamInfo {
	const rows = 300
	hz := make([]float64, rows)
	for r := range hz {
		k := r
		if k >= rows/2 {
			k -= rows
		}
		hz[r] = float64(k) * 1000
	}
	return pipeline.StreamInfo{Source: "test", CenterFreqHz: 100e6, SampleRateHz: 300e3, WindowSamples: 3000,
		Rows: rows, Frames: 10, RowsHz: hz, Log: "db", Normalize: "none", GateSNRDB: 10}
}

// Ensure the display geometry sorts rows by frequency, averages them into at most 256
// columns and frames into at most 4 lines, and says so in its meta event.
func TestGeometryDecimates(t *testing.T) {
	si := stream()
	g := newGeometry(si, 7)
	if g.cols != 256 || g.lines != 4 {
		t.Fatalf("geometry %d cols × %d lines, want 256 × 4", g.cols, g.lines)
	}
	// Each feature is its row's frequency plus 1e6 × its frame: the cells must hold the
	// mean frequency of their column plus 1e6 × the mean frame of their line.
	feat := make([]float32, si.Rows*si.Frames)
	for r := range si.Rows {
		for f := range si.Frames {
			feat[r*si.Frames+f] = float32(si.RowsHz[r]/1000 + float64(f)*1000)
		}
	}
	cells := make([]float32, g.cols*g.lines)
	g.decimate(cells, feat)
	var meta struct {
		Gen    uint64    `json:"gen"`
		ColsHz []float64 `json:"cols_hz"`
		Lines  int       `json:"lines"`
	}
	data := strings.TrimSuffix(strings.SplitN(string(g.meta), "data: ", 2)[1], "\n\n")
	if err := json.Unmarshal([]byte(data), &meta); err != nil {
		t.Fatalf("meta event %q: %v", g.meta, err)
	}
	if meta.Gen != 7 || len(meta.ColsHz) != 256 || meta.Lines != 4 {
		t.Fatalf("meta gen %d, %d columns, %d lines", meta.Gen, len(meta.ColsHz), meta.Lines)
	}
	wantLine := []float64{1000 * 1, 1000 * 3.5, 1000 * 6, 1000 * 8.5} // frames {0,1,2} {3,4} {5,6,7} {8,9}: l = f*4/10
	for c := range g.cols {
		if c > 0 && !(meta.ColsHz[c] > meta.ColsHz[c-1]) {
			t.Fatalf("column %d at %v Hz is not above column %d at %v Hz", c, meta.ColsHz[c], c-1, meta.ColsHz[c-1])
		}
		for l := range g.lines {
			want := meta.ColsHz[c]/1000 + wantLine[l]
			if got := float64(cells[l*g.cols+c]); math.Abs(got-want) > 1e-3 {
				t.Fatalf("cell line %d col %d = %v, want %v", l, c, got, want)
			}
		}
	}
	// Column 0 averages the rows at −150 and −149 kHz; the last holds the +149 kHz row alone.
	if meta.ColsHz[0] != -149500 || meta.ColsHz[255] != 149000 {
		t.Errorf("columns span %v to %v Hz, want −149.5 kHz to +149 kHz", meta.ColsHz[0], meta.ColsHz[255])
	}
}

// Ensure windows merged into one frame keep each cell's maximum, count the windows that
// passed the gate and the best SNR, and that encoding maps the colour range onto 0…255.
func TestFrameMergesAndQuantises(t *testing.T) {
	si := stream()
	si.Rows, si.Frames, si.RowsHz = 2, 1, []float64{-1, 1}
	g := newGeometry(si, 1)
	a := &slot{g: g, w: pipeline.WindowInfo{Seq: 4, SNRDB: 3}, cells: []float32{-100, -60}}
	b := &slot{g: g, w: pipeline.WindowInfo{Seq: 5, SNRDB: 21, Passed: true}, cells: []float32{-90, -80}}
	c := &slot{g: g, w: pipeline.WindowInfo{Seq: 6, SNRDB: math.NaN()}, cells: []float32{-95, -85}}
	var f frame
	for _, s := range []*slot{a, b, c} {
		f.add(s)
	}
	if f.n != 3 || f.passed != 1 || f.snr != 21 || f.cells[0] != -90 || f.cells[1] != -60 {
		t.Fatalf("merged frame n %d passed %d snr %v cells %v", f.n, f.passed, f.snr, f.cells[:2])
	}
	var sc scale
	ev := f.encode(&sc)
	var spec specEvent
	data := strings.TrimSuffix(strings.SplitN(string(ev), "data: ", 2)[1], "\n\n")
	if err := json.Unmarshal([]byte(data), &spec); err != nil {
		t.Fatalf("spec event %q: %v", ev, err)
	}
	// Two cells: the floor (5th percentile) is the lower one; the span is at least 20 dB.
	if spec.Lo != -90 || spec.Hi != -60 || spec.Seq != 4 || spec.SeqLast != 6 || spec.Windows != 3 || spec.Passed != 1 ||
		spec.SNRDB == nil || *spec.SNRDB != 21 || string(spec.Pixels) != "\x00\xff" {
		t.Fatalf("spec event %+v", spec)
	}
	// A quiet frame after it: the peak decays slowly, the span never falls below 20 dB.
	var q frame
	q.add(&slot{g: g, w: pipeline.WindowInfo{Seq: 7}, cells: []float32{-90, -89}})
	q.encode(&sc)
	if sc.hi < sc.lo+20 || sc.hi > -60 || sc.hi < -61 {
		t.Errorf("after a quiet frame lo %v hi %v: the peak should decay slowly", sc.lo, sc.hi)
	}
}

// Ensure a page whose queue is full misses events (counted) while the other pages get
// every one: broadcasting never waits for a page.
func TestBroadcastDropsForSlowPage(t *testing.T) {
	h, reg := newTestHub(t, Config{ClientQueue: 4})
	slow, _, err := h.join()
	if err != nil {
		t.Fatal(err)
	}
	fast, _, err := h.join()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		h.broadcast([]byte{byte(i)})
		if got := <-fast.ch; got[0] != byte(i) {
			t.Fatalf("fast page got event %d, want %d", got[0], i)
		}
	}
	if len(slow.ch) != 4 || slow.dropped.Load() != 6 {
		t.Fatalf("slow page holds %d events and missed %d, want 4 and 6", len(slow.ch), slow.dropped.Load())
	}
	if got := testutil.ToFloat64(h.m.slow); got != 6 {
		t.Errorf("edged_ui_events_dropped_total{reason=slow_page} = %v, want 6", got)
	}
	if n, err := testutil.GatherAndCount(reg, "edged_ui_events_dropped_total", "edged_ui_clients"); err != nil || n != 3 {
		t.Errorf("registered series: %d, %v", n, err)
	}
}

// Ensure Window allocates nothing, with or without pages, and that with every slot taken
// it skips the window (counted) instead of waiting.
func TestWindowNeverAllocatesOrBlocks(t *testing.T) {
	h, _ := newTestHub(t, Config{})
	si := stream()
	h.Stream(si)
	feat := make([]float32, si.Rows*si.Frames)
	w := pipeline.WindowInfo{Seq: 1, SNRDB: 12, Passed: true, Time: time.Unix(1, 0)}
	if n := testing.AllocsPerRun(100, func() { h.Window(w, feat) }); n != 0 {
		t.Errorf("Window without pages: %v allocations", n)
	}
	if _, _, err := h.join(); err != nil {
		t.Fatal(err)
	}
	// The hub's goroutine is not running: take each slot back as it would.
	if n := testing.AllocsPerRun(100, func() {
		h.Window(w, feat)
		h.free <- <-h.queue
	}); n != 0 {
		t.Errorf("Window with a page: %v allocations", n)
	}
	for range slots + 5 {
		h.Window(w, feat) // nobody takes the slots back: the last 5 are skipped
	}
	if got := testutil.ToFloat64(h.m.busy); got != 5 {
		t.Errorf("edged_ui_events_dropped_total{reason=busy} = %v, want 5", got)
	}
	// AllocsPerRun runs its function once more than asked, to warm up.
	if h.windows.Load() != 101+101+slots+5 || h.passed.Load() != h.windows.Load() {
		t.Errorf("counted %d windows, %d passed", h.windows.Load(), h.passed.Load())
	}
}

// Ensure the source state follows the windows: starting before the first, up while they
// flow, stalled after max(2 s, 3 windows) without one, ended when the daemon says so.
func TestSourceState(t *testing.T) {
	h, _ := newTestHub(t, Config{})
	now := time.Unix(1000, 0)
	if s, _ := h.sourceState(now, Status{}); s != SourceStarting {
		t.Errorf("before any stream: %s", s)
	}
	si := stream() // 10 ms windows: the 2 s floor applies
	h.geom.Store(newGeometry(si, 1))
	h.streamStart.Store(now.Add(-time.Second).UnixNano())
	if s, _ := h.sourceState(now, Status{}); s != SourceStarting {
		t.Errorf("1 s into a stream without a window: %s", s)
	}
	if s, _ := h.sourceState(now.Add(1500*time.Millisecond), Status{}); s != SourceStalled {
		t.Errorf("2.5 s into a stream without a window: %s", s)
	}
	h.lastWindow.Store(now.UnixNano())
	s, age := h.sourceState(now.Add(1900*time.Millisecond), Status{})
	if s != SourceUp || age == nil || math.Abs(*age-1.9) > 1e-9 {
		t.Errorf("1.9 s after a window: %s, age %v", s, age)
	}
	if s, _ := h.sourceState(now.Add(2100*time.Millisecond), Status{}); s != SourceStalled {
		t.Errorf("2.1 s after a window: %s", s)
	}
	si.WindowSamples = 300e3 // 1 s windows: 3 s without one is a stall
	h.geom.Store(newGeometry(si, 2))
	if s, _ := h.sourceState(now.Add(2900*time.Millisecond), Status{}); s != SourceUp {
		t.Errorf("2.9 s after a 1 s window: %s", s)
	}
	if s, _ := h.sourceState(now.Add(3100*time.Millisecond), Status{}); s != SourceStalled {
		t.Errorf("3.1 s after a 1 s window: %s", s)
	}
	if s, _ := h.sourceState(now, Status{Source: SourceStatus{Ended: true}}); s != SourceEnded {
		t.Errorf("ended recording: %s", s)
	}
}

// Ensure events are framed as the server-sent events format requires, a multi-line
// payload included.
func TestSSEEvent(t *testing.T) {
	if got := string(sseEvent("fix", []byte(`{"a":1}`))); got != "event: fix\ndata: {\"a\":1}\n\n" {
		t.Errorf("one line: %q", got)
	}
	if got := string(sseEvent("x", []byte("a\r\nb\nc"))); got != "event: x\ndata: a\ndata: b\ndata: c\n\n" {
		t.Errorf("several lines: %q", got)
	}
}
