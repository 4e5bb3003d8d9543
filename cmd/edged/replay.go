package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs/safefile"
	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/pipeline"
	"github.com/heimdall/edged/internal/progress"
	"github.com/heimdall/edged/models/reference"
	"github.com/heimdall/edged/store"
	"github.com/heimdall/edged/uplink"
)

func runReplay(args []string) error {
	fs := newFlags("replay", "[flags] FILE...")
	format := fs.String("format", "", "sample format cu8|cs8|cs16|cf32 (default: from the file name, or a FORMAT: prefix)")
	rate := fs.String("sample-rate", "", "sample rate, e.g. 250k or 2.4M (overrides the file name)")
	freq := fs.String("center-freq", "", "centre frequency, e.g. 433.92M (overrides the file name)")
	startTime := fs.String("start-time", "", "RFC 3339 `TIME` of each recording's first sample, e.g. 2024-05-01T12:00:00Z (default: SigMF core:datetime, else the wall clock when the file starts)")
	modelPath := fs.String("model", "", "ONNX model `FILE` (default: the embedded reference model)")
	contractPath := fs.String("contract", "", "JSON contract `FILE` for a model without edged.contract metadata")
	override := fs.Bool("override-contract", false, "use -contract even when the model carries its own contract")
	dbPath := fs.String("db", "", "also commit fixes to this bbolt `FILE`")
	featuresOut := fs.String("features-out", "", "write each window's model input as <sample_offset>.npy into `DIR`")
	output := fs.String("output", "jsonl", "jsonl (one Feature per line) or geojson (one FeatureCollection)")
	receiver := fs.String("receiver-id", "replay", "receiver id in fix ids and properties")
	gate := fs.Float64("gate-snr-db", 10, "signal gate: windows below this SNR give no fix")
	level := fs.Float64("confidence-level", 0.95, "probability inside each fix's ellipse")
	pace := fs.Float64("pace", 0, "0 as fast as possible, 1 real time, N N× real time")
	broker := fs.String("mqtt", "", "also publish fixes to this MQTT `URL` (tcp://host:1883), as the daemon does; waits for the broker to acknowledge them")
	verbose := fs.Bool("v", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("no recording given (usage: edged replay [flags] FILE...)")
	}
	if *output != "jsonl" && *output != "geojson" {
		return fmt.Errorf("-output %q: want jsonl or geojson", *output)
	}
	logLevel := slog.LevelWarn
	if *verbose {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))

	opts := capture.FileOptions{Pace: *pace}
	var err error
	if *format != "" {
		if opts.Format, err = capture.ParseFormat(*format); err != nil {
			return fmt.Errorf("-format: %w", err)
		}
	}
	if *rate != "" {
		if opts.SampleRateHz, err = capture.ParseHz(*rate); err != nil {
			return fmt.Errorf("-sample-rate: %w", err)
		}
	}
	if *freq != "" {
		if opts.CenterFreqHz, err = capture.ParseHz(*freq); err != nil {
			return fmt.Errorf("-center-freq: %w", err)
		}
	}
	if *startTime != "" {
		if opts.Start, err = time.Parse(time.RFC3339Nano, *startTime); err != nil {
			return fmt.Errorf("-start-time %q: want RFC 3339, e.g. 2024-05-01T12:00:00Z", *startTime)
		}
	}
	model, err := loadModel(*modelPath, *contractPath, *override, infer.Options{})
	if err != nil {
		return err
	}
	engine := infer.NewEngine(model)
	defer model.Close()

	if *broker != "" && *dbPath == "" {
		// MQTT publishes from the outbox, so it needs a store: a temporary one.
		tmp, err := os.MkdirTemp("", "edged-replay")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dbPath = filepath.Join(tmp, "replay.db")
	}
	var db *store.DB
	if *dbPath != "" {
		// Fixes are stored packed and rendered when read; with no broker nothing is queued.
		if db, err = store.Open(*dbPath, store.Options{NoOutbox: *broker == "", Render: infer.Unpack}, log); err != nil {
			return err
		}
		defer db.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var notify func()
	if *broker != "" {
		up, err := startUplink(ctx, *broker, *receiver, db, log)
		if err != nil {
			return err
		}
		defer up.drain(ctx, log)
		notify = up.mqtt.Notify
	}

	stdout := bufio.NewWriterSize(os.Stdout, 1<<16)
	defer stdout.Flush()
	var collected []json.RawMessage
	var out io.Writer = stdout
	if *output == "geojson" {
		out = lineCollector(func(line []byte) { collected = append(collected, append(json.RawMessage(nil), line...)) })
	}
	cfg := pipeline.Config{ReceiverID: *receiver, GateSNRDB: *gate, FeaturesOut: *featuresOut, Output: out,
		Fix: infer.FixOptions{ConfidenceLevel: *level}}
	r := &replayer{opts: opts, cfg: cfg, engine: engine, notify: notify, log: log, stderr: os.Stderr, said: map[string]bool{}}
	if db != nil {
		r.db = db
	}
	for i, path := range fs.Args() {
		cfg := r.cfg
		if cfg.FeaturesOut != "" && fs.NArg() > 1 {
			// Offsets restart at 0 in every recording: one folder each, or they would
			// overwrite each other.
			cfg.FeaturesOut = filepath.Join(cfg.FeaturesOut, fmt.Sprintf("%d-%s", i+1, filepath.Base(path)))
		}
		if err := r.replayOne(ctx, path, cfg); err != nil {
			return err
		}
	}
	if *output == "geojson" {
		if collected == nil {
			collected = []json.RawMessage{}
		}
		enc := json.NewEncoder(stdout)
		return enc.Encode(map[string]any{"type": "FeatureCollection", "features": collected})
	}
	return nil
}

// replayer runs recordings one after the other through one model and sink.
type replayer struct {
	opts   capture.FileOptions
	cfg    pipeline.Config
	engine *infer.Engine
	db     pipeline.Committer // nil: no store
	notify func()
	log    *slog.Logger
	stderr io.Writer
	// said holds the notices given, so each is given once per run.
	said map[string]bool
}

func (r *replayer) replayOne(ctx context.Context, path string, cfg pipeline.Config) error {
	rec, err := capture.ResolveFile(path, r.opts)
	if err != nil {
		return err
	}
	r.announce(path, rec)
	src, err := capture.OpenRecording(rec, r.opts)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := pipeline.New(cfg, src, r.engine, r.db, r.notify, nil, r.log.With("source", src.Info().Name))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	bar := progress.Start(r.stderr, path, func() (done, total int64) {
		return int64(p.Stats().AnalysedSamples.Load()), src.Info().TotalSamples
	})
	t0 := time.Now()
	err = p.Run(ctx)
	bar.Stop()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	params := r.engine.Active().Contract.Preprocess
	fmt.Fprintln(r.stderr, summary(path, src.Info().SampleRateHz, params, p.Stats(), time.Since(t0), ctx.Err() != nil))
	return ctx.Err()
}

// announce says, once per run, which of a recording's values are defaults rather than read
// from its name or metadata.
func (r *replayer) announce(name string, rec capture.Recording) {
	var guessed, flags []string
	if rec.FreqDefaulted && !r.said["freq"] {
		guessed = append(guessed, "centre frequency "+si(rec.CenterFreqHz, "Hz"))
		flags = append(flags, "-center-freq")
		r.said["freq"] = true
	}
	if rec.RateDefaulted && !r.said["rate"] {
		guessed = append(guessed, "sample rate "+si(rec.SampleRateHz, "S/s"))
		flags = append(flags, "-sample-rate")
		r.said["rate"] = true
	}
	if len(guessed) > 0 {
		fmt.Fprintf(r.stderr, "%s: %s: rtl_433's defaults for a .data file, not read from it (%s set them)\n",
			name, strings.Join(guessed, ", "), strings.Join(flags, ", "))
	}
	if rec.Start.IsZero() && !r.said["time"] {
		fmt.Fprintf(r.stderr, "%s: no start time in the recording: fix times count from the wall clock when the file starts (-start-time sets it)\n", name)
		r.said["time"] = true
	}
}

// summary is the line replay prints after each file: what was read, what was analysed, and
// why nothing was when no window came out.
func summary(path string, rateHz float64, p dsp.Params, s *pipeline.Stats, wall time.Duration, cancelled bool) string {
	read := s.ReadSamples.Load()
	dur := float64(read) / rateHz
	windows, not := s.Windows.Load(), s.NotAnalysed()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d samples (%s at %s), %s", path, read, seconds(dur), si(rateHz, "S/s"), plural(windows, "window"))
	if pad := s.PaddedSamples.Load(); pad > 0 {
		fmt.Fprintf(&b, " (the last padded with %s of zeros)", seconds(float64(pad)/p.SampleRateHz))
	}
	if windows > 0 {
		fmt.Fprintf(&b, ", %d gated out, %s", s.GatedOut.Load(), plural(s.Fixes.Load(), "fix"))
	}
	if n := s.FeatureErrors.Load() + s.InferErrors.Load(); n > 0 {
		fmt.Fprintf(&b, ", %d failed", n)
	}
	fmt.Fprintf(&b, ", %d samples not analysed", not)
	switch {
	case cancelled:
		b.WriteString(" (interrupted)")
	case windows == 0:
		win := float64(p.WindowSamples) / p.SampleRateHz
		fmt.Fprintf(&b, ": the model's window is %s (%d samples at %s) and a recording must fill at least %s of one (%s);"+
			" replay a longer recording, use a model with a shorter window, or check -sample-rate",
			seconds(win), p.WindowSamples, si(p.SampleRateHz, "S/s"), fraction(pipeline.MinTailFraction), seconds(pipeline.MinTailFraction*win))
		return b.String()
	case not > 0:
		fmt.Fprintf(&b, " (a tail shorter than %s a window)", fraction(pipeline.MinTailFraction))
	}
	if wall > 0 {
		fmt.Fprintf(&b, ", %.1f× real time", dur/wall.Seconds())
	}
	return b.String()
}

func plural(n uint64, word string) string {
	switch {
	case n == 1:
		return "1 " + word
	case strings.HasSuffix(word, "x"):
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func fraction(f float64) string {
	if f == 0.5 {
		return "half"
	}
	return strconv.FormatFloat(100*f, 'g', 3, 64) + " %"
}

// seconds formats a duration in s for people: µs, ms or s, three significant digits.
func seconds(s float64) string {
	switch {
	case s < 1e-3:
		return strconv.FormatFloat(s*1e6, 'g', 3, 64) + " µs"
	case s < 1:
		return strconv.FormatFloat(s*1e3, 'g', 3, 64) + " ms"
	}
	return strconv.FormatFloat(s, 'g', 4, 64) + " s"
}

// si formats v in unit with the SI prefix that keeps the number under 1000: 433.92 MHz,
// 2.4 MS/s, 250 kS/s.
func si(v float64, unit string) string {
	for _, p := range []struct {
		scale  float64
		prefix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= p.scale {
			return strconv.FormatFloat(v/p.scale, 'g', -1, 64) + " " + p.prefix + unit
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64) + " " + unit
}

// loadModel loads a model file, or the embedded reference model when path is empty. A
// contract file for a model that carries its own is refused unless override is set.
func loadModel(path, contractPath string, override bool, opts infer.Options) (*infer.Model, error) {
	if contractPath != "" {
		data, err := safefile.Read(contractPath, safefile.MaxSmall)
		if err != nil {
			return nil, configError{err}
		}
		c, err := infer.ParseContract(data)
		if err != nil {
			return nil, configError{fmt.Errorf("%s: %w", contractPath, err)}
		}
		opts.Contract = &c
	}
	opts.Override = override
	src := infer.Source{Path: path}
	name := path
	if path == "" {
		src, name = infer.Source{Data: reference.Model}, "the reference model"
	}
	m, err := infer.Load(src, opts)
	if err != nil {
		return nil, err
	}
	if opts.Contract != nil && m.Info.HasContract && !override {
		m.Close()
		return nil, configError{fmt.Errorf("-contract %s: %s carries its own contract (%s metadata); give -override-contract to use %s instead",
			contractPath, name, infer.ContractKey, contractPath)}
	}
	return m, nil
}

// lineCollector is an io.Writer that hands each complete line to fn.
type lineCollector func(line []byte)

func (fn lineCollector) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := 0
		for i < len(p) && p[i] != '\n' {
			i++
		}
		if i > 0 {
			fn(p[:i])
		}
		if i < len(p) {
			i++
		}
		p = p[i:]
	}
	return n, nil
}

// replayUplink publishes a replay's fixes as the daemon would.
type replayUplink struct {
	mqtt   *uplink.MQTT
	db     *store.DB
	cancel context.CancelFunc
	done   chan struct{}
}

func startUplink(ctx context.Context, broker, receiver string, db *store.DB, log *slog.Logger) (*replayUplink, error) {
	cfg := uplink.DefaultConfig()
	cfg.Broker, cfg.ReceiverID = broker, receiver
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("-mqtt: %w", err)
	}
	m, err := uplink.New(cfg, db, log.With("stage", "uplink"))
	if err != nil {
		return nil, fmt.Errorf("-mqtt: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	u := &replayUplink{mqtt: m, db: db, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		m.Run(runCtx)
	}()
	return u, nil
}

// drain waits until the broker has acknowledged every fix (or ctx ends), then disconnects,
// publishing offline.
func (u *replayUplink) drain(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	said := false
wait:
	for {
		n, _ := u.db.OutboxLen()
		if n == 0 {
			break
		}
		if !said && !u.mqtt.Connected() {
			log.Warn("waiting for the broker to take the fixes (Ctrl-C stops; with -db they stay there)", "fixes", n)
			said = true
		}
		select {
		case <-ctx.Done():
			break wait
		case <-t.C:
		}
	}
	u.cancel()
	<-u.done
}
