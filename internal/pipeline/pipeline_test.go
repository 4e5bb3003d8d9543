package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/synth"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
	"github.com/heimdall/edged/store"
)

func engine(t testing.TB) *infer.Engine {
	t.Helper()
	m, err := infer.Load(infer.Source{Data: reference.Model}, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return infer.NewEngine(m)
}

// Ensure the bundled demo (beacon D bursting in odd windows) gives exactly one fix per
// bursted window, committed to bbolt and written to the output, in order.
func TestDemoRecording(t *testing.T) {
	src := openDemo(t, capture.FileOptions{})
	db, err := store.Open(filepath.Join(t.TempDir(), "edged.db"), store.Options{Render: infer.Unpack}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	notified := 0
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10, Output: &out}, src, engine(t), db, func() { notified++ }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	printed := out.String()
	var offsets []uint64
	dec := json.NewDecoder(&out)
	for dec.More() {
		var f infer.Feature
		if err := dec.Decode(&f); err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, f.Properties.SampleOffset)
		if f.Properties.Model != "edged-reference-beacon" {
			t.Errorf("model %q", f.Properties.Model)
		}
	}
	want := []uint64{16384, 3 * 16384, 5 * 16384, 7 * 16384}
	if !sort.SliceIsSorted(offsets, func(i, j int) bool { return offsets[i] < offsets[j] }) || len(offsets) != len(want) {
		t.Fatalf("fix offsets %v, want %v in order", offsets, want)
	}
	for i := range want {
		if offsets[i] != want[i] {
			t.Fatalf("fix offsets %v, want %v", offsets, want)
		}
	}
	if n, _ := db.OutboxLen(); n != 4 || notified == 0 {
		t.Errorf("outbox %d, notified %d", n, notified)
	}
	if s := p.Stats(); s.Windows.Load() != 8 || s.Passed.Load() != 4 || s.GatedOut.Load() != 4 || s.Fixes.Load() != 4 ||
		s.ReadSamples.Load() != 8*16384 || s.AnalysedSamples.Load() != 8*16384 || s.PaddedSamples.Load() != 0 || s.NotAnalysed() != 0 {
		t.Errorf("stats %s", statsLine(s))
	}
	// The store keeps packed fixes; what it serves and queues renders to the bytes computed.
	stored, err := db.Fixes(time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := db.OutboxPeek(100)
	if err != nil {
		t.Fatal(err)
	}
	var served, sent strings.Builder
	for i := range stored {
		fmt.Fprintf(&served, "%s\n", stored[i].Body)
		fmt.Fprintf(&sent, "%s\n", queued[i].Body)
	}
	if served.String() != printed || sent.String() != printed {
		t.Errorf("stored fixes render differently from the computed ones:\nprinted %s\nserved  %s\nqueued  %s", printed, served.String(), sent.String())
	}
}

// heldOpen is a recording whose end is held back until release is closed, like a live
// source that has gone quiet.
type heldOpen struct {
	capture.Source
	release chan struct{}
}

func (h heldOpen) Read(ctx context.Context, buf []complex64) (int, error) {
	n, err := h.Source.Read(ctx, buf)
	if errors.Is(err, io.EOF) {
		select {
		case <-h.release:
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
	return n, err
}

// openDemo opens the bundled demo recording, closed when the test ends.
func openDemo(t *testing.T, opts capture.FileOptions) capture.Source {
	t.Helper()
	path := filepath.Join(t.TempDir(), configs.DemoName)
	if err := os.WriteFile(path, configs.Demo, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// Ensure fixes are gathered for CommitInterval and committed together: with an hour's
// interval nothing is committed or printed while the stream is open, and its end commits
// all four fixes in one transaction.
func TestGroupCommitWaitsForTheInterval(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := heldOpen{openDemo(t, capture.FileOptions{}), make(chan struct{})}
	var out testenv.Buffer
	var commits atomic.Int64
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10, Output: &out, CommitInterval: time.Hour},
		src, engine(t), db, func() { commits.Add(1) }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	for p.Stats().Windows.Load() < 8 {
		runtime.Gosched()
	}
	if n := db.FixCount(); n != 0 || commits.Load() != 0 || out.Len() != 0 {
		t.Fatalf("before the interval: %d fixes committed, %d commits, %d bytes printed", n, commits.Load(), out.Len())
	}
	close(src.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := db.FixCount(); n != 4 || commits.Load() != 1 || strings.Count(out.String(), "\n") != 4 {
		t.Fatalf("at the end: %d fixes committed in %d commits, %q printed", n, commits.Load(), out.String())
	}
}

// Ensure the interval, not the end of the stream, commits: a stream that goes quiet still
// has its fixes committed and announced.
func TestGroupCommitOnInterval(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := heldOpen{openDemo(t, capture.FileOptions{}), make(chan struct{})}
	committed := make(chan struct{}, 16)
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10, CommitInterval: 20 * time.Millisecond},
		src, engine(t), db, func() { committed <- struct{}{} }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for db.FixCount() < 4 {
		select {
		case <-committed:
		case err := <-done:
			t.Fatalf("Run returned before the interval committed: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// liveFile presents a recording as a live radio started at a known time.
type liveFile struct {
	capture.Source
	start time.Time
}

func (l liveFile) Info() capture.Info {
	i := l.Source.Info()
	i.Live, i.Start = true, l.start
	return i
}

// Ensure a live stream's fix ids count samples from the Unix epoch, so a radio restarted by
// the daemon never reuses an id, while its times still follow the stream.
func TestLiveOffsetsFromEpoch(t *testing.T) {
	src := openDemo(t, capture.FileOptions{})
	start := time.Date(2026, 11, 27, 8, 0, 0, 500_000_000, time.UTC)
	var out bytes.Buffer
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10, Output: &out}, liveFile{src, start}, engine(t), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var f infer.Feature
	if err := json.NewDecoder(&out).Decode(&f); err != nil {
		t.Fatal(err)
	}
	base := uint64(start.Unix())*250000 + 125000
	if f.Properties.SampleOffset != base+16384 || f.ID != "rx:"+strconv.FormatUint(base+16384, 10) {
		t.Errorf("first fix offset %d id %s, want %d", f.Properties.SampleOffset, f.ID, base+16384)
	}
	if want := start.Add(16384 * time.Second / 250000).Format(time.RFC3339Nano); f.Properties.Time != want {
		t.Errorf("time %s, want %s", f.Properties.Time, want)
	}
}

// Ensure a pipeline whose sink fails for good (its output is a full disk, /dev/full) stops
// every stage: Run returns the sink's error instead of leaving the reader and the stages
// between blocked on sends nobody takes, and it does so before and regardless of its
// context ending.
func TestSinkFailureStopsEveryStage(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	// A looping recording never ends by itself: only the failure (or ctx) can stop the run.
	src := openDemo(t, capture.FileOptions{Loop: true})
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10, Output: full}, src, engine(t), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cancel()
		select {
		case err = <-done:
			t.Fatalf("Run kept going after its sink failed, until its context ended (then returned %v)", err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run still blocked 30 s after its context ended: a stage is stuck on a send")
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Run = %v, want the sink's ENOSPC", err)
	}
	if n := p.Stats().Windows.Load(); n < 2 {
		t.Errorf("%d windows went through before the failure, want at least the first fix's 2", n)
	}
}

// Ensure a stage whose consumer has returned stops at its next send instead of blocking:
// the reader, cancelled by a failure, may be in a send rather than in Read.
func TestStageStopsWhenItsConsumerIsGone(t *testing.T) {
	src := openDemo(t, capture.FileOptions{Loop: true})
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10}, src, engine(t), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := dsp.NewWindower(p.params, src.Info().SampleRateHz, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads out and its consumer is gone: the reader must return, not block, once
	// out is full.
	out := make(chan *window)
	free := make(chan *window, 2)
	for range 2 {
		free <- &window{samples: make([]complex64, p.params.WindowSamples)}
	}
	gone := make(chan struct{})
	close(gone)
	done := make(chan error, 1)
	go func() { done <- p.read(context.Background(), wd, out, free, gone) }()
	select {
	case err := <-done:
		if !errors.Is(err, errStopped) {
			t.Errorf("read = %v, want errStopped", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the reader blocked on a send to a stage that had returned")
	}
}

func statsLine(s *Stats) string {
	return fmt.Sprintf("windows %d gated out %d passed %d feature errors %d fixes %d infer errors %d read %d analysed %d padded %d not analysed %d",
		s.Windows.Load(), s.GatedOut.Load(), s.Passed.Load(), s.FeatureErrors.Load(), s.Fixes.Load(), s.InferErrors.Load(),
		s.ReadSamples.Load(), s.AnalysedSamples.Load(), s.PaddedSamples.Load(), s.NotAnalysed())
}

// replayBytes runs a recording held in memory (named name) through the pipeline and returns
// its fixes' sample offsets and the run's counters.
func replayBytes(t *testing.T, e *infer.Engine, name string, data []byte) ([]uint64, *Stats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFile(path, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return runSource(t, e, src)
}

// runSource runs src through the pipeline, gate at 10 dB, and returns its fixes' sample
// offsets in order and the run's counters.
func runSource(t *testing.T, e *infer.Engine, src capture.Source) ([]uint64, *Stats) {
	t.Helper()
	var out bytes.Buffer
	p, err := New(Config{ReceiverID: "rx", GateSNRDB: 10, Output: &out}, src, e, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var offsets []uint64
	for dec := json.NewDecoder(&out); dec.More(); {
		var f infer.Feature
		if err := dec.Decode(&f); err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, f.Properties.SampleOffset)
	}
	return offsets, p.Stats()
}

// Ensure the last partial window of a recording is zero-padded and gated like any other
// when it fills at least half a window (its burst gives a fix, the padding is counted), and
// that a shorter tail is counted as not analysed; at 250 kS/s and, through the resampler, at
// 1 MS/s, where the resampler's flush brings out the recording's last samples.
func TestTailPadding(t *testing.T) {
	e := engine(t)
	const W = 16384
	for _, rate := range []float64{250000, 1e6} {
		scale := int(rate / 250000) // capture samples per model sample
		spec := synth.Spec{Format: "cu8", SampleRateHz: rate, CenterFreqHz: 433.92e6, OffsetHz: -46875, SNRDB: 20,
			WindowSamples: W * scale, Windows: 3, Bursted: []int{2}, Seed: 5}
		var full bytes.Buffer
		if err := synth.Generate(&full, spec); err != nil {
			t.Fatal(err)
		}
		name := spec.FileName("tail")
		// The burst fills the middle half of window 2: [2.25 W, 2.75 W).
		cases := []struct {
			windows float64 // the recording's length
			fixes   []uint64
			padded  bool
		}{
			{2.8, []uint64{2 * W}, true},  // the burst is in the padded tail
			{2.55, []uint64{2 * W}, true}, // a tail just over half a window
			{2.3, nil, false},             // a tail under half a window: not analysed
			{0.3, nil, false},             // shorter than half a window: nothing at all
		}
		for _, c := range cases {
			samples := int(c.windows * W * float64(scale))
			offsets, s := replayBytes(t, e, name, full.Bytes()[:2*samples])
			var want []uint64
			for _, o := range c.fixes {
				want = append(want, o*uint64(scale))
			}
			if fmt.Sprint(offsets) != fmt.Sprint(want) {
				t.Errorf("%g S/s, %.2f windows: fixes at %v, want %v (%s)", rate, c.windows, offsets, want, statsLine(s))
			}
			whole := int(c.windows)
			tail := samples - whole*W*scale
			wantWindows, wantNot, wantPadded := whole, tail, 0
			if c.padded {
				wantWindows, wantNot, wantPadded = whole+1, 0, W-tail/scale
			}
			if s.ReadSamples.Load() != uint64(samples) || s.Windows.Load() != uint64(wantWindows) ||
				s.NotAnalysed() != uint64(wantNot) || s.PaddedSamples.Load() != uint64(wantPadded) ||
				s.GatedOut.Load()+s.Passed.Load() != s.Windows.Load() {
				t.Errorf("%g S/s, %.2f windows: %s; want %d windows, %d padded, %d not analysed", rate, c.windows, statsLine(s), wantWindows, wantPadded, wantNot)
			}
		}
	}
}
