package configs

import _ "embed"

// DemoName is the bundled recording's file name, which tells the file source its format,
// rate and centre frequency as rtl_433 names recordings.
const DemoName = "synth_D_433.92M_250k.cu8"

// Demo is the bundled synthetic recording the embedded defaults replay (source.file.path
// capture.DemoPath): reference beacon D bursting at 20 dB SNR in every other 16384-sample
// window, eight windows long. `make reference` rewrites it; a test in internal/synth checks
// it is exactly synth.DemoSpec's output.
//
//go:embed demo/synth_D_433.92M_250k.cu8
var Demo []byte
