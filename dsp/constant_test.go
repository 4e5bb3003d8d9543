package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Ensure frames of one repeated value (a zero-padded window) skip the FFT yet give the
// features and measure the FFT gives.
func TestConstantFramesMatchFFT(t *testing.T) {
	p := Params{SampleRateHz: 250000, WindowSamples: 16384, RemoveDC: true, Input: "complex",
		STFT:       STFT{NFFT: 512, Hop: 256, Window: "hann", Boundary: "none", Scale: "n", Spectrum: "power", Bins: "centered"},
		Filterbank: Filterbank{Kind: "linear", Bins: 64, FMinHz: -125000, FMaxHz: 125000},
		Log:        Log{Kind: "db", Epsilon: 1e-12}, Frames: 63, FrameFit: "start"}
	fast, err := NewFrontend(p)
	if err != nil {
		t.Fatal(err)
	}
	slow, _ := NewFrontend(p)
	slow.winPow = nil
	rng := rand.New(rand.NewPCG(4, 2))
	w := make([]complex64, p.WindowSamples)
	for i := range 2048 { // a short burst, then zero padding as the predict API sends
		ph := 2 * math.Pi * -15625 * float64(i) / 250000
		w[i] = complex(float32(0.3*math.Cos(ph)+rng.NormFloat64()*0.02), float32(0.3*math.Sin(ph)+rng.NormFloat64()*0.02))
	}
	a, b := make([]float32, 64*63), make([]float32, 64*63)
	ma, err := fast.Features(w, a)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := slow.Features(w, b)
	for i := range a {
		if d := math.Abs(float64(a[i] - b[i])); d > 1e-3 {
			t.Fatalf("feature %d: shortcut %g, FFT %g", i, a[i], b[i])
		}
	}
	if math.Abs(ma.SNRDB-mb.SNRDB) > 1e-3 || ma.OffsetHz != mb.OffsetHz {
		t.Errorf("measure: shortcut %+v, FFT %+v", ma, mb)
	}
}
