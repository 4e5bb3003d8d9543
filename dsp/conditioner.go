package dsp

import (
	"fmt"
	"math"
	"slices"
)

// maxRatioTerm bounds L and M of the resampling ratio: the prototype filter has
// 32·max(L,M)+1 taps.
const maxRatioTerm = 4096

// Resampling filter design, after scipy.signal.resample_poly: a Kaiser-windowed sinc cut off
// at the lower of the two Nyquist rates, half-length filterHalfZeros zero crossings of the
// lower rate, Kaiser β = filterBeta (about 80 dB stopband; the transition band is about
// ±16 % of the output Nyquist rate around it, so keep signals of interest within ±0.8·fs/2).
const (
	filterHalfZeros = 16
	filterBeta      = 8.0
)

// Conditioner shifts IQ at the capture rate to the contract's baseband and resamples it to the
// contract's rate. It keeps state between calls, so consecutive chunks of a stream give the
// same output as one call on the whole stream. It is not safe for concurrent use.
//
// Output sample m corresponds to capture sample m·M/L exactly (the filter's delay is
// compensated), so the first output appears after about 16·max(L,M)/L input samples and the
// last as many input samples of a finite stream stay inside the filter until Flush.
type Conditioner struct {
	up, down int
	// frequency shift: multiply by e^{-2πi·cycles}, cycles advancing by dcycles per sample
	shift   bool
	cycles  float64
	dcycles float64
	// polyphase resampler
	taps []float32 // phase p's k taps at [p·k, (p+1)·k): h[p], h[p+L], h[p+2L], … reversed
	k    int
	buf  []complex64 // k-1 samples of history, then the current chunk
	rel  int         // upsampled index of the next output, relative to the chunk's first sample
	// in and out count the stream's input and output samples, for Flush.
	in, out int64
}

// NewConditioner shifts by p.ShiftHz and resamples from captureRateHz to p.SampleRateHz
// (rational L/M with an anti-alias FIR; identity when equal). Streaming: keeps filter state
// across calls. Errors when the ratio cannot be met (irrational, or L or M above 4096) name
// the field.
func NewConditioner(p Params, captureRateHz float64) (*Conditioner, error) {
	if !finite(captureRateHz) || captureRateHz <= 0 {
		return nil, &FieldError{Field: "capture rate", Msg: fmt.Sprintf("must be a finite rate > 0 Hz, got %g", captureRateHz), Err: ErrInvalidParams}
	}
	if !finite(p.SampleRateHz) || p.SampleRateHz <= 0 {
		return nil, fieldErr("sample_rate_hz", "must be a finite rate > 0 Hz, got %g", p.SampleRateHz)
	}
	if !finite(p.ShiftHz) || math.Abs(p.ShiftHz) > captureRateHz/2 {
		return nil, fieldErr("shift_hz", "%g Hz is outside the capture band ±%g Hz", p.ShiftHz, captureRateHz/2)
	}
	up, down, ok := rationalRatio(p.SampleRateHz, captureRateHz, maxRatioTerm)
	if !ok {
		return nil, &FieldError{Field: "sample_rate_hz", Err: ErrRatio, Msg: fmt.Sprintf(
			"%g Hz cannot be reached from the capture rate %g Hz by a rational factor L/M with L, M <= %d",
			p.SampleRateHz, captureRateHz, maxRatioTerm)}
	}
	c := &Conditioner{up: up, down: down, shift: p.ShiftHz != 0, dcycles: p.ShiftHz / captureRateHz}
	if up != 1 || down != 1 {
		c.design()
	}
	return c, nil
}

// Ratio returns L, M (output rate = capture rate × L / M), so the caller can map window
// offsets back to capture sample offsets (capture offset = output offset × M / L).
func (c *Conditioner) Ratio() (up, down int) { return c.up, c.down }

// rationalRatio finds L/M = num/den with L, M <= limit. Integer rates (the usual case) are
// reduced exactly; others by continued fractions, accepted within 1e-9 relative.
func rationalRatio(num, den float64, limit int) (up, down int, ok bool) {
	if num == math.Round(num) && den == math.Round(den) && num < 1<<53 && den < 1<<53 {
		a, b := int64(num), int64(den)
		g := gcd(a, b)
		a, b = a/g, b/g
		return int(a), int(b), a <= int64(limit) && b <= int64(limit)
	}
	x := num / den
	// Continued-fraction convergents h/k of x.
	h0, h1, k0, k1 := int64(0), int64(1), int64(1), int64(0)
	r := x
	for range 64 {
		a := math.Floor(r)
		if a > float64(4*limit) {
			break
		}
		h0, h1 = h1, int64(a)*h1+h0
		k0, k1 = k1, int64(a)*k1+k0
		if h1 > int64(limit) || k1 > int64(limit) {
			break
		}
		if math.Abs(float64(h1)/float64(k1)-x) <= 1e-9*x {
			return int(h1), int(k1), true
		}
		if r-a == 0 {
			break
		}
		r = 1 / (r - a)
	}
	return 0, 0, false
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// design builds the polyphase filter for L/M and primes the state.
func (c *Conditioner) design() {
	L, M := c.up, c.down
	d := max(L, M)
	half := filterHalfZeros * d
	n := 2*half + 1
	fc := 0.5 / float64(d) // cutoff in cycles per upsampled sample
	h := make([]float64, n)
	var sum float64
	for i := range h {
		x := float64(i - half)
		s := 2 * fc
		if x != 0 {
			s = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		h[i] = s * kaiser(i, n, filterBeta)
		sum += h[i]
	}
	gain := float64(L) / sum // unit DC gain after zero-stuffing by L
	c.k = (n + L - 1) / L
	c.taps = make([]float32, L*c.k)
	for p := range L {
		t := c.taps[p*c.k : (p+1)*c.k]
		for j := range c.k {
			if idx := p + j*L; idx < n {
				t[c.k-1-j] = float32(h[idx] * gain)
			}
		}
	}
	c.buf = make([]complex64, c.k-1)
	c.reset()
}

// reset returns the filter to the start of a stream: zeros before it, and the delay
// compensation that centres output 0 on input 0.
func (c *Conditioner) reset() {
	c.cycles, c.in, c.out = 0, 0, 0
	if c.k == 0 {
		return
	}
	c.buf = c.buf[:c.k-1]
	clear(c.buf)
	c.rel = filterHalfZeros * max(c.up, c.down)
}

// kaiser returns the i-th of n points of a Kaiser window with parameter beta.
func kaiser(i, n int, beta float64) float64 {
	r := 2*float64(i)/float64(n-1) - 1
	return besselI0(beta*math.Sqrt(max(0, 1-r*r))) / besselI0(beta)
}

// besselI0 is the modified Bessel function of the first kind, order 0 (power series).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 500; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// Process appends the conditioned samples for in to dst and returns it.
func (c *Conditioner) Process(dst, in []complex64) []complex64 {
	start := len(dst)
	dst = c.process(dst, in)
	c.in += int64(len(in))
	c.out += int64(len(dst) - start)
	return dst
}

// Covered is how many output samples a stream of n input samples has: those whose position
// m·M/L lies before the end of the input, ceil(n·L/M).
func (c *Conditioner) Covered(n int64) int64 {
	L, M := int64(c.up), int64(c.down)
	return (n*L + M - 1) / M
}

// Flush ends a finite stream: it appends the outputs still inside the filter, up to
// Covered(samples processed) in all, and resets the Conditioner for a new stream. Without it
// the last ~16·max(L,M)/L input samples of a recording would never come out.
func (c *Conditioner) Flush(dst []complex64) []complex64 {
	if c.up != 1 || c.down != 1 {
		want := c.Covered(c.in) - c.out
		if want > 0 {
			// The output due at upsampled position r needs inputs up to (r+half)/L; for the
			// last one that is at most half/L + 1 samples past the end, so this many zeros
			// bring out every covered output.
			start := len(dst)
			zeros := make([]complex64, filterHalfZeros*max(c.up, c.down)/c.up+2)
			dst = c.process(dst, zeros)
			dst = dst[:start+int(min(want, int64(len(dst)-start)))]
		}
	}
	c.reset()
	return dst
}

func (c *Conditioner) process(dst, in []complex64) []complex64 {
	if c.up == 1 && c.down == 1 {
		start := len(dst)
		dst = append(dst, in...)
		if c.shift {
			c.mix(dst[start:])
		}
		return dst
	}
	hist := c.k - 1
	c.buf = append(c.buf[:hist], in...)
	if c.shift {
		c.mix(c.buf[hist:])
	}
	n := len(in)
	L, M := c.up, c.down
	// Outputs are due at upsampled positions rel, rel+M, … below n·L; for each, the k inputs
	// x[i-k+1 .. i], i = rel/L, sit at buf[i .. i+k-1].
	if due := n*L - c.rel; due > 0 {
		dst = slices.Grow(dst, (due+M-1)/M)
		var rel int
		dst, rel = polyphase(dst, c.buf, c.taps, c.k, L, M, c.rel, n)
		c.rel = rel
	}
	c.rel -= n * L
	copy(c.buf, c.buf[len(c.buf)-hist:])
	c.buf = c.buf[:hist]
	return dst
}

// mix multiplies x by the shift oscillator in place, continuing its phase.
func (c *Conditioner) mix(x []complex64) {
	const block = 1024 // recompute the phasor exactly every block so errors cannot grow
	for len(x) > 0 {
		b := x[:min(block, len(x))]
		s, co := math.Sincos(-2 * math.Pi * c.cycles)
		ph := complex(co, s)
		s, co = math.Sincos(-2 * math.Pi * c.dcycles)
		step := complex(co, s)
		for i, v := range b {
			b[i] = complex64(complex128(v) * ph)
			ph *= step
		}
		c.cycles = math.Mod(c.cycles+float64(len(b))*c.dcycles, 1)
		x = x[len(b):]
	}
}
