package dsp_test

import (
	"fmt"
	"math"

	"github.com/heimdall/edged/dsp"
)

// A 2.4 MS/s capture with a carrier 100 kHz above its centre, brought to a 250 kS/s contract
// whose channel of interest is that carrier, then turned into features and measured.
func Example() {
	p := dsp.Params{
		SampleRateHz:  250000,
		ShiftHz:       100000,
		WindowSamples: 16384,
		RemoveDC:      true,
		STFT:          dsp.STFT{NFFT: 1024, Hop: 512},
		Filterbank:    dsp.Filterbank{Kind: "mel", Bins: 64, Scale: "htk"},
		Log:           dsp.Log{Kind: "db"},
		Normalize:     dsp.Normalize{Kind: "global", MinStd: 1e-8},
	}
	if err := p.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	cond, err := dsp.NewConditioner(p, 2.4e6)
	if err != nil {
		fmt.Println(err)
		return
	}
	fe, err := dsp.NewFrontend(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Capture: a carrier at +100 kHz + 4883 Hz (20 bins of the contract's FFT), with noise.
	capture := make([]complex64, 240000)
	seed := uint32(1)
	for i := range capture {
		seed = seed*1664525 + 1013904223
		noise := float64(seed>>16)/65536 - 0.5
		ph := 2 * math.Pi * (100000 + 4882.8125) * float64(i) / 2.4e6
		capture[i] = complex(float32(0.3*math.Cos(ph)+0.05*noise), float32(0.3*math.Sin(ph)))
	}
	iq := cond.Process(nil, capture)
	up, down := cond.Ratio()
	rows, frames := fe.Shape()
	dst := make([]float32, rows*frames)
	m, err := fe.Features(iq[:p.WindowSamples], dst)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("ratio %d/%d, %d conditioned samples, features %d×%d\n", up, down, len(iq), rows, frames)
	fmt.Printf("gate open: %v, peak offset %.1f Hz\n", m.SNRDB > 10, m.OffsetHz)
	// Output:
	// ratio 5/48, 24984 conditioned samples, features 64×31
	// gate open: true, peak offset 4882.8 Hz
}
