package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/internal/backoff"
)

// newTestDaemon is a daemon on the defaults with a private state directory and an
// ephemeral port; its source is whatever open returns.
func newTestDaemon(t *testing.T, open func(configs.Config) (capture.Source, error)) *Daemon {
	t.Helper()
	cfg := configs.DefaultConfig()
	cfg.StateDir, cfg.HTTP.Listen, cfg.Fix.Print = t.TempDir(), "127.0.0.1:0", "none"
	cfg.Source.Kind = capture.KindRTLSDR
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := New(cfg, Options{}, log, new(slog.LevelVar))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.open = open
	return d
}

// Ensure a source fault is classified by its owner's sentinel: a tuning the dongle refuses
// (capture.ErrBadConfig, found only when the supervisor opens it) stops the daemon with a
// ConfigError, which the command turns into EX_CONFIG; a dongle that is not there yet
// (capture.ErrNoDevice) is retried until the daemon is stopped.
func TestRunPipelinesClassifiesSourceFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fast := capture.SuperviseConfig{Retry: backoff.Policy{Min: time.Millisecond, Max: 2 * time.Millisecond},
		Info: capture.Info{Name: "rtlsdr:0", CenterFreqHz: 433.92e6, SampleRateHz: 250e3, Live: true}}

	refused := newTestDaemon(t, func(configs.Config) (capture.Source, error) {
		return capture.Supervise(func(context.Context) (capture.Source, error) {
			return nil, fmt.Errorf("rtlsdr:0: %w: gain 99.0 dB refused (-1)", capture.ErrBadConfig)
		}, fast, nil), nil
	})
	err := refused.runPipelines(ctx)
	if !errors.As(err, new(ConfigError)) || !strings.Contains(err.Error(), "gain 99.0 dB refused") {
		t.Errorf("refused tuning: err = %v, want a ConfigError naming the refusal", err)
	}

	// The daemon's own open failing with the sentinel (a tuning checked before any I/O)
	// is the same fault.
	badOpen := newTestDaemon(t, func(configs.Config) (capture.Source, error) {
		return nil, fmt.Errorf("%w: direct sampling 3", capture.ErrBadConfig)
	})
	if err := badOpen.runPipelines(ctx); !errors.As(err, new(ConfigError)) {
		t.Errorf("bad tuning at open: err = %v, want a ConfigError", err)
	}

	absentCtx, stop := context.WithCancel(ctx)
	defer stop()
	var opens atomic.Int32
	absent := newTestDaemon(t, func(configs.Config) (capture.Source, error) {
		return capture.Supervise(func(context.Context) (capture.Source, error) {
			if opens.Add(1) == 5 {
				stop() // enough retries seen: stop the daemon
			}
			return nil, fmt.Errorf("rtlsdr:0: %w", capture.ErrNoDevice)
		}, fast, nil), nil
	})
	if err := absent.runPipelines(absentCtx); err != nil || opens.Load() < 5 {
		t.Errorf("absent dongle: err = %v after %d opens, want retries until stopped, then nil", err, opens.Load())
	}
}
