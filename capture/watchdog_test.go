package capture

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/backoff"
)

// scriptedSource delivers `before` reads of 10 samples, then stalls (blocks until ctx ends or
// it is closed), or, with before < 0, delivers forever.
type scriptedSource struct {
	info     Info
	before   int
	reads    int
	blocked  chan struct{} // closed when a Read starts stalling
	stalled  chan struct{} // closed when a stalled Read gives up
	closed   chan struct{}
	isClosed atomic.Bool
	stats    counters
}

func newScripted(before int) *scriptedSource {
	return &scriptedSource{
		info:    Info{Name: "scripted", SampleRateHz: 1e6, Live: true, Format: FormatCU8},
		before:  before,
		blocked: make(chan struct{}),
		stalled: make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

func (f *scriptedSource) Read(ctx context.Context, buf []complex64) (int, error) {
	if f.before < 0 || f.reads < f.before {
		f.reads++
		n := min(10, len(buf))
		f.stats.delivered.Add(uint64(n))
		return n, nil
	}
	defer close(f.stalled)
	close(f.blocked)
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-f.closed:
		return 0, ErrClosed
	}
}
func (f *scriptedSource) Info() Info   { return f.info }
func (f *scriptedSource) Stats() Stats { return f.stats.snapshot() }
func (f *scriptedSource) Close() error {
	if !f.isClosed.Swap(true) {
		close(f.closed)
	}
	return nil
}

// TestSupervise_StallMakesUnhealthyThenRecovers stalls a source on purpose: Healthy must turn
// false once the stall is detected and stay false while the replacement opens, then turn
// true when samples flow again, with the gap counted as lost.
func TestSupervise_StallMakesUnhealthyThenRecovers(t *testing.T) {
	const stall = 300 * time.Millisecond
	first, second := newScripted(1), newScripted(-1)
	opening, release := make(chan struct{}), make(chan struct{})
	var opens atomic.Int32
	open := func(ctx context.Context) (Source, error) {
		if opens.Add(1) == 1 {
			return first, nil
		}
		close(opening)
		select {
		case <-release:
			return second, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	sup := Supervise(open, SuperviseConfig{StallTimeout: stall, Retry: backoff.Policy{Min: time.Millisecond, Max: 10 * time.Millisecond},
		Info: Info{Name: "scripted", SampleRateHz: 1e6, Live: true}}, nil)
	defer sup.Close()
	if sup.Healthy() {
		t.Fatal("Healthy before any sample")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	reads := make(chan int, 1)
	go func() {
		buf := make([]complex64, 64)
		for {
			n, err := sup.Read(ctx, buf)
			if err != nil {
				close(reads)
				return
			}
			select {
			case reads <- n:
			case <-ctx.Done():
				return
			}
		}
	}()

	if n := <-reads; n != 10 {
		t.Fatalf("first read = %d samples", n)
	}
	if !sup.Healthy() {
		t.Error("not Healthy right after a sample")
	}
	// The first source now stalls; the supervisor must give up on it and reopen.
	select {
	case <-first.stalled:
	case <-ctx.Done():
		t.Fatal("stall not detected")
	}
	select {
	case <-opening:
	case <-ctx.Done():
		t.Fatal("no reopen after the stall")
	}
	if sup.Healthy() {
		t.Error("Healthy while the stalled source is being replaced")
	}
	if !first.isClosed.Load() {
		t.Error("the stalled source was not closed")
	}
	if r := sup.Restarts(); r != 1 {
		t.Errorf("Restarts = %d, want 1", r)
	}
	if !errors.Is(sup.Err(), ErrStalled) {
		t.Errorf("Err = %v, want ErrStalled", sup.Err())
	}
	close(release)
	if n, ok := <-reads; !ok || n != 10 {
		t.Fatalf("no samples after recovery (n=%d, open=%v)", n, ok)
	}
	if !sup.Healthy() {
		t.Error("not Healthy after recovery")
	}
	if sup.Err() != nil {
		t.Errorf("Err = %v after recovery, want nil", sup.Err())
	}
	st := sup.Stats()
	if st.Delivered < 20 {
		t.Errorf("Delivered = %d, want both sources' samples summed", st.Delivered)
	}
	if min := uint64(stall.Seconds() * 1e6); st.Lost < min {
		t.Errorf("Lost = %d, want at least the stall's %d samples", st.Lost, min)
	}
	if sup.LastSample().IsZero() {
		t.Error("LastSample is zero after samples")
	}
}

// TestSupervise_OpenFailuresRetry: with no device, Read keeps retrying with backoff, Err
// says why, Healthy is false, and ctx ends it.
func TestSupervise_OpenFailuresRetry(t *testing.T) {
	var attempts atomic.Int32
	open := func(ctx context.Context) (Source, error) {
		attempts.Add(1)
		return nil, ErrNoDevice
	}
	sup := Supervise(open, SuperviseConfig{Retry: backoff.Policy{Min: time.Millisecond, Max: 2 * time.Millisecond}}, nil)
	defer sup.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := sup.Read(ctx, make([]complex64, 8)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %v, want DeadlineExceeded", err)
	}
	if attempts.Load() < 2 {
		t.Errorf("open tried %d times, want retries", attempts.Load())
	}
	if !errors.Is(sup.Err(), ErrNoDevice) || sup.Healthy() {
		t.Errorf("Err = %v, Healthy = %v; want ErrNoDevice and not healthy", sup.Err(), sup.Healthy())
	}
}

// TestSupervise_FileEOFPassesThrough: a supervised recording still ends with io.EOF.
func TestSupervise_FileEOFPassesThrough(t *testing.T) {
	p := writeFile(t, "s_250k.cu8", make([]byte, 200))
	sup := Supervise(func(ctx context.Context) (Source, error) { return OpenFile(p, FileOptions{}) }, SuperviseConfig{}, nil)
	defer sup.Close()
	got := readAll(t, sup)
	if len(got) != 100 || sup.Stats().Delivered != 100 || sup.Info().SampleRateHz != 250e3 {
		t.Errorf("read %d samples, stats %+v, info %+v", len(got), sup.Stats(), sup.Info())
	}
	if _, err := sup.Read(context.Background(), make([]complex64, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("Read after the end = %v, want io.EOF", err)
	}
}

// TestSupervise_CloseUnblocksRead: Close during a blocked Read ends it with ErrClosed.
func TestSupervise_CloseUnblocksRead(t *testing.T) {
	src := newScripted(0)
	sup := Supervise(func(ctx context.Context) (Source, error) { return src, nil }, SuperviseConfig{StallTimeout: time.Hour}, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := sup.Read(context.Background(), make([]complex64, 8))
		errc <- err
	}()
	<-src.blocked
	sup.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Read = %v, want ErrClosed", err)
	}
}
