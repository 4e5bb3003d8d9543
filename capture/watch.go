package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Watch wraps a Source and tells at any moment whether samples are flowing: what the
// daemon's readiness, its edged_source_up gauge and its stall counter read. A stall is
// detected when one Read has waited StallTimeout without a sample, the same rule the
// sources use to reconnect, and it lasts until a Read returns samples again. A consumer
// that is busy elsewhere (not in Read) does not make its source stalled.
//
// Watch passes Read, Info, Stats and Close through; it adds no buffering.
type Watch struct {
	Source
	stall time.Duration
	log   *slog.Logger

	mu        sync.Mutex
	reading   bool      // a Read is in progress
	readSince time.Time // when it started
	last      time.Time // when a Read last returned samples
	stalled   bool      // a stall was detected and samples have not come back since
	ended     error     // the error that ended the stream (io.EOF, ErrClosed…)
	stalls    uint64
	timer     *time.Timer
}

// NewWatch watches src with the given stall timeout (default 5 s). log, which may be nil,
// receives one line when a stall is detected and one when samples flow again.
func NewWatch(src Source, stallTimeout time.Duration, log *slog.Logger) *Watch {
	if stallTimeout <= 0 {
		stallTimeout = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watch{Source: src, stall: stallTimeout, log: log}
	w.timer = time.AfterFunc(time.Hour, w.check)
	w.timer.Stop()
	return w
}

// Read reads from the wrapped source, timing how long it waits.
func (w *Watch) Read(ctx context.Context, buf []complex64) (int, error) {
	w.mu.Lock()
	w.reading, w.readSince = true, time.Now()
	w.timer.Reset(w.stall)
	w.mu.Unlock()

	n, err := w.Source.Read(ctx, buf)

	w.mu.Lock()
	defer w.mu.Unlock()
	w.reading = false
	w.timer.Stop()
	now := time.Now()
	if n > 0 {
		if w.stalled {
			w.stalled = false
			w.log.Info("source samples flowing again", "source", w.Info().Name, "stalled_for", now.Sub(w.readSince).Round(time.Millisecond))
		}
		w.last, w.ended = now, nil
	}
	if err != nil && n == 0 && ctx.Err() == nil {
		w.ended = err
	}
	return n, err
}

// check runs when a Read may have waited the stall timeout.
func (w *Watch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The timer may fire late, for a Read that has since returned or a later one.
	if !w.reading || w.stalled || time.Since(w.readSince) < w.stall {
		return
	}
	w.stalled = true
	w.stalls++
	args := []any{"source", w.Info().Name, "no_samples_for", w.stall}
	if c := w.cause(); c != nil {
		args = append(args, "cause", c)
	}
	w.log.Warn("source stalled", args...)
}

// cause is the wrapped source's own account of why it has no samples, if it keeps one.
func (w *Watch) cause() error {
	if c, ok := w.Source.(interface{ Err() error }); ok {
		return c.Err()
	}
	return nil
}

// Status is nil while samples flow; otherwise it says why they do not, wrapping ErrStalled
// during a stall.
func (w *Watch) Status() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	var why error
	switch {
	case w.stalled || (w.reading && now.Sub(w.readSince) >= w.stall):
		since := w.readSince
		if w.last.After(since) {
			since = w.last
		}
		why = fmt.Errorf("%w (%v without one)", ErrStalled, now.Sub(since).Round(100*time.Millisecond))
	case w.ended != nil && !w.reading:
		if errors.Is(w.ended, ErrClosed) {
			return fmt.Errorf("%s: closed", w.Info().Name)
		}
		return fmt.Errorf("%s: stream ended: %w", w.Info().Name, w.ended)
	case w.last.IsZero():
		why = errors.New("waiting for the first sample")
	default:
		return nil
	}
	if c := w.cause(); c != nil {
		return fmt.Errorf("%s: %w (%w)", w.Info().Name, why, c)
	}
	return fmt.Errorf("%s: %w", w.Info().Name, why)
}

// Stalls counts the stalls detected so far.
func (w *Watch) Stalls() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stalls
}

// Restarts counts how often the wrapped source closed and reopened its connection or
// device (0 for a source that does not restart itself).
func (w *Watch) Restarts() uint64 {
	if r, ok := w.Source.(interface{ Restarts() uint64 }); ok {
		return r.Restarts()
	}
	return 0
}

// Close stops the watch's timer and closes the wrapped source.
func (w *Watch) Close() error {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
	return w.Source.Close()
}
