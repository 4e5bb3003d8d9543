package dsp

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lfftw3f -lfftw3 -lm
#include <fftw3.h>

// edged_frame is one STFT frame in single precision, in one cgo call: window the n complex
// samples x (interleaved re, im) minus dc into in, transform into out, then for every bin add
// |X|² to acc and, when spec is not NULL, store |X|²·sc2 in spec. It returns Σ|X|². These
// loops are in C because gcc vectorises them and Go does not; the arithmetic is the same
// except that the order of the Σ|X|² additions is left to the vectoriser.
__attribute__((optimize("associative-math", "no-signed-zeros", "no-trapping-math")))
static float edged_frame(fftwf_plan plan, float *restrict in, float *restrict out,
		const float *restrict x, const float *restrict win2, int n, float dcr, float dci,
		float *restrict acc, float *restrict spec, float sc2) {
	if (dcr == 0 && dci == 0) {
		for (int i = 0; i < 2 * n; i++) in[i] = x[i] * win2[i];
	} else {
		for (int i = 0; i < 2 * n; i += 2) {
			in[i] = (x[i] - dcr) * win2[i];
			in[i + 1] = (x[i + 1] - dci) * win2[i + 1];
		}
	}
	fftwf_execute_dft(plan, (fftwf_complex *)in, (fftwf_complex *)out);
	float sum = 0;
	if (spec) {
		for (int k = 0; k < n; k++) {
			float p = out[2 * k] * out[2 * k] + out[2 * k + 1] * out[2 * k + 1];
			acc[k] += p;
			spec[k] = p * sc2;
			sum += p;
		}
	} else {
		for (int k = 0; k < n; k++) {
			float p = out[2 * k] * out[2 * k] + out[2 * k + 1] * out[2 * k + 1];
			acc[k] += p;
			sum += p;
		}
	}
	return sum;
}

// edged_polyphase runs the Conditioner's polyphase FIR: while the newest input sample an
// output needs (rel/L) is inside the chunk of n samples, it writes one output sample:
// Σ_j taps[rel%L][j]·buf[rel/L + j] over k taps (buf holds k−1 samples of history first),
// then advances rel by M. It returns the number of outputs written.
__attribute__((optimize("associative-math", "no-signed-zeros", "no-trapping-math")))
static int edged_polyphase(const float *restrict buf, const float *restrict taps, int k, int L,
		int M, long rel, int n, float *restrict out) {
	int m = 0;
	while (rel / L < n) {
		const float *t = taps + (rel % L) * (long)k;
		const float *x = buf + 2 * (rel / L);
		float re = 0, im = 0;
		for (int j = 0; j < k; j++) {
			re += t[j] * x[2 * j];
			im += t[j] * x[2 * j + 1];
		}
		out[2 * m] = re;
		out[2 * m + 1] = im;
		m++;
		rel += M;
	}
	return m;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// FFTW's planners keep global state and are not thread-safe, so every planner call holds
// fftwMu. Plans are made once per size and kept for the life of the process (they are small
// and sizes are few); executing a plan on new arrays (fftw(f)_execute_dft) is thread-safe.
//
// Plans are made with FFTW_ESTIMATE, never FFTW_MEASURE: a measured plan is whichever
// algorithm timed fastest in this process, so two runs can pick different algorithms, which
// round differently, and the same recording would give different features and fixes. An
// estimated plan depends only on the size, the FFTW build and the CPU's SIMD features, so
// every run on a host computes the same bits (fftw.org/fftw3_doc/Planner-Flags.html). The
// cost, measured by bench/run.sh, is in README.md: the spectrogram stays above 0.9× the C
// reference, which itself plans with FFTW_MEASURE.
var (
	fftwMu      sync.Mutex
	fftwPlans   = map[int]C.fftwf_plan{}
	fftwPlans64 = map[int]C.fftw_plan{}
)

// forwardPlan returns the cached out-of-place single-precision forward plan of size n.
func forwardPlan(n int) (C.fftwf_plan, error) {
	fftwMu.Lock()
	defer fftwMu.Unlock()
	if p, ok := fftwPlans[n]; ok {
		return p, nil
	}
	// Plan on scratch buffers with the same (fftwf_malloc) alignment as every fft's buffers:
	// FFTW picks SIMD codelets by the alignment it sees when planning.
	in := C.fftwf_alloc_complex(C.size_t(n))
	out := C.fftwf_alloc_complex(C.size_t(n))
	defer C.fftwf_free(unsafe.Pointer(in))
	defer C.fftwf_free(unsafe.Pointer(out))
	p := C.fftwf_plan_dft_1d(C.int(n), in, out, C.FFTW_FORWARD, C.FFTW_ESTIMATE)
	if p == nil {
		return nil, fmt.Errorf("fftw: cannot plan a %d-point transform", n)
	}
	fftwPlans[n] = p
	return p, nil
}

// forwardPlan64 is forwardPlan in double precision.
func forwardPlan64(n int) (C.fftw_plan, error) {
	fftwMu.Lock()
	defer fftwMu.Unlock()
	if p, ok := fftwPlans64[n]; ok {
		return p, nil
	}
	in := C.fftw_alloc_complex(C.size_t(n))
	out := C.fftw_alloc_complex(C.size_t(n))
	defer C.fftw_free(unsafe.Pointer(in))
	defer C.fftw_free(unsafe.Pointer(out))
	p := C.fftw_plan_dft_1d(C.int(n), in, out, C.FFTW_FORWARD, C.FFTW_ESTIMATE)
	if p == nil {
		return nil, fmt.Errorf("fftw: cannot plan a %d-point double transform", n)
	}
	fftwPlans64[n] = p
	return p, nil
}

// fft is one forward transform of fixed size with its own aligned input and output buffers,
// in single precision (in, out) or double precision (in64, out64). One fft is used by one
// goroutine at a time.
type fft struct {
	plan        C.fftwf_plan
	plan64      C.fftw_plan
	cin, cout   unsafe.Pointer
	in, out     []complex64  // views of cin and cout (single precision)
	in64, out64 []complex128 // views of cin and cout (double precision)
	double      bool
}

// newFFT allocates the buffers of an n-point forward FFT in single or double precision;
// they are freed when the fft is garbage collected.
func newFFT(n int, double bool) (*fft, error) {
	f := &fft{double: double}
	if double {
		plan, err := forwardPlan64(n)
		if err != nil {
			return nil, err
		}
		f.plan64 = plan
		f.cin, f.cout = unsafe.Pointer(C.fftw_alloc_complex(C.size_t(n))), unsafe.Pointer(C.fftw_alloc_complex(C.size_t(n)))
	} else {
		plan, err := forwardPlan(n)
		if err != nil {
			return nil, err
		}
		f.plan = plan
		f.cin, f.cout = unsafe.Pointer(C.fftwf_alloc_complex(C.size_t(n))), unsafe.Pointer(C.fftwf_alloc_complex(C.size_t(n)))
	}
	if f.cin == nil || f.cout == nil {
		return nil, fmt.Errorf("fftw: cannot allocate %d-point buffers", n)
	}
	if double {
		f.in64, f.out64 = unsafe.Slice((*complex128)(f.cin), n), unsafe.Slice((*complex128)(f.cout), n)
		clear(f.in64)
		clear(f.out64)
	} else {
		f.in, f.out = unsafe.Slice((*complex64)(f.cin), n), unsafe.Slice((*complex64)(f.cout), n)
		clear(f.in)
		clear(f.out)
	}
	// Each library frees what it allocated (FFTW may be built with its own aligned malloc).
	if double {
		runtime.AddCleanup(f, func(bufs [2]unsafe.Pointer) {
			C.fftw_free(bufs[0])
			C.fftw_free(bufs[1])
		}, [2]unsafe.Pointer{f.cin, f.cout})
	} else {
		runtime.AddCleanup(f, func(bufs [2]unsafe.Pointer) {
			C.fftwf_free(bufs[0])
			C.fftwf_free(bufs[1])
		}, [2]unsafe.Pointer{f.cin, f.cout})
	}
	return f, nil
}

// exec transforms the input buffer into the output buffer (unnormalised, e^{-2πikn/N}, like
// numpy.fft.fft).
func (f *fft) exec() {
	if f.double {
		C.fftw_execute_dft(f.plan64, (*C.fftw_complex)(f.cin), (*C.fftw_complex)(f.cout))
		return
	}
	C.fftwf_execute_dft(f.plan, (*C.fftwf_complex)(f.cin), (*C.fftwf_complex)(f.cout))
}

// frame runs edged_frame on ft (single precision): see its comment.
func (ft *fft) frame(x []complex64, win2 []float32, dc complex64, acc, spec []float32, sc2 float32) float32 {
	var sp *C.float
	if spec != nil {
		sp = (*C.float)(unsafe.Pointer(unsafe.SliceData(spec)))
	}
	return float32(C.edged_frame(ft.plan, (*C.float)(ft.cin), (*C.float)(ft.cout),
		(*C.float)(unsafe.Pointer(unsafe.SliceData(x))), (*C.float)(unsafe.Pointer(unsafe.SliceData(win2))),
		C.int(len(x)), C.float(real(dc)), C.float(imag(dc)),
		(*C.float)(unsafe.Pointer(unsafe.SliceData(acc))), sp, C.float(sc2)))
}

// polyphase runs edged_polyphase (see its comment), appending to dst, which must have
// capacity for every output, and returns rel advanced past them.
func polyphase(dst, buf []complex64, taps []float32, k, up, down, rel, n int) ([]complex64, int) {
	spare := dst[len(dst):cap(dst)]
	m := int(C.edged_polyphase((*C.float)(unsafe.Pointer(unsafe.SliceData(buf))), (*C.float)(unsafe.Pointer(unsafe.SliceData(taps))),
		C.int(k), C.int(up), C.int(down), C.long(rel), C.int(n),
		(*C.float)(unsafe.Pointer(unsafe.SliceData(spare)))))
	return dst[:len(dst)+m], rel + m*down
}
