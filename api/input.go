package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"mime"
	"net/http"
	"net/url"
	"sync"

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
func (s *Server) readRaw(w http.ResponseWriter, r *http.Request, p queryParams) (*input, func(), error) {
	if p.format == "" {
		return nil, nop, errf(http.StatusBadRequest, codeMissingField, "query parameter format: required for a raw body (cu8, cs8, cs16 or cf32)")
	}
	if p.rateHz == 0 {
		return nil, nop, errf(http.StatusBadRequest, codeMissingField, "query parameter sample_rate: required for a raw body (e.g. 250k)")
	}
	f := capture.Format(p.format)
	bps := int64(f.BytesPerSample())
	body, release, err := s.readBody(w, r)
	if err != nil {
		return nil, release, err
	}
	done, err := s.startWork(r.Context())
	release = both(release, done)
	if err != nil {
		return nil, release, err
	}
	switch {
	case len(body) == 0:
		return nil, release, errf(http.StatusBadRequest, codeMissingField, "body: empty, want raw "+p.format+" samples")
	case int64(len(body))%bps != 0:
		return nil, release, errf(http.StatusBadRequest, codeInvalidField,
			fmt.Sprintf("body: %d bytes is not a whole number of %s samples (%d bytes each)", len(body), p.format, bps))
	case int64(len(body))/bps > int64(s.cfg.MaxSamples):
		return nil, release, errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			fmt.Sprintf("body: %d samples, the limit is %d", int64(len(body))/bps, s.cfg.MaxSamples))
	}
	samples := make([]complex64, int64(len(body))/bps)
	if _, _, err := capture.Convert(samples, body, f); err != nil {
		return nil, release, badParam("format", err.Error())
	}
	if f == capture.FormatCF32 {
		for i, v := range samples {
			if !finite32(real(v)) || !finite32(imag(v)) {
				return nil, release, errf(http.StatusBadRequest, codeInvalidField, fmt.Sprintf("body: sample %d is not finite", i))
			}
			if math.Abs(float64(real(v))) > maxSampleMagnitude || math.Abs(float64(imag(v))) > maxSampleMagnitude {
				return nil, release, errf(http.StatusBadRequest, codeInvalidField,
					fmt.Sprintf("body: sample %d is outside ±%g (full scale is ±1)", i, maxSampleMagnitude))
			}
		}
	}
	return &input{samples: samples, format: p.format, rateHz: p.rateHz, centerHz: p.centerHz, raw: body, useCache: true}, release, nil
}

func nop() {}

// both returns a func calling a then b, each at most once.
func both(a, b func()) func() {
	var once sync.Once
	return func() { once.Do(func() { a(); b() }) }
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

// bodyPool recycles request body buffers; buffers above maxPooledBytes are left to the GC.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBytes = 1 << 20

// readBody reads the whole body, bounded by MaxBodyBytes. Call release once the bytes
// are no longer used.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, func() {}, tooLarge(s.cfg.MaxBodyBytes)
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	release = func() {
		if buf.Cap() <= maxPooledBytes {
			bodyPool.Put(buf)
		}
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)); err != nil {
		return nil, release, bodyError(err)
	}
	return buf.Bytes(), release, nil
}

func jsonValid(b []byte) bool { return json.Valid(b) }
