package dsp

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// fftSizes covers powers of two and awkward composites between 64 and 8192.
var fftSizes = []int{64, 96, 100, 128, 255, 256, 512, 1000, 1024, 2048, 3000, 4096, 6000, 8192}

// gonumFFT is the pure-Go reference: complex128, same sign convention as FFTW_FORWARD.
func gonumFFT(x []complex64) []complex128 {
	in := make([]complex128, len(x))
	for i, v := range x {
		in[i] = complex128(v)
	}
	return fourier.NewCmplxFFT(len(x)).Coefficients(nil, in)
}

// relErr is max|a−b| / max|b|, the error relative to the transform's scale.
func relErr(a []complex64, b []complex128) float64 {
	var num, den float64
	for i := range b {
		num = max(num, cmplx.Abs(complex128(a[i])-b[i]))
		den = max(den, cmplx.Abs(b[i]))
	}
	return num / den
}

func randomSignal(r *rand.Rand, n int) []complex64 {
	x := make([]complex64, n)
	for i := range x {
		x[i] = complex(float32(r.NormFloat64()), float32(r.NormFloat64()))
	}
	return x
}

// Ensure that FFTW (float32) agrees with gonum (float64) within 1e-5 relative.
func TestFFTW_MatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range fftSizes {
		f, err := newFFT(n, false)
		if err != nil {
			t.Fatal(err)
		}
		for trial := range 3 {
			x := randomSignal(r, n)
			copy(f.in, x)
			f.exec()
			want := gonumFFT(x)
			if e := relErr(f.out, want); e > 1e-5 || math.IsNaN(e) {
				t.Errorf("n=%d trial %d: relative error %.3g > 1e-5", n, trial, e)
			}
		}
	}
}

// Ensure that a known tone lands in its bin with the expected amplitude (guards the sign
// convention the mel and offset code rely on).
func TestFFTW_ToneBin(t *testing.T) {
	const n, bin = 256, 37
	f, err := newFFT(n, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.in {
		f.in[i] = complex64(cmplx.Exp(complex(0, 2*math.Pi*bin*float64(i)/n)))
	}
	f.exec()
	for k, v := range f.out {
		want := 0.0
		if k == bin {
			want = n
		}
		if math.Abs(cmplx.Abs(complex128(v))-want) > 1e-3 {
			t.Fatalf("bin %d: |X| = %g, want %g", k, cmplx.Abs(complex128(v)), want)
		}
	}
}

// Ensure that planning and executing from many goroutines at once is safe and exact.
func TestFFTW_Concurrent(t *testing.T) {
	sizes := []int{128, 384, 640, 1024, 1536}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range 10 {
				n := sizes[(g+i)%len(sizes)]
				f, err := newFFT(n, false)
				if err != nil {
					errs <- err.Error()
					return
				}
				x := randomSignal(r, n)
				copy(f.in, x)
				f.exec()
				if e := relErr(f.out, gonumFFT(x)); e > 1e-5 {
					errs <- "concurrent transform disagrees with gonum"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Ensure that the double-precision transform (stft.precision "float64") matches gonum to
// double precision.
func TestFFTW_DoubleMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{64, 100, 512, 2048, 6000} {
		f, err := newFFT(n, true)
		if err != nil {
			t.Fatal(err)
		}
		x := randomSignal(r, n)
		for i, v := range x {
			f.in64[i] = complex128(v)
		}
		f.exec()
		want := gonumFFT(x)
		var num, den float64
		for i := range want {
			num = max(num, cmplx.Abs(f.out64[i]-want[i]))
			den = max(den, cmplx.Abs(want[i]))
		}
		if num/den > 1e-12 {
			t.Errorf("n=%d: relative error %.3g > 1e-12", n, num/den)
		}
	}
}

// Ensure that FFT buffers freed by the garbage collector's cleanups leave the rest working
// (no double free, no use after free).
func TestFFTW_Cleanup(t *testing.T) {
	for range 3 {
		for range 50 {
			if _, err := NewFrontend(validParams()); err != nil {
				t.Fatal(err)
			}
			if _, err := newFFT(512, true); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
	}
	f, dst := mustFrontend(t, validParams())
	if _, err := f.Features(synthetic(4096, 250000, synthFull), dst); err != nil {
		t.Fatal(err)
	}
}
