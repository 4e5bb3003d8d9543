package capture

import (
	"context"
	"sync/atomic"
	"time"
)

// ring hands USB transfers from librtlsdr's callback thread to Read. push never blocks: when
// every buffer is waiting for the consumer, the transfer is counted as dropped and discarded,
// because a blocked callback stalls libusb and loses far more than one transfer.
//
// One goroutine pushes (the callback) and one reads; Stats may be read from anywhere.
type ring struct {
	free  chan []byte
	full  chan []byte
	stats *counters

	// Consumer side.
	cur []byte
	off int

	// Producer side.
	loss *lossClock
	rate float64

	// ended is closed when the producer stops for good; err says why.
	ended chan struct{}
	err   atomic.Value
}

// newRing makes a ring of n buffers of size bytes each.
func newRing(n, size int, rateHz float64, stats *counters) *ring {
	r := &ring{
		free:  make(chan []byte, n),
		full:  make(chan []byte, n),
		stats: stats,
		rate:  rateHz,
		ended: make(chan struct{}),
	}
	for range n {
		r.free <- make([]byte, size)
	}
	return r
}

// push copies one transfer in at time now, or drops it. It never blocks.
func (r *ring) push(p []byte, now time.Time) {
	samples := uint64(len(p) / 2)
	if r.loss == nil {
		r.loss = newLossClock(r.rate, now)
	}
	if lost := r.loss.observe(samples, now); lost > 0 {
		r.stats.lost.Add(lost)
	}
	select {
	case b := <-r.free:
		n := copy(b[:cap(b)], p)
		r.full <- b[:n&^1] // full has room for every buffer, so this never blocks
		if n < len(p) {
			r.stats.dropped.Add(uint64((len(p) - n) / 2))
		}
	default:
		r.stats.dropped.Add(samples)
	}
}

// end marks the producer finished with err (nil for a normal stop).
func (r *ring) end(err error) {
	if err != nil {
		r.err.Store(err)
	}
	close(r.ended)
}

// read converts buffered cu8 samples into buf, blocking until some are available, ctx ends,
// done closes or the producer ends (then ErrDeviceLost, or the producer's error).
func (r *ring) read(ctx context.Context, buf []complex64, done <-chan struct{}) (int, error) {
	if len(buf) == 0 {
		return 0, ctx.Err()
	}
	select {
	case <-done:
		return 0, ErrClosed
	default:
	}
	if r.cur == nil {
		select {
		case b := <-r.full:
			r.cur, r.off = b, 0
		default:
			select {
			case b := <-r.full:
				r.cur, r.off = b, 0
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-done:
				return 0, ErrClosed
			case <-r.ended:
				// Drain what the producer left before reporting the end.
				select {
				case b := <-r.full:
					r.cur, r.off = b, 0
				default:
					if err, _ := r.err.Load().(error); err != nil {
						return 0, err
					}
					return 0, ErrDeviceLost
				}
			}
		}
	}
	n, ov, _ := Convert(buf, r.cur[r.off:], FormatCU8)
	r.off += 2 * n
	if r.off >= len(r.cur) {
		r.free <- r.cur[:cap(r.cur)]
		r.cur = nil
	}
	r.stats.delivered.Add(uint64(n))
	r.stats.overload.Add(uint64(ov))
	return n, nil
}

// nearestGain picks the supported gain (tenths of a dB, as librtlsdr lists them) closest to
// wantDB; ties go to the lower gain, which is the safer choice against overload.
func nearestGain(gainsTenthDB []int, wantDB float64) int {
	want := wantDB * 10
	best := gainsTenthDB[0]
	for _, g := range gainsTenthDB[1:] {
		d, bd := abs(float64(g)-want), abs(float64(best)-want)
		if d < bd || (d == bd && g < best) {
			best = g
		}
	}
	return best
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
