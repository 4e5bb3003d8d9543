//go:build !rtlsdr

package capture

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenRTLSDR_Stub(t *testing.T) {
	_, err := OpenRTLSDR(RTLSDRConfig{Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: 250e3}}, nil)
	if !errors.Is(err, ErrNoRTLSDRSupport) || !strings.Contains(err.Error(), "edged built without RTL-SDR support") {
		t.Fatalf("err = %v, want ErrNoRTLSDRSupport", err)
	}
}
