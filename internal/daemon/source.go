package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs"
)

// openSource builds the configured source (capture.Config.Open), with the bundled demo
// recording written out where the file source can open it.
func openSource(cfg configs.Config, runtimeDir string, log *slog.Logger) (capture.Source, error) {
	sc := cfg.Source
	if sc.Kind == capture.KindFile && sc.File.Path == capture.DemoPath {
		p, err := writeDemo(runtimeDir)
		if err != nil {
			return nil, err
		}
		sc.File.Path = p
	}
	return sc.Open(log)
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
