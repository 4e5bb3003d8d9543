package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs"
)

// openSource builds the configured source. Live sources are wrapped in the capture
// supervisor, which restarts a stalled or lost radio with backoff.
func openSource(cfg configs.Config, runtimeDir string, log *slog.Logger) (capture.Source, error) {
	sc := cfg.Source
	stall := time.Duration(sc.StallTimeoutSeconds * float64(time.Second))
	switch sc.Kind {
	case "file":
		path := sc.File.Path
		if path == "embedded:demo" {
			p, err := writeDemo(runtimeDir)
			if err != nil {
				return nil, err
			}
			path = p
		}
		opts := capture.FileOptions{SampleRateHz: sc.File.SampleRateHz, CenterFreqHz: sc.File.CenterFreqHz, Pace: sc.File.Pace, Loop: sc.File.Loop}
		if sc.File.Format != "" {
			f, err := capture.ParseFormat(sc.File.Format)
			if err != nil {
				return nil, fmt.Errorf("source.file.format: %w", err)
			}
			opts.Format = f
		}
		return capture.OpenFile(path, opts)
	case "rtl_tcp":
		tun, err := tuning(sc.RTLTCP.Tuning)
		if err != nil {
			return nil, fmt.Errorf("source.rtl_tcp: %w", err)
		}
		return capture.NewRTLTCP(sc.RTLTCP.Address, capture.RTLTCPConfig{Tuning: tun, StallTimeout: stall}, log)
	case "rtlsdr":
		tun, err := tuning(sc.RTLSDR.Tuning)
		if err != nil {
			return nil, fmt.Errorf("source.rtlsdr: %w", err)
		}
		rc := capture.RTLSDRConfig{Tuning: tun}
		if serial, ok := strings.CutPrefix(sc.RTLSDR.Device, ":"); ok {
			rc.Serial = serial
		} else if serial, ok := strings.CutPrefix(sc.RTLSDR.Device, "serial="); ok {
			rc.Serial = serial
		} else if sc.RTLSDR.Device != "" {
			idx, err := strconv.Atoi(sc.RTLSDR.Device)
			if err != nil {
				return nil, fmt.Errorf("source.rtlsdr.device: %q: want an index or :SERIAL", sc.RTLSDR.Device)
			}
			rc.Index = idx
		}
		// A dongle that stops delivering without an error (rtl_433 #1662) is closed and
		// reopened with backoff by the supervisor; a missing one is retried the same way.
		return capture.Supervise(func(ctx context.Context) (capture.Source, error) {
			return capture.OpenRTLSDR(rc, log)
		}, capture.SuperviseConfig{
			Info:         capture.Info{Name: "rtlsdr:" + sc.RTLSDR.Device, CenterFreqHz: tun.CenterFreqHz, SampleRateHz: tun.SampleRateHz, Live: true},
			StallTimeout: stall,
		}, log), nil
	}
	return nil, fmt.Errorf("source.kind: %q: want file, rtl_tcp or rtlsdr", sc.Kind)
}

func tuning(t configs.Tuning) (capture.Tuning, error) {
	out := capture.Tuning{
		CenterFreqHz: t.CenterFreqHz, SampleRateHz: t.SampleRateHz, GainDB: t.GainDB,
		PPM: t.PPM, BiasTee: t.BiasTee, AGC: t.DigitalAGC, OffsetTuning: t.OffsetTuning,
	}
	switch t.GainMode {
	case "", "auto":
		out.GainMode = capture.GainAuto
	case "manual":
		out.GainMode = capture.GainManual
	default:
		return out, fmt.Errorf("gain_mode: %q: want auto or manual", t.GainMode)
	}
	switch t.DirectSampling {
	case "", "off":
		out.DirectSampling = capture.DirectSamplingOff
	case "i":
		out.DirectSampling = capture.DirectSamplingI
	case "q":
		out.DirectSampling = capture.DirectSamplingQ
	default:
		return out, fmt.Errorf("direct_sampling: %q: want off, i or q", t.DirectSampling)
	}
	return out, nil
}

// writeDemo puts the bundled recording where the file source can open it.
func writeDemo(dir string) (string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, configs.DemoName)
	if err := os.WriteFile(path, configs.Demo, 0o644); err != nil {
		return "", fmt.Errorf("write demo recording: %w", err)
	}
	return path, nil
}

// sourceCollector exports every source's sample accounting, summed over the sources the
// daemon has had (a restarted radio is a new source, but the counters must not go back).
type sourceCollector struct {
	mu      sync.Mutex
	cur     capture.Source
	base    capture.Stats
	descs   [4]*prometheus.Desc
	healthy func() bool
	health  *prometheus.Desc
}

func newSourceCollector(healthy func() bool) *sourceCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &sourceCollector{
		descs: [4]*prometheus.Desc{
			d("edged_samples_delivered_total", "IQ samples the source handed to the pipeline."),
			d("edged_samples_dropped_total", "IQ samples received but discarded because edged's buffers were full."),
			d("edged_samples_lost_total", "IQ samples the radio should have produced but never arrived (sample clock vs monotonic clock, reconnect gaps)."),
			d("edged_samples_overload_total", "IQ samples at the ADC's rail (cu8 0 or 255)."),
		},
		healthy: healthy,
		health:  d("edged_source_up", "1 while the source delivers samples, 0 while it is stalled or reconnecting."),
	}
}

// set makes s the current source, folding the previous one's counts into the base.
func (c *sourceCollector) set(s capture.Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		st := c.cur.Stats()
		c.base.Delivered += st.Delivered
		c.base.Dropped += st.Dropped
		c.base.Lost += st.Lost
		c.base.Overload += st.Overload
	}
	c.cur = s
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.health
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	st := c.base
	if c.cur != nil {
		s := c.cur.Stats()
		st.Delivered += s.Delivered
		st.Dropped += s.Dropped
		st.Lost += s.Lost
		st.Overload += s.Overload
	}
	c.mu.Unlock()
	for i, v := range []uint64{st.Delivered, st.Dropped, st.Lost, st.Overload} {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(v))
	}
	up := 0.0
	if c.healthy() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, up)
}
