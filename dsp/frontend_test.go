package dsp

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func mustFrontend(t testing.TB, p Params) (*Frontend, []float32) {
	t.Helper()
	f, err := NewFrontend(p)
	if err != nil {
		t.Fatal(err)
	}
	rows, frames := f.Shape()
	return f, make([]float32, rows*frames)
}

// Ensure that a tone lands in the right row of a centered identity spectrum and that the
// measured offset and SNR see it.
func TestFeatures_ToneRow(t *testing.T) {
	const fs, n = 256000.0, 256
	p := Params{SampleRateHz: fs, WindowSamples: 4096, STFT: STFT{NFFT: n, Hop: n},
		Filterbank: Filterbank{Bins: n}}
	f, dst := mustFrontend(t, p)
	for _, hz := range []float64{32000, -64000, 1000 * 101} {
		x := tone(4096, fs, hz, 0.5)
		noise := synthetic(4096, fs, synthNoiseOnly)
		for i := range x {
			x[i] += noise[i]
		}
		m, err := f.Features(x, dst)
		if err != nil {
			t.Fatal(err)
		}
		_, frames := f.Shape()
		best, bestRow := float32(-1), -1
		for r := range n {
			if v := dst[r*frames]; v > best {
				best, bestRow = v, r
			}
		}
		wantRow := n/2 + int(math.Round(hz/(fs/n)))
		if bestRow != wantRow {
			t.Errorf("%g Hz: loudest row %d, want %d", hz, bestRow, wantRow)
		}
		if math.Abs(m.OffsetHz-hz) > fs/n {
			t.Errorf("%g Hz: OffsetHz %g", hz, m.OffsetHz)
		}
		if m.SNRDB < 15 {
			t.Errorf("%g Hz: SNR %.1f dB for a tone 20 dB over the noise", hz, m.SNRDB)
		}
	}
}

// Ensure that the steady state allocates nothing per window, for both Heimdall contracts.
func TestFeatures_ZeroAllocs(t *testing.T) {
	for _, name := range []string{"heimdall_serving.json", "heimdall_training.json"} {
		p := loadFixture(t, name)
		p.RemoveDC = true
		f, dst := mustFrontend(t, p)
		x := synthetic(p.WindowSamples, p.SampleRateHz, synthFull)
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := f.Features(x, dst); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per window, want 0", name, allocs)
		}
	}
}

// Ensure that wrong buffer sizes are errors, not panics.
func TestFeatures_BadLengths(t *testing.T) {
	f, dst := mustFrontend(t, validParams())
	if _, err := f.Features(make([]complex64, 100), dst); !errors.Is(err, ErrWindowLength) {
		t.Errorf("short window: %v, want ErrWindowLength", err)
	}
	if _, err := f.Features(make([]complex64, 4096), dst[1:]); !errors.Is(err, ErrDstLength) {
		t.Errorf("short dst: %v, want ErrDstLength", err)
	}
}

// Ensure that global normalisation gives mean 0 and std 1, and that an all-zero window
// (std 0 after the log) is left unchanged as Heimdall serving does, without NaN.
func TestFeatures_Normalize(t *testing.T) {
	p := loadFixture(t, "heimdall_serving.json")
	f, dst := mustFrontend(t, p)
	if _, err := f.Features(synthetic(p.WindowSamples, p.SampleRateHz, synthFull), dst); err != nil {
		t.Fatal(err)
	}
	var sum, ss float64
	for _, v := range dst {
		sum += float64(v)
	}
	mean := sum / float64(len(dst))
	for _, v := range dst {
		ss += (float64(v) - mean) * (float64(v) - mean)
	}
	if std := math.Sqrt(ss / float64(len(dst))); math.Abs(mean) > 1e-5 || math.Abs(std-1) > 1e-5 {
		t.Errorf("mean %g std %g, want 0 and 1", mean, std)
	}
	if _, err := f.Features(make([]complex64, p.WindowSamples), dst); err != nil {
		t.Fatal(err)
	}
	want := float32(math.Log(1e-10))
	for i, v := range dst {
		if v != want {
			t.Fatalf("all-zero window: value %d is %g, want ln(1e-10) = %g", i, v, want)
		}
	}
}

// Ensure that numpy-style reflection matches numpy.pad(mode="reflect").
func TestReflectIndex(t *testing.T) {
	// numpy.pad(arange(3), (5, 6), "reflect")
	want := []int{1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0}
	for j, w := range want {
		if got := reflectIndex(j-5, 3); got != w {
			t.Errorf("reflectIndex(%d, 3) = %d, want %d", j-5, got, w)
		}
	}
	if reflectIndex(-4, 1) != 0 || reflectIndex(3, 1) != 0 {
		t.Error("a single frame must reflect onto itself")
	}
}

// Ensure that RemoveDC takes a constant offset out of the features entirely.
func TestFeatures_RemoveDC(t *testing.T) {
	p := validParams()
	p.RemoveDC = true
	f, want := mustFrontend(t, p)
	x := synthetic(p.WindowSamples, p.SampleRateHz, synthFull)
	if _, err := f.Features(x, want); err != nil {
		t.Fatal(err)
	}
	shifted := make([]complex64, len(x))
	for i, v := range x {
		shifted[i] = v + complex(0.3, -0.2)
	}
	got := make([]float32, len(want))
	if _, err := f.Features(shifted, got); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-3 {
			t.Fatalf("value %d: %g with DC offset, %g without", i, got[i], want[i])
		}
	}
}

// Ensure that Frontends used from several goroutines at once (one each) agree with a serial run.
func TestFeatures_Concurrent(t *testing.T) {
	p := loadFixture(t, "heimdall_training.json")
	p.WindowSamples = 16384
	x := synthetic(p.WindowSamples, p.SampleRateHz, synthFull)
	ref, want := mustFrontend(t, p)
	wantM, err := ref.Features(x, want)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	fails := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, dst := mustFrontend(t, p)
			for range 3 {
				m, err := f.Features(x, dst)
				if err != nil || m != wantM {
					fails <- "measure differs"
					return
				}
				for i := range dst {
					if dst[i] != want[i] {
						fails <- "features differ"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
}

// Ensure that the fast log agrees with math.Log to float32 precision over the whole range.
func TestLogScaled(t *testing.T) {
	var xs []float32
	for e := -140.0; e <= 120; e += 0.37 {
		xs = append(xs, float32(math.Pow(2, e)))
	}
	xs = append(xs, 0, 1, 2, math.MaxFloat32, 1e-45)
	for _, eps := range []float64{1e-10, 1e-300} {
		got := slices.Clone(xs)
		logScaled(got, eps, 10/math.Ln10)
		for i, x := range xs {
			want := 10 * math.Log10(float64(x)+eps)
			if d := math.Abs(float64(got[i]) - want); d > 1e-6*max(1, math.Abs(want)) {
				t.Errorf("10·log10(%g + %g) = %g, want %g", x, eps, got[i], want)
			}
		}
	}
}

// Ensure that the training contract's mel filterbank is Heimdall's: HTK scale with exactly
// filters 0, 1, 4 and 9 empty (the Slaney scale would leave 0, 9 and 18 empty instead).
func TestMel_HeimdallEmptyFilters(t *testing.T) {
	empty := func(scale string) []int {
		p := loadFixture(t, "heimdall_training.json")
		p.Filterbank.Scale = scale
		s, err := p.resolve()
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for r, row := range s.fb.rows {
			if len(row.idx) == 0 {
				out = append(out, r)
			}
		}
		return out
	}
	if got := empty("htk"); !slices.Equal(got, []int{0, 1, 4, 9}) {
		t.Errorf("htk: empty filters %v, want [0 1 4 9]", got)
	}
	if got := empty("slaney"); !slices.Equal(got, []int{0, 9, 18}) {
		t.Errorf("slaney: empty filters %v, want [0 9 18]", got)
	}
}

// Ensure that non-finite samples (a corrupt capture) give non-finite features, not a panic
// or a hang.
func TestFeatures_NonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		p := validParams()
		f, dst := mustFrontend(t, p)
		x := synthetic(p.WindowSamples, p.SampleRateHz, synthFull)
		for i := 0; i < len(x); i += 97 {
			x[i] = complex(bad, 0)
		}
		if _, err := f.Features(x, dst); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		a := make([]float64, 1+r.IntN(50))
		for i := range a {
			switch r.IntN(4) {
			case 0:
				a[i] = math.NaN()
			default:
				a[i] = float64(r.IntN(5))
			}
		}
		quickSelect(a, r.IntN(len(a))) // must return
	}
}

// Ensure that quickSelect returns the k-th smallest, duplicates included.
func TestQuickSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 500 {
		a := make([]float64, 1+r.IntN(300))
		for i := range a {
			a[i] = float64(r.IntN(40))
		}
		k := r.IntN(len(a))
		sorted := slices.Sorted(slices.Values(a))
		if got := quickSelect(slices.Clone(a), k); got != sorted[k] {
			t.Fatalf("k=%d of %v: got %g, want %g", k, a, got, sorted[k])
		}
	}
}
