package dsp

import (
	"path/filepath"
	"slices"
	"testing"
)

// gateThresholdDB is the signal-gate threshold the real recordings are checked against.
const gateThresholdDB = 10

// Ensure that the SNR separates windows with bursts from quiet ones on real RTL-SDR
// recordings, using the burst ranges of ../shared/testdata/iq-real/MANIFEST.md.
func TestMeasure_RealBursts(t *testing.T) {
	dir := iqRealDir(t)
	type span struct{ start, end int }
	files := []struct {
		path   string
		bursts []span
		offHz  float64 // the MANIFEST's dominant offset of the strongest burst
	}{
		{"rtl_433/g001_433.92M_250k.cu8", []span{{53248, 54272}, {73728, 82944}, {101376, 110592}, {130048, 139264},
			{157696, 167936}, {186368, 195584}, {215040, 224256}, {242688, 252928}}, -107690},
		{"rtl_433/radiohead_ask/03/g002_433.92M_250k.cu8", []span{{70656, 121856}}, 6084},
		{"rtl_433_tests/ec3k/01/gfile002.data", []span{{48128, 56320}}, 24017},
		{"rtl_433_tests/fineoffset/01/gfile001.data", []span{{31744, 56320}}, -79569},
		{"rtl_433_tests/x10/01/record-x10-b1-on-001.data", []span{{34816, 52224}, {61440, 64512}, {65536, 79872},
			{89088, 106496}, {115712, 133120}, {142336, 159744}, {168960, 172032}, {173056, 187392}}, -14218},
	}
	const win = 16384
	p := Params{SampleRateHz: 250000, WindowSamples: win, RemoveDC: true,
		STFT: STFT{NFFT: 1024, Hop: 512}, Filterbank: Filterbank{Kind: "mel", Bins: 64}, Log: Log{Kind: "db"}}
	f, err := NewFrontend(p)
	if err != nil {
		t.Fatal(err)
	}
	rows, frames := f.Shape()
	dst := make([]float32, rows*frames)
	var loud, quiet int
	for _, file := range files {
		x := readCU8(t, filepath.Join(dir, file.path))
		for w := 0; (w+1)*win <= len(x); w++ {
			lo, hi := w*win, (w+1)*win
			overlap := 0
			for _, b := range file.bursts {
				overlap += max(0, min(hi, b.end)-max(lo, b.start))
			}
			m, err := f.Features(x[lo:hi], dst)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case overlap >= 1024:
				loud++
				if m.SNRDB < gateThresholdDB+1 {
					t.Errorf("%s [%d,%d) overlaps bursts by %d samples but measures %.1f dB", file.path, lo, hi, overlap, m.SNRDB)
				}
				// The strongest burst's offset, within a few bins (the MANIFEST used one FFT
				// over the whole burst; this is the mean spectrum of 1024-point frames).
				if d := m.OffsetHz - file.offHz; overlap >= 8192 && (d > 2000 || d < -2000) && file.path != "rtl_433_tests/x10/01/record-x10-b1-on-001.data" {
					t.Errorf("%s [%d,%d): peak offset %.0f Hz, MANIFEST says %.0f Hz", file.path, lo, hi, m.OffsetHz, file.offHz)
				}
			case overlap == 0:
				quiet++
				if m.SNRDB > gateThresholdDB-4 {
					t.Errorf("%s [%d,%d) is quiet but measures %.1f dB", file.path, lo, hi, m.SNRDB)
				}
			}
		}
	}
	if loud < 20 || quiet < 8 {
		t.Fatalf("only %d burst and %d quiet windows checked", loud, quiet)
	}
}

// Ensure that silence measures 0 dB and noise alone stays far below the gate.
func TestMeasure_SilenceAndNoise(t *testing.T) {
	p := Params{SampleRateHz: 250000, WindowSamples: 8192, STFT: STFT{NFFT: 512, Hop: 256}, Filterbank: Filterbank{Bins: 16}}
	f, err := NewFrontend(p)
	if err != nil {
		t.Fatal(err)
	}
	rows, frames := f.Shape()
	dst := make([]float32, rows*frames)
	m, err := f.Features(make([]complex64, 8192), dst)
	if err != nil {
		t.Fatal(err)
	}
	if m.SNRDB != 0 {
		t.Errorf("silence: SNR %g dB, want 0", m.SNRDB)
	}
	noise := synthetic(8192, 250000, synthNoiseOnly)
	if m, _ = f.Features(noise, dst); m.SNRDB > 4 || m.SNRDB < 0 {
		t.Errorf("white noise: SNR %.2f dB, want 0..4", m.SNRDB)
	}
}

// Ensure that the gate works through the Conditioner too: g001's bursts at −107.7 kHz,
// shifted to 0 Hz and resampled 250 → 192 kS/s, still open it, quiet windows still do not,
// and the peak sits at 0 Hz. Windows map back to capture samples through Ratio.
func TestMeasure_ThroughConditioner(t *testing.T) {
	dir := iqRealDir(t)
	x := readCU8(t, filepath.Join(dir, "rtl_433/g001_433.92M_250k.cu8"))
	bursts := [][2]int{{53248, 54272}, {73728, 82944}, {101376, 110592}, {130048, 139264},
		{157696, 167936}, {186368, 195584}, {215040, 224256}, {242688, 252928}}
	for _, rate := range []float64{250000, 192000} {
		p := Params{SampleRateHz: rate, ShiftHz: -107690, WindowSamples: 12288, RemoveDC: true,
			STFT: STFT{NFFT: 1024, Hop: 512}, Filterbank: Filterbank{Bins: 16}}
		c, err := NewConditioner(p, 250000)
		if err != nil {
			t.Fatal(err)
		}
		f, dst := mustFrontend(t, p)
		y := c.Process(nil, x)
		up, down := c.Ratio()
		checked := 0
		for w := 0; (w+1)*p.WindowSamples <= len(y); w++ {
			lo, hi := w*p.WindowSamples*down/up, (w+1)*p.WindowSamples*down/up
			overlap := 0
			for _, b := range bursts {
				overlap += max(0, min(hi, b[1])-max(lo, b[0]))
			}
			m, err := f.Features(y[w*p.WindowSamples:(w+1)*p.WindowSamples], dst)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case overlap >= 2048:
				checked++
				if m.SNRDB < gateThresholdDB+1 || m.OffsetHz < -2000 || m.OffsetHz > 2000 {
					t.Errorf("%g S/s: capture [%d,%d) has bursts but measures %.1f dB at %.0f Hz", rate, lo, hi, m.SNRDB, m.OffsetHz)
				}
			case overlap == 0:
				checked++
				if m.SNRDB > gateThresholdDB-4 {
					t.Errorf("%g S/s: capture [%d,%d) is quiet but measures %.1f dB", rate, lo, hi, m.SNRDB)
				}
			}
		}
		if checked < 10 {
			t.Errorf("%g S/s: only %d windows checked", rate, checked)
		}
	}
}

// Ensure that the bins left out of Measure follow the capture centre through ShiftHz.
func TestCaptureDCBins(t *testing.T) {
	tests := []struct {
		shiftHz float64
		want    []int
	}{
		{0, []int{1023, 0, 1}},
		{-62500, []int{255, 256, 257}}, // the capture centre now sits at +fs/4
		{62500, []int{767, 768, 769}},
		{125000, nil}, // outside the band: nothing to leave out
	}
	for _, tc := range tests {
		if got := captureDCBins(1024, 250000, tc.shiftHz); !slices.Equal(got, tc.want) {
			t.Errorf("shift %g Hz: %v, want %v", tc.shiftHz, got, tc.want)
		}
	}
	if got := captureDCBins(8, 250000, 0); got != nil {
		t.Errorf("8-point FFT: %v, want none", got)
	}
}
