package dsp

import (
	"errors"
	"testing"
)

// FuzzFrontendNumbers builds a Frontend from arbitrary contract numbers, the integers and
// rates a registry model's contract can carry, including ones whose sums and products
// overflow an int. Validate must refuse them with a field error or the Frontend must build
// and compute a window; the spectrum and filterbank must stay inside the size limits.
// NewFrontend and Features run only for small sizes (FFTW plans big transforms for seconds).
func FuzzFrontendNumbers(f *testing.F) {
	// kind: 0 identity, 1 linear, 2 mel; flags bit 0: magnitude input, bit 1: boundary zeros,
	// bit 2: float64, bit 3: onesided bins.
	f.Add(250000.0, 16384, 1024, 512, 8, 0, 0, uint8(0), uint8(0), 0.0, 0.0)
	f.Add(192000.0, 192000, 2048, 512, 128, 0, 0, uint8(2), uint8(11), 0.0, 96000.0)
	f.Add(12500.0, 13184, 512, 128, 128, 0, 100, uint8(0), uint8(12), 0.0, 0.0)
	f.Add(250000.0, 4096, 256, 128, 64, 1<<63-64, 0, uint8(0), uint8(0), 0.0, 0.0) // first_bin + bins overflowed
	f.Add(250000.0, 4096, 256, 128, 64, 0, 1<<58, uint8(0), uint8(0), 0.0, 0.0)    // rows × frames overflowed
	f.Add(250000.0, 1<<17, 1<<16, 1<<16, 1000000, 0, 0, uint8(2), uint8(0), 0.0, 0.0)
	f.Add(250000.0, 4096, 256, 128, 1000000000, 0, 0, uint8(1), uint8(0), -1e5, 1e5)
	f.Fuzz(func(t *testing.T, rate float64, window, nfft, hop, bins, firstBin, frames int, kind, flags uint8, fmin, fmax float64) {
		p := Params{
			SampleRateHz:  rate,
			WindowSamples: window,
			STFT:          STFT{NFFT: nfft, Hop: hop},
			Filterbank: Filterbank{Kind: []string{"identity", "linear", "mel"}[kind%3],
				Bins: bins, FirstBin: firstBin, FMinHz: fmin, FMaxHz: fmax},
			Log:       Log{Kind: "db"},
			Normalize: Normalize{Kind: "global", MinStd: 1e-6},
			Frames:    frames,
		}
		if flags&1 != 0 {
			p.Input = "magnitude"
		}
		if flags&2 != 0 {
			p.STFT.Boundary = "zeros"
		}
		if flags&4 != 0 {
			p.STFT.Precision = "float64"
		}
		if flags&8 != 0 {
			p.STFT.Bins = "onesided"
		}
		s, err := p.resolve()
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %q names no field", err)
			}
			return
		}
		rows := len(s.fb.rows)
		if rows != bins || rows*max(s.frames, s.stftFrames) > maxMatrix {
			t.Fatalf("%d rows (bins %d) × %d frames passed the size check", rows, bins, max(s.frames, s.stftFrames))
		}
		for r, row := range s.fb.rows {
			for _, i := range row.idx {
				if int(i) >= len(s.rowBin) {
					t.Fatalf("filter row %d reads spectrum row %d of %d", r, i, len(s.rowBin))
				}
			}
		}
		if window > 1<<15 || nfft > 1<<12 {
			return
		}
		fe, err := NewFrontend(p)
		if err != nil {
			t.Fatalf("resolve accepted %+v but NewFrontend failed: %v", p, err)
		}
		r, fr := fe.Shape()
		if _, err := fe.Features(synthetic(window, rate/8, synthFull), make([]float32, r*fr)); err != nil {
			t.Fatalf("Features: %v", err)
		}
	})
}
