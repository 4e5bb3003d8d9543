package dsp

import "math"

// makeWindow returns the n-point window kind. symmetric selects the form with w[0] = w[n-1]
// (numpy.hanning and friends, for filter design); otherwise the periodic, DFT-even form
// (scipy.signal.get_window, what spectral analysis wants).
func makeWindow(kind string, n int, symmetric bool) []float64 {
	w := make([]float64, n)
	if n == 1 {
		w[0] = 1
		return w
	}
	den := float64(n)
	if symmetric {
		den = float64(n - 1)
	}
	for i := range w {
		x := 2 * math.Pi * float64(i) / den
		var v float64
		switch kind {
		case "hann":
			v = 0.5 - 0.5*math.Cos(x)
		case "hamming":
			v = 0.54 - 0.46*math.Cos(x)
		case "blackman":
			v = 0.42 - 0.5*math.Cos(x) + 0.08*math.Cos(2*x)
		default: // rect
			v = 1
		}
		w[i] = v
	}
	return w
}
