package capture

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestConvert_Scaling(t *testing.T) {
	f32 := func(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) }
	cf32 := append(append(f32(0.25), f32(-1.5)...), append(f32(1), f32(0)...)...)
	tests := []struct {
		name  string
		f     Format
		src   []byte
		want  []complex64
		wantO int
	}{
		{"cu8 rails and middle", FormatCU8, []byte{0, 255, 127, 128, 255, 10}, []complex64{complex(-1, 1), complex(-0.5/127.5, 0.5/127.5), complex(1, (10-127.5)/127.5)}, 2},
		{"cs8", FormatCS8, []byte{0x80, 0x7f, 0, 0x40}, []complex64{complex(-1, 127.0/128), complex(0, 0.5)}, 0},
		{"cs16 little-endian", FormatCS16, []byte{0x00, 0x80, 0xff, 0x7f, 0x00, 0x40, 0x01, 0x00}, []complex64{complex(-1, 32767.0/32768), complex(0.5, 1.0/32768)}, 0},
		{"cf32 as stored", FormatCF32, cf32, []complex64{complex(0.25, -1.5), complex(1, 0)}, 0},
		{"trailing partial sample ignored", FormatCS16, []byte{0, 0x40, 0, 0xc0, 1}, []complex64{complex(0.5, -0.5)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]complex64, 8)
			n, ov, err := Convert(dst, tc.src, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tc.want) || ov != tc.wantO {
				t.Fatalf("Convert = %d samples, %d overloaded; want %d, %d", n, ov, len(tc.want), tc.wantO)
			}
			for i, w := range tc.want {
				if dst[i] != w {
					t.Errorf("sample %d = %v, want %v", i, dst[i], w)
				}
			}
		})
	}
}

func TestConvert_ShortDestination(t *testing.T) {
	dst := make([]complex64, 1)
	n, _, err := Convert(dst, []byte{1, 2, 3, 4, 5, 6}, FormatCU8)
	if err != nil || n != 1 {
		t.Fatalf("Convert = %d, %v; want 1 sample", n, err)
	}
}

func TestConvert_UnknownFormat(t *testing.T) {
	_, _, err := Convert(make([]complex64, 4), make([]byte, 8), "cs32")
	if !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("err = %v, want ErrUnknownFormat", err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"cu8": FormatCU8, "CS16": FormatCS16, "data": FormatCU8, "complex16s": FormatCS8, "cfile": FormatCF32, "complex": FormatCF32, "complex16u": FormatCU8, "cf32": FormatCF32} {
		got, err := ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFormat("cs32"); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("ParseFormat(cs32) err = %v, want ErrUnsupportedFormat", err)
	}
	if _, err := ParseFormat("wav"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(wav) err = %v, want ErrUnknownFormat", err)
	}
}

func TestParseHz(t *testing.T) {
	good := map[string]float64{"433.92M": 433.92e6, "250k": 250e3, "868.3MHz": 868.3e6, "2.4Msps": 2.4e6,
		"915000000": 915e6, "915000000Hz": 915e6, "1G": 1e9, "250ksps": 250e3, " 1024k ": 1024e3}
	for in, want := range good {
		got, err := ParseHz(in)
		if err != nil || math.Abs(got-want) > 1e-3 {
			t.Errorf("ParseHz(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "-5M", "0", "abc", "NaN", "1e400", "12q"} {
		if v, err := ParseHz(in); err == nil {
			t.Errorf("ParseHz(%q) = %v, want an error", in, v)
		}
	}
}

// benchConvert reports conversion speed in MS/s on one core.
func benchConvert(b *testing.B, f Format) {
	const n = 1 << 16
	src := make([]byte, n*f.BytesPerSample())
	for i := range src {
		src[i] = byte(i * 7)
	}
	if f == FormatCF32 {
		for i := 0; i < len(src); i += 4 {
			binary.LittleEndian.PutUint32(src[i:], math.Float32bits(float32(i)/float32(len(src))))
		}
	}
	dst := make([]complex64, n)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Convert(dst, src, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds()/1e6, "MS/s")
}

func BenchmarkConvertCU8(b *testing.B)  { benchConvert(b, FormatCU8) }
func BenchmarkConvertCS8(b *testing.B)  { benchConvert(b, FormatCS8) }
func BenchmarkConvertCS16(b *testing.B) { benchConvert(b, FormatCS16) }
func BenchmarkConvertCF32(b *testing.B) { benchConvert(b, FormatCF32) }

// TestConvert_CU8MatchesReference covers the four-samples-per-word path, with rails in every
// byte position, against the one-sample-at-a-time definition.
func TestConvert_CU8MatchesReference(t *testing.T) {
	src := make([]byte, 2*1003)
	for i := range src {
		switch {
		case i%11 == 0:
			src[i] = 0
		case i%13 == 0:
			src[i] = 255
		default:
			src[i] = byte(i*37 + 1)
		}
	}
	dst := make([]complex64, 1003)
	n, ov, err := Convert(dst, src, FormatCU8)
	if err != nil || n != 1003 {
		t.Fatalf("Convert = %d, %v", n, err)
	}
	rails := 0
	for i := range n {
		if want := referenceSample(src, FormatCU8, i); dst[i] != want {
			t.Fatalf("sample %d = %v, want %v", i, dst[i], want)
		}
		a, b := src[2*i], src[2*i+1]
		if a == 0 || a == 255 || b == 0 || b == 255 {
			rails++
		}
	}
	if ov != rails || rails == 0 {
		t.Errorf("overload = %d, want %d", ov, rails)
	}
}

// Ensure the SI parser reads multiplier and unit as rtl_433 does, so the flags and the name
// scanner, which share it, agree: M is mega (never milli), units are Hz or sps.
func TestParseSI(t *testing.T) {
	for _, tc := range []struct {
		num, suffix string
		value       float64
		prefix      byte
		unit        string
		ok          bool
	}{
		{"433.92", "M", 433.92e6, 'm', "", true},
		{"433.92", "m", 433.92e6, 'm', "", true},
		{"250", "k", 250e3, 'k', "", true},
		{"1", "G", 1e9, 'g', "", true},
		{"868.3", "MHz", 868.3e6, 'm', "hz", true},
		{"915000000", "Hz", 915e6, 0, "hz", true},
		{"2.4", "Msps", 2.4e6, 'm', "sps", true},
		{"250000", "sps", 250e3, 0, "sps", true},
		{"5", "", 5, 0, "", true},
		{"5", "x", 0, 0, "", false},
		{"5", "kk", 0, 0, "", false},
		{"5", "hzk", 0, 0, "", false},
		{"", "k", 0, 0, "", false},
		{"NaN", "", 0, 0, "", false},
	} {
		q, ok := parseSI(tc.num, tc.suffix)
		if ok != tc.ok || (ok && (math.Abs(q.value-tc.value) > 1e-6 || q.prefix != tc.prefix || q.unit != tc.unit)) {
			t.Errorf("parseSI(%q, %q) = %+v, %v; want {%v %q %q}, %v", tc.num, tc.suffix, q, ok, tc.value, tc.prefix, tc.unit, tc.ok)
		}
	}
}
