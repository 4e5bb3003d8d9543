package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/daemon"
)

func runDaemon(args []string) error {
	fs := newFlags("run", "[-config FILE]")
	path := fs.String("config", os.Getenv("EDGED_CONFIG"), "YAML config `FILE` (default: the embedded defaults)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, lvl := daemon.NewLogger(cfg, os.Stderr)
	d, err := daemon.New(cfg, daemon.Options{ConfigPath: *path, Stdout: os.Stdout, Version: versionString()}, log, lvl)
	if err != nil {
		if errors.As(err, new(daemon.ConfigError)) {
			return configError{err}
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go backstop(ctx, log)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			d.HandleReload(rctx) // logs a refusal itself
			cancel()
		}
	}()
	v, commit := version()
	log.Info("edged starting", "version", v, "commit", commit, "go", runtime.Version(), "onnxruntime", infer.RuntimeVersion(), "config", *path, "receiver_id", cfg.ReceiverID)
	if err := d.Run(ctx); err != nil {
		if errors.As(err, new(daemon.ConfigError)) {
			return configError{err}
		}
		return err
	}
	return nil
}

func runCheckConfig(args []string) error {
	fs := newFlags("check-config", "FILE\n\nValidates FILE over the defaults, with EDGED_* overrides, exactly as run does.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one FILE")
	}
	if _, err := loadConfig(fs.Arg(0)); err != nil {
		return err
	}
	fmt.Printf("%s: ok\n", fs.Arg(0))
	return nil
}

// loadConfig reads and validates a config file (the embedded defaults when path is empty):
// the one check run, check-config and the model commands share.
func loadConfig(path string) (configs.Config, error) {
	cfg, err := configs.Load(path)
	if err != nil {
		return cfg, configError{err}
	}
	return cfg, nil
}

// stopBackstop bounds a stop: the drain and the broker's share (at most 2.25 s, see uplink)
// normally end well before it. Past it, something else hung (a disk, ONNX Runtime) and the
// process exits anyway, with an error in the journal, before systemd's TimeoutStopSec=20
// would SIGKILL it.
const stopBackstop = 10 * time.Second

func backstop(ctx context.Context, log *slog.Logger) {
	<-ctx.Done()
	t := time.NewTimer(stopBackstop)
	<-t.C
	log.Error("stop did not finish in time; exiting anyway", "after", stopBackstop)
	os.Exit(1)
}
