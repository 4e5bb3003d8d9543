package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

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

// writeDemo puts the bundled recording in dir, a directory only edged writes to (systemd's
// RUNTIME_DIRECTORY, or a private one from os.MkdirTemp). The file is created afresh,
// O_EXCL|O_NOFOLLOW: a name planted there, even as a symlink to a file edged may write, makes
// this an error instead of a write through it.
func writeDemo(dir string) (string, error) {
	path := filepath.Join(dir, configs.DemoName)
	// An earlier run's copy (a restarted pipeline, or a previous daemon under the same
	// RUNTIME_DIRECTORY) is unlinked, never opened: Remove does not follow a symlink.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("write demo recording: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return "", fmt.Errorf("write demo recording: %w", err)
	}
	if _, err := f.Write(configs.Demo); err != nil {
		f.Close()
		return "", fmt.Errorf("write demo recording: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write demo recording: %w", err)
	}
	return path, nil
}

// runtimeDir is where the daemon keeps files it makes for itself while it runs:
// $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=, private to the service) or else a fresh
// private directory from os.MkdirTemp, removed by cleanup. Never a fixed name in /tmp, which
// anyone can plant first.
func runtimeDir() (dir string, cleanup func(), err error) {
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		// systemd may pass several, colon-separated; ours is the first.
		d, _, _ = strings.Cut(d, ":")
		return d, func() {}, nil
	}
	d, err := os.MkdirTemp("", "edged-")
	if err != nil {
		return "", nil, fmt.Errorf("runtime directory: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// sourceCollector exports the source's sample accounting, stalls and restarts, summed over
// the sources the daemon has had (a restarted radio is a new source, but the counters must
// not go back), and whether samples flow now.
type sourceCollector struct {
	mu   sync.Mutex
	cur  *capture.Watch
	base capture.Stats
	// stalls and restarts of sources already replaced, plus the daemon's own reopenings.
	stalls, restarts uint64
	descs            [7]*prometheus.Desc
}

func newSourceCollector() *sourceCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &sourceCollector{
		descs: [7]*prometheus.Desc{
			d("edged_samples_delivered_total", "IQ samples the source handed to the pipeline."),
			d("edged_samples_dropped_total", "IQ samples received but discarded because edged's buffers were full."),
			d("edged_samples_lost_total", "IQ samples the radio should have produced but never arrived (sample clock vs monotonic clock, reconnect gaps)."),
			d("edged_samples_overload_total", "IQ samples at the ADC's rail (cu8 0 or 255)."),
			d("edged_source_stalls_total", "Times the source delivered no sample for source.stall_timeout_seconds while edged waited for one."),
			d("edged_source_restarts_total", "Times the source's connection or device was closed and opened again (after a stall, a drop, or a failed pipeline)."),
			d("edged_source_up", "1 while the source delivers samples, 0 from the moment a stall is detected (or before the first sample) until samples flow again."),
		},
	}
}

// sourceStats is the current source's name and kind with the counts summed over the
// sources the daemon has had.
type sourceStats struct {
	capture.Stats
	stalls, restarts uint64
	name             string
	live             bool
}

// stats sums the counts as Collect exports them.
func (c *sourceCollector) stats() sourceStats {
	c.mu.Lock()
	st := sourceStats{Stats: c.base, stalls: c.stalls, restarts: c.restarts}
	cur := c.cur
	c.mu.Unlock()
	if cur != nil {
		s := cur.Stats()
		st.Delivered += s.Delivered
		st.Dropped += s.Dropped
		st.Lost += s.Lost
		st.Overload += s.Overload
		st.stalls += cur.Stalls()
		st.restarts += cur.Restarts()
		st.name, st.live = cur.Info().Name, cur.Info().Live
	}
	return st
}

// set makes w the current source (nil: none open), folding the previous one's counts into
// the base.
func (c *sourceCollector) set(w *capture.Watch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		st := c.cur.Stats()
		c.base.Delivered += st.Delivered
		c.base.Dropped += st.Dropped
		c.base.Lost += st.Lost
		c.base.Overload += st.Overload
		c.stalls += c.cur.Stalls()
		c.restarts += c.cur.Restarts()
	}
	c.cur = w
}

// restarted counts a reopening of the source by the daemon.
func (c *sourceCollector) restarted() {
	c.mu.Lock()
	c.restarts++
	c.mu.Unlock()
}

// status is the readiness condition "source": nil while samples flow.
func (c *sourceCollector) status() error {
	c.mu.Lock()
	w := c.cur
	c.mu.Unlock()
	if w == nil {
		return errors.New("no source open (starting or restarting)")
	}
	return w.Status()
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	for i, v := range []uint64{st.Delivered, st.Dropped, st.Lost, st.Overload, st.stalls, st.restarts} {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(v))
	}
	up := 0.0
	if c.status() == nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.descs[6], prometheus.GaugeValue, up)
}
