package api

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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

// readRaw reads a raw IQ body of the format the query names.
func (s *Server) readRaw(w http.ResponseWriter, r *http.Request, p queryParams) (*input, error) {
	if p.format == "" {
		return nil, errf(http.StatusBadRequest, codeMissingField, "query parameter format: required for a raw body (cu8, cs8, cs16 or cf32)")
	}
	if p.rateHz == 0 {
		return nil, errf(http.StatusBadRequest, codeMissingField, "query parameter sample_rate: required for a raw body (e.g. 250k)")
	}
	f := capture.Format(p.format)
	bps := int64(f.BytesPerSample())
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, tooLarge(s.cfg.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return nil, bodyError(err)
	}
	switch {
	case len(body) == 0:
		return nil, errf(http.StatusBadRequest, codeMissingField, "body: empty, want raw "+p.format+" samples")
	case int64(len(body))%bps != 0:
		return nil, errf(http.StatusBadRequest, codeInvalidField,
			fmt.Sprintf("body: %d bytes is not a whole number of %s samples (%d bytes each)", len(body), p.format, bps))
	case int64(len(body))/bps > int64(s.cfg.MaxSamples):
		return nil, errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			fmt.Sprintf("body: %d samples, the limit is %d", int64(len(body))/bps, s.cfg.MaxSamples))
	}
	samples := make([]complex64, int64(len(body))/bps)
	if _, _, err := capture.Convert(samples, body, f); err != nil {
		return nil, badParam("format", err.Error())
	}
	if f == capture.FormatCF32 {
		for i, v := range samples {
			if !finite32(real(v)) || !finite32(imag(v)) {
				return nil, errf(http.StatusBadRequest, codeInvalidField, fmt.Sprintf("body: sample %d is not finite", i))
			}
		}
	}
	return &input{samples: samples, format: p.format, rateHz: p.rateHz, centerHz: p.centerHz, raw: body, useCache: true}, nil
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

func tooLarge(limit int64) error {
	return errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, fmt.Sprintf("body: larger than the %d-byte limit", limit))
}

// bodyError maps a failure to read the body.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit)
	}
	return errf(http.StatusBadRequest, codeInvalidField, "body: "+err.Error())
}

// decodeJSON decodes one JSON object from the body into v, strictly: unknown fields,
// trailing data and oversized bodies are errors naming the problem.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return tooLarge(s.cfg.MaxBodyBytes)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(mbe.Limit)
		}
		return errf(http.StatusBadRequest, codeInvalidJSON, "body: trailing data after the JSON object")
	}
	return nil
}

// jsonError maps a decoding failure to a 4xx naming the problem.
func jsonError(err error) error {
	var (
		ae  *apiError
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.Is(err, io.EOF):
		return errf(http.StatusBadRequest, codeInvalidJSON, "body: empty, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errf(http.StatusBadRequest, codeInvalidJSON, "body: JSON ends early")
	case errors.As(err, &se):
		return errf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("body: malformed JSON at byte %d: %v", se.Offset, se))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return errf(http.StatusBadRequest, codeInvalidField, fmt.Sprintf("%s: want %v, got JSON %s", field, te.Type, te.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errf(http.StatusBadRequest, codeInvalidField, "body: "+strings.TrimPrefix(err.Error(), "json: ")+" (allowed: see the API docs)")
	}
	return errf(http.StatusBadRequest, codeInvalidJSON, "body: "+err.Error())
}

// iqData is Heimdall's iq_data, [[i,q],…], decoded without reflection: it is most of
// every predict body.
type iqData struct {
	samples []complex64
	set     bool // the field was present and not null
}

// UnmarshalJSON parses [[i,q],…] into complex64 samples; b is valid JSON (the decoder has
// checked it). Values must be finite and within float32 range.
func (d *iqData) UnmarshalJSON(b []byte) error {
	s, set, err := parseIQ(b, "iq_data")
	if err != nil {
		return err
	}
	d.samples, d.set = s, set
	return nil
}

// parseIQ parses a JSON [[i,q],…] array; field names it in errors.
func parseIQ(b []byte, field string) ([]complex64, bool, error) {
	p := iqParser{b: b}
	p.ws()
	if p.literal("null") {
		return nil, false, nil
	}
	if !p.eat('[') {
		return nil, false, badField(field, "want an array of [i, q] pairs")
	}
	// A pair takes at least 6 bytes ("[0,0],"): size the slice once.
	out := make([]complex64, 0, len(b)/6+1)
	if p.ws(); p.eat(']') {
		return out, true, nil
	}
	for k := 0; ; k++ {
		p.ws()
		if !p.eat('[') {
			return nil, false, badField(fmt.Sprintf("%s[%d]", field, k), "want an [i, q] pair")
		}
		i, err := p.number(field, k, 0)
		if err != nil {
			return nil, false, err
		}
		if p.ws(); !p.eat(',') {
			return nil, false, badField(fmt.Sprintf("%s[%d]", field, k), "want exactly 2 numbers, [i, q]")
		}
		q, err := p.number(field, k, 1)
		if err != nil {
			return nil, false, err
		}
		if p.ws(); !p.eat(']') {
			return nil, false, badField(fmt.Sprintf("%s[%d]", field, k), "want exactly 2 numbers, [i, q]")
		}
		out = append(out, complex(i, q))
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return out, true, nil
		}
		return nil, false, badField(field, fmt.Sprintf("malformed after pair %d", k))
	}
}

type iqParser struct {
	b   []byte
	pos int
}

func (p *iqParser) ws() {
	for p.pos < len(p.b) {
		switch p.b[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *iqParser) eat(c byte) bool {
	if p.pos < len(p.b) && p.b[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *iqParser) literal(s string) bool {
	if strings.HasPrefix(string(p.b[p.pos:min(len(p.b), p.pos+len(s))]), s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *iqParser) number(field string, k, j int) (float32, error) {
	p.ws()
	start := p.pos
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.pos++
			continue
		}
		break
	}
	name := func() string { return fmt.Sprintf("%s[%d][%d]", field, k, j) }
	if start == p.pos {
		return 0, badField(name(), "want a number")
	}
	v, err := strconv.ParseFloat(string(p.b[start:p.pos]), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, badField(name(), fmt.Sprintf("%q is not a finite number", p.b[start:p.pos]))
	}
	if math.Abs(v) > math.MaxFloat32 {
		return 0, badField(name(), fmt.Sprintf("%q is outside the float32 range", p.b[start:p.pos]))
	}
	return float32(v), nil
}

func jsonValid(b []byte) bool { return json.Valid(b) }
