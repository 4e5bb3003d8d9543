package capture

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// Container says how a recording is stored on disk.
type Container int

// The containers edged reads.
const (
	// ContainerRaw is a headerless file of interleaved I/Q samples.
	ContainerRaw Container = iota
	// ContainerSigMF is a .sigmf-meta + .sigmf-data pair (either name may be given).
	ContainerSigMF
	// ContainerSigMFArchive is a .sigmf tar archive holding one meta and one data member.
	ContainerSigMFArchive
)

// rtl_433's defaults (-f 433.92M -s 250k), which its old grabber files (.data) were recorded
// with and whose names therefore say nothing.
const (
	rtl433DefaultFreqHz = 433.92e6
	rtl433DefaultRateHz = 250e3
)

// Meta is what a recording's name says about it.
type Meta struct {
	// Path is the file path with any FORMAT: prefix removed.
	Path string
	// Container is raw, a SigMF pair or a SigMF archive. For SigMF the metadata, not the name,
	// gives format, rate and frequency, so those fields stay zero.
	Container Container
	// Format is the raw sample format; empty when the name does not say.
	Format Format
	// CenterFreqHz is the tuned centre frequency; 0 when the name does not say.
	CenterFreqHz float64
	// SampleRateHz is the sample rate in S/s; 0 when the name does not say.
	SampleRateHz float64
	// FreqDefaulted is true when CenterFreqHz is rtl_433's default (433.92 MHz) because a
	// .data file's name gave none.
	FreqDefaulted bool
	// RateDefaulted is true when SampleRateHz is rtl_433's default (250 kS/s) because a .data
	// file's name gave none.
	RateDefaulted bool
}

// ParseName reads format, centre frequency and sample rate from a recording's name with
// rtl_433's rules (src/fileformat.c):
//
//   - A prefix up to the last colon forces the format and overrides the name's tokens:
//     "cs16:path/file.bin".
//   - The extension gives the format: cu8, cs8, cs16, cf32, rtl_433's aliases .data and
//     .complex16u (cu8), .complex16s (cs8), .cfile and .complex (cf32); .sigmf-meta,
//     .sigmf-data and .sigmf select SigMF.
//   - The base name is split on non-alphanumerics, case-insensitively. A number followed by M,
//     Hz, kHz, MHz or GHz is the centre frequency; a number followed by k, sps, ksps, Msps or
//     Gsps is the sample rate. So "2.4M" is a frequency (as in rtl_433) and a 2.4 MS/s rate
//     must be written "2400k", "2.4Msps" or "2400000sps". A bare number is ignored.
//   - A format token (cu8, cs8, cs16, cf32) elsewhere in the base name also counts, so a
//     ".bin" file named "x_cs16_1M.bin" is cs16. Two different values for the same quantity
//     are an error.
//   - A .data file whose name gives no frequency or rate gets rtl_433's defaults (433.92 MHz,
//     250 kS/s), and Meta says so.
//
// Only the base name is scanned, so directory names such as "rtl_433_tests" never leak
// tokens. A name that gives no format is an error wrapping ErrUnknownFormat.
func ParseName(path string) (Meta, error) {
	m, err := parseName(path)
	if err != nil {
		return Meta{}, err
	}
	if m.Container == ContainerRaw && m.Format == "" {
		return Meta{}, fmt.Errorf("%s: %w: extension %q is not cu8, cs8, cs16, cf32, .data, .complex16u, .complex16s, .cfile, .complex or .sigmf (force one with a FORMAT: prefix or -format)",
			m.Path, ErrUnknownFormat, filepath.Ext(m.Path))
	}
	return m, nil
}

// parseName is ParseName without the "format must be known" check, so a -format flag can
// supply what the name lacks.
func parseName(spec string) (Meta, error) {
	if spec == "" {
		return Meta{}, fmt.Errorf("empty file name: %w", ErrUnknownFormat)
	}
	var prefix string
	path := spec
	if i := strings.LastIndexByte(spec, ':'); i >= 0 && !strings.HasPrefix(spec[i+1:], `\`) {
		prefix, path = spec[:i], spec[i+1:]
	}
	m := Meta{Path: path}
	if path == "" {
		return Meta{}, fmt.Errorf("%q: %w: no file name after the format prefix", spec, ErrUnknownFormat)
	}

	base := filepath.Base(path)
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(base), "."))
	switch ext {
	case "sigmf-meta", "sigmf-data":
		m.Container = ContainerSigMF
	case "sigmf":
		m.Container = ContainerSigMFArchive
	}

	var body tokens
	if err := body.scan(base, ext); err != nil {
		return Meta{}, fmt.Errorf("%s: %w", path, err)
	}
	var forced tokens
	if err := forced.scan(prefix, ""); err != nil {
		return Meta{}, fmt.Errorf("%s: format prefix %q: %w", path, prefix, err)
	}
	if forced.unsupported != "" {
		return Meta{}, fmt.Errorf("%s: format prefix %q: %w %q (edged reads cu8, cs8, cs16, cf32)", path, prefix, ErrUnsupportedFormat, forced.unsupported)
	}

	if m.Container != ContainerRaw {
		// SigMF metadata is authoritative; only a forced prefix could matter, and it cannot
		// change a SigMF datatype, so say so rather than ignore it.
		if prefix != "" {
			return Meta{}, fmt.Errorf("%s: a FORMAT: prefix cannot override a SigMF recording's datatype: %w", path, ErrContradictoryName)
		}
		return m, nil
	}

	m.Format, m.CenterFreqHz, m.SampleRateHz = body.format, body.freqHz, body.rateHz
	if body.format == "" && body.unsupported != "" && forced.format == "" {
		return Meta{}, fmt.Errorf("%s: %w %q (edged reads cu8, cs8, cs16, cf32)", path, ErrUnsupportedFormat, body.unsupported)
	}
	if forced.format != "" {
		m.Format = forced.format
	}
	if forced.freqHz != 0 {
		m.CenterFreqHz = forced.freqHz
	}
	if forced.rateHz != 0 {
		m.SampleRateHz = forced.rateHz
	}
	if ext == "data" {
		if m.CenterFreqHz == 0 {
			m.CenterFreqHz, m.FreqDefaulted = rtl433DefaultFreqHz, true
		}
		if m.SampleRateHz == 0 {
			m.SampleRateHz, m.RateDefaulted = rtl433DefaultRateHz, true
		}
	}
	return m, nil
}

// tokens collects what one part of a name (prefix or base name) says.
type tokens struct {
	format           Format
	freqHz, rateHz   float64
	freqTok, rateTok string
	formatTok        string
	unsupported      string
}

// scan walks s as rtl_433's file_type does. ext is the lower-case extension of s ("" for a
// prefix, where every token counts as if it were an extension).
func (t *tokens) scan(s, ext string) error {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isDigit(c):
			start := i
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			if i < len(s) && s[i] == '.' {
				i++
				if i >= len(s) || !isDigit(s[i]) {
					// rtl_433 drops a number whose '.' is not followed by a digit.
					continue
				}
				for i < len(s) && isDigit(s[i]) {
					i++
				}
			}
			num := s[start:i]
			ustart := i
			for i < len(s) && isAlpha(s[i]) {
				i++
			}
			if err := t.number(num, s[ustart:i]); err != nil {
				return err
			}
		case isAlpha(c):
			start := i
			for i < len(s) && (isAlpha(s[i]) || isDigit(s[i])) {
				i++
			}
			isExt := ext == "" || (i == len(s) && strings.EqualFold(s[start:i], ext) && start > 0 && s[start-1] == '.')
			if err := t.word(strings.ToLower(s[start:i]), isExt); err != nil {
				return err
			}
		default:
			i++
		}
	}
	return nil
}

// number handles a number token with its unit: M or a Hz unit makes it a centre
// frequency, k or an sps unit a sample rate; anything else is not a token.
func (t *tokens) number(num, unit string) error {
	q, ok := parseSI(num, unit)
	if !ok {
		return nil // not a usable number; rtl_433 would read garbage, we ignore it
	}
	tok := num + unit
	switch {
	case q.unit == "hz" || (q.unit == "" && q.prefix == 'm'):
		return t.setFreq(q.value, tok)
	case q.unit == "sps" || (q.unit == "" && q.prefix == 'k'):
		return t.setRate(q.value, tok)
	}
	return nil
}

// setFreq records a centre frequency token, refusing a second, different one.
func (t *tokens) setFreq(hz float64, tok string) error {
	if hz <= 0 || math.IsInf(hz, 0) {
		return fmt.Errorf("%w: centre frequency token %q is not a positive frequency", ErrBadName, tok)
	}
	if t.freqHz != 0 && t.freqHz != hz {
		return fmt.Errorf("%w: two centre frequencies, %q and %q", ErrContradictoryName, t.freqTok, tok)
	}
	t.freqHz, t.freqTok = hz, tok
	return nil
}

// setRate records a sample rate token, refusing a second, different one.
func (t *tokens) setRate(sps float64, tok string) error {
	if sps <= 0 || math.IsInf(sps, 0) {
		return fmt.Errorf("%w: sample rate token %q is not a positive rate", ErrBadName, tok)
	}
	if t.rateHz != 0 && t.rateHz != sps {
		return fmt.Errorf("%w: two sample rates, %q and %q", ErrContradictoryName, t.rateTok, tok)
	}
	t.rateHz, t.rateTok = sps, tok
	return nil
}

// word handles an alphanumeric token. Aliases and formats edged does not read count only as
// the extension (or in a prefix), so that "fm_station_q.cu8" stays a cu8 file.
func (t *tokens) word(w string, isExt bool) error {
	var f Format
	switch Format(w) {
	case FormatCU8, FormatCS8, FormatCS16, FormatCF32:
		f = Format(w)
	default:
		if !isExt {
			return nil
		}
		if a, ok := formatAliases[w]; ok {
			f = a
		} else if unsupportedFormats[w] {
			if t.unsupported == "" {
				t.unsupported = w
			}
			return nil
		} else {
			return nil
		}
	}
	if t.format != "" && t.format != f {
		return fmt.Errorf("%w: two formats, %q and %q", ErrContradictoryName, t.formatTok, w)
	}
	t.format, t.formatTok = f, w
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
