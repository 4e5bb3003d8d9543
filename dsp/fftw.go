package dsp

/*
#cgo LDFLAGS: -lfftw3f -lfftw3 -lm
#include <fftw3.h>
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
	// FFTW_MEASURE overwrites its arrays while timing, so plan on scratch buffers that have
	// the same (fftwf_malloc) alignment as every fft's buffers.
	in := C.fftwf_alloc_complex(C.size_t(n))
	out := C.fftwf_alloc_complex(C.size_t(n))
	defer C.fftwf_free(unsafe.Pointer(in))
	defer C.fftwf_free(unsafe.Pointer(out))
	p := C.fftwf_plan_dft_1d(C.int(n), in, out, C.FFTW_FORWARD, C.FFTW_MEASURE)
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
	p := C.fftw_plan_dft_1d(C.int(n), in, out, C.FFTW_FORWARD, C.FFTW_MEASURE)
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
	// fftw_free and fftwf_free are both free(3) on the same allocator.
	runtime.AddCleanup(f, func(bufs [2]unsafe.Pointer) {
		C.fftw_free(bufs[0])
		C.fftw_free(bufs[1])
	}, [2]unsafe.Pointer{f.cin, f.cout})
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
