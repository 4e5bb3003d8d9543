package dsp

/*
#cgo LDFLAGS: -lfftw3f -lm
#include <fftw3.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// FFTW's planner keeps global state and is not thread-safe, so every planner call holds
// fftwMu. Plans are made once per size and kept for the life of the process (they are small
// and sizes are few); executing a plan on new arrays (fftwf_execute_dft) is thread-safe.
var (
	fftwMu    sync.Mutex
	fftwPlans = map[int]C.fftwf_plan{}
)

// forwardPlan returns the cached out-of-place forward complex plan of size n.
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

// fft is one forward transform of fixed size with its own aligned input and output buffers.
// One fft is used by one goroutine at a time.
type fft struct {
	plan    C.fftwf_plan
	cin     *C.fftwf_complex
	cout    *C.fftwf_complex
	in, out []complex64 // views of cin and cout
}

// newFFT allocates the buffers of an n-point forward FFT; they are freed when the fft is
// garbage collected.
func newFFT(n int) (*fft, error) {
	plan, err := forwardPlan(n)
	if err != nil {
		return nil, err
	}
	f := &fft{plan: plan, cin: C.fftwf_alloc_complex(C.size_t(n)), cout: C.fftwf_alloc_complex(C.size_t(n))}
	if f.cin == nil || f.cout == nil {
		return nil, fmt.Errorf("fftw: cannot allocate %d-point buffers", n)
	}
	f.in = unsafe.Slice((*complex64)(unsafe.Pointer(f.cin)), n)
	f.out = unsafe.Slice((*complex64)(unsafe.Pointer(f.cout)), n)
	clear(f.in)
	clear(f.out)
	runtime.AddCleanup(f, func(bufs [2]unsafe.Pointer) {
		C.fftwf_free(bufs[0])
		C.fftwf_free(bufs[1])
	}, [2]unsafe.Pointer{unsafe.Pointer(f.cin), unsafe.Pointer(f.cout)})
	return f, nil
}

// exec transforms f.in into f.out (unnormalised, e^{-2πikn/N}, like numpy.fft.fft).
func (f *fft) exec() {
	C.fftwf_execute_dft(f.plan, f.cin, f.cout)
}
