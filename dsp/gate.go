package dsp

import "github.com/heimdall/edged/configs/check"

// GateConfig is the `gate:` section of edged.yaml: the signal gate in front of inference.
type GateConfig struct {
	// SNRDB is the threshold: a window whose Measure.SNRDB is below it (or NaN) gives no fix.
	SNRDB float64 `yaml:"snr_db"`
}

// DefaultGateConfig is the section's default: 10 dB, where the reference model's fixes
// become useful.
func DefaultGateConfig() GateConfig { return GateConfig{SNRDB: 10} }

// Validate refuses a threshold that is not a finite number within ±1000 dB. Any window's
// SNR is far inside that (float32 samples span about 1500 dB), so the bounds still let an
// operator pass every window or none.
func (g GateConfig) Validate() error {
	l := check.NewList(nil)
	l.Number("snr_db", g.SNRDB, -1000, 1000, "dB")
	return l.Err()
}
