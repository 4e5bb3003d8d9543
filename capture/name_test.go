package capture

import (
	"errors"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		in   string
		want Meta
	}{
		{"g001_433.92M_250k.cu8", Meta{Path: "g001_433.92M_250k.cu8", Format: FormatCU8, CenterFreqHz: 433.92e6, SampleRateHz: 250e3}},
		{"/x/rtl_433_tests/foo_868.3M_1024k.cs16", Meta{Path: "/x/rtl_433_tests/foo_868.3M_1024k.cs16", Format: FormatCS16, CenterFreqHz: 868.3e6, SampleRateHz: 1024e3}},
		{"cap_915000000Hz_2400000sps.cf32", Meta{Path: "cap_915000000Hz_2400000sps.cf32", Format: FormatCF32, CenterFreqHz: 915e6, SampleRateHz: 2.4e6}},
		{"cap_868.3MHz_2.4Msps.CS8", Meta{Path: "cap_868.3MHz_2.4Msps.CS8", Format: FormatCS8, CenterFreqHz: 868.3e6, SampleRateHz: 2.4e6}},
		{"cap_1GHz_250ksps_2.5kHz.cu8", Meta{}}, // two frequencies: error, checked below
		// 2.4M is a frequency, as in rtl_433: "1M is not a rate".
		{"x_2.4M.cu8", Meta{Path: "x_2.4M.cu8", Format: FormatCU8, CenterFreqHz: 2.4e6}},
		// 433920k is a rate, not a frequency.
		{"x_433920k.cu8", Meta{Path: "x_433920k.cu8", Format: FormatCU8, SampleRateHz: 433.92e6}},
		{"gfile002.data", Meta{Path: "gfile002.data", Format: FormatCU8, CenterFreqHz: 433.92e6, SampleRateHz: 250e3, FreqDefaulted: true, RateDefaulted: true}},
		{"g_868.3M.data", Meta{Path: "g_868.3M.data", Format: FormatCU8, CenterFreqHz: 868.3e6, SampleRateHz: 250e3, RateDefaulted: true}},
		{"a.complex16u", Meta{Path: "a.complex16u", Format: FormatCU8}},
		{"a.complex16s", Meta{Path: "a.complex16s", Format: FormatCS8}},
		{"a.cfile", Meta{Path: "a.cfile", Format: FormatCF32}},
		{"a.complex", Meta{Path: "a.complex", Format: FormatCF32}},
		{"cs16:urh/homematic.complex32s", Meta{Path: "urh/homematic.complex32s", Format: FormatCS16}},
		{"cs16:250k:dir/a.bin", Meta{Path: "dir/a.bin", Format: FormatCS16, SampleRateHz: 250e3}},
		{"cf32:a_433.92M_250k.cu8", Meta{Path: "a_433.92M_250k.cu8", Format: FormatCF32, CenterFreqHz: 433.92e6, SampleRateHz: 250e3}},
		{"rec_cs16_1000k.bin", Meta{Path: "rec_cs16_1000k.bin", Format: FormatCS16, SampleRateHz: 1e6}},
		{"fm_station_q_100.1M.cu8", Meta{Path: "fm_station_q_100.1M.cu8", Format: FormatCU8, CenterFreqHz: 100.1e6}},
		{"a_433.92M_433.92M.cu8", Meta{Path: "a_433.92M_433.92M.cu8", Format: FormatCU8, CenterFreqHz: 433.92e6}},
		{"rec.sigmf-meta", Meta{Path: "rec.sigmf-meta", Container: ContainerSigMF}},
		{"rec.sigmf-data", Meta{Path: "rec.sigmf-data", Container: ContainerSigMF}},
		{"rec_433M.sigmf", Meta{Path: "rec_433M.sigmf", Container: ContainerSigMFArchive}},
		{"x_433._250k.cu8", Meta{Path: "x_433._250k.cu8", Format: FormatCU8, SampleRateHz: 250e3}},
	}
	for _, tc := range tests {
		if tc.want.Path == "" {
			continue
		}
		got, err := ParseName(tc.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseName(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseName_Errors(t *testing.T) {
	tests := []struct {
		in      string
		want    error
		mention string
	}{
		{"a_433.92M_868.3M.cu8", ErrContradictoryName, `"433.92M" and "868.3M"`},
		{"a_250k_1024k.cu8", ErrContradictoryName, `"250k" and "1024k"`},
		{"a_250k_2.4Msps.cu8", ErrContradictoryName, "two sample rates"},
		{"a_cs16.cu8", ErrContradictoryName, "two formats"},
		{"cu8:cs16:a.bin", ErrContradictoryName, "two formats"},
		{"a_0k.cu8", ErrBadName, `"0k"`},
		{"recording.wav", ErrUnknownFormat, `".wav"`},
		{"recording", ErrUnknownFormat, "extension"},
		{"a.cs32", ErrUnsupportedFormat, `"cs32"`},
		{"am:s16:a.bin", ErrUnsupportedFormat, "am"},
		{"cs16:", ErrUnknownFormat, "no file name"},
		{"", ErrUnknownFormat, "empty"},
		{"cu8:x.sigmf-meta", ErrContradictoryName, "SigMF"},
	}
	for _, tc := range tests {
		_, err := ParseName(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseName(%q) err = %v, want %v", tc.in, err, tc.want)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.mention) || strings.Contains(msg, "\n") {
			t.Errorf("ParseName(%q) err = %q, want one line mentioning %q", tc.in, msg, tc.mention)
		}
	}
}
