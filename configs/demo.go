package configs

import (
	_ "embed"

	"github.com/heimdall/edged/internal/synth"
)

// DemoName is the bundled recording's file name, which tells the file source its format,
// rate and centre frequency as rtl_433 names recordings.
const DemoName = "synth_D_433.92M_250k.cu8"

// Demo is the bundled synthetic recording the embedded defaults replay: reference beacon D
// bursting at 20 dB SNR in every other 16384-sample window, eight windows long. `make
// reference` rewrites it; a test checks it is exactly DemoSpec's output.
//
//go:embed demo/synth_D_433.92M_250k.cu8
var Demo []byte

// DemoSpec is how Demo was made.
var DemoSpec = synth.Spec{Format: "cu8", SampleRateHz: 250000, CenterFreqHz: 433.92e6, OffsetHz: -15625,
	SNRDB: 20, WindowSamples: 16384, Windows: 8, Bursted: []int{1, 3, 5, 7}, Seed: 1}
