package capture

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/heimdall/edged/configs/check"
	"github.com/heimdall/edged/internal/backoff"
)

// Config is the `source:` section of edged.yaml: which IQ source the daemon reads and how.
// Start from DefaultConfig and overlay the file.
type Config struct {
	// Kind is file (a recording replayed as if live), rtl_tcp or rtlsdr.
	Kind string `yaml:"kind"`
	// StallTimeoutSeconds is how long a source may deliver nothing before it is restarted
	// (and the daemon reports not-ready).
	StallTimeoutSeconds float64 `yaml:"stall_timeout_seconds"`
	// RetryMinSeconds and RetryMaxSeconds space the reconnections of a lost or stalled
	// rtl_tcp server or dongle: the wait doubles from the minimum up to the maximum
	// (jittered, never above it) and starts again from the minimum once samples flow, so
	// samples are back within about RetryMaxSeconds of the server or dongle returning.
	RetryMinSeconds float64 `yaml:"retry_min_seconds"`
	RetryMaxSeconds float64 `yaml:"retry_max_seconds"`
	// File is the recording for kind file.
	File FileSection `yaml:"file"`
	// RTLTCP is the server for kind rtl_tcp.
	RTLTCP RTLTCPSection `yaml:"rtl_tcp"`
	// RTLSDR is the dongle for kind rtlsdr.
	RTLSDR RTLSDRSection `yaml:"rtlsdr"`
}

// FileSection is `source.file`: a recording and how to replay it. Zero values mean "from
// the name or metadata".
type FileSection struct {
	// Path of the recording, as OpenFile takes it (a FORMAT: prefix is allowed). The daemon
	// replaces "embedded:demo" (DemoPath) with the bundled recording before opening it.
	Path string `yaml:"path"`
	// Format is cu8, cs8, cs16, cf32 or an rtl_433 alias; empty: from the name.
	Format string `yaml:"format"`
	// SampleRateHz overrides the rate the name or metadata gives.
	SampleRateHz float64 `yaml:"sample_rate_hz"`
	// CenterFreqHz overrides the centre frequency the name or metadata gives.
	CenterFreqHz float64 `yaml:"center_freq_hz"`
	// Pace is the replay speed: 0 as fast as possible, 1 real time, N N× real time.
	Pace float64 `yaml:"pace"`
	// Loop restarts the recording at its end.
	Loop bool `yaml:"loop"`
}

// TuningConfig is Tuning as edged.yaml writes it: enumerations are words, parsed by Tuning.
type TuningConfig struct {
	CenterFreqHz float64 `yaml:"center_freq_hz"`
	SampleRateHz float64 `yaml:"sample_rate_hz"`
	// GainMode is auto or manual (then GainDB).
	GainMode string  `yaml:"gain_mode"`
	GainDB   float64 `yaml:"gain_db"`
	PPM      int     `yaml:"ppm"`
	BiasTee  bool    `yaml:"bias_tee"`
	// DigitalAGC is the RTL2832's AGC (Tuning.AGC).
	DigitalAGC bool `yaml:"digital_agc"`
	// DirectSampling is off, i or q.
	DirectSampling string `yaml:"direct_sampling"`
	OffsetTuning   bool   `yaml:"offset_tuning"`
}

// RTLTCPSection is `source.rtl_tcp`: a server and the tuning sent to it.
type RTLTCPSection struct {
	// Address is host:port.
	Address      string `yaml:"address"`
	TuningConfig `yaml:",inline"`
}

// RTLSDRSection is `source.rtlsdr`: a dongle on USB and its tuning.
type RTLSDRSection struct {
	// Device is an index ("0") or a serial (":00000001" or "serial=00000001"); see
	// ParseDevice.
	Device       string `yaml:"device"`
	TuningConfig `yaml:",inline"`
}

// DemoPath is the source.file.path that names the recording bundled with edged.
const DemoPath = "embedded:demo"

// Source kinds.
const (
	KindFile   = "file"
	KindRTLTCP = "rtl_tcp"
	KindRTLSDR = "rtlsdr"
)

// Bounds of the source section, beyond what a radio accepts.
const (
	// MaxStallTimeoutSeconds: a source silent for an hour is not stalling, it is gone.
	MaxStallTimeoutSeconds = 3600
	// maxPace: a replay faster than a million times real time is a typo.
	maxPace = 1e6
	// maxFileRateHz is above any SDR's sample rate.
	maxFileRateHz = 1e9
	// maxPPM: cheap dongles' crystals are off by tens of ppm; thousands is a typo.
	maxPPM = 1000
)

// DefaultConfig is the section's defaults: the bundled demo recording in real time, in a
// loop, and 433.92 MHz at 250 kS/s for the radios.
func DefaultConfig() Config {
	tun := TuningConfig{CenterFreqHz: 433.92e6, SampleRateHz: 250e3, GainMode: string(GainAuto), DirectSampling: "off"}
	return Config{
		Kind:                KindFile,
		StallTimeoutSeconds: 5,
		RetryMinSeconds:     DefaultRetry.Min.Seconds(),
		RetryMaxSeconds:     DefaultRetry.Max.Seconds(),
		File:                FileSection{Path: DemoPath, Pace: 1, Loop: true},
		RTLTCP:              RTLTCPSection{Address: "127.0.0.1:1234", TuningConfig: tun},
		RTLSDR:              RTLSDRSection{Device: "0", TuningConfig: tun},
	}
}

// Validate checks the section. Every radio section's values are checked whichever kind is
// selected (a typo is a typo); the selected recording is resolved and opened (no samples
// are read) unless it is the demo. It never touches the network or USB. Errors are keyed
// relative to the section and match ErrBadConfig.
func (c Config) Validate() error {
	l := check.NewList(ErrBadConfig)
	l.OneOf("kind", c.Kind, KindFile, KindRTLTCP, KindRTLSDR)
	l.Positive("stall_timeout_seconds", c.StallTimeoutSeconds, MaxStallTimeoutSeconds, "seconds")
	if l.Positive("retry_min_seconds", c.RetryMinSeconds, MaxStallTimeoutSeconds, "seconds") && c.RetryMaxSeconds < c.RetryMinSeconds {
		l.Add("retry_max_seconds", "%g: want at least retry_min_seconds (%g)", c.RetryMaxSeconds, c.RetryMinSeconds)
	}
	l.Positive("retry_max_seconds", c.RetryMaxSeconds, MaxStallTimeoutSeconds, "seconds")
	l.Wrap("file", c.File.validate(c.Kind == KindFile))
	_, _, err := c.RTLTCP.Config()
	l.Wrap("rtl_tcp", err)
	_, err = c.RTLSDR.Config()
	l.Wrap("rtlsdr", err)
	return l.Err()
}

func (f FileSection) validate(open bool) error {
	l := check.NewList(ErrBadConfig)
	opts, err := f.Options()
	l.Wrap("", err)
	if f.Path == "" {
		l.Add("path", "missing")
	} else if open && err == nil && f.Path != DemoPath {
		// Exactly what the daemon does at start, so the message is the same.
		src, err := OpenFile(f.Path, opts)
		if err != nil {
			l.Add("path", "%v", err)
		} else {
			src.Close()
		}
	}
	return l.Err()
}

// Options is the section as OpenFile's options; errors are keyed.
func (f FileSection) Options() (FileOptions, error) {
	l := check.NewList(ErrBadConfig)
	opts := FileOptions{SampleRateHz: f.SampleRateHz, CenterFreqHz: f.CenterFreqHz, Pace: f.Pace, Loop: f.Loop}
	if f.Format != "" {
		var err error
		if opts.Format, err = ParseFormat(f.Format); err != nil {
			l.Add("format", "%v", err)
		}
	}
	l.Number("sample_rate_hz", f.SampleRateHz, 0, maxFileRateHz, "S/s (0: from the name)")
	l.Number("center_freq_hz", f.CenterFreqHz, 0, math.MaxUint32, "Hz (0: from the name)")
	l.Number("pace", f.Pace, 0, maxPace, "(0 as fast as possible, 1 real time)")
	return opts, l.Err()
}

// Tuning parses and checks the section's tuning; errors are keyed.
func (t TuningConfig) Tuning() (Tuning, error) {
	l := check.NewList(ErrBadConfig)
	out := Tuning{
		CenterFreqHz: t.CenterFreqHz, SampleRateHz: t.SampleRateHz, GainDB: t.GainDB,
		PPM: t.PPM, BiasTee: t.BiasTee, AGC: t.DigitalAGC, OffsetTuning: t.OffsetTuning,
	}
	var err error
	if out.GainMode, err = ParseGainMode(t.GainMode); err != nil {
		l.Add("gain_mode", "%v", err)
	}
	if out.DirectSampling, err = ParseDirectSampling(t.DirectSampling); err != nil {
		l.Add("direct_sampling", "%v", err)
	}
	if l.OK() {
		l.Wrap("", out.Validate())
	}
	return out, l.Err()
}

// Config is the section as NewRTLTCP's arguments (without the stall timeout, which is the
// source section's); errors are keyed.
func (s RTLTCPSection) Config() (addr string, cfg RTLTCPConfig, err error) {
	l := check.NewList(ErrBadConfig)
	if err := checkDialAddress(s.Address); err != nil {
		l.Add("address", "%v", err)
	}
	cfg.Tuning, err = s.TuningConfig.Tuning()
	l.Wrap("", err)
	return s.Address, cfg, l.Err()
}

// Config is the section as OpenRTLSDR's configuration; errors are keyed.
func (s RTLSDRSection) Config() (RTLSDRConfig, error) {
	l := check.NewList(ErrBadConfig)
	var cfg RTLSDRConfig
	var err error
	if cfg.Serial, cfg.Index, err = ParseDevice(s.Device); err != nil {
		l.Add("device", "%v", err)
	}
	cfg.Tuning, err = s.TuningConfig.Tuning()
	l.Wrap("", err)
	if err == nil {
		l.Wrap("", checkRTL2832Rate(cfg.SampleRateHz))
	}
	return cfg, l.Err()
}

// Open builds the configured source. Radios are wrapped so that a stall or a lost
// connection restarts them with backoff; a recording is opened at once, so a missing or
// unreadable one fails here. The caller has replaced DemoPath by a real path.
func (c Config) Open(log *slog.Logger) (Source, error) {
	stall := c.StallTimeout()
	switch c.Kind {
	case KindFile:
		opts, err := c.File.Options()
		if err != nil {
			return nil, check.In("source.file", err)
		}
		return OpenFile(c.File.Path, opts)
	case KindRTLTCP:
		addr, rc, err := c.RTLTCP.Config()
		if err != nil {
			return nil, check.In("source.rtl_tcp", err)
		}
		rc.StallTimeout, rc.Retry = stall, c.Retry()
		return NewRTLTCP(addr, rc, log)
	case KindRTLSDR:
		rc, err := c.RTLSDR.Config()
		if err != nil {
			return nil, check.In("source.rtlsdr", err)
		}
		// A dongle that stops delivering without an error (https://github.com/merbanan/rtl_433/issues/1662) is closed and
		// reopened with backoff by the supervisor; a missing one is retried the same way,
		// and one that refuses its tuning (ErrBadConfig) ends Read with that error.
		return Supervise(func(ctx context.Context) (Source, error) {
			return OpenRTLSDR(rc, log)
		}, SuperviseConfig{
			Info:         Info{Name: rc.name(), CenterFreqHz: rc.CenterFreqHz, SampleRateHz: rc.SampleRateHz, Live: true},
			StallTimeout: stall,
			Retry:        c.Retry(),
		}, log), nil
	}
	return nil, check.Errorf(ErrBadConfig, "source.kind", "%q: want file, rtl_tcp or rtlsdr", c.Kind)
}

// StallTimeout is StallTimeoutSeconds as a duration.
func (c Config) StallTimeout() time.Duration {
	return time.Duration(c.StallTimeoutSeconds * float64(time.Second))
}

// Retry is the reconnection schedule of RetryMinSeconds and RetryMaxSeconds, with
// DefaultRetry's jitter. The daemon restarts a failed pipeline on it too.
func (c Config) Retry() backoff.Policy {
	return backoff.Policy{
		Min:    time.Duration(c.RetryMinSeconds * float64(time.Second)),
		Max:    time.Duration(c.RetryMaxSeconds * float64(time.Second)),
		Jitter: DefaultRetry.Jitter,
	}
}

// ParseGainMode parses a gain mode; empty means auto.
func ParseGainMode(s string) (GainMode, error) {
	switch GainMode(s) {
	case "", GainAuto:
		return GainAuto, nil
	case GainManual:
		return GainManual, nil
	}
	return "", fmt.Errorf("%q: want auto or manual", s)
}

// ParseDirectSampling parses off, i or q (empty means off).
func ParseDirectSampling(s string) (DirectSampling, error) {
	switch s {
	case "", "off":
		return DirectSamplingOff, nil
	case "i":
		return DirectSamplingI, nil
	case "q":
		return DirectSamplingQ, nil
	}
	return 0, fmt.Errorf("%q: want off, i or q", s)
}

// ParseDevice parses a dongle selection: an index ("0", the default when empty) or a serial
// (":00000001" or "serial=00000001").
func ParseDevice(s string) (serial string, index int, err error) {
	if v, ok := strings.CutPrefix(s, ":"); ok {
		serial = v
	} else if v, ok := strings.CutPrefix(s, "serial="); ok {
		serial = v
	} else if s == "" {
		return "", 0, nil
	} else {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return "", 0, fmt.Errorf("%q: want an index (0 to 255), :SERIAL or serial=SERIAL", s)
		}
		return "", int(n), nil
	}
	// A serial is an EEPROM string (rtl_eeprom -s), printable ASCII in practice.
	if serial == "" || len(serial) > 256 || strings.ContainsFunc(serial, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return "", 0, fmt.Errorf("%q: want a serial of printable ASCII without spaces", s)
	}
	return serial, 0, nil
}

// checkDialAddress checks a host:port to connect to, without resolving it.
func checkDialAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("%q: no host", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: want a port from 1 to 65535", addr)
	}
	return nil
}
