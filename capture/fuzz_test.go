package capture

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"g001_433.92M_250k.cu8", "cs16:urh/homematic.complex32s", "a_433.92M_868.3M.cu8",
		"x.sigmf-meta", "cap_915000000Hz_2400000sps.cf32", "am:s16:a.bin", "gfile001.data", "1.2.3.4k:5M.cs8", "C:\\x.cu8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		m, err := ParseName(name)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(name, "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			return
		}
		if m.Container == ContainerRaw && !m.Format.Valid() {
			t.Errorf("ParseName(%q) accepted invalid format %q", name, m.Format)
		}
		for _, v := range []float64{m.CenterFreqHz, m.SampleRateHz} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("ParseName(%q) gave %v", name, v)
			}
		}
		if !strings.HasSuffix(name, m.Path) {
			t.Errorf("Path %q is not the end of %q", m.Path, name)
		}
	})
}

func FuzzSigMFMeta(f *testing.F) {
	f.Add([]byte(`{"global":{"core:datatype":"cu8","core:sample_rate":2048000,"core:version":"1.2.0"},"captures":[{"core:sample_start":0,"core:frequency":433920000,"core:datetime":"2025-01-01T00:00:00Z"}],"annotations":[]}`))
	f.Add([]byte(`{"global":{"core:datatype":"ri16_le","core:num_channels":2,"core:sample_rate":48000},"captures":[],"annotations":[]}`))
	f.Add([]byte(`{"global":{"core:datatype":"cf32_le"},"captures":[{"core:frequency":1e9},{"core:frequency":2e9}]}`))
	f.Add([]byte(`{"global":{"core:datatype":"ci16_le","core:sample_rate":-1}}`))
	f.Add([]byte(`{"global":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseSigMFMeta(data)
		if err != nil {
			return
		}
		if !m.Format.Valid() {
			t.Errorf("accepted datatype %q with format %q", m.Datatype, m.Format)
		}
		if m.SampleRateHz < 0 || math.IsNaN(m.SampleRateHz) || math.IsInf(m.SampleRateHz, 0) {
			t.Errorf("sample rate %v", m.SampleRateHz)
		}
		if math.IsNaN(m.CenterFreqHz) || math.IsInf(m.CenterFreqHz, 0) {
			t.Errorf("centre %v", m.CenterFreqHz)
		}
	})
}

// referenceSample decodes sample i of src the slow, obvious way.
func referenceSample(src []byte, f Format, i int) complex64 {
	switch f {
	case FormatCU8:
		return complex((float32(src[2*i])-127.5)/127.5, (float32(src[2*i+1])-127.5)/127.5)
	case FormatCS8:
		return complex(float32(int8(src[2*i]))/128, float32(int8(src[2*i+1]))/128)
	case FormatCS16:
		return complex(float32(int16(binary.LittleEndian.Uint16(src[4*i:])))/32768, float32(int16(binary.LittleEndian.Uint16(src[4*i+2:])))/32768)
	default:
		return complex(math.Float32frombits(binary.LittleEndian.Uint32(src[8*i:])), math.Float32frombits(binary.LittleEndian.Uint32(src[8*i+4:])))
	}
}

func FuzzConvert(f *testing.F) {
	f.Add([]byte{0, 255, 127, 128, 1}, uint8(0), uint16(8))
	f.Add([]byte{0x80, 0x7f, 0, 1}, uint8(1), uint16(1))
	f.Add([]byte{0, 0x80, 0xff, 0x7f, 0, 0}, uint8(2), uint16(4))
	f.Add([]byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x7f}, uint8(3), uint16(2))
	f.Fuzz(func(t *testing.T, src []byte, which uint8, dstLen uint16) {
		format := Formats[int(which)%len(Formats)]
		dst := make([]complex64, int(dstLen)%4096)
		n, ov, err := Convert(dst, src, format)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(len(dst), len(src)/format.BytesPerSample()); n != want {
			t.Fatalf("n = %d, want %d", n, want)
		}
		rails := 0
		for i := range n {
			w := referenceSample(src, format, i)
			got := dst[i]
			if math.Float32bits(real(got)) != math.Float32bits(real(w)) || math.Float32bits(imag(got)) != math.Float32bits(imag(w)) {
				t.Fatalf("%s sample %d = %v, want %v", format, i, got, w)
			}
			if format == FormatCU8 && (src[2*i] == 0 || src[2*i] == 255 || src[2*i+1] == 0 || src[2*i+1] == 255) {
				rails++
			}
		}
		if ov != rails {
			t.Fatalf("overload = %d, want %d", ov, rails)
		}
	})
}

// FuzzParseHz checks the one SI-suffix parser behind the -f/-s flags, the API's query
// parameters and recording names: a value it accepts is finite and positive, and agrees
// with the name scanner on the tokens both read.
func FuzzParseHz(f *testing.F) {
	for _, s := range []string{"433.92M", "250k", "868.3MHz", "2.4Msps", "915000000", "1G", "1e6Hz", "0x1p20", "inf", "12q", " 1024k "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseHz(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			return
		}
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("ParseHz(%q) = %v, want finite and positive", s, v)
		}
		// A plain decimal token with M or k reads the same as a file name token.
		num, unit, ok := splitPlainToken(s)
		if !ok {
			return
		}
		m, err := ParseName("x_" + num + unit + ".cu8")
		if err != nil {
			return
		}
		if got := m.CenterFreqHz + m.SampleRateHz; got != v {
			t.Errorf("ParseHz(%q) = %v but the name token reads %v", s, v, got)
		}
	})
}

// splitPlainToken splits digits[.digits] followed by M or k, the tokens both parsers read.
func splitPlainToken(s string) (num, unit string, ok bool) {
	if len(s) < 2 {
		return "", "", false
	}
	num, unit = s[:len(s)-1], s[len(s)-1:]
	if unit != "M" && unit != "k" {
		return "", "", false
	}
	dot := false
	for i := 0; i < len(num); i++ {
		switch c := num[i]; {
		case c == '.' && !dot && i > 0 && i < len(num)-1:
			dot = true
		case c < '0' || c > '9':
			return "", "", false
		}
	}
	return num, unit, true
}
