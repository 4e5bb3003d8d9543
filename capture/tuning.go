package capture

import (
	"math"

	"github.com/heimdall/edged/configs/check"
)

// GainMode selects automatic or manual tuner gain.
type GainMode string

// Gain modes.
const (
	// GainAuto lets the tuner's AGC choose the gain (rtl_433's -g 0).
	GainAuto GainMode = "auto"
	// GainManual sets Tuning.GainDB (the nearest gain the tuner supports).
	GainManual GainMode = "manual"
)

// DirectSampling selects the RTL2832's direct-sampling input, used below the tuner's range
// (HF with a modified dongle).
type DirectSampling int

// Direct-sampling inputs, numbered as librtlsdr and rtl_tcp number them.
const (
	DirectSamplingOff DirectSampling = 0
	DirectSamplingI   DirectSampling = 1
	DirectSamplingQ   DirectSampling = 2
)

// Tuning is how an RTL-SDR front end is set up, over USB or rtl_tcp alike.
type Tuning struct {
	// CenterFreqHz is the frequency to tune to.
	CenterFreqHz float64
	// SampleRateHz is the sample rate in S/s (RTL2832: 225001–300000 or 900001–3200000).
	SampleRateHz float64
	// GainMode is auto (the default when empty) or manual.
	GainMode GainMode
	// GainDB is the manual tuner gain; the nearest supported step is used.
	GainDB float64
	// PPM corrects the crystal's frequency error in parts per million.
	PPM int
	// AGC turns on the RTL2832's digital AGC (not the tuner's).
	AGC bool
	// BiasTee powers an active antenna or LNA through the coax (RTL-SDR Blog v3 and later).
	BiasTee bool
	// DirectSampling selects the I or Q ADC input directly, bypassing the tuner.
	DirectSampling DirectSampling
	// OffsetTuning turns on the E4000's offset tuning (avoids the DC spike).
	OffsetTuning bool
}

// Validate checks a tuning without touching hardware. Errors are keyed by the names
// edged.yaml gives the fields and match ErrBadConfig.
func (t Tuning) Validate() error {
	l := check.NewList(ErrBadConfig)
	// rtl_tcp and librtlsdr carry both as a uint32.
	l.Positive("center_freq_hz", t.CenterFreqHz, math.MaxUint32, "Hz")
	l.Positive("sample_rate_hz", t.SampleRateHz, math.MaxUint32, "S/s")
	switch t.GainMode {
	case "", GainAuto:
	case GainManual:
		l.Number("gain_db", t.GainDB, -10, 100, "dB")
	default:
		l.Add("gain_mode", "%q: want auto or manual", t.GainMode)
	}
	l.Int("ppm", int64(t.PPM), -maxPPM, maxPPM)
	if t.DirectSampling < DirectSamplingOff || t.DirectSampling > DirectSamplingQ {
		l.Add("direct_sampling", "%d: want 0 (off), 1 (I) or 2 (Q)", t.DirectSampling)
	}
	return l.Err()
}

// checkRTL2832Rate refuses a sample rate the RTL2832 cannot produce: librtlsdr's
// rtlsdr_set_sample_rate takes 225001–300000 and 900001–3200000 S/s only
// (https://github.com/osmocom/rtl-sdr/blob/master/src/librtlsdr.c). rtl_tcp servers are
// not checked against it: some front other hardware.
func checkRTL2832Rate(hz float64) error {
	if (hz > 225000 && hz <= 300000) || (hz > 900000 && hz <= 3200000) {
		return nil
	}
	return check.Errorf(ErrBadConfig, "sample_rate_hz", "%v: the RTL2832 takes 225001 to 300000 or 900001 to 3200000 S/s", hz)
}
