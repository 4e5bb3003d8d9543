package api

import (
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"mime"
	"net/http"
	"net/url"

	"github.com/heimdall/edged/capture"
)

// formatJSON is the cache-key format of Heimdall JSON input.
const formatJSON = "json"

// input is one IQ recording to predict on.
type input struct {
	samples  []complex64
	format   string  // a capture.Format, or formatJSON
	rateHz   float64 // of the samples
	centerHz float64
	raw      []byte // the body, for raw formats: hashed into the cache key as is
	useCache bool
	alias    [2]uint64 // of a JSON body (see aliases), when hasAlias
	hasAlias bool
	cached   []byte // the answer, when the alias found it: nothing else is set
	lease    *lease // the request's memory reservation, which compute adds to
}

// hashInto writes the input's identity (see the package doc) into h.
func (in *input) hashInto(h hash.Hash) {
	if in.format != formatJSON {
		h.Write(in.raw)
		return
	}
	var buf [4096]byte
	b := buf[:0]
	for _, s := range in.samples {
		if len(b)+8 > len(buf) {
			h.Write(b)
			b = buf[:0]
		}
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(real(s)))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(imag(s)))
	}
	h.Write(b)
}

// queryParams are the query parameters predict understands.
type queryParams struct {
	format   string
	rateHz   float64 // 0 when not given
	centerHz float64
}

func parseQuery(q url.Values, allowFormat bool) (queryParams, error) {
	var p queryParams
	for k, v := range q {
		if len(v) != 1 {
			return p, badParam(k, "given more than once")
		}
		switch k {
		case "format":
			if !allowFormat {
				return p, badParam(k, "only for raw bodies (Content-Type application/octet-stream)")
			}
			f, err := capture.ParseFormat(v[0])
			if err != nil {
				return p, badParam(k, err.Error())
			}
			p.format = string(f)
		case "sample_rate":
			hz, err := capture.ParseHz(v[0])
			if err != nil {
				return p, badParam(k, err.Error())
			}
			if hz > maxSampleRateHz {
				return p, badParam(k, fmt.Sprintf("%g S/s is above the %g S/s limit", hz, maxSampleRateHz))
			}
			p.rateHz = hz
		case "center_freq":
			hz, err := capture.ParseHz(v[0])
			if err != nil {
				return p, badParam(k, err.Error())
			}
			p.centerHz = hz
		default:
			return p, badParam(k, "unknown (predict takes format, sample_rate and center_freq)")
		}
	}
	return p, nil
}

// mediaType returns the body's media type, or an error for a missing or malformed one.
func mediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"Content-Type header missing (want application/json or application/octet-stream)")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, fmt.Sprintf("Content-Type %q: %v", ct, err))
	}
	return mt, nil
}

// readRaw decodes a raw IQ body of the format the query names, taking a CPU slot
// (startWork) to do it. Call done when finished with the input: it gives the slot back.
func (s *Server) readRaw(r *http.Request, p queryParams, body *reqBody) (in *input, done func(), err error) {
	if p.format == "" {
		return nil, nop, errf(http.StatusBadRequest, codeMissingField, "query parameter format: required for a raw body (cu8, cs8, cs16 or cf32)")
	}
	if p.rateHz == 0 {
		return nil, nop, errf(http.StatusBadRequest, codeMissingField, "query parameter sample_rate: required for a raw body (e.g. 250k)")
	}
	f := capture.Format(p.format)
	bps := int64(f.BytesPerSample())
	raw := body.b
	switch {
	case len(raw) == 0:
		return nil, nop, errf(http.StatusBadRequest, codeMissingField, "body: empty, want raw "+p.format+" samples")
	case int64(len(raw))%bps != 0:
		return nil, nop, errf(http.StatusBadRequest, codeInvalidField,
			fmt.Sprintf("body: %d bytes is not a whole number of %s samples (%d bytes each)", len(raw), p.format, bps))
	case int64(len(raw))/bps > int64(s.cfg.MaxSamples):
		return nil, nop, errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			fmt.Sprintf("body: %d samples, the limit is %d", int64(len(raw))/bps, s.cfg.MaxSamples))
	}
	n := int64(len(raw)) / bps
	if err := body.lease.reserve(8*n, "the samples"); err != nil {
		return nil, nop, err
	}
	done, err = s.startWork(r.Context())
	if err != nil {
		return nil, nop, err
	}
	samples := make([]complex64, n)
	if _, _, err := capture.Convert(samples, raw, f); err != nil {
		done()
		return nil, nop, badParam("format", err.Error())
	}
	if f == capture.FormatCF32 {
		for i, v := range samples {
			if !finite32(real(v)) || !finite32(imag(v)) {
				done()
				return nil, nop, errf(http.StatusBadRequest, codeInvalidField, fmt.Sprintf("body: sample %d is not finite", i))
			}
			if math.Abs(float64(real(v))) > maxSampleMagnitude || math.Abs(float64(imag(v))) > maxSampleMagnitude {
				done()
				return nil, nop, errf(http.StatusBadRequest, codeInvalidField,
					fmt.Sprintf("body: sample %d is outside ±%g (full scale is ±1)", i, maxSampleMagnitude))
			}
		}
	}
	return &input{samples: samples, format: p.format, rateHz: p.rateHz, centerHz: p.centerHz, raw: raw, useCache: true, lease: body.lease}, done, nil
}

func nop() {}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

func tooLarge(limit int64) error {
	return errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, fmt.Sprintf("body: larger than the %d-byte limit", limit))
}
