package capture

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRing_FullRingDropsWithoutBlocking: with nobody reading, pushes beyond the ring's
// capacity return at once and are counted as dropped; what was kept reads back in order.
func TestRing_FullRingDropsWithoutBlocking(t *testing.T) {
	var st counters
	r := newRing(4, 512, 250e3, &st)
	now := time.Unix(0, 0)
	for i := range 10 {
		p := make([]byte, 512)
		for j := range p {
			p[j] = byte(i)
		}
		r.push(p, now) // must not block although only 4 buffers exist
	}
	if got := st.dropped.Load(); got != 6*256 {
		t.Fatalf("Dropped = %d, want 6 transfers of 256 samples", got)
	}
	buf := make([]complex64, 100)
	var seen []byte
	for range 4 * 3 { // 256 samples per transfer, 100 per read: 3 reads each
		n, err := r.read(context.Background(), buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range buf[:n] {
			b := byte(real(x)*127.5 + 127.5 + 0.5)
			if len(seen) == 0 || seen[len(seen)-1] != b {
				seen = append(seen, b)
			}
		}
	}
	if string(seen) != string([]byte{0, 1, 2, 3}) {
		t.Errorf("transfers read back %v, want the first four in order", seen)
	}
	st2 := st.snapshot()
	if st2.Delivered != 4*256 || st2.Overload != 256 {
		t.Errorf("Stats = %+v, want 1024 delivered and transfer 0's 256 rail samples as overload", st2)
	}
	// Buffers went back to the free list: a push now is kept, not dropped.
	r.push(make([]byte, 512), now)
	if got := st.dropped.Load(); got != 6*256 {
		t.Errorf("Dropped = %d after the ring drained, want unchanged", got)
	}
}

// TestRing_SlowConsumerNeverBlocksProducer runs a producer and a slow consumer concurrently:
// every sample is either delivered or dropped, never waited for.
func TestRing_SlowConsumerNeverBlocksProducer(t *testing.T) {
	var st counters
	r := newRing(2, 1024, 1e6, &st)
	const transfers = 2000
	go func() {
		p := make([]byte, 1024)
		for range transfers {
			r.push(p, time.Now())
		}
		r.end(nil)
	}()
	buf := make([]complex64, 37)
	for {
		_, err := r.read(context.Background(), buf, nil)
		if errors.Is(err, ErrDeviceLost) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s := st.snapshot()
	if s.Delivered+s.Dropped != transfers*512 {
		t.Errorf("delivered %d + dropped %d != %d samples pushed", s.Delivered, s.Dropped, transfers*512)
	}
}

func TestRing_ReadStops(t *testing.T) {
	var st counters
	r := newRing(2, 512, 1e6, &st)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.read(ctx, make([]complex64, 8), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("read with cancelled ctx = %v", err)
	}
	done := make(chan struct{})
	close(done)
	if _, err := r.read(context.Background(), make([]complex64, 8), done); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close = %v, want ErrClosed", err)
	}
	cause := errors.New("usb gone")
	r.end(cause)
	if _, err := r.read(context.Background(), make([]complex64, 8), nil); !errors.Is(err, cause) {
		t.Errorf("read after end = %v, want the producer's error", err)
	}
}

func TestNearestGain(t *testing.T) {
	r820t := []int{0, 9, 14, 27, 37, 77, 87, 125, 144, 157, 166, 197, 207, 229, 254, 280, 297, 328, 338, 364, 372, 386, 402, 421, 434, 439, 445, 480, 496}
	for want, got := range map[float64]int{49.6: 496, 100: 496, -5: 0, 40: 402, 43.6: 434, 1.15: 9, 30: 297} {
		if g := nearestGain(r820t, want); g != got {
			t.Errorf("nearestGain(%v dB) = %d, want %d", want, g, got)
		}
	}
}
