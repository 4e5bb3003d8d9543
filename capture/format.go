package capture

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Format is a raw interleaved I/Q sample layout, named as rtl_433 names it.
type Format string

// The raw formats edged replays. Each sample is an I value followed by a Q value.
const (
	// FormatCU8 is unsigned 8-bit I/Q, the RTL-SDR's native output; 127.5 is zero.
	FormatCU8 Format = "cu8"
	// FormatCS8 is signed 8-bit I/Q (HackRF, SigMF ci8).
	FormatCS8 Format = "cs8"
	// FormatCS16 is signed 16-bit little-endian I/Q (SoapySDR, SigMF ci16_le).
	FormatCS16 Format = "cs16"
	// FormatCF32 is 32-bit little-endian float I/Q (GNU Radio .cfile, SigMF cf32_le).
	FormatCF32 Format = "cf32"
)

// Formats lists every raw format edged replays, for flag help and validation.
var Formats = []Format{FormatCU8, FormatCS8, FormatCS16, FormatCF32}

// formatAliases maps rtl_433's compatibility extensions to the formats they stand for.
var formatAliases = map[string]Format{
	"data":       FormatCU8, // rtl_433's old grabber files
	"complex16u": FormatCU8,
	"complex16s": FormatCS8,
	"cfile":      FormatCF32, // GNU Radio file sink
	"complex":    FormatCF32,
}

// unsupportedFormats are format tokens rtl_433 recognises but edged does not replay, so that
// naming one gives "unsupported" rather than silently falling back to another format.
var unsupportedFormats = map[string]bool{
	"cs32": true, "cu16": true, "cs4": true, "cu4": true, "cs12": true, "cu12": true,
	"cf64": true, "u8": true, "s8": true, "u16": true, "s16": true, "u32": true, "s32": true,
	"f32": true, "am": true, "fm": true, "i": true, "q": true, "logic": true, "vcd": true,
	"ook": true,
}

// ParseFormat reads a format name (cu8, cs8, cs16, cf32) or an rtl_433 alias (data,
// complex16u, complex16s, cfile, complex), case-insensitively.
func ParseFormat(s string) (Format, error) {
	f, ok := lookupFormat(strings.ToLower(s))
	if !ok {
		if unsupportedFormats[strings.ToLower(s)] {
			return "", fmt.Errorf("%w %q (edged reads cu8, cs8, cs16, cf32)", ErrUnsupportedFormat, s)
		}
		return "", fmt.Errorf("%w %q (want cu8, cs8, cs16 or cf32)", ErrUnknownFormat, s)
	}
	return f, nil
}

// lookupFormat maps a lower-case token to a format.
func lookupFormat(tok string) (Format, bool) {
	switch Format(tok) {
	case FormatCU8, FormatCS8, FormatCS16, FormatCF32:
		return Format(tok), true
	}
	f, ok := formatAliases[tok]
	return f, ok
}

// BytesPerSample is the size of one complex sample (I and Q) in this format, or 0 for an
// unknown format.
func (f Format) BytesPerSample() int {
	switch f {
	case FormatCU8, FormatCS8:
		return 2
	case FormatCS16:
		return 4
	case FormatCF32:
		return 8
	}
	return 0
}

// Valid reports whether f is one of the formats edged converts.
func (f Format) Valid() bool { return f.BytesPerSample() != 0 }

// cu8Table holds (b-127.5)/127.5 for every byte, so converting cu8 is two loads per sample;
// that is what makes cu8 fast enough for 2.4 MS/s on a Pi with room to spare.
var cu8Table = func() (t [256]float32) {
	for i := range t {
		t[i] = (float32(i) - 127.5) / 127.5
	}
	return t
}()

// railTable is 1 for the cu8 codes at the ADC's rails (0 and 255).
var railTable = func() (t [256]uint8) {
	t[0], t[255] = 1, 1
	return t
}()

// Convert decodes the whole samples at the start of src into dst, min(len(dst),
// len(src)/BytesPerSample) of them, and returns how many it wrote and how many of those were
// overloaded (an I or Q byte at 0 or 255; counted for cu8 only, where the rails are known).
// Scaling: cu8 (b−127.5)/127.5, cs8 b/128, cs16 v/32768, cf32 as stored.
func Convert(dst []complex64, src []byte, f Format) (n int, overload int, err error) {
	bps := f.BytesPerSample()
	if bps == 0 {
		return 0, 0, fmt.Errorf("convert: %w %q", ErrUnknownFormat, string(f))
	}
	n = min(len(dst), len(src)/bps)
	switch f {
	case FormatCU8:
		overload = convertCU8(dst[:n], src[:2*n])
	case FormatCS8:
		convertCS8(dst[:n], src[:2*n])
	case FormatCS16:
		convertCS16(dst[:n], src[:4*n])
	case FormatCF32:
		convertCF32(dst[:n], src[:8*n])
	}
	return n, overload, nil
}

// convertCU8 converts len(dst) cu8 samples and returns how many touched a rail. It takes
// four samples per 64-bit load and finds rail bytes in the same word with SWAR arithmetic,
// which is about 15 % faster than a byte-at-a-time loop.
func convertCU8(dst []complex64, src []byte) int {
	n := len(dst)
	src = src[:2*n]
	ov, i := 0, 0
	for ; i+4 <= n; i += 4 {
		x := binary.LittleEndian.Uint64(src[2*i:])
		d := dst[i : i+4 : i+4]
		d[0] = complex(cu8Table[byte(x)], cu8Table[byte(x>>8)])
		d[1] = complex(cu8Table[byte(x>>16)], cu8Table[byte(x>>24)])
		d[2] = complex(cu8Table[byte(x>>32)], cu8Table[byte(x>>40)])
		d[3] = complex(cu8Table[byte(x>>48)], cu8Table[byte(x>>56)])
		if m := zeroBytes(x) | zeroBytes(^x); m != 0 {
			// Bit 7 of each byte marks a rail; fold each sample's Q flag onto its I flag.
			ov += bits.OnesCount64((m | m>>8) & 0x0080008000800080)
		}
	}
	for ; i < n; i++ {
		a, b := src[2*i], src[2*i+1]
		dst[i] = complex(cu8Table[a], cu8Table[b])
		ov += int(railTable[a] | railTable[b])
	}
	return ov
}

// zeroBytes sets bit 7 of every byte of x that is zero, and no other bit (the exact form of
// the "has zero byte" trick, without false positives from borrows).
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^(((x & low7) + low7) | x | low7)
}

// convertCS8 converts len(dst) cs8 samples.
func convertCS8(dst []complex64, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = complex(float32(int8(src[2*i]))/128, float32(int8(src[2*i+1]))/128)
	}
}

// convertCS16 converts len(dst) little-endian cs16 samples.
func convertCS16(dst []complex64, src []byte) {
	src = src[:4*len(dst)]
	const scale = 1.0 / 32768
	for i := range dst {
		s := src[4*i : 4*i+4]
		re := int16(binary.LittleEndian.Uint16(s[0:2]))
		im := int16(binary.LittleEndian.Uint16(s[2:4]))
		dst[i] = complex(float32(re)*scale, float32(im)*scale)
	}
}

// convertCF32 converts len(dst) little-endian cf32 samples.
func convertCF32(dst []complex64, src []byte) {
	src = src[:8*len(dst)]
	for i := range dst {
		s := src[8*i : 8*i+8]
		re := math.Float32frombits(binary.LittleEndian.Uint32(s[0:4]))
		im := math.Float32frombits(binary.LittleEndian.Uint32(s[4:8]))
		dst[i] = complex(re, im)
	}
}
