// Package daemon runs edged as a long-lived service: the pipeline over a live or looped
// source with restarts and backoff, the bbolt store, the MQTT uplink, the local HTTP API,
// MLflow model sync, and systemd's readiness and watchdog protocol.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/heimdall/edged/api"
	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/backoff"
	"github.com/heimdall/edged/internal/journal"
	"github.com/heimdall/edged/internal/pipeline"
	"github.com/heimdall/edged/internal/ui"
	"github.com/heimdall/edged/store"
	"github.com/heimdall/edged/uplink"
)

// Options are what the command line adds to the config.
type Options struct {
	// ConfigPath is re-read on Reload; empty means the embedded defaults.
	ConfigPath string
	// Stdout receives fixes when fix printing is on (the embedded defaults print them).
	Stdout io.Writer
	// Version is shown on the status page.
	Version string
}

// Daemon is a running edged.
type Daemon struct {
	opts Options
	log  *slog.Logger
	lvl  *slog.LevelVar
	reg  *prometheus.Registry

	cfgMu sync.Mutex
	cfg   configs.Config

	db      *store.DB
	models  *modelManager
	mqtt    *uplink.MQTT
	srcStat *sourceCollector
	ready   readiness
	httpLn  net.Listener
	ui      *ui.Hub

	// open builds the source for a config: openSource, replaced in tests.
	open func(cfg configs.Config) (capture.Source, error)
	// runDir holds files the daemon makes for itself (the demo recording); made on first
	// use, see runtimeDir.
	runDir        string
	runDirCleanup func()

	pipe       atomic.Pointer[pipeline.Pipeline]
	srcName    atomic.Pointer[string] // the open source's name, for STATUS=
	restart    chan struct{}          // a model with other preprocessing needs a new pipeline
	readyOnce  sync.Once
	reloads    atomic.Uint64 // SIGHUP reloads handled, for `edged reload`
	stallAfter time.Duration
	// sourceEnded is set while a recording played once has finished and the daemon idles.
	sourceEnded atomic.Bool
}

// New opens the store, loads the model and binds the HTTP listener, so that every
// configuration error surfaces before the daemon reports ready. It does not dial the broker
// or MLflow: those come and go while the daemon runs.
func New(cfg configs.Config, opts Options, log *slog.Logger, lvl *slog.LevelVar) (*Daemon, error) {
	d := &Daemon{opts: opts, log: log, lvl: lvl, cfg: cfg, reg: prometheus.NewRegistry(), restart: make(chan struct{}, 1)}
	d.open = d.openSource
	d.stallAfter = cfg.Source.StallTimeout()
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.srcStat = newSourceCollector()
	d.reg.MustRegister(d.srcStat)
	d.ready.add("model", func() error {
		if d.models == nil || d.models.engine.Active() == nil {
			return infer.ErrNoModel
		}
		return nil
	})
	d.ready.add("source", d.srcStat.status)
	d.ready.add("pipeline", d.pipelineStatus)

	if err := infer.Init(cfg.OnnxRuntimeLib); err != nil {
		return nil, err
	}
	_, dbPath, err := StateDir(cfg)
	if err != nil {
		return nil, err
	}
	d.db, err = store.Open(dbPath, storeOptions(cfg), log.With("stage", "store"))
	if err != nil {
		return nil, err
	}
	d.reg.MustRegister(newStoreCollector(d.db))
	// A full disk leaves the daemon running but dropping every new fix: not ready.
	d.ready.add("store", d.db.WriteErr)

	if d.models, err = newModelManager(cfg, d.db, d.reg, log.With("stage", "infer")); err != nil {
		d.db.Close()
		return nil, err
	}
	d.models.restart = d.requestRestart
	if cfg.MQTT.Enabled() {
		if d.mqtt, err = uplink.New(cfg.Uplink(), d.db, log.With("stage", "uplink")); err != nil {
			d.Close()
			return nil, configErr(err)
		}
		d.reg.MustRegister(newUplinkCollector(d.mqtt))
		d.models.onActivate = func(mi uplink.ModelInfo) {
			if err := d.mqtt.PublishModel(mi); err != nil {
				d.log.Warn("publish model topic", "err", err)
			}
		}
	}
	d.models.announce()
	if d.ui, err = ui.NewHub(ui.Config{MaxClients: cfg.HTTP.MaxLiveClients}, d.uiStatus, d.reg, log.With("stage", "ui")); err != nil {
		d.Close()
		return nil, err
	}
	if d.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		d.Close()
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	return d, nil
}

// storeOptions is the store section, with nothing queued for upload when no broker is
// configured (it would only fill the disk), and fixes stored packed (infer.Feature.Pack)
// and rendered when read.
func storeOptions(cfg configs.Config) store.Options {
	o := cfg.Store.Options()
	o.NoOutbox = cfg.MQTT.Broker == ""
	o.Render = infer.Unpack
	return o
}

// ConfigError marks errors an operator must fix in the configuration; the command exits
// with EX_CONFIG so systemd does not restart in a loop.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

func configErr(err error) error { return ConfigError{err} }

// Registry is the daemon's metrics registry.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Run serves until ctx ends, then drains: the source stops first, every window already read
// becomes a fix in bbolt, the broker hears `offline`, and the store is closed.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	srv, err := api.New(d.config().API(), api.Deps{
		Engine: d.models.engine, DB: d.db, Gatherer: d.reg, Registerer: d.reg,
		Ready: d.Ready, Models: d.models, Page: d.ui.Handler(d.db, d.log.With("stage", "ui")),
	}, d.log.With("stage", "http"))
	if err != nil {
		return configErr(err)
	}
	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(context.Background())
	defer func() { stopBG(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(bg, d.httpLn); err != nil {
			d.log.Error("http server", "err", err)
		}
	}()
	d.log.Info("http api listening", "addr", d.httpLn.Addr().String())
	if d.mqtt == nil {
		// The store was opened with NoOutbox: queuing fixes for a broker that is not
		// configured would only fill the disk.
		n, _ := d.db.OutboxLen()
		d.log.Info("no mqtt.broker configured: fixes are stored for the API, nothing is queued for upload",
			"left_in_outbox", n)
	}
	if d.mqtt != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The uplink outlives the pipeline so the drain's last fixes can still go out;
			// it publishes `offline` when bg ends.
			if err := d.mqtt.Run(bg); err != nil && !errors.Is(err, context.Canceled) {
				d.log.Error("uplink stopped", "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.models.runSync(bg)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.watchdog(bg)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.statusLoop(bg)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.ui.Run(bg)
	}()

	err = d.runPipelines(ctx)
	notify(daemon.SdNotifyStopping)
	d.log.Info("stopping", "reason", context.Cause(ctx))
	return err
}

// runPipelines keeps a pipeline running over the configured source, restarting it with the
// source's backoff when it fails, until ctx ends.
func (d *Daemon) runPipelines(ctx context.Context) error {
	retry := backoff.New(d.config().Source.Retry())
	for ctx.Err() == nil {
		cfg := d.config()
		if p := cfg.Source.Retry(); p != retry.Policy() {
			retry = backoff.New(p) // reloaded
		}
		src, err := d.open(cfg)
		if err != nil {
			// A recording that cannot be read will not get better by waiting, nor will a
			// tuning the radio refuses: the operator has to change the config.
			if cfg.Source.Kind == capture.KindFile || errors.Is(err, capture.ErrBadConfig) {
				return configErr(err)
			}
			wait := retry.Fail()
			d.log.Warn("source unavailable; retrying", "err", err, "retry_in", wait)
			if backoff.Sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		w := capture.NewWatch(src, cfg.Source.StallTimeout(), d.log.With("stage", "capture"))
		d.srcStat.set(w)
		restarted, err := d.runOne(ctx, cfg, w)
		d.pipe.Store(nil)
		w.Close()
		if ctx.Err() != nil {
			return nil
		}
		if w.Stats().Delivered > 0 {
			retry.Reset() // it ran: a later failure starts the schedule again
		}
		if err == nil {
			if !restarted && cfg.Source.Kind == capture.KindFile {
				// A recording played once: keep serving the API and the uplink's drain
				// until told to stop or reloaded, rather than replaying it again.
				d.log.Info("recording finished; idle until reload or stop", "path", cfg.Source.File.Path)
				d.sourceEnded.Store(true)
				select {
				case <-ctx.Done():
					return nil
				case <-d.restart:
				}
				d.sourceEnded.Store(false)
			}
			continue
		}
		if errors.Is(err, capture.ErrBadConfig) {
			// A dongle that refused its tuning when the supervisor (re)opened it.
			return configErr(err)
		}
		wait := retry.Fail()
		d.srcStat.restarted()
		d.log.Error("pipeline stopped; restarting", "err", err, "retry_in", wait)
		if backoff.Sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

// openSource opens the configured source, making the runtime directory the first time the
// embedded demo needs it.
func (d *Daemon) openSource(cfg configs.Config) (capture.Source, error) {
	if cfg.Source.Kind == capture.KindFile && cfg.Source.File.Path == capture.DemoPath && d.runDir == "" {
		dir, cleanup, err := runtimeDir()
		if err != nil {
			return nil, err
		}
		d.runDir, d.runDirCleanup = dir, cleanup
	}
	return openSource(cfg, d.runDir, d.log.With("stage", "capture"))
}

// runOne runs one pipeline until the source ends, ctx ends, or a restart is requested
// (restarted is then true).
func (d *Daemon) runOne(ctx context.Context, cfg configs.Config, src capture.Source) (restarted bool, err error) {
	var out io.Writer
	if cfg.Fix.Print == "stdout" {
		out = d.opts.Stdout
	}
	var notify func()
	if d.mqtt != nil {
		notify = d.mqtt.Notify
	}
	p, err := pipeline.New(pipeline.Config{
		ReceiverID: cfg.ReceiverID, GateSNRDB: cfg.Gate.SNRDB, Output: out, Fix: cfg.Fix.Options(),
		CommitInterval: cfg.Store.CommitInterval(), Tap: d.ui,
	}, src, d.models.engine, d.db, notify, d.models.metrics, d.log.With("stage", "pipeline"))
	if err != nil {
		return false, err
	}
	d.pipe.Store(p)
	name := src.Info().Name
	d.srcName.Store(&name)
	d.log.Info("pipeline running", "source", src.Info().Name, "rate_hz", src.Info().SampleRateHz,
		"center_freq_hz", src.Info().CenterFreqHz, "model", d.models.engine.Active().Name, "version", d.models.engine.Active().Version)
	// A swap to a model with different preprocessing cancels this run; the loop builds the
	// next pipeline from the new model's contract.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go d.awaitFirstWindow(runCtx, p.FirstWindow())
	var wasRestarted atomic.Bool
	go func() {
		select {
		case <-d.restart:
			wasRestarted.Store(true)
			cancel()
		case <-runCtx.Done():
		}
	}()
	err = p.Run(runCtx)
	cancel()
	return wasRestarted.Load(), err
}

// watchdog feeds systemd's watchdog only while windows flow: a stalled dongle that does not
// make the process exit (https://github.com/merbanan/rtl_433/issues/1662) still gets restarted by systemd. READY=1 goes out as
// soon as the first window went through (awaitFirstWindow), not at this loop's pace.
func (d *Daemon) watchdog(ctx context.Context) {
	interval := time.Second
	if wd, err := daemon.SdWatchdogEnabled(false); err == nil && wd > 0 {
		interval = wd / 3
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if d.pipelineStatus() == nil {
			notify(daemon.SdNotifyWatchdog)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pipelineStatus is the readiness condition "pipeline": a window went through the features
// stage within the stall timeout (plus the time one window takes to fill). It is also what
// feeds the systemd watchdog.
func (d *Daemon) pipelineStatus() error {
	p := d.pipe.Load()
	if p == nil {
		return errors.New("not running")
	}
	last := p.LastAdvance()
	if last.IsZero() {
		return errors.New("no window yet")
	}
	if age := time.Since(last); age >= d.stallAfter+2*time.Second {
		return fmt.Errorf("no window for %v", age.Round(100*time.Millisecond))
	}
	return nil
}

// Ready is nil when the daemon serves its purpose: a model loaded, samples flowing, windows
// going through. Otherwise it is a *NotReadyError naming each condition that fails.
func (d *Daemon) Ready() error { return d.ready.check() }

// Reload re-reads the configuration and the model (SIGHUP). What cannot change live (store
// path, HTTP address, broker) needs a restart and is logged as such.
func (d *Daemon) Reload(ctx context.Context) error {
	cfg, err := configs.Load(d.opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("reload: config unchanged: %w", err)
	}
	old := d.config()
	var needsRestart []string
	if cfg.Store != old.Store || cfg.ResolvedStateDir() != old.ResolvedStateDir() {
		needsRestart = append(needsRestart, "store")
	}
	if cfg.HTTP.Listen != old.HTTP.Listen {
		needsRestart = append(needsRestart, "http.listen")
	}
	if cfg.HTTP.MaxLiveClients != old.HTTP.MaxLiveClients {
		needsRestart = append(needsRestart, "http.max_live_clients")
	}
	if cfg.MQTT != old.MQTT {
		needsRestart = append(needsRestart, "mqtt")
	}
	if len(needsRestart) > 0 {
		d.log.Warn("reload: these keys change only on restart", "keys", strings.Join(needsRestart, ","))
	}
	d.lvl.Set(parseLevel(cfg.LogLevel))
	d.cfgMu.Lock()
	d.cfg = cfg
	d.cfgMu.Unlock()
	if err := d.models.reload(ctx, cfg); err != nil {
		return fmt.Errorf("reload model: %w", err)
	}
	if cfg.Source != old.Source || cfg.Gate != old.Gate || cfg.Fix != old.Fix || cfg.ReceiverID != old.ReceiverID {
		d.requestRestart()
	}
	d.log.Info("reloaded", "config", d.opts.ConfigPath)
	return nil
}

func (d *Daemon) requestRestart() {
	select {
	case d.restart <- struct{}{}:
	default:
	}
}

func (d *Daemon) config() configs.Config {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

// Close releases what New opened.
func (d *Daemon) Close() error {
	if d.httpLn != nil {
		d.httpLn.Close()
	}
	if d.models != nil {
		d.models.close()
	}
	if d.runDirCleanup != nil {
		d.runDirCleanup()
		d.runDirCleanup = nil
	}
	if d.db != nil {
		return d.db.Close()
	}
	return nil
}

// ParseLevel maps a config log level to slog's.
func parseLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// NewLogger builds the daemon's logger on w (stderr), its level adjustable at reload. When w
// is the journal's stream, each line carries its priority (see package journal).
func NewLogger(cfg configs.Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	lvl := new(slog.LevelVar)
	lvl.Set(parseLevel(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	build := func(w io.Writer) slog.Handler {
		if cfg.LogFormat == "json" {
			return slog.NewJSONHandler(w, opts)
		}
		return slog.NewTextHandler(w, opts)
	}
	if f, ok := w.(*os.File); ok && journal.IsJournal(f, os.Getenv("JOURNAL_STREAM")) {
		return slog.New(journal.NewHandler(w, build)), lvl
	}
	return slog.New(build(w)), lvl
}
