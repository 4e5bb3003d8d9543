package capture

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
)

// gatedSource delivers 10 samples per Read while open, and blocks in Read while shut until
// it opens again or ctx ends: a radio that stalls without an error.
type gatedSource struct {
	mu    sync.Mutex
	open  chan struct{} // closed while samples flow
	stats counters
}

func newGated() *gatedSource {
	g := &gatedSource{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedSource) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedSource) resume() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

func (g *gatedSource) Read(ctx context.Context, buf []complex64) (int, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		n := min(10, len(buf))
		g.stats.delivered.Add(uint64(n))
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
func (g *gatedSource) Info() Info   { return Info{Name: "gated", SampleRateHz: 1e6, Live: true} }
func (g *gatedSource) Stats() Stats { return g.stats.snapshot() }
func (g *gatedSource) Close() error { return nil }

// Ensure Watch reports not-flowing before the first sample, a stall once a Read has waited
// the stall timeout (counted once however long it lasts), flowing again as soon as a Read
// returns samples, and no stall while the consumer simply does not read.
func TestWatch_StallDetectedAndCleared(t *testing.T) {
	const stall = 200 * time.Millisecond
	g := newGated()
	w := NewWatch(g, stall, nil)
	defer w.Close()
	if err := w.Status(); err == nil || !strings.Contains(err.Error(), "first sample") {
		t.Fatalf("Status before any Read = %v, want waiting for the first sample", err)
	}
	buf := make([]complex64, 64)
	ctx := context.Background()
	if n, err := w.Read(ctx, buf); n != 10 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if err := w.Status(); err != nil {
		t.Fatalf("Status after samples = %v", err)
	}
	// Not reading is not stalling: the consumer may be busy.
	time.Sleep(2 * stall) // let the stall timeout pass with no Read in progress
	if err := w.Status(); err != nil {
		t.Fatalf("Status with no Read in progress = %v, want nil", err)
	}

	g.shut()
	shut := time.Now()
	got := make(chan int, 1)
	go func() {
		n, _ := w.Read(ctx, buf)
		got <- n
	}()
	detected := testenv.Eventually(t, 20*stall, "stall detected", func() bool { return errors.Is(w.Status(), ErrStalled) })
	if d := detected.Sub(shut); d < stall-20*time.Millisecond {
		t.Errorf("stall reported %v after the source shut, before the %v timeout", d, stall)
	}
	testenv.Eventually(t, 20*stall, "stall counted", func() bool { return w.Stalls() == 1 })
	time.Sleep(2 * stall) // a long stall is still one stall
	if n := w.Stalls(); n != 1 {
		t.Errorf("Stalls = %d during one stall, want 1", n)
	}
	g.resume()
	if n := <-got; n != 10 {
		t.Fatalf("Read after resume = %d", n)
	}
	if err := w.Status(); err != nil {
		t.Errorf("Status once samples flow again = %v", err)
	}
	if n := w.Stalls(); n != 1 {
		t.Errorf("Stalls = %d, want 1", n)
	}
}

// Ensure a stream that ended says so rather than "stalled".
func TestWatch_EndedStream(t *testing.T) {
	path := writeFile(t, "g_433.92M_250k.cu8", make([]byte, 64))
	src, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatch(src, time.Second, nil)
	defer w.Close()
	buf := make([]complex64, 64)
	for {
		if _, err := w.Read(context.Background(), buf); err != nil {
			break
		}
	}
	if err := w.Status(); err == nil || !strings.Contains(err.Error(), "stream ended") {
		t.Errorf("Status after EOF = %v, want stream ended", err)
	}
}
