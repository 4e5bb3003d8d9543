package pipeline

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/store"
)

// recordingTap keeps what the pipeline showed it.
type recordingTap struct {
	mu      sync.Mutex
	streams []StreamInfo
	windows []WindowInfo
	sums    []float64 // each window's feature sum, to check the buffer was the features
	fixes   []string
}

func (r *recordingTap) Stream(si StreamInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams = append(r.streams, si)
}

func (r *recordingTap) Window(w WindowInfo, f []float32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.windows = append(r.windows, w)
	s := 0.0
	for _, v := range f {
		s += float64(v)
	}
	r.sums = append(r.sums, s)
}

func (r *recordingTap) Fixes(fs []store.Fix) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range fs {
		r.fixes = append(r.fixes, f.ID)
	}
}

// Ensure a tap sees the stream's shape once, every window with the gate's decision and
// its features, and every committed fix: on the demo (beacon D in odd windows) the odd
// windows pass and each becomes a fix.
func TestTapSeesWindowsGateAndFixes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, configs.DemoName)
	if err := os.WriteFile(path, configs.Demo, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(path, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	db, err := store.Open(filepath.Join(dir, "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tap := &recordingTap{}
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10, Tap: tap}, src, engine(t), db, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tap.streams) != 1 {
		t.Fatalf("Stream called %d times, want 1", len(tap.streams))
	}
	si := tap.streams[0]
	if si.Rows != 64 || si.Frames != 63 || len(si.RowsHz) != 64 || si.CenterFreqHz != 433.92e6 ||
		si.SampleRateHz != 250000 || si.WindowSamples != 16384 || si.Log != "db" || si.GateSNRDB != 10 {
		t.Errorf("stream info %+v", si)
	}
	if si.RowsHz[0] >= si.RowsHz[63] || si.RowsHz[0] > -120000 || si.RowsHz[63] < 120000 {
		t.Errorf("rows span %v to %v Hz, want about ±123 kHz in increasing order", si.RowsHz[0], si.RowsHz[63])
	}
	if len(tap.windows) != 8 {
		t.Fatalf("%d windows seen, want 8", len(tap.windows))
	}
	var passed []uint64
	for i, w := range tap.windows {
		if w.Seq != uint64(i) || w.SampleOffset != uint64(i*16384) {
			t.Errorf("window %d: seq %d offset %d", i, w.Seq, w.SampleOffset)
		}
		if w.Passed != (w.SNRDB >= 10) || math.IsNaN(w.SNRDB) {
			t.Errorf("window %d: passed %v with SNR %.1f dB", i, w.Passed, w.SNRDB)
		}
		if w.Passed {
			passed = append(passed, w.Seq)
		}
		if tap.sums[i] == 0 || math.IsNaN(tap.sums[i]) {
			t.Errorf("window %d: features sum %v", i, tap.sums[i])
		}
	}
	if len(passed) != 4 || passed[0] != 1 || passed[3] != 7 {
		t.Errorf("windows passed %v, want the bursted 1 3 5 7", passed)
	}
	if len(tap.fixes) != 4 || tap.fixes[0] != "rx:16384" {
		t.Errorf("fixes seen %v, want the 4 committed", tap.fixes)
	}
}
