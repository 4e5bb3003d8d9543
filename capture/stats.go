package capture

import (
	"sync/atomic"
	"time"
)

// counters is the lock-free sample accounting behind Stats, so a metrics scrape never waits
// for a Read in progress.
type counters struct {
	delivered, dropped, lost, overload atomic.Uint64
}

// snapshot returns the counters as a Stats value.
func (c *counters) snapshot() Stats {
	return Stats{
		Delivered: c.delivered.Load(),
		Dropped:   c.dropped.Load(),
		Lost:      c.lost.Load(),
		Overload:  c.overload.Load(),
	}
}

// lossClock estimates lost samples of a live stream the way readsb does: over a window of
// wall time it compares the samples that arrived (delivered or dropped) with what the sample
// rate says should have arrived. A shortfall beyond a tolerance is counted as lost. Windows
// keep the estimate immune to the slow drift between a dongle's crystal and the host clock
// (100 ppm is 0.01 % per window, far below the tolerance), and a surplus in one window (data
// that was late at the previous boundary) is never carried as credit.
//
// It is not safe for concurrent use; each live source drives it from its reading goroutine.
type lossClock struct {
	rateHz float64
	// window is how much wall time one comparison spans.
	window time.Duration
	// tolerance is the shortfall fraction ignored as jitter at window boundaries.
	tolerance float64

	start    time.Time
	received uint64
}

// Defaults for lossClock: 10 s windows, 2 % slack (200 ms of samples per window, more than
// one USB transfer at any RTL-SDR rate).
const (
	lossWindow    = 10 * time.Second
	lossTolerance = 0.02
)

// newLossClock starts a clock for a stream at rateHz.
func newLossClock(rateHz float64, now time.Time) *lossClock {
	return &lossClock{rateHz: rateHz, window: lossWindow, tolerance: lossTolerance, start: now}
}

// observe adds n samples that arrived at now and returns how many samples the stream lost in
// a window that just closed (0 most of the time).
func (l *lossClock) observe(n uint64, now time.Time) uint64 {
	l.received += n
	elapsed := now.Sub(l.start)
	if elapsed < l.window {
		return 0
	}
	expected := elapsed.Seconds() * l.rateHz
	got := float64(l.received)
	l.start, l.received = now, 0
	if short := expected - got; short > expected*l.tolerance {
		return uint64(short)
	}
	return 0
}

// restart begins a new window at now, after a gap that the caller counted itself (a
// reconnect), so that the gap is not counted twice.
func (l *lossClock) restart(now time.Time) {
	l.start, l.received = now, 0
}

// gapSamples is how many samples a stream at rateHz would have produced in d.
func gapSamples(d time.Duration, rateHz float64) uint64 {
	if d <= 0 || rateHz <= 0 {
		return 0
	}
	return uint64(d.Seconds() * rateHz)
}
