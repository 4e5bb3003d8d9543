package capture

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdall/edged/internal/backoff"
)

// SuperviseConfig configures a Supervisor.
type SuperviseConfig struct {
	// Info describes the stream before the first source opens (Info is valid from
	// construction on); afterwards the open source's Info is reported.
	Info Info
	// StallTimeout is how long one Read may wait without a sample before the source counts
	// as stalled and is closed and reopened (default 5 s). It also bounds how long Healthy
	// stays true after the last sample.
	StallTimeout time.Duration
	// Retry spaces reopening attempts; zero fields take DefaultRetry's. The first reopen
	// after a stall waits about Retry.Min, so a wedged dongle is not hammered; samples
	// reset it.
	Retry backoff.Policy
}

// Supervisor is a Source that keeps a live source running: it opens it on first Read,
// and when no sample arrives for StallTimeout (or Read fails) it closes it and reopens it with
// capped exponential backoff, counting the gap as lost samples. This covers the dongle that
// stalls without the process exiting (https://github.com/merbanan/rtl_433/issues/1662). Healthy and LastSample let the daemon
// report not-ready and stop feeding the systemd watchdog while samples do not flow.
type Supervisor struct {
	open func(ctx context.Context) (Source, error)
	cfg  SuperviseConfig
	log  *slog.Logger

	// Read's state.
	retry      *backoff.Backoff
	retryIn    time.Duration // wait before the next open
	gapPending bool

	mu       sync.Mutex
	cur      *supervised
	info     Info
	base     Stats // accounting of sources already closed, plus gaps
	lastErr  error
	restarts uint64

	lastSample atomic.Int64 // unix nanoseconds of the last delivered sample; 0 before any
	closed     atomic.Bool
	life       lifetime
}

// supervised is one opened source and whether it has been closed already (the stall timer
// closes it to unblock a Read that ignores ctx).
type supervised struct {
	src  Source
	once sync.Once
}

func (s *supervised) close() { s.once.Do(func() { s.src.Close() }) }

// Supervise wraps the source that open returns. open is called from Read, with Read's ctx,
// each time a (new) source is needed; it should return promptly with an error (for example
// ErrNoDevice) rather than retry itself.
func Supervise(open func(ctx context.Context) (Source, error), cfg SuperviseConfig, log *slog.Logger) *Supervisor {
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 5 * time.Second
	}
	cfg.Retry = retryPolicy(cfg.Retry)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{open: open, cfg: cfg, log: log, info: cfg.Info, retry: backoff.New(cfg.Retry), life: newLifetime()}
}

// Info describes the current source, or SuperviseConfig.Info before one opened.
func (s *Supervisor) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Stats sums the accounting of every source opened so far, plus the samples lost while
// restarting.
func (s *Supervisor) Stats() Stats {
	s.mu.Lock()
	st, cur := s.base, s.cur
	s.mu.Unlock()
	if cur != nil {
		c := cur.src.Stats()
		st.Delivered += c.Delivered
		st.Dropped += c.Dropped
		st.Lost += c.Lost
		st.Overload += c.Overload
	}
	return st
}

// Healthy reports whether samples are flowing: a source is open and delivered a sample within
// StallTimeout. It is false before the first sample.
func (s *Supervisor) Healthy() bool {
	last := s.lastSample.Load()
	if last == 0 || s.closed.Load() {
		return false
	}
	s.mu.Lock()
	open := s.cur != nil
	s.mu.Unlock()
	return open && time.Since(time.Unix(0, last)) < s.cfg.StallTimeout
}

// LastSample is when the last sample was delivered; zero before the first.
func (s *Supervisor) LastSample() time.Time {
	if ns := s.lastSample.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Restarts counts how many times a source was closed for stalling or failing.
func (s *Supervisor) Restarts() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// Err is the last open or read failure (nil once samples flow again), for a readiness
// message.
func (s *Supervisor) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Close closes the current source and makes Read return ErrClosed.
func (s *Supervisor) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.life.end()
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if cur != nil {
		cur.close()
	}
	return nil
}

// Read reads from the current source, opening or reopening it as needed. It returns samples,
// io.EOF from a finite source, ctx's error, ErrClosed, or an open failure that matches
// ErrBadConfig (a configuration fault, which waiting cannot fix); other failures (no device,
// a stall, a lost dongle) are retried, never returned.
func (s *Supervisor) Read(ctx context.Context, buf []complex64) (int, error) {
	for {
		if s.closed.Load() {
			return 0, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur == nil {
			var err error
			if cur, err = s.reopen(ctx); err != nil {
				if ctx.Err() != nil || s.closed.Load() {
					continue
				}
				s.setErr(err)
				if errors.Is(err, ErrBadConfig) {
					// The source refuses its configuration (a tuning the dongle does
					// not support): retrying would only repeat the refusal.
					return 0, err
				}
				s.retryIn = s.retry.Fail()
				s.log.Warn("capture source failed to open", "err", err, "attempt", s.retry.Failures(), "retry_in", s.retryIn)
				continue
			}
		}
		n, err := s.readOnce(ctx, cur, buf)
		if n > 0 {
			return n, nil
		}
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case s.closed.Load():
			return 0, ErrClosed
		case errors.Is(err, io.EOF):
			return 0, io.EOF
		}
		s.retire(cur, err)
	}
}

// reopen waits out the backoff and opens a source.
func (s *Supervisor) reopen(ctx context.Context) (*supervised, error) {
	if err := s.life.sleep(ctx, s.retryIn); err != nil {
		return nil, err
	}
	// Close must be able to abort a slow open too.
	octx, release := s.life.bind(ctx)
	defer release()
	src, err := s.open(octx)
	if err != nil {
		return nil, err
	}
	cur := &supervised{src: src}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		cur.close()
		return nil, ErrClosed
	}
	s.cur, s.info = cur, src.Info()
	s.mu.Unlock()
	s.log.Info("capture source opened", "source", s.info.Name)
	return cur, nil
}

// readOnce reads from cur with the stall timer armed.
func (s *Supervisor) readOnce(ctx context.Context, cur *supervised, buf []complex64) (int, error) {
	// The clock starts when we ask, not at the last sample: a consumer that was busy for a
	// while has not seen the source stall, and the source's buffered samples are still good.
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(s.cfg.StallTimeout, func() {
		cancel(ErrStalled)
		// A source that does not watch ctx is unblocked by Close, which the contract allows
		// concurrently with Read.
		cur.close()
	})
	n, err := cur.src.Read(rctx, buf)
	timer.Stop()
	if n > 0 {
		now := time.Now()
		if s.gapPending {
			s.gapPending = false
			if s.info.Live {
				gap := now.Sub(s.LastSample())
				s.mu.Lock()
				s.base.Lost += gapSamples(gap, s.info.SampleRateHz)
				s.mu.Unlock()
				s.log.Info("capture samples flowing again", "source", s.info.Name, "gap", gap)
			}
		}
		s.lastSample.Store(now.UnixNano())
		if s.retry.Failures() > 0 {
			s.retry.Reset()
			s.retryIn = 0
			s.setErr(nil)
		}
		return n, nil
	}
	if err != nil && context.Cause(rctx) == ErrStalled && ctx.Err() == nil {
		return 0, ErrStalled
	}
	return n, err
}

// retire closes a stalled or failed source and folds its accounting into the base.
func (s *Supervisor) retire(cur *supervised, err error) {
	cur.close()
	st := cur.src.Stats()
	s.mu.Lock()
	s.cur = nil
	s.base.Delivered += st.Delivered
	s.base.Dropped += st.Dropped
	s.base.Lost += st.Lost
	s.base.Overload += st.Overload
	s.restarts++
	s.lastErr = err
	s.mu.Unlock()
	s.retryIn = s.retry.Fail()
	s.gapPending = s.lastSample.Load() != 0
	s.log.Warn("capture source restarting", "source", s.info.Name, "err", err, "retry_in", s.retryIn)
}

func (s *Supervisor) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}
