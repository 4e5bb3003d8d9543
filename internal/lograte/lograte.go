// Package lograte keeps a failure that repeats many times a second (every commit on a full
// disk, say) from flooding the log: it is logged at most once per period, and each line says
// how many times it happened since the line before.
package lograte

import (
	"sync"
	"time"
)

// DefaultPeriod is how often a repeating failure is logged at most.
const DefaultPeriod = 10 * time.Second

// Limiter decides when a repeating event is logged. The zero value logs at most once per
// DefaultPeriod. It is safe for concurrent use.
type Limiter struct {
	// Period between lines; zero means DefaultPeriod.
	Period time.Duration

	mu      sync.Mutex
	last    time.Time
	pending int // occurrences since the last line
}

// Allow counts one occurrence at now and reports whether to log it. When it does, count
// is how many occurrences the line stands for: this one and those not logged since the
// line before.
func (l *Limiter) Allow(now time.Time) (ok bool, count int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	period := l.Period
	if period <= 0 {
		period = DefaultPeriod
	}
	l.pending++
	if !l.last.IsZero() && now.Sub(l.last) < period {
		return false, 0
	}
	count, l.pending, l.last = l.pending, 0, now
	return true, count
}
