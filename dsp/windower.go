package dsp

// Window is one window of conditioned samples, as a Windower hands it out.
type Window struct {
	// Samples holds Params.WindowSamples samples at the contract's rate. It is valid only
	// until the emit callback returns.
	Samples []complex64
	// Index is the window's position in its stream: window k starts at conditioned sample
	// k·WindowSamples.
	Index uint64
	// Valid is how many samples, from the start, come from the stream; the rest are zeros
	// that pad the last window of a finite stream.
	Valid int
}

// Padded is how many zeros pad the window.
func (w Window) Padded() int { return len(w.Samples) - w.Valid }

// Windower conditions a stream (shift and resampling to the contract's rate, see
// Conditioner) and cuts it into consecutive, non-overlapping windows of p.WindowSamples:
// window k starts at conditioned sample k·W, which is capture sample k·W·M/L. It is the one
// place where a stream becomes windows, for recordings, radios and the predict API alike.
// Flush ends a finite stream: the resampler's last samples come out and the last partial
// window is zero-padded to a whole one when it holds at least the minimum tail. A Windower is
// not safe for concurrent use.
type Windower struct {
	cond    *Conditioner
	p       Params
	rateHz  float64
	w       int
	minTail int
	pending []complex64
	next    uint64
	// Accounting, in conditioned samples: analysed went into windows, padded is the zeros
	// added, dropped the tail too short to pad (Flush).
	analysed, padded, dropped int64
}

// NewWindower prepares windows of p.WindowSamples from a stream at captureRateHz. At Flush a
// partial window is padded and handed out when it holds at least minTailSamples samples
// (at least 1); a shorter one is dropped and counted (Dropped).
func NewWindower(p Params, captureRateHz float64, minTailSamples int) (*Windower, error) {
	if p.WindowSamples <= 0 {
		return nil, fieldErr("window_samples", "must be > 0, got %d", p.WindowSamples)
	}
	cond, err := NewConditioner(p, captureRateHz)
	if err != nil {
		return nil, err
	}
	return &Windower{cond: cond, p: p, rateHz: captureRateHz, w: p.WindowSamples, minTail: max(1, minTailSamples)}, nil
}

// Reset starts a new stream at captureRateHz, keeping the buffers (and the resampling
// filter when the rate is the one before).
func (wd *Windower) Reset(captureRateHz float64) error {
	if captureRateHz != wd.rateHz {
		cond, err := NewConditioner(wd.p, captureRateHz)
		if err != nil {
			return err
		}
		wd.cond, wd.rateHz = cond, captureRateHz
	} else {
		wd.cond.Flush(nil) // resets it; the few samples it would give are not wanted
	}
	wd.pending = wd.pending[:0]
	wd.next, wd.analysed, wd.padded, wd.dropped = 0, 0, 0, 0
	return nil
}

// Ratio returns L, M: window k starts at capture sample k·W·M/L.
func (wd *Windower) Ratio() (up, down int) { return wd.cond.Ratio() }

// CaptureOffset is the capture sample where window index starts (relative to the stream's
// first sample).
func (wd *Windower) CaptureOffset(index uint64) uint64 {
	up, down := wd.cond.Ratio()
	return index * uint64(wd.w) * uint64(down) / uint64(up)
}

// Write conditions in and calls emit for every window it completes, in order. An error from
// emit stops the cutting and is returned; the samples not yet handed out stay pending.
func (wd *Windower) Write(in []complex64, emit func(Window) error) error {
	wd.pending = wd.cond.Process(wd.pending, in)
	return wd.cut(emit)
}

func (wd *Windower) cut(emit func(Window) error) error {
	done := 0
	defer func() { wd.pending = wd.pending[:copy(wd.pending, wd.pending[done:])] }()
	for len(wd.pending)-done >= wd.w {
		if err := wd.emit(wd.pending[done:done+wd.w], wd.w, emit); err != nil {
			return err
		}
		done += wd.w
	}
	return nil
}

func (wd *Windower) emit(samples []complex64, valid int, emit func(Window) error) error {
	if err := emit(Window{Samples: samples, Index: wd.next, Valid: valid}); err != nil {
		return err
	}
	wd.next++
	wd.analysed += int64(valid)
	wd.padded += int64(len(samples) - valid)
	return nil
}

// Flush ends the stream: it drains the resampler, hands out the remaining whole windows,
// then the partial one zero-padded if it holds at least the minimum tail. The counters keep
// their values for the caller; Reset starts the next stream.
func (wd *Windower) Flush(emit func(Window) error) error {
	wd.pending = wd.cond.Flush(wd.pending)
	if err := wd.cut(emit); err != nil {
		return err
	}
	if n := len(wd.pending); n > 0 {
		if n < wd.minTail {
			wd.dropped += int64(n)
		} else {
			if cap(wd.pending) < wd.w {
				grown := make([]complex64, n, wd.w)
				copy(grown, wd.pending)
				wd.pending = grown
			}
			x := wd.pending[:wd.w]
			clear(x[n:])
			if err := wd.emit(x, n, emit); err != nil {
				return err
			}
		}
	}
	wd.pending = wd.pending[:0]
	return nil
}

// Pending is how many conditioned samples wait for a whole window.
func (wd *Windower) Pending() int { return len(wd.pending) }

// Windows is how many windows were handed out since the stream started.
func (wd *Windower) Windows() uint64 { return wd.next }

// Analysed is how many conditioned samples from the stream went into windows.
func (wd *Windower) Analysed() int64 { return wd.analysed }

// Padded is how many zeros padded the last window.
func (wd *Windower) Padded() int64 { return wd.padded }

// Dropped is how many conditioned samples Flush left out, being fewer than the minimum tail.
func (wd *Windower) Dropped() int64 { return wd.dropped }
