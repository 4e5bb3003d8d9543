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
	"syscall"
	"time"

	"github.com/heimdall/edged/capture"
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
	modelPath := fs.String("model", "", "ONNX model `FILE` (default: the embedded reference model)")
	contractPath := fs.String("contract", "", "JSON contract `FILE` for a model without edged.contract metadata")
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
	model, err := loadModel(*modelPath, *contractPath, infer.Options{})
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
		if db, err = store.Open(*dbPath, store.Options{}, log); err != nil {
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
	for _, path := range fs.Args() {
		if err := replayOne(ctx, path, opts, cfg, engine, db, notify, log); err != nil {
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

func replayOne(ctx context.Context, path string, opts capture.FileOptions, cfg pipeline.Config, engine *infer.Engine, db *store.DB, notify func(), log *slog.Logger) error {
	src, err := capture.OpenFile(path, opts)
	if err != nil {
		return err
	}
	defer src.Close()
	var committer pipeline.Committer
	if db != nil {
		committer = db
	}
	p, err := pipeline.New(cfg, src, engine, committer, notify, nil, log.With("source", src.Info().Name))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	bar := progress.Start(os.Stderr, path, func() (done, total int64) {
		return int64(src.Stats().Delivered), src.Info().TotalSamples
	})
	err = p.Run(ctx)
	bar.Stop()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return ctx.Err()
}

// loadModel loads a model file, or the embedded reference model when path is empty.
func loadModel(path, contractPath string, opts infer.Options) (*infer.Model, error) {
	if contractPath != "" {
		data, err := os.ReadFile(contractPath)
		if err != nil {
			return nil, configError{err}
		}
		c, err := infer.ParseContract(data)
		if err != nil {
			return nil, configError{fmt.Errorf("%s: %w", contractPath, err)}
		}
		opts.Contract = &c
	}
	if path == "" {
		return infer.Load(infer.Source{Data: reference.Model}, opts)
	}
	return infer.Load(infer.Source{Path: path}, opts)
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
