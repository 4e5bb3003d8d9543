package capture

import (
	"context"
	"fmt"
	"math"
	"time"
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

// validate checks a tuning without touching hardware.
func (t Tuning) validate() error {
	if !(t.CenterFreqHz > 0) || t.CenterFreqHz > math.MaxUint32 {
		return fmt.Errorf("%w: center frequency %v Hz (want 1 Hz to 4.29 GHz)", ErrBadConfig, t.CenterFreqHz)
	}
	if !(t.SampleRateHz > 0) || t.SampleRateHz > math.MaxUint32 {
		return fmt.Errorf("%w: sample rate %v S/s", ErrBadConfig, t.SampleRateHz)
	}
	switch t.GainMode {
	case "", GainAuto:
	case GainManual:
		if math.IsNaN(t.GainDB) || t.GainDB < -10 || t.GainDB > 100 {
			return fmt.Errorf("%w: manual gain %v dB", ErrBadConfig, t.GainDB)
		}
	default:
		return fmt.Errorf("%w: gain mode %q (want auto or manual)", ErrBadConfig, t.GainMode)
	}
	if t.DirectSampling < DirectSamplingOff || t.DirectSampling > DirectSamplingQ {
		return fmt.Errorf("%w: direct sampling %d (want 0 off, 1 I, 2 Q)", ErrBadConfig, t.DirectSampling)
	}
	return nil
}

// Backoff is a capped exponential retry schedule.
type Backoff struct {
	// Min is the wait before the second attempt (the first is immediate).
	Min time.Duration
	// Max caps the wait.
	Max time.Duration
}

// delay is the wait before attempt number failures+1 after that many consecutive failures.
func (b Backoff) delay(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := b.Min
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// withDefaults fills zero fields.
func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	b.Max = max(b.Max, b.Min)
	return b
}

// sleepCtx waits d unless ctx or done ends first.
func sleepCtx(ctx context.Context, d time.Duration, done <-chan struct{}) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	}
}
