package dsp

import (
	"math"
	"math/cmplx"
	"testing"
)

func tone(n int, fs, hz, amp float64) []complex64 {
	x := make([]complex64, n)
	for i := range x {
		s, c := math.Sincos(2 * math.Pi * hz * float64(i) / fs)
		x[i] = complex(float32(amp*c), float32(amp*s))
	}
	return x
}

// toneAmplitude returns |mean(x·e^{-j2πf t})| over the middle half of x, which is the
// amplitude of a tone at hz (and ~0 for anything far from it).
func toneAmplitude(x []complex64, fs, hz float64) float64 {
	lo, hi := len(x)/4, 3*len(x)/4
	var acc complex128
	for i := lo; i < hi; i++ {
		s, c := math.Sincos(-2 * math.Pi * hz * float64(i) / fs)
		acc += complex128(x[i]) * complex(c, s)
	}
	return cmplx.Abs(acc) / float64(hi-lo)
}

// Ensure that 2.4 MS/s → 250 kS/s keeps an in-band tone at unit gain and suppresses one
// that would alias.
func TestConditioner_Decimate(t *testing.T) {
	p := Params{SampleRateHz: 250000}
	c, err := NewConditioner(p, 2.4e6)
	if err != nil {
		t.Fatal(err)
	}
	if up, down := c.Ratio(); up != 5 || down != 48 {
		t.Fatalf("Ratio() = %d/%d, want 5/48", up, down)
	}
	const n = 480000
	in := tone(n, 2.4e6, 50000, 0.5)
	out := c.Process(nil, in)
	if want := n * 5 / 48; abs(len(out)-want) > 20 {
		t.Fatalf("%d outputs, want about %d", len(out), want)
	}
	if a := toneAmplitude(out, 250000, 50000); math.Abs(a-0.5) > 0.5*0.01 {
		t.Errorf("in-band tone amplitude %.4f, want 0.5 ±1%%", a)
	}
	// 300 kHz is outside the new ±125 kHz band; it would alias to +50 kHz.
	c2, _ := NewConditioner(p, 2.4e6)
	out = c2.Process(nil, tone(n, 2.4e6, 300000, 0.5))
	if a := toneAmplitude(out, 250000, 50000); a > 0.5*1e-3 {
		t.Errorf("aliased tone amplitude %.2g, want < 60 dB below 0.5", a)
	}
}

// Ensure that upsampling works too (the ratio inverted).
func TestConditioner_Interpolate(t *testing.T) {
	c, err := NewConditioner(Params{SampleRateHz: 192000}, 64000)
	if err != nil {
		t.Fatal(err)
	}
	if up, down := c.Ratio(); up != 3 || down != 1 {
		t.Fatalf("Ratio() = %d/%d, want 3/1", up, down)
	}
	out := c.Process(nil, tone(64000, 64000, 10000, 0.25))
	if a := toneAmplitude(out, 192000, 10000); math.Abs(a-0.25) > 0.25*0.01 {
		t.Errorf("tone amplitude %.4f, want 0.25 ±1%%", a)
	}
}

// Ensure that output sample m lines up with capture sample m·M/L (the filter delay is
// compensated), so window offsets map back to capture offsets through Ratio.
func TestConditioner_Alignment(t *testing.T) {
	c, err := NewConditioner(Params{SampleRateHz: 192000}, 1.024e6)
	if err != nil {
		t.Fatal(err)
	}
	up, down := c.Ratio()
	in := make([]complex64, 1<<16)
	const impulseAt = 16 * 1000 // a multiple of M = 16
	in[impulseAt] = 1
	out := c.Process(nil, in)
	peak, at := 0.0, -1
	for i, v := range out {
		if a := cmplx.Abs(complex128(v)); a > peak {
			peak, at = a, i
		}
	}
	if want := impulseAt * up / down; at != want {
		t.Errorf("impulse at capture sample %d comes out at %d, want %d", impulseAt, at, want)
	}
}

// Ensure that feeding a stream in odd-sized chunks gives exactly the one-shot result.
func TestConditioner_Streaming(t *testing.T) {
	p := Params{SampleRateHz: 250000, ShiftHz: -123456}
	x := synthetic(200000, 2.4e6, synthFull)
	whole, _ := NewConditioner(p, 2.4e6)
	want := whole.Process(nil, x)
	chunked, _ := NewConditioner(p, 2.4e6)
	var got []complex64
	for i, step := 0, 1; i < len(x); step = step*3%7919 + 1 {
		j := min(len(x), i+step)
		got = chunked.Process(got, x[i:j])
		i = j
	}
	if len(got) != len(want) {
		t.Fatalf("chunked gave %d samples, one-shot %d", len(got), len(want))
	}
	for i := range want {
		if cmplx.Abs(complex128(got[i]-want[i])) > 1e-6 {
			t.Fatalf("sample %d: chunked %v, one-shot %v", i, got[i], want[i])
		}
	}
}

// Ensure that ShiftHz moves the channel of interest to 0 Hz, with and without resampling,
// and keeps phase continuous across calls.
func TestConditioner_Shift(t *testing.T) {
	for _, capture := range []float64{250000, 1e6} {
		c, err := NewConditioner(Params{SampleRateHz: 250000, ShiftHz: 60000}, capture)
		if err != nil {
			t.Fatal(err)
		}
		in := tone(100000, capture, 60000, 0.3)
		out := c.Process(nil, in[:33333])
		out = c.Process(out, in[33333:])
		if a := toneAmplitude(out, 250000, 0); math.Abs(a-0.3) > 0.003 {
			t.Errorf("capture %g: tone at +60 kHz after shift has %.4f at 0 Hz, want 0.3", capture, a)
		}
		if a := toneAmplitude(out, 250000, 60000); a > 0.003 {
			t.Errorf("capture %g: %.4f left at +60 kHz", capture, a)
		}
	}
}

// Ensure that equal rates with no shift are the identity.
func TestConditioner_Identity(t *testing.T) {
	c, err := NewConditioner(Params{SampleRateHz: 250000}, 250000)
	if err != nil {
		t.Fatal(err)
	}
	x := synthetic(1000, 250000, synthFull)
	out := c.Process(make([]complex64, 0, 1000), x)
	for i := range x {
		if out[i] != x[i] {
			t.Fatalf("sample %d changed: %v → %v", i, x[i], out[i])
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
