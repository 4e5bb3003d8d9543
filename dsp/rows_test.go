package dsp

import (
	"fmt"
	"testing"
)

// Ensure RowsHz gives each row's centre frequency: FFT bin frequencies for identity rows in
// the contract's bin order, band centres for linear rows, and for mel rows increasing
// centres, rows too narrow to hold a bin included.
func TestRowsHz(t *testing.T) {
	base := Params{SampleRateHz: 8, WindowSamples: 16, STFT: STFT{NFFT: 8, Hop: 8}}
	cases := []struct {
		name string
		bins string
		fb   Filterbank
		want string
	}{
		{"centered identity", "centered", Filterbank{Kind: "identity", Bins: 8}, "[-4 -3 -2 -1 0 1 2 3]"},
		{"natural identity", "natural", Filterbank{Kind: "identity", Bins: 8}, "[0 1 2 3 -4 -3 -2 -1]"},
		{"linear bands", "centered", Filterbank{Kind: "linear", Bins: 4, FMinHz: -4, FMaxHz: 4}, "[-3.5 -1.5 0.5 2.5]"},
	}
	for _, c := range cases {
		p := base
		p.STFT.Bins, p.Filterbank = c.bins, c.fb
		fe, err := NewFrontend(p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := fmt.Sprint(fe.RowsHz()); got != c.want {
			t.Errorf("%s: RowsHz = %s, want %s", c.name, got, c.want)
		}
	}

	// 40 mel filters over 17 one-sided bins: several filters hold no bin.
	p := Params{SampleRateHz: 32000, WindowSamples: 64, Input: "magnitude",
		STFT: STFT{NFFT: 32, Hop: 32, Bins: "onesided"}, Filterbank: Filterbank{Kind: "mel", Bins: 40, FMaxHz: 16000}}
	fe, err := NewFrontend(p)
	if err != nil {
		t.Fatal(err)
	}
	hz := fe.RowsHz()
	for r := 1; r < len(hz); r++ {
		if !(hz[r] >= hz[r-1]) {
			t.Fatalf("mel rows not increasing at %d: %v", r, hz)
		}
	}
	if hz[0] < 0 || hz[len(hz)-1] > 16000 || hz[len(hz)-1] <= hz[0] {
		t.Fatalf("mel rows span %v to %v Hz", hz[0], hz[len(hz)-1])
	}
}
