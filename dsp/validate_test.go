package dsp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validParams is a small, valid contract the table tests break one field at a time.
func validParams() Params {
	return Params{
		SampleRateHz:  250000,
		WindowSamples: 4096,
		STFT:          STFT{NFFT: 256, Hop: 128},
		Filterbank:    Filterbank{Kind: "mel", Bins: 32, FMaxHz: 100000},
		Log:           Log{Kind: "db"},
		Normalize:     Normalize{Kind: "global"},
	}
}

func loadFixture(t testing.TB, name string) Params {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var p Params
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// Ensure that the checked-in Heimdall contracts validate.
func TestValidate_Fixtures(t *testing.T) {
	for _, name := range []string{"heimdall_serving.json", "heimdall_training.json"} {
		p := loadFixture(t, name)
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := validParams().Validate(); err != nil {
		t.Fatalf("validParams: %v", err)
	}
}

// Ensure that impossible contracts are refused with an error naming the field.
func TestValidate_Refuses(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Params)
		field string
		msg   string
	}{
		{"f_max above Nyquist", func(p *Params) { p.Filterbank.FMaxHz = 200000 }, "filterbank.f_max_hz", "above Nyquist"},
		{"hop 0", func(p *Params) { p.STFT.Hop = 0 }, "stft.hop", "must be > 0"},
		{"hop negative", func(p *Params) { p.STFT.Hop = -3 }, "stft.hop", "must be > 0"},
		{"hop longer than n_fft", func(p *Params) { p.STFT.Hop = 512 }, "stft.hop", "larger than n_fft"},
		{"n_fft longer than window", func(p *Params) { p.STFT.NFFT = 8192; p.STFT.Hop = 128 }, "stft.n_fft", "longer than window_samples"},
		{"n_fft 0", func(p *Params) { p.STFT.NFFT = 0 }, "stft.n_fft", "must be in"},
		{"n_fft huge", func(p *Params) { p.STFT.NFFT = 1 << 20; p.WindowSamples = 1 << 21 }, "stft.n_fft", "must be in"},
		{"window 0", func(p *Params) { p.WindowSamples = 0 }, "window_samples", "must be in"},
		{"rate 0", func(p *Params) { p.SampleRateHz = 0 }, "sample_rate_hz", "(0, 1e+09] Hz, got 0"},
		{"rate beyond any SDR", func(p *Params) { p.SampleRateHz = 1e300 }, "sample_rate_hz", "(0, 1e+09] Hz"},
		{"unknown window", func(p *Params) { p.STFT.Window = "kaiser" }, "stft.window", "unknown value"},
		{"unknown boundary", func(p *Params) { p.STFT.Boundary = "wrap" }, "stft.boundary", "unknown value"},
		{"unknown input", func(p *Params) { p.Input = "iq" }, "input", "unknown value"},
		{"magnitude centered", func(p *Params) { p.Input = "magnitude"; p.STFT.Bins = "centered" }, "stft.bins", "magnitude"},
		{"f_min above f_max", func(p *Params) { p.Filterbank.FMinHz = 110000 }, "filterbank.f_min_hz", "below f_max_hz"},
		{"mel negative f_min", func(p *Params) { p.Filterbank.FMinHz = -1000 }, "filterbank.f_min_hz", "negative"},
		{"identity too many bins", func(p *Params) { p.Filterbank = Filterbank{Kind: "identity", Bins: 300} }, "filterbank.bins", "exceeds the 256 spectrum rows"},
		{"linear band without bins", func(p *Params) { p.Filterbank = Filterbank{Kind: "linear", Bins: 200, FMinHz: 0, FMaxHz: 10000} }, "filterbank.bins", "holds no FFT bin"},
		{"zero filterbank bins", func(p *Params) { p.Filterbank.Bins = 0 }, "filterbank.bins", "must be in 1..65536, got 0"},
		// Contracts that overflowed int arithmetic or allocated before the size check
		// (first_bin + bins, rows × frames) or spun (10^6 mel bands over n_fft 65536).
		{"first_bin near 2^63", func(p *Params) { p.Filterbank = Filterbank{Kind: "identity", Bins: 64, FirstBin: 1<<63 - 64} }, "filterbank.first_bin", "must be in 0..65535"},
		{"first_bin past the rows", func(p *Params) { p.Filterbank = Filterbank{Kind: "identity", Bins: 64, FirstBin: 200} }, "filterbank.bins", "first_bin 200 + bins 64 exceeds the 256 spectrum rows"},
		{"frames 2^58", func(p *Params) { p.Frames = 1 << 58 }, "frames", "must be in 0..4194304"},
		{"a billion bands", func(p *Params) { p.Filterbank.Bins = 1e9 }, "filterbank.bins", "must be in 1..65536"},
		{"mel bands beyond the spectrum", func(p *Params) {
			p.WindowSamples, p.STFT = 1<<17, STFT{NFFT: 1 << 16, Hop: 1 << 16}
			p.Filterbank.Bins = 1e6
		}, "filterbank.bins", "must be in 1..65536"},
		{"rows × frames", func(p *Params) { p.Filterbank.Bins = 128; p.Frames = 1 << 22 }, "filterbank.bins", "exceeds the 4194304-value limit"},
		{"log kind", func(p *Params) { p.Log.Kind = "log2" }, "log.kind", "unknown value"},
		{"negative epsilon", func(p *Params) { p.Log.Epsilon = -1 }, "log.epsilon", ">= 0"},
		{"fixed std 0", func(p *Params) { p.Normalize = Normalize{Kind: "fixed"} }, "normalize.std", "must be > 0"},
		{"negative min_std", func(p *Params) { p.Normalize.MinStd = -1 }, "normalize.min_std", ">= 0"},
		{"negative frames", func(p *Params) { p.Frames = -1 }, "frames", "must be in 0..4194304, got -1"},
		{"frame_fit", func(p *Params) { p.FrameFit = "end" }, "frame_fit", "unknown value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validParams()
			tc.edit(&p)
			err := p.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if !errors.Is(err, ErrInvalidParams) {
				t.Errorf("error %v does not wrap ErrInvalidParams", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("error %q: want a *FieldError for %q", err, tc.field)
			}
			if !strings.HasPrefix(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q: want %q…%q", err, tc.field+": ", tc.msg)
			}
			if _, err := NewFrontend(p); err == nil {
				t.Error("NewFrontend accepted what Validate refused")
			}
		})
	}
}

// Ensure that Validate reports every broken field, not only the first.
func TestValidate_JoinsAll(t *testing.T) {
	p := validParams()
	p.STFT.Hop = 0
	p.Log.Kind = "log2"
	err := p.Validate()
	for _, f := range []string{"stft.hop: ", "log.kind: "} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error %v does not mention %q", err, f)
		}
	}
}

// Ensure that NewConditioner refuses ratios it cannot meet, naming the field.
func TestNewConditioner_Refuses(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		capture  float64
		shift    float64
		field    string
		sentinel error
	}{
		{"coprime rates", 250000, 2400017, 0, "sample_rate_hz", ErrRatio},
		{"irrational", 250000 * 1.4142135623730951, 2.4e6, 0, "sample_rate_hz", ErrRatio},
		{"huge M", 1, 1e6, 0, "sample_rate_hz", ErrRatio},
		{"shift outside band", 250000, 2.4e6, 1.3e6, "shift_hz", ErrInvalidParams},
		{"zero capture", 250000, 0, 0, "capture rate", ErrInvalidParams},
		{"zero contract rate", 0, 2.4e6, 0, "sample_rate_hz", ErrInvalidParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validParams()
			p.SampleRateHz, p.ShiftHz = tc.rate, tc.shift
			_, err := NewConditioner(p, tc.capture)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tc.sentinel) {
				t.Fatalf("got %v, want a %v on %q", err, tc.sentinel, tc.field)
			}
			if !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
		})
	}
}

func TestRationalRatio(t *testing.T) {
	tests := []struct {
		out, in  float64
		up, down int
	}{
		{250000, 2.4e6, 5, 48},
		{192000, 1.024e6, 3, 16},
		{250000, 2.048e6, 125, 1024},
		{12500, 2.048e6, 25, 4096},
		{250000, 250000, 1, 1},
		{2.4e6, 250000, 48, 5},
		{1000.5, 2001, 1, 2},
	}
	for _, tc := range tests {
		up, down, ok := rationalRatio(tc.out, tc.in, maxRatioTerm)
		if !ok || up != tc.up || down != tc.down {
			t.Errorf("rationalRatio(%g, %g) = %d/%d %v, want %d/%d", tc.out, tc.in, up, down, ok, tc.up, tc.down)
		}
	}
}
