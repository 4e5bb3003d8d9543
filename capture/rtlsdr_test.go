//go:build rtlsdr

package capture

import (
	"errors"
	"strings"
	"testing"
)

// TestOpenRTLSDR_NoDevice runs on machines without a dongle (CI): opening must fail with
// ErrNoDevice and the words an operator will search for.
func TestOpenRTLSDR_NoDevice(t *testing.T) {
	for _, cfg := range []RTLSDRConfig{
		{Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: 250e3}},
		{Serial: "edged-test-no-such-serial", Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: 250e3, GainMode: GainManual, GainDB: 40}},
	} {
		s, err := OpenRTLSDR(cfg, nil)
		if err == nil {
			s.Close()
			t.Skip("skipped: an RTL-SDR dongle is attached, so the no-device path cannot be tested")
		}
		if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "no RTL-SDR device found") || strings.Contains(err.Error(), "\n") {
			t.Errorf("OpenRTLSDR(%+v) err = %v, want one line wrapping ErrNoDevice", cfg, err)
		}
	}
}

func TestOpenRTLSDR_BadConfig(t *testing.T) {
	_, err := OpenRTLSDR(RTLSDRConfig{Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: 250e3}, BufferBytes: 1000}, nil)
	if !errors.Is(err, ErrBadConfig) {
		t.Errorf("err = %v, want ErrBadConfig", err)
	}
}
