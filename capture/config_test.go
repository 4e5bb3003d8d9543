package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/backoff"
)

// Ensure the defaults are valid and every field of the section is checked, each mistake
// keyed and naming what would be accepted.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	rec := filepath.Join(t.TempDir(), "rec_433.92M_250k.cu8")
	if err := os.WriteFile(rec, make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"kind", func(c *Config) { c.Kind = "floppy" }, `kind: "floppy": want file, rtl_tcp or rtlsdr`},
		{"stall", func(c *Config) { c.StallTimeoutSeconds = 0 }, "stall_timeout_seconds: 0: want a number above 0"},
		{"gain mode", func(c *Config) { c.RTLSDR.GainMode = "manul" }, `rtlsdr.gain_mode: "manul": want auto or manual`},
		{"direct sampling", func(c *Config) { c.RTLTCP.DirectSampling = "x" }, `rtl_tcp.direct_sampling: "x": want off, i or q`},
		{"device", func(c *Config) { c.RTLSDR.Device = "first" }, `rtlsdr.device: "first": want an index`},
		{"serial", func(c *Config) { c.RTLSDR.Device = ": 0 1" }, `rtlsdr.device: ": 0 1": want a serial`},
		{"rtl2832 rate", func(c *Config) { c.RTLSDR.SampleRateHz = 500e3 }, "rtlsdr.sample_rate_hz: 500000: the RTL2832 takes"},
		{"freq", func(c *Config) { c.RTLSDR.CenterFreqHz = -1 }, "rtlsdr.center_freq_hz: -1"},
		{"manual gain", func(c *Config) { c.RTLSDR.GainMode, c.RTLSDR.GainDB = "manual", 1e6 }, "rtlsdr.gain_db: 1e+06"},
		{"ppm", func(c *Config) { c.RTLTCP.PPM = 1e5 }, "rtl_tcp.ppm: 100000: want -1000 to 1000"},
		{"address", func(c *Config) { c.RTLTCP.Address = "nohostport" }, `rtl_tcp.address: "nohostport": want host:port`},
		{"port", func(c *Config) { c.RTLTCP.Address = "h:0" }, `rtl_tcp.address: "h:0": want a port`},
		{"format", func(c *Config) { c.File.Format = "cs64" }, `file.format: unknown sample format "cs64"`},
		{"pace", func(c *Config) { c.File.Pace = -1 }, "file.pace: -1"},
		{"no path", func(c *Config) { c.File.Path = "" }, "file.path: missing"},
		{"missing recording", func(c *Config) { c.File.Path = rec + ".gone" }, "file.path: open recording: open " + rec + ".gone: no such file"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrBadConfig and %q", tc.name, err, tc.want)
		}
	}
	// A recording that is there is opened (and closed) by Validate; one of another kind
	// is not looked for.
	c := DefaultConfig()
	c.File.Path = rec
	if err := c.Validate(); err != nil {
		t.Errorf("readable recording: %v", err)
	}
	c.Kind, c.File.Path = KindRTLSDR, rec+".gone"
	if err := c.Validate(); err != nil {
		t.Errorf("recording of an unselected source checked: %v", err)
	}
}

// Ensure a source that refuses its configuration when opened (a tuning the dongle does not
// take) ends the supervisor's Read with that error at once, rather than being retried.
func TestSupervise_ConfigFaultIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// An error that only reads like a configuration fault is retried, until Close (from
	// the third attempt) ends Read...
	var opens atomic.Int32
	var sup *Supervisor
	sup = Supervise(func(ctx context.Context) (Source, error) {
		if opens.Add(1) == 3 {
			sup.Close()
		}
		return nil, errors.New("rtlsdr:0: " + ErrBadConfig.Error())
	}, SuperviseConfig{Retry: backoff.Policy{Min: time.Millisecond, Max: time.Millisecond}}, nil)
	if _, err := sup.Read(ctx, make([]complex64, 16)); !errors.Is(err, ErrClosed) || opens.Load() != 3 {
		t.Fatalf("look-alike: err = %v after %d opens, want retries until Close", err, opens.Load())
	}

	// ...one that is one ends Read on the first attempt.
	opens.Store(0)
	sup = Supervise(func(ctx context.Context) (Source, error) {
		opens.Add(1)
		return nil, fmt.Errorf("rtlsdr:0: %w: gain 99.0 dB refused (-1)", ErrBadConfig)
	}, SuperviseConfig{}, nil)
	defer sup.Close()
	_, err := sup.Read(ctx, make([]complex64, 16))
	if !errors.Is(err, ErrBadConfig) || opens.Load() != 1 || !strings.Contains(err.Error(), "gain 99.0 dB refused") {
		t.Fatalf("err = %v after %d opens, want ErrBadConfig after 1", err, opens.Load())
	}
	if sup.Err() == nil {
		t.Error("Err() does not report the refusal")
	}
}

// Ensure a transient fault (no dongle yet) is retried until the source opens.
func TestSupervise_TransientFaultIsRetried(t *testing.T) {
	var opens atomic.Int32
	src := newScripted(-1)
	sup := Supervise(func(ctx context.Context) (Source, error) {
		if opens.Add(1) < 3 {
			return nil, fmt.Errorf("rtlsdr:0: %w", ErrNoDevice)
		}
		return src, nil
	}, SuperviseConfig{Retry: backoff.Policy{Min: time.Millisecond, Max: 2 * time.Millisecond}}, nil)
	defer sup.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := sup.Read(ctx, make([]complex64, 16))
	if err != nil || n == 0 || opens.Load() != 3 {
		t.Fatalf("n = %d, err = %v after %d opens; want samples after 3", n, err, opens.Load())
	}
}
