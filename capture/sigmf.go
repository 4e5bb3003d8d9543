package capture

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// SigMFMeta is the part of a SigMF metadata file edged uses.
type SigMFMeta struct {
	// Datatype is core:datatype as written ("cu8", "ci16_le", …).
	Datatype string
	// Format is the raw format Datatype maps to.
	Format Format
	// SampleRateHz is core:sample_rate; 0 when absent.
	SampleRateHz float64
	// CenterFreqHz is captures[0] core:frequency; 0 when absent.
	CenterFreqHz float64
	// Start is captures[0] core:datetime; zero when absent.
	Start time.Time
	// Version is core:version.
	Version string
	// SHA512 is core:sha512 of the data file, lower-case hex; empty when absent.
	SHA512 string
}

// sigmfDatatypes maps the SigMF datatypes edged reads to raw formats (the pairs rtl_433's
// sigmf.c uses).
var sigmfDatatypes = map[string]Format{
	"cu8":     FormatCU8,
	"ci8":     FormatCS8,
	"ci16_le": FormatCS16,
	"cf32_le": FormatCF32,
}

// sigmfFile mirrors the JSON; pointers tell absent from zero.
type sigmfFile struct {
	Global *struct {
		Datatype    *string  `json:"core:datatype"`
		SampleRate  *float64 `json:"core:sample_rate"`
		NumChannels *int     `json:"core:num_channels"`
		Version     string   `json:"core:version"`
		SHA512      string   `json:"core:sha512"`
		Dataset     string   `json:"core:dataset"`
	} `json:"global"`
	Captures []struct {
		SampleStart *uint64  `json:"core:sample_start"`
		Frequency   *float64 `json:"core:frequency"`
		Datetime    string   `json:"core:datetime"`
		HeaderBytes uint64   `json:"core:header_bytes"`
	} `json:"captures"`
}

// ParseSigMFMeta reads a .sigmf-meta document. It refuses, with a one-line error, what edged
// cannot replay faithfully: datatypes other than cu8, ci8, ci16_le and cf32_le, more than one
// channel, non-conforming datasets (core:dataset, core:header_bytes) and recordings that
// retune between captures.
func ParseSigMFMeta(data []byte) (SigMFMeta, error) {
	var f sigmfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return SigMFMeta{}, fmt.Errorf("%w: %v", ErrBadSigMF, err)
	}
	if f.Global == nil {
		return SigMFMeta{}, fmt.Errorf("%w: no \"global\" object", ErrBadSigMF)
	}
	g := f.Global
	if g.Datatype == nil || *g.Datatype == "" {
		return SigMFMeta{}, fmt.Errorf("%w: global has no core:datatype", ErrBadSigMF)
	}
	m := SigMFMeta{Datatype: *g.Datatype, Version: g.Version, SHA512: g.SHA512}
	format, ok := sigmfDatatypes[m.Datatype]
	if !ok {
		return SigMFMeta{}, fmt.Errorf("%w %q (edged reads cu8, ci8, ci16_le, cf32_le)", ErrUnsupportedDatatype, m.Datatype)
	}
	m.Format = format
	if g.NumChannels != nil && *g.NumChannels != 1 {
		if *g.NumChannels > 1 {
			return SigMFMeta{}, fmt.Errorf("%w (core:num_channels is %d)", ErrMultiChannel, *g.NumChannels)
		}
		return SigMFMeta{}, fmt.Errorf("%w: core:num_channels is %d", ErrBadSigMF, *g.NumChannels)
	}
	if g.SampleRate != nil {
		r := *g.SampleRate
		if !(r > 0) || math.IsInf(r, 0) {
			return SigMFMeta{}, fmt.Errorf("%w: core:sample_rate %v is not a positive rate", ErrBadSigMF, r)
		}
		m.SampleRateHz = r
	}
	if g.Dataset != "" {
		return SigMFMeta{}, fmt.Errorf("%w: non-conforming dataset (core:dataset %q) is not supported", ErrBadSigMF, g.Dataset)
	}
	for i, c := range f.Captures {
		if c.HeaderBytes != 0 {
			return SigMFMeta{}, fmt.Errorf("%w: captures[%d] core:header_bytes is not supported", ErrBadSigMF, i)
		}
		if c.Frequency != nil {
			if math.IsNaN(*c.Frequency) || math.IsInf(*c.Frequency, 0) {
				return SigMFMeta{}, fmt.Errorf("%w: captures[%d] core:frequency is not finite", ErrBadSigMF, i)
			}
			if i > 0 && (f.Captures[0].Frequency == nil || *c.Frequency != *f.Captures[0].Frequency) {
				return SigMFMeta{}, fmt.Errorf("%w: captures[%d] retunes to %v Hz; recordings that change frequency are not supported", ErrBadSigMF, i, *c.Frequency)
			}
		}
	}
	if len(f.Captures) > 0 {
		c := f.Captures[0]
		if c.Frequency != nil {
			m.CenterFreqHz = *c.Frequency
		}
		if c.Datetime != "" {
			t, err := time.Parse(time.RFC3339Nano, c.Datetime)
			if err != nil {
				return SigMFMeta{}, fmt.Errorf("%w: captures[0] core:datetime %q is not RFC 3339", ErrBadSigMF, c.Datetime)
			}
			m.Start = t.UTC()
		}
	}
	return m, nil
}
