package dsp

import "math"

// Kinds of deterministic test signal; scripts/dsp_reference.py generates the same samples.
const (
	synthFull      = iota // OOK tone + chirp + noise
	synthNoiseOnly        // the noise alone
)

// synthetic returns n samples at fs of a deterministic test signal, computed in float64 and
// rounded to complex64 exactly as scripts/dsp_reference.py's synthetic() does:
//
//	x[i] = 0.5·ook(i)·e^{j2π·0.1·fs·t} + 0.2·e^{j2π(−0.3·fs·t + 0.3·fs²/n·t²)} + noise
//
// with t = i/fs, ook(i) = 1 for n/4 <= i < n/2 and (i/500) even, else 0, and noise I and Q
// uniform in ±0.05 from a 64-bit LCG (PCG's multiplier and increment).
func synthetic(n int, fs float64, kind int) []complex64 {
	state := uint64(0x853c49e6748fea9b)
	uniform := func() float64 {
		state = state*6364136223846793005 + 1442695040888963407
		return float64(state>>11) / (1 << 53)
	}
	x := make([]complex64, n)
	for i := range x {
		nr := (uniform() - 0.5) * 0.1
		ni := (uniform() - 0.5) * 0.1
		re, im := nr, ni
		if kind == synthFull {
			t := float64(i) / fs
			if i >= n/4 && i < n/2 && (i/500)%2 == 0 {
				s, c := math.Sincos(2 * math.Pi * 0.1 * fs * t)
				re += 0.5 * c
				im += 0.5 * s
			}
			s, c := math.Sincos(2 * math.Pi * (-0.3*fs*t + 0.3*fs*fs/float64(n)*t*t))
			re += 0.2 * c
			im += 0.2 * s
		}
		x[i] = complex(float32(re), float32(im))
	}
	return x
}
