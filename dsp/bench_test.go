package dsp

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU returns the CPU time used by the calling OS thread (RUSAGE_THREAD), so that
// throughput can be reported per core even on a busy machine where wall time is inflated by
// other processes. The caller must hold runtime.LockOSThread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchParams is the `make bench` spectrogram: n_fft 1024, hop 512, periodic Hann, power,
// 64 HTK mel filters over the onesided 0..fs/2 bins, 10·log10. bench/fftw_ref.c computes the
// same in C.
func benchParams() Params {
	return Params{
		SampleRateHz:  250000,
		WindowSamples: 1 << 16,
		STFT:          STFT{NFFT: 1024, Hop: 512, Bins: "onesided"},
		Filterbank:    Filterbank{Kind: "mel", Bins: 64},
		Log:           Log{Kind: "db"},
	}
}

// benchCU8 returns cu8 bytes for the benchmarks: the real g001 recording when present
// (BENCH_CU8 overrides the path), else the synthetic signal quantised to cu8.
func benchCU8(b *testing.B) []byte {
	path := os.Getenv("BENCH_CU8") // "none": use the synthetic signal
	if path == "" {
		if dir, err := os.Getwd(); err == nil {
			path = filepath.Join(dir, "..", "..", "shared", "testdata", "iq-real", "rtl_433", "g001_433.92M_250k.cu8")
		}
	}
	if raw, err := os.ReadFile(path); err == nil && len(raw) >= 2<<16 {
		return raw
	}
	x := synthetic(1<<18, 250000, synthFull)
	raw := make([]byte, 2*len(x))
	for i, v := range x {
		raw[2*i] = byte(min(255, max(0, 127.5+127.5*real(v))))
		raw[2*i+1] = byte(min(255, max(0, 127.5+127.5*imag(v))))
	}
	return raw
}

// BenchmarkFrontend measures Features on 65536-sample windows. "complex64" starts from
// converted samples; "cu8" includes the cu8 → complex64 conversion, as bench/fftw_ref.c does.
func BenchmarkFrontend(b *testing.B) {
	raw := benchCU8(b)
	p := benchParams()
	win := p.WindowSamples
	nwin := len(raw) / 2 / win
	x := cu8ToComplex(raw[:2*win*nwin])
	var lut [256]float32
	for i := range lut {
		lut[i] = (float32(i) - 127.5) / 127.5
	}
	run := func(b *testing.B, convert bool) {
		f, err := NewFrontend(p)
		if err != nil {
			b.Fatal(err)
		}
		rows, frames := f.Shape()
		dst := make([]float32, rows*frames)
		buf := make([]complex64, win)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.ReportAllocs()
		cpu0 := threadCPU()
		for i := 0; b.Loop(); i++ {
			k := i % nwin
			w := x[k*win : (k+1)*win]
			if convert {
				src := raw[2*k*win : 2*(k+1)*win]
				for j := range buf {
					buf[j] = complex(lut[src[2*j]], lut[src[2*j+1]])
				}
				w = buf
			}
			if _, err := f.Features(w, dst); err != nil {
				b.Fatal(err)
			}
		}
		cpu := threadCPU() - cpu0
		b.ReportMetric(float64(win)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MS/s")
		b.ReportMetric(float64(win)*float64(b.N)/cpu.Seconds()/1e6, "cpuMS/s")
	}
	b.Run("complex64", func(b *testing.B) { run(b, false) })
	b.Run("cu8", func(b *testing.B) { run(b, true) })
}

// BenchmarkHeimdall measures the two Heimdall contracts per window.
func BenchmarkHeimdall(b *testing.B) {
	for _, name := range []string{"heimdall_serving.json", "heimdall_training.json"} {
		b.Run(name, func(b *testing.B) {
			p := loadFixture(b, name)
			f, dst := mustFrontend(b, p)
			x := synthetic(p.WindowSamples, p.SampleRateHz, synthFull)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Features(x, dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(p.WindowSamples)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MS/s")
		})
	}
}

// BenchmarkConditioner measures 2.4 MS/s → 250 kS/s with a shift, in input samples per second.
func BenchmarkConditioner(b *testing.B) {
	c, err := NewConditioner(Params{SampleRateHz: 250000, ShiftHz: 100000}, 2.4e6)
	if err != nil {
		b.Fatal(err)
	}
	x := synthetic(1<<16, 2.4e6, synthFull)
	out := make([]complex64, 0, len(x))
	b.ReportAllocs()
	for b.Loop() {
		out = c.Process(out[:0], x)
	}
	b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MS/s")
}
