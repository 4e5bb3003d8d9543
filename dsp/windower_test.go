package dsp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Ensure that Flush brings out exactly the outputs a finite stream covers, ceil(N·L/M), equal
// to what the filter gives when the stream goes on with zeros, whatever the chunking; and
// that the Conditioner then starts a new stream as if new.
func TestConditioner_Flush(t *testing.T) {
	cases := []struct {
		capture float64
		p       Params
	}{
		{2.4e6, Params{SampleRateHz: 250000}},
		{1e6, Params{SampleRateHz: 250000, ShiftHz: 20000}},
		{64000, Params{SampleRateHz: 192000}},
		{250000, Params{SampleRateHz: 250000, ShiftHz: -1000}}, // identity ratio
		{5e6, Params{SampleRateHz: 250000}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%g->%g", c.capture, c.p.SampleRateHz), func(t *testing.T) {
			for _, n := range []int{1, 7, 1000, 49100} {
				x := synthetic(n, c.capture, synthFull)
				ref, _ := NewConditioner(c.p, c.capture)
				want := ref.Process(nil, append(slices.Clone(x), make([]complex64, 1<<17)...))
				cond, _ := NewConditioner(c.p, c.capture)
				up, down := cond.Ratio()
				covered := (n*up + down - 1) / down
				want = want[:covered]
				for round := range 2 { // the second round checks the reset
					var got []complex64
					for i, step := 0, 1+round*5; i < n; step = step*7%1999 + 1 {
						j := min(n, i+step)
						got = cond.Process(got, x[i:j])
						i = j
					}
					got = cond.Flush(got)
					if len(got) != covered {
						t.Fatalf("n=%d round %d: %d outputs, want ceil(%d·%d/%d) = %d", n, round, len(got), n, up, down, covered)
					}
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("n=%d round %d: output %d = %v, want %v", n, round, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// collect runs x through a Windower in chunks of step samples and returns copies of the
// windows it hands out.
func collect(t *testing.T, wd *Windower, x []complex64, step int) []Window {
	t.Helper()
	var got []Window
	keep := func(w Window) error {
		w.Samples = slices.Clone(w.Samples)
		got = append(got, w)
		return nil
	}
	for i := 0; i < len(x); i += step {
		if err := wd.Write(x[i:min(len(x), i+step)], keep); err != nil {
			t.Fatal(err)
		}
	}
	if err := wd.Flush(keep); err != nil {
		t.Fatal(err)
	}
	return got
}

// Ensure that a Windower cuts consecutive whole windows, pads the last partial one with zeros
// when it holds at least the minimum tail and counts it otherwise, maps windows back to
// capture samples, and gives the same windows however the stream is chunked.
func TestWindower(t *testing.T) {
	p := Params{SampleRateHz: 250000, WindowSamples: 1000}
	t.Run("identity", func(t *testing.T) {
		x := synthetic(3700, 250000, synthFull)
		wd, err := NewWindower(p, 250000, 500)
		if err != nil {
			t.Fatal(err)
		}
		got := collect(t, wd, x, 333)
		if len(got) != 4 {
			t.Fatalf("%d windows, want 3 whole + 1 padded", len(got))
		}
		for k, w := range got[:3] {
			if w.Index != uint64(k) || w.Valid != 1000 || !slices.Equal(w.Samples, x[k*1000:(k+1)*1000]) {
				t.Errorf("window %d: index %d valid %d, samples differ: %v", k, w.Index, w.Valid, !slices.Equal(w.Samples, x[k*1000:(k+1)*1000]))
			}
		}
		last := got[3]
		if last.Valid != 700 || last.Padded() != 300 || !slices.Equal(last.Samples[:700], x[3000:]) ||
			slices.ContainsFunc(last.Samples[700:], func(v complex64) bool { return v != 0 }) {
			t.Errorf("last window: valid %d padded %d, or its samples are not the tail then zeros", last.Valid, last.Padded())
		}
		if wd.Windows() != 4 || wd.Analysed() != 3700 || wd.Padded() != 300 || wd.Dropped() != 0 || wd.CaptureOffset(3) != 3000 {
			t.Errorf("windows %d analysed %d padded %d dropped %d offset(3) %d", wd.Windows(), wd.Analysed(), wd.Padded(), wd.Dropped(), wd.CaptureOffset(3))
		}
	})
	t.Run("short tail dropped", func(t *testing.T) {
		wd, _ := NewWindower(p, 250000, 500)
		got := collect(t, wd, synthetic(2499, 250000, synthFull), 4096)
		if len(got) != 2 || wd.Dropped() != 499 || wd.Padded() != 0 || wd.Analysed() != 2000 {
			t.Errorf("%d windows, dropped %d, padded %d, analysed %d; want 2, 499, 0, 2000", len(got), wd.Dropped(), wd.Padded(), wd.Analysed())
		}
		if err := wd.Reset(250000); err != nil || wd.Windows() != 0 || wd.Dropped() != 0 || wd.Pending() != 0 {
			t.Errorf("after Reset: %v, windows %d dropped %d pending %d", err, wd.Windows(), wd.Dropped(), wd.Pending())
		}
	})
	t.Run("shorter than one window", func(t *testing.T) {
		wd, _ := NewWindower(p, 250000, 1)
		got := collect(t, wd, synthetic(10, 250000, synthFull), 3)
		if len(got) != 1 || got[0].Valid != 10 || got[0].Index != 0 {
			t.Fatalf("windows %+v, want one with 10 valid samples", got)
		}
	})
	t.Run("resampled", func(t *testing.T) {
		const n = 24000 + 4321 // 2.4 MS/s: 2500 + 451 samples at 250 kS/s
		x := synthetic(n, 2.4e6, synthFull)
		var want []Window
		for _, step := range []int{n, 1, 977, 65536} {
			wd, err := NewWindower(p, 2.4e6, 1)
			if err != nil {
				t.Fatal(err)
			}
			got := collect(t, wd, x, step)
			covered := (n*5 + 47) / 48
			if len(got) != 3 || got[2].Valid != covered-2000 || wd.Analysed() != int64(covered) || wd.CaptureOffset(2) != 2000*48/5 {
				t.Fatalf("step %d: %d windows, last valid %d, analysed %d (want %d)", step, len(got), got[len(got)-1].Valid, wd.Analysed(), covered)
			}
			if want == nil {
				want = got
				continue
			}
			for k := range got {
				if !slices.Equal(got[k].Samples, want[k].Samples) {
					t.Errorf("step %d: window %d differs from the one-shot windows", step, k)
				}
			}
		}
		// Reset to another rate, then back: the same windows again.
		wd, _ := NewWindower(p, 2.4e6, 1)
		if err := wd.Reset(1e6); err != nil {
			t.Fatal(err)
		}
		if err := wd.Reset(2.4e6); err != nil {
			t.Fatal(err)
		}
		if got := collect(t, wd, x, 5000); !slices.Equal(got[2].Samples, want[2].Samples) {
			t.Error("after Reset to another rate and back, the windows differ")
		}
	})
	t.Run("emit error", func(t *testing.T) {
		wd, _ := NewWindower(p, 250000, 1)
		boom := errors.New("boom")
		err := wd.Write(make([]complex64, 2500), func(Window) error { return boom })
		if !errors.Is(err, boom) || wd.Pending() != 2500 || wd.Windows() != 0 {
			t.Errorf("err %v, pending %d, windows %d: the windows not taken must stay", err, wd.Pending(), wd.Windows())
		}
		if err := wd.Flush(func(Window) error { return boom }); !errors.Is(err, boom) {
			t.Errorf("Flush: %v", err)
		}
	})
	t.Run("bad", func(t *testing.T) {
		if _, err := NewWindower(Params{SampleRateHz: 250000}, 250000, 1); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("no window length: %v", err)
		}
		if _, err := NewWindower(p, math.NaN(), 1); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("NaN rate: %v", err)
		}
		wd, _ := NewWindower(p, 250000, 1)
		if err := wd.Reset(-1); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Reset(-1): %v", err)
		}
	})
}

// Ensure that FeaturesPadded measures only the frames holding signal: noise followed by
// 88 % zero padding stays below the gate (Features on the same window reads the padding
// as a low noise floor and opens it), a burst in the signal part still opens it, the model
// input is the same as Features', and a window that is all signal measures exactly as
// Features does.
func TestFeaturesPadded(t *testing.T) {
	for _, p := range []Params{
		{SampleRateHz: 250000, WindowSamples: 16384, RemoveDC: true, STFT: STFT{NFFT: 1024, Hop: 512},
			Filterbank: Filterbank{Kind: "mel", Bins: 64}, Log: Log{Kind: "db"}},
		{SampleRateHz: 250000, WindowSamples: 16384, STFT: STFT{NFFT: 512, Hop: 128, Precision: "float64"}, Filterbank: Filterbank{Bins: 128}, Log: Log{Kind: "ln"}},
		{SampleRateHz: 250000, WindowSamples: 16384, Input: "magnitude", STFT: STFT{NFFT: 1024, Hop: 512}, Filterbank: Filterbank{Kind: "mel", Bins: 32}},
	} {
		f, dst := mustFrontend(t, p)
		other := make([]float32, len(dst))
		const valid = 2000
		x := synthetic(p.WindowSamples, p.SampleRateHz, synthNoiseOnly)
		clear(x[valid:])
		whole, err := f.Features(x, other)
		if err != nil {
			t.Fatal(err)
		}
		padded, err := f.FeaturesPadded(x, valid, dst)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dst, other) {
			t.Errorf("%+v: the model input depends on valid", p.STFT)
		}
		if padded.SNRDB > 4 || whole.SNRDB < gateThresholdDB {
			t.Errorf("%+v: noise then padding measures %.1f dB over its signal (want <= 4) and %.1f dB over the whole window (the bias this avoids, >= %d)",
				p.STFT, padded.SNRDB, whole.SNRDB, gateThresholdDB)
		}
		burst := synthetic(p.WindowSamples, p.SampleRateHz, synthNoiseOnly)
		for i := 500; i < 1500; i++ {
			s, c := math.Sincos(2 * math.Pi * 0.1 * float64(i))
			burst[i] += complex(float32(0.3*c), float32(0.3*s))
		}
		clear(burst[valid:])
		if m, _ := f.FeaturesPadded(burst, valid, dst); m.SNRDB < gateThresholdDB+3 {
			t.Errorf("%+v: a burst in the signal part measures %.1f dB", p.STFT, m.SNRDB)
		}
		full := synthetic(p.WindowSamples, p.SampleRateHz, synthFull)
		a, _ := f.Features(full, dst)
		b, _ := f.FeaturesPadded(full, len(full), other)
		if a != b || !slices.Equal(dst, other) {
			t.Errorf("%+v: a window of signal only: %+v vs %+v", p.STFT, a, b)
		}
		for _, v := range []int{0, -1, p.WindowSamples + 1} {
			if _, err := f.FeaturesPadded(full, v, dst); !errors.Is(err, ErrWindowLength) {
				t.Errorf("valid %d: %v", v, err)
			}
		}
	}
}

// featureHashEnv, when set, makes TestFFTW_SameBitsAcrossProcesses print the hash of the
// features it computes instead of checking anything (it is then the child process).
const featureHashEnv = "EDGED_DSP_FEATURE_HASH"

// Ensure that separate processes compute bit-identical features and measures: FFTW plans
// are chosen without timing, so a replay gives the same bytes every time. With
// FFTW_MEASURE the plans, and the low bits, changed from run to run.
func TestFFTW_SameBitsAcrossProcesses(t *testing.T) {
	if os.Getenv(featureHashEnv) != "" {
		fmt.Println("hash", featureHash(t))
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	want := featureHash(t)
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestFFTW_SameBitsAcrossProcesses$", "-test.count", "1")
		cmd.Env = append(os.Environ(), featureHashEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, out)
		}
		got := ""
		for _, line := range strings.Split(string(out), "\n") {
			if h, ok := strings.CutPrefix(line, "hash "); ok {
				got = h
			}
		}
		if got != want {
			t.Errorf("child %d computed %q, this process %q", i, got, want)
		}
	}
}

// featureHash is the SHA-256 of the features and measures of a few windows in sizes whose
// FFTW plans have many candidates, in single and double precision.
func featureHash(t *testing.T) string {
	h := sha256.New()
	for _, p := range []Params{
		{SampleRateHz: 250000, WindowSamples: 16384, RemoveDC: true, STFT: STFT{NFFT: 1024, Hop: 512},
			Filterbank: Filterbank{Kind: "mel", Bins: 64}, Log: Log{Kind: "db"}},
		{SampleRateHz: 12500, WindowSamples: 13184, STFT: STFT{NFFT: 512, Hop: 128, Precision: "float64"}, Filterbank: Filterbank{Bins: 128}, Log: Log{Kind: "ln"}},
		{SampleRateHz: 250000, WindowSamples: 24000, STFT: STFT{NFFT: 6000, Hop: 3000}, Filterbank: Filterbank{Bins: 128}, Log: Log{Kind: "db"}},
	} {
		f, dst := mustFrontend(t, p)
		m, err := f.Features(synthetic(p.WindowSamples, p.SampleRateHz, synthFull), dst)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%x %x %x ", math.Float64bits(m.SNRDB), math.Float64bits(m.PSDDB), math.Float64bits(m.OffsetHz))
		for _, v := range dst {
			fmt.Fprintf(h, "%08x", math.Float32bits(v))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
