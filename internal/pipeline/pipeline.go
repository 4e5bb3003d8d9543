// Package pipeline runs one IQ stream through every stage, the same way for a replayed file
// and a live radio:
//
//	capture.Source ─► read ─► features ─► infer ─► sink ─► store.Commit ─► uplink.Notify
//	                 (windows) (dsp + gate) (ONNX)  (fix JSON)             └► Output (stdout)
//
// Stages are goroutines joined by channels, built sink-first and stopped source-first: only
// the reader watches ctx; every other stage ends when its input channel closes, after
// finishing what it holds. So a cancelled run loses no window that was read. A stage that
// fails for good (the sink cannot write fixes out) ends the run: it cancels the reader, and
// no stage ever blocks sending to a stage that has returned.
//
// The reader cuts windows with dsp.Windower. When a recording ends, its last partial window
// is zero-padded and goes through the gate like any other, if it holds at least half a
// window of signal (MinTailFraction); a shorter tail is counted as not analysed. A cancelled
// run pads nothing: what it read past its last whole window is not analysed.
//
// A recording gives the same bytes on every run: its windows go to the model one per call,
// because ONNX Runtime's kernels round differently for different batch sizes and the batches
// of a latency-first pipeline depend on timing. A live radio batches whatever is queued.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/lograte"
	"github.com/heimdall/edged/store"
)

// MinTailFraction is the least part of a window the last partial window of a recording must
// fill to be padded and analysed: with less, padding would outweigh the signal in the model's
// input.
const MinTailFraction = 0.5

// Config is what a run needs beyond its source and model.
type Config struct {
	ReceiverID string
	// GateSNRDB is the signal gate: windows measuring less give no fix.
	GateSNRDB float64
	Fix       infer.FixOptions
	// FeaturesOut, when set, receives every window's model input as <sample_offset>.npy.
	FeaturesOut string
	// Output, when set, receives every committed fix as one line of JSON.
	Output io.Writer
	// CommitInterval gathers fixes for up to this long, from the first one not yet
	// committed, and commits them in one transaction (group commit). bbolt writes some
	// 30 KB per transaction whatever it holds, so on an SD card the interval, not the
	// fixes, sets the wear. A crash or power cut loses at most the fixes of one interval,
	// none of which was reported yet: a fix is printed, counted and published only once
	// committed. 0 commits each batch as it comes.
	CommitInterval time.Duration
	// Tap, when set, watches every window and fix (the status page's live feed).
	Tap Tap
}

// commitMaxFixes commits early when this many fixes wait, so a fast replay keeps its
// transactions and memory bounded.
const commitMaxFixes = 1024

// Committer stores fixes durably before they are published.
type Committer interface {
	Commit(fixes ...store.Fix) ([]store.Fix, error)
}

// Pipeline is one configured run. Build it with New, then call Run once.
type Pipeline struct {
	cfg    Config
	src    capture.Source
	engine *infer.Engine
	db     Committer // may be nil
	notify func()    // called after each commit; may be nil
	log    *slog.Logger
	m      *Metrics

	params   dsp.Params
	advanced atomic.Int64  // unix nanoseconds of the last window through the features stage
	first    chan struct{} // closed when the first window went through the features stage
	stats    Stats
	// commitLog keeps a commit failure that repeats (a full disk fails every commit) to one
	// line per 10 s, with the count.
	commitLog lograte.Limiter
}

// Stats counts what a run did. It is safe to read while the run goes on.
type Stats struct {
	// Windows went through dsp; GatedOut measured below the gate; Passed went to the model;
	// FeatureErrors failed in dsp; Fixes were committed; InferErrors gave no fix.
	Windows, GatedOut, Passed, FeatureErrors, Fixes, InferErrors atomic.Uint64
	// ReadSamples counts the capture samples read from the source; AnalysedSamples those
	// the windows through dsp cover.
	ReadSamples, AnalysedSamples atomic.Uint64
	// PaddedSamples counts the zeros, at the model's rate, padding the last window.
	PaddedSamples atomic.Uint64
}

// NotAnalysed is how many capture samples read went into no window: a recording's tail
// shorter than MinTailFraction of a window, or what a cancelled run had not cut yet.
func (s *Stats) NotAnalysed() uint64 {
	read, analysed := s.ReadSamples.Load(), s.AnalysedSamples.Load()
	return read - min(read, analysed)
}

// New checks that the source can feed the engine's active model. db, notify and m may be nil.
func New(cfg Config, src capture.Source, engine *infer.Engine, db Committer, notify func(), m *Metrics, log *slog.Logger) (*Pipeline, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	active := engine.Active()
	if active == nil {
		return nil, infer.ErrNoModel
	}
	if src.Info().SampleRateHz <= 0 {
		return nil, fmt.Errorf("source %s: unknown sample rate", src.Info().Name)
	}
	if cfg.ReceiverID == "" {
		return nil, errors.New("receiver_id is empty")
	}
	if cfg.FeaturesOut != "" {
		if err := os.MkdirAll(cfg.FeaturesOut, 0o755); err != nil {
			return nil, fmt.Errorf("features-out: %w", err)
		}
	}
	return &Pipeline{cfg: cfg, src: src, engine: engine, db: db, notify: notify, log: log, m: m,
		params: active.Contract.Preprocess, first: make(chan struct{})}, nil
}

// Stats returns the run's counters.
func (p *Pipeline) Stats() *Stats { return &p.stats }

// LastAdvance is when the last window went through the features stage; zero before the first.
// The daemon feeds the systemd watchdog only while this moves.
func (p *Pipeline) LastAdvance() time.Time {
	ns := p.advanced.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// FirstWindow is closed once the first window went through the features stage: the source
// delivers and the model's preprocessing runs. The daemon reports ready to systemd then.
func (p *Pipeline) FirstWindow() <-chan struct{} { return p.first }

// errStopped ends the reader when the stage it feeds has returned; that stage's own error
// is what Run reports.
var errStopped = errors.New("pipeline: a downstream stage stopped")

type window struct {
	offset  uint64 // capture samples
	seq     uint64
	time    time.Time
	samples []complex64
	valid   int    // samples of signal; the rest pad the last window
	covered uint64 // capture samples covered by the stream's windows up to this one
}

type gated struct {
	w        infer.Window
	features []float32
}

// Run processes the source until it ends (io.EOF) or ctx is cancelled, then drains. It
// returns nil on a clean end.
func (p *Pipeline) Run(ctx context.Context) error {
	fe, err := dsp.NewFrontend(p.params)
	if err != nil {
		return err
	}
	wd, err := dsp.NewWindower(p.params, p.src.Info().SampleRateHz, int(math.Ceil(MinTailFraction*float64(p.params.WindowSamples))))
	if err != nil {
		return err
	}
	// Windows and their feature buffers circulate through free lists, so the steady state
	// allocates nothing per window.
	const depth = 8
	windows := make(chan *window, depth)
	freeWindows := make(chan *window, depth+2)
	for range depth + 2 {
		freeWindows <- &window{samples: make([]complex64, p.params.WindowSamples)}
	}
	jobs := make(chan gated, depth)
	fixes := make(chan []infer.Feature, depth)

	if p.cfg.Tap != nil {
		rows, frames := fe.Shape()
		p.cfg.Tap.Stream(StreamInfo{Source: p.src.Info().Name, CenterFreqHz: p.src.Info().CenterFreqHz,
			ShiftHz: p.params.ShiftHz, SampleRateHz: p.params.SampleRateHz, WindowSamples: p.params.WindowSamples,
			Rows: rows, Frames: frames, RowsHz: fe.RowsHz(), Log: p.params.Log.Kind, Normalize: p.params.Normalize.Kind,
			GateSNRDB: p.cfg.GateSNRDB})
	}

	// Each consumer closes its gone channel when it returns, so its producer stops instead
	// of blocking on a send nobody will take; a stage's failure cancels the reader.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sinkGone, inferGone, featuresGone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	errc := make(chan error, 4)
	stage := func(gone chan struct{}, run func() error) {
		defer close(gone)
		err := run()
		if err != nil {
			cancel(err)
		}
		errc <- err
	}
	go stage(sinkGone, func() error { return p.sink(fixes) })
	go stage(inferGone, func() error { return p.infer(jobs, fixes, sinkGone) })
	go stage(featuresGone, func() error { return p.features(fe, windows, freeWindows, jobs, inferGone) })
	readErr := p.read(ctx, wd, windows, freeWindows, featuresGone)
	var errs []error
	for range 3 {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) && !errors.Is(readErr, context.Canceled) && !errors.Is(readErr, errStopped) {
		errs = append([]error{readErr}, errs...)
	}
	return errors.Join(errs...)
}

func (p *Pipeline) read(ctx context.Context, wd *dsp.Windower, out chan<- *window, free chan *window, gone <-chan struct{}) error {
	defer close(out)
	info := p.src.Info()
	start := info.Start
	if start.IsZero() {
		start = time.Now().UTC()
	}
	up, down := wd.Ratio()
	W := uint64(p.params.WindowSamples)
	// A live stream counts samples from the Unix epoch, so a restarted radio never reuses a
	// fix id; a recording counts from its first sample, so a replay reproduces its ids.
	var base, read uint64
	if info.Live {
		rate := uint64(info.SampleRateHz)
		base = uint64(start.Unix())*rate + uint64(start.Nanosecond())*rate/1e9
	}
	emit := func(dw dsp.Window) error {
		var w *window
		select {
		case w = <-free:
		case <-ctx.Done():
			return ctx.Err()
		case <-gone:
			return errStopped
		}
		copy(w.samples, dw.Samples)
		w.seq, w.valid = dw.Index, dw.Valid
		rel := wd.CaptureOffset(dw.Index)
		w.offset = base + rel
		w.time = start.Add(time.Duration(float64(rel) / info.SampleRateHz * float64(time.Second)))
		// Conditioned sample m is capture sample m·M/L: the window's last signal sample
		// covers the capture up to ceil((k·W + valid)·M/L), and no further than was read.
		w.covered = min(read, ((dw.Index*W+uint64(dw.Valid))*uint64(down)+uint64(up)-1)/uint64(up))
		select {
		case out <- w:
			return nil
		case <-gone:
			return errStopped
		}
	}
	raw := make([]complex64, 1<<14)
	for {
		n, err := p.src.Read(ctx, raw)
		if n > 0 {
			read += uint64(n)
			p.stats.ReadSamples.Store(read)
			if err := wd.Write(raw[:n], emit); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			if ferr := wd.Flush(emit); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return err
		}
	}
}

func (p *Pipeline) features(fe *dsp.Frontend, in <-chan *window, free chan<- *window, out chan<- gated, gone <-chan struct{}) error {
	defer close(out)
	info := p.src.Info()
	rows, frames := fe.Shape()
	buf := make([]float32, rows*frames)
	var firstErr error
	for w := range in {
		t0 := time.Now()
		meas, err := fe.FeaturesPadded(w.samples, w.valid, buf)
		p.m.observeStage("dsp", t0, err)
		if p.advanced.Swap(time.Now().UnixNano()) == 0 {
			close(p.first)
		}
		p.stats.Windows.Add(1)
		p.stats.PaddedSamples.Add(uint64(len(w.samples) - w.valid))
		p.stats.AnalysedSamples.Store(w.covered)
		p.m.windows()
		iw := infer.Window{ReceiverID: p.cfg.ReceiverID, Time: w.time, CenterFreqHz: info.CenterFreqHz,
			SampleRateHz: info.SampleRateHz, SampleOffset: w.offset, Seq: w.seq, Measure: meas}
		free <- w
		if err != nil {
			p.stats.FeatureErrors.Add(1)
			if firstErr == nil {
				firstErr = fmt.Errorf("window at sample %d: %w", iw.SampleOffset, err)
			}
			continue
		}
		if p.cfg.FeaturesOut != "" {
			if err := p.writeNPY(iw.SampleOffset, rows, frames, buf); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		passed := !math.IsNaN(meas.SNRDB) && meas.SNRDB >= p.cfg.GateSNRDB
		if p.cfg.Tap != nil {
			p.cfg.Tap.Window(WindowInfo{Seq: iw.Seq, SampleOffset: iw.SampleOffset, Time: iw.Time, SNRDB: meas.SNRDB, Passed: passed}, buf)
		}
		if !passed {
			p.stats.GatedOut.Add(1)
			continue
		}
		p.stats.Passed.Add(1)
		p.m.gated()
		select {
		case out <- gated{w: iw, features: append([]float32(nil), buf...)}:
		case <-gone:
			return firstErr
		}
	}
	return firstErr
}

func (p *Pipeline) writeNPY(offset uint64, rows, frames int, data []float32) error {
	path := filepath.Join(p.cfg.FeaturesOut, strconv.FormatUint(offset, 10)+".npy")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("features-out: %w", err)
	}
	if err := dsp.WriteNPY(f, []int{1, rows, frames}, data); err != nil {
		f.Close()
		return fmt.Errorf("features-out %s: %w", path, err)
	}
	return f.Close()
}

func (p *Pipeline) infer(in <-chan gated, out chan<- []infer.Feature, gone <-chan struct{}) error {
	defer close(out)
	maxBatch := max(1, p.engine.Active().MaxBatch())
	if !p.src.Info().Live {
		maxBatch = 1 // the same bytes on every run: see the package doc
	}
	batch := make([]gated, 0, maxBatch)
	jobs := make([]infer.Job, 0, maxBatch)
	for first := range in {
		// Batch whatever is already queued, without waiting for more: latency first.
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case g, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, g)
			default:
				break fill
			}
		}
		jobs = jobs[:0]
		for _, g := range batch {
			jobs = append(jobs, infer.Job{ID: g.w.ID(), Features: g.features})
		}
		t0 := time.Now()
		res, err := p.engine.Predict(context.Background(), jobs)
		p.m.observeStage("infer", t0, err)
		if err != nil {
			// A failed run loses these windows but not the stream: count, log, go on.
			p.stats.InferErrors.Add(uint64(len(batch)))
			p.log.Error("inference failed", "windows", len(batch), "err", err)
			continue
		}
		feats := make([]infer.Feature, 0, len(batch))
		for i, r := range res {
			p.m.prediction(r)
			if r.Err != nil {
				p.stats.InferErrors.Add(1)
				p.log.Warn("window gives no fix", "sample_offset", batch[i].w.SampleOffset, "err", r.Err)
				continue
			}
			f, err := infer.NewFeature(batch[i].w, r, p.cfg.Fix)
			if err != nil {
				p.stats.InferErrors.Add(1)
				p.m.stageError("infer", "ellipse")
				p.log.Warn("window gives no fix", "sample_offset", batch[i].w.SampleOffset, "err", err)
				continue
			}
			feats = append(feats, f)
		}
		if len(feats) > 0 {
			select {
			case out <- feats:
			case <-gone:
				return nil
			}
		}
	}
	return nil
}

// sink packs fixes for the store and commits them, gathered over Config.CommitInterval;
// only a committed fix is printed, counted and announced to the uplink.
func (p *Pipeline) sink(in <-chan []infer.Feature) error {
	var (
		firstErr error
		pending  []store.Fix
		shown    [][]byte // each pending fix as computed, for Output
		timer    *time.Timer
		expired  <-chan time.Time
	)
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	// flush commits what is pending; its error ends the run.
	flush := func() error {
		if timer != nil {
			timer.Stop()
			expired = nil
		}
		if len(pending) == 0 {
			return nil
		}
		defer func() { pending, shown = pending[:0], shown[:0] }()
		if p.db != nil {
			t0 := time.Now()
			_, err := p.db.Commit(pending...)
			p.m.observeStage("store", t0, err)
			if err != nil {
				// Keep draining so upstream stages never block, but report the first failure.
				fail(fmt.Errorf("commit fixes: %w", err))
				if ok, n := p.commitLog.Allow(time.Now()); ok {
					p.log.Error("commit failed; fixes not stored", "fixes", len(pending), "err", err, "failures", n)
				}
				return nil
			}
			if p.notify != nil {
				p.notify()
			}
		}
		p.stats.Fixes.Add(uint64(len(pending)))
		p.m.fixes(len(pending))
		if p.cfg.Tap != nil {
			p.cfg.Tap.Fixes(pending)
		}
		if p.cfg.Output != nil {
			for i, b := range shown {
				// Fixes on the output are what a replay is for: one that cannot be written
				// (disk full, closed pipe) ends the run rather than losing the rest.
				if _, err := fmt.Fprintf(p.cfg.Output, "%s\n", b); err != nil {
					return errors.Join(firstErr, fmt.Errorf("write fix %s: %w", pending[i].ID, err))
				}
			}
		}
		return nil
	}
	for {
		select {
		case feats, ok := <-in:
			if !ok {
				if err := flush(); err != nil {
					return err
				}
				return firstErr
			}
			for _, f := range feats {
				fix, body, err := p.prepare(f)
				if err != nil {
					fail(err)
					p.log.Error("fix not stored", "id", f.ID, "err", err)
					continue
				}
				pending, shown = append(pending, fix), append(shown, body)
			}
			switch {
			case p.db == nil || p.cfg.CommitInterval <= 0 || len(pending) >= commitMaxFixes:
				if err := flush(); err != nil {
					return err
				}
			case expired == nil && len(pending) > 0:
				if timer == nil {
					timer = time.NewTimer(p.cfg.CommitInterval)
				} else {
					timer.Reset(p.cfg.CommitInterval)
				}
				expired = timer.C
			}
		case <-expired:
			expired = nil
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// prepare is a fix as the store keeps it (packed: the ellipse's parameters, not its ring)
// and as Output shows it (the GeoJSON, as computed).
func (p *Pipeline) prepare(f infer.Feature) (store.Fix, []byte, error) {
	t, err := time.Parse(time.RFC3339Nano, f.Properties.Time)
	if err != nil {
		return store.Fix{}, nil, fmt.Errorf("fix %s: time: %w", f.ID, err)
	}
	fix := store.Fix{ID: f.ID, Receiver: p.cfg.ReceiverID, Time: t}
	var body []byte
	if p.cfg.Output != nil || p.db == nil {
		if body, err = f.Marshal(); err != nil {
			return store.Fix{}, nil, fmt.Errorf("marshal fix %s: %w", f.ID, err)
		}
	}
	if p.db != nil {
		if fix.Body, err = f.Pack(); err != nil {
			return store.Fix{}, nil, fmt.Errorf("pack fix %s: %w", f.ID, err)
		}
	}
	return fix, body, nil
}
