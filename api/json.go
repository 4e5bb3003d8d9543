package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// The request bodies are parsed by hand, in one pass: iq_data is most of every predict
// body, and encoding/json would scan it three times (to find the value's end, to skip it
// for an Unmarshaler, and to parse it) and box every number. The parser is strict: it
// accepts only valid JSON (RFC 8259; fuzzed against encoding/json), rejects unknown fields,
// and names the field and the byte offset of every problem.

// maxJSONDepth bounds how deeply arrays and objects nest in a body. Heimdall's bodies nest
// four deep ({"items":[{"iq_data":[[i,q]]}]}); the parser recurses once per level, so
// without a bound a body of brackets grows the stack until the runtime kills the process.
const maxJSONDepth = 32

// jscan reads JSON from b.
type jscan struct {
	b     []byte
	pos   int
	depth int // arrays and objects open around pos, counted by skip
}

func (p *jscan) syntax(want string) *apiError {
	got := "end of body"
	if p.pos < len(p.b) {
		got = strconv.QuoteRune(rune(p.b[p.pos]))
	}
	return errf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("body: malformed JSON at byte %d: want %s, got %s", p.pos, want, got))
}

func (p *jscan) ws() {
	for p.pos < len(p.b) {
		switch p.b[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jscan) peek() byte {
	if p.pos < len(p.b) {
		return p.b[p.pos]
	}
	return 0
}

func (p *jscan) eat(c byte) bool {
	if p.pos < len(p.b) && p.b[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *jscan) literal(s string) bool {
	if len(p.b)-p.pos >= len(s) && string(p.b[p.pos:p.pos+len(s)]) == s {
		p.pos += len(s)
		return true
	}
	return false
}

// end checks that only whitespace follows the top-level value.
func (p *jscan) end() error {
	p.ws()
	if p.pos != len(p.b) {
		return errf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("body: trailing data after the JSON object at byte %d", p.pos))
	}
	return nil
}

// str reads a string and returns it decoded.
func (p *jscan) str() (string, error) {
	start := p.pos
	if !p.eat('"') {
		return "", p.syntax("a string")
	}
	plain := true
	for {
		if p.pos >= len(p.b) {
			p.pos = len(p.b)
			return "", p.syntax(`a closing '"'`)
		}
		c := p.b[p.pos]
		if c == '"' {
			p.pos++
			break
		}
		switch {
		case c < 0x20:
			return "", p.syntax("no control characters in a string")
		case c == '\\':
			plain = false
			p.pos += 2 // the escape itself is checked by encoding/json below
			continue
		case c >= 0x80:
			plain = false
		}
		p.pos++
	}
	raw := p.b[start:p.pos]
	if plain {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		p.pos = start
		return "", p.syntax("a valid string")
	}
	return s, nil
}

// number reads a number (JSON grammar) and returns its text.
func (p *jscan) number() ([]byte, bool) {
	start := p.pos
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.pos < len(p.b) && p.b[p.pos] >= '1' && p.b[p.pos] <= '9':
		p.digits()
	default:
		p.pos = start
		return nil, false
	}
	if p.eat('.') && !p.digits() {
		p.pos = start
		return nil, false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			p.pos = start
			return nil, false
		}
	}
	return p.b[start:p.pos], true
}

func (p *jscan) digits() bool {
	start := p.pos
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}

// skip reads any value and returns its bytes.
func (p *jscan) skip() ([]byte, error) {
	p.ws()
	start := p.pos
	var err error
	switch c := p.peek(); {
	case c == '{' || c == '[':
		if p.depth++; p.depth > maxJSONDepth {
			return nil, errf(http.StatusBadRequest, codeTooDeep,
				fmt.Sprintf("body: JSON nested deeper than %d levels at byte %d", maxJSONDepth, p.pos))
		}
		if c == '{' {
			err = p.object(func(string) error { _, err := p.skip(); return err })
		} else {
			err = p.array(func(int) error { _, err := p.skip(); return err })
		}
		p.depth--
	case c == '"':
		_, err = p.str()
	case c == 't':
		if !p.literal("true") {
			err = p.syntax("true")
		}
	case c == 'f':
		if !p.literal("false") {
			err = p.syntax("false")
		}
	case c == 'n':
		if !p.literal("null") {
			err = p.syntax("null")
		}
	default:
		if _, ok := p.number(); !ok {
			err = p.syntax("a JSON value")
		}
	}
	return p.b[start:p.pos], err
}

// object reads {"key": value, …}, calling visit with the scanner at each value; visit must
// read the value.
func (p *jscan) object(visit func(key string) error) error {
	p.ws()
	if !p.eat('{') {
		return p.syntax("'{'")
	}
	if p.ws(); p.eat('}') {
		return nil
	}
	for {
		p.ws()
		key, err := p.str()
		if err != nil {
			return err
		}
		if p.ws(); !p.eat(':') {
			return p.syntax("':'")
		}
		p.ws()
		if err := visit(key); err != nil {
			return err
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return nil
		}
		return p.syntax("',' or '}'")
	}
}

// array reads [value, …], calling visit with the scanner at each value.
func (p *jscan) array(visit func(i int) error) error {
	p.ws()
	if !p.eat('[') {
		return p.syntax("'['")
	}
	if p.ws(); p.eat(']') {
		return nil
	}
	for i := 0; ; i++ {
		p.ws()
		if err := visit(i); err != nil {
			return err
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return nil
		}
		return p.syntax("',' or ']'")
	}
}

// decodeInto reads a value into v with encoding/json, for the small fields.
func (p *jscan) decodeInto(field string, v any, want string) error {
	raw, err := p.skip()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return badField(field, fmt.Sprintf("want %s, got %s", want, truncate(raw, 40)))
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// iq reads Heimdall's iq_data, [[i,q],…], into complex64 samples. It returns set false for
// null. A content problem (a pair of three, a number out of float32 range) is an
// *apiError with status 400 and code invalid_field naming field[k][j]; a syntax error has
// code invalid_json.
func (p *jscan) iq(field string) (samples []complex64, set bool, err error) {
	p.ws()
	if p.literal("null") {
		return nil, false, nil
	}
	if p.peek() != '[' {
		if _, err := p.skip(); err != nil {
			return nil, false, err
		}
		return nil, false, badField(field, "want an array of [i, q] pairs")
	}
	p.pos++
	// A pair takes at least 6 bytes ("[0,0],"), so the rest of the body bounds the count;
	// but a batch holds many arrays, so start no larger than a common request and grow.
	out := make([]complex64, 0, min((len(p.b)-p.pos)/6+1, 4096))
	if p.ws(); p.eat(']') {
		return out, true, nil
	}
	for k := 0; ; k++ {
		p.ws()
		if !p.eat('[') {
			return nil, false, p.wrong(fmt.Sprintf("%s[%d]", field, k), "want an [i, q] pair")
		}
		i, err := p.sample(field, k, 0)
		if err != nil {
			return nil, false, err
		}
		if p.ws(); !p.eat(',') {
			return nil, false, p.notPair(field, k)
		}
		q, err := p.sample(field, k, 1)
		if err != nil {
			return nil, false, err
		}
		if p.ws(); !p.eat(']') {
			return nil, false, p.notPair(field, k)
		}
		out = append(out, complex(i, q))
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return out, true, nil
		}
		return nil, false, p.syntax("',' or ']' after " + fmt.Sprintf("%s[%d]", field, k))
	}
}

func (p *jscan) sample(field string, k, j int) (float32, error) {
	p.ws()
	// Most samples take the fast path; anything else is read the slow way, with its
	// error messages.
	if f, end, ok := scanFloat(p.b, p.pos); ok && math.Abs(f) <= maxSampleMagnitude {
		p.pos = end
		return float32(f), nil
	}
	num, ok := p.number()
	if !ok {
		return 0, p.wrong(fmt.Sprintf("%s[%d][%d]", field, k, j), "want a number")
	}
	v, err := parseFloat(num)
	if err != nil || math.IsInf(v, 0) {
		return 0, badField(fmt.Sprintf("%s[%d][%d]", field, k, j), fmt.Sprintf("%s is not a finite number", truncate(num, 40)))
	}
	if math.Abs(v) > maxSampleMagnitude {
		return 0, badField(fmt.Sprintf("%s[%d][%d]", field, k, j),
			fmt.Sprintf("%s is outside ±%g (full scale is ±1)", truncate(num, 40), maxSampleMagnitude))
	}
	return float32(v), nil
}

// scanFloat reads the JSON number starting at b[i] in one pass and converts it exactly as
// strconv.ParseFloat does, when it has at most 19 digits, a mantissa below 2⁵³ and a
// decimal exponent within ±22: then the mantissa and the power of ten are exact float64
// values and one multiplication or division rounds correctly (Clinger's fast path). It
// returns the value and the index after the number, or ok false for anything else (not a
// number, or one for strconv).
func scanFloat(b []byte, i int) (f float64, end int, ok bool) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg, i = true, i+1
	}
	if i >= len(b) {
		return 0, 0, false
	}
	// Digits accumulate without branching on leading zeros; at most 19 of them cannot
	// overflow uint64.
	var mant uint64
	digits, exp := 0, 0
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		start := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
		}
		digits = i - start
	default:
		return 0, 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		first := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
		}
		if i == first {
			return 0, 0, false
		}
		digits += i - first
		exp -= i - first
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg, i = b[i] == '-', i+1
		}
		first, e := i, 0
		for ; i < len(b) && b[i]-'0' <= 9 && e < 1000; i++ {
			e = e*10 + int(b[i]-'0')
		}
		if i == first || (i < len(b) && b[i]-'0' <= 9) {
			return 0, 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if digits > 19 || mant >= 1<<53 || exp < -22 || exp > 22 {
		return 0, 0, false
	}
	f = float64(mant)
	if mant != 0 {
		if exp < 0 {
			f /= pow10[-exp]
		} else {
			f *= pow10[exp]
		}
	}
	if neg {
		f = -f
	}
	return f, i, true
}

// wrong reports a value of the wrong kind at the scanner: a syntax error if it is not
// JSON at all, else a 400 naming field.
func (p *jscan) wrong(field, msg string) error {
	if p.ws(); p.peek() == ']' || p.peek() == ',' || p.peek() == '}' {
		return badField(field, msg) // a missing value: the JSON may still be valid ([[]])
	}
	if _, err := p.skip(); err != nil {
		return err
	}
	return badField(field, msg)
}

// notPair reports a pair that did not end after two numbers.
func (p *jscan) notPair(field string, k int) error {
	if c := p.peek(); c != ',' && c != ']' {
		return p.syntax("',' or ']'")
	}
	return badField(fmt.Sprintf("%s[%d]", field, k), "want exactly 2 numbers, [i, q]")
}

// maxSampleMagnitude bounds |i| and |q|. IQ is in full scale ±1 (as capture.Convert
// scales it); far larger values would overflow the float32 power spectrum.
const maxSampleMagnitude = 1e9

// iqRequest is a decoded predict body, or one batch item.
type iqRequest struct {
	id           string
	samples      []complex64
	set          bool      // iq_data present and not null
	err          *apiError // a problem of this item's iq_data alone (batch)
	cacheEnabled *bool
}

// parsePredict parses {"iq_data": [[i,q],…], "session_id": "…", "cache_enabled": bool}.
// session_id is accepted for Heimdall compatibility and ignored.
func parsePredict(b []byte) (iqRequest, error) {
	var r iqRequest
	p := &jscan{b: b}
	if p.ws(); p.pos == len(b) {
		return r, errf(http.StatusBadRequest, codeInvalidJSON, "body: empty, want a JSON object")
	}
	if p.peek() != '{' {
		return r, badField("body", "want a JSON object, {\"iq_data\": [[i, q], …]}")
	}
	err := p.object(func(key string) error {
		switch key {
		case "iq_data":
			s, set, err := p.iq("iq_data")
			r.samples, r.set = s, set
			return err
		case "session_id":
			var s *string
			return p.decodeInto("session_id", &s, "a string")
		case "cache_enabled":
			return p.decodeInto("cache_enabled", &r.cacheEnabled, "true or false")
		}
		return badField("body", fmt.Sprintf("unknown field %q (predict takes iq_data, session_id, cache_enabled)", key))
	})
	if err != nil {
		return r, err
	}
	return r, p.end()
}

// parseBatch parses {"items":[{"id":"…","iq_data":[[i,q],…]},…], "session_id", "cache_enabled"}.
// A bad iq_data fails its item alone (iqRequest.err); anything else fails the body.
func parseBatch(b []byte) (items []iqRequest, cacheEnabled *bool, err error) {
	p := &jscan{b: b}
	if p.ws(); p.pos == len(b) {
		return nil, nil, errf(http.StatusBadRequest, codeInvalidJSON, "body: empty, want a JSON object")
	}
	if p.peek() != '{' {
		return nil, nil, badField("body", `want a JSON object, {"items": […]}`)
	}
	seen := false
	err = p.object(func(key string) error {
		switch key {
		case "items":
			seen = true
			if p.peek() != '[' {
				if _, err := p.skip(); err != nil {
					return err
				}
				return badField("items", "want an array of {\"id\", \"iq_data\"} objects")
			}
			items = items[:0]
			return p.array(func(i int) error {
				if len(items) == MaxBatchItems {
					return badField("items", fmt.Sprintf("more than %d items, want 1 to %d", MaxBatchItems, MaxBatchItems))
				}
				it, err := p.batchItem(i)
				items = append(items, it)
				return err
			})
		case "session_id":
			var s *string
			return p.decodeInto("session_id", &s, "a string")
		case "cache_enabled":
			return p.decodeInto("cache_enabled", &cacheEnabled, "true or false")
		}
		return badField("body", fmt.Sprintf("unknown field %q (batch takes items, session_id, cache_enabled)", key))
	})
	if err == nil {
		err = p.end()
	}
	if err == nil && (!seen || len(items) == 0) {
		err = badField("items", fmt.Sprintf("0 items, want 1 to %d", MaxBatchItems))
	}
	return items, cacheEnabled, err
}

func (p *jscan) batchItem(i int) (iqRequest, error) {
	var it iqRequest
	if p.peek() != '{' {
		if _, err := p.skip(); err != nil {
			return it, err
		}
		return it, badField(fmt.Sprintf("items[%d]", i), "want an object {\"id\", \"iq_data\"}")
	}
	err := p.object(func(key string) error {
		switch key {
		case "id":
			var id *string
			if err := p.decodeInto(fmt.Sprintf("items[%d].id", i), &id, "a string"); err != nil {
				return err
			}
			if id != nil {
				it.id = *id
			}
			return nil
		case "iq_data":
			start := p.pos
			field := fmt.Sprintf("items[%d].iq_data", i)
			s, set, err := p.iq(field)
			if ae, ok := err.(*apiError); ok && ae.Code == codeInvalidField {
				// The item is bad, the body may be fine: skip the value and go on.
				p.pos = start
				if _, err := p.skip(); err != nil {
					return err
				}
				it.err = ae
				return nil
			}
			it.samples, it.set = s, set
			return err
		}
		return badField(fmt.Sprintf("items[%d]", i), fmt.Sprintf("unknown field %q (an item takes id and iq_data)", key))
	})
	return it, err
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat converts a JSON number (as jscan.number returns it) to the nearest float64,
// as strconv.ParseFloat does: through scanFloat's fast path when it applies, else strconv.
func parseFloat(num []byte) (float64, error) {
	if f, end, ok := scanFloat(num, 0); ok && end == len(num) {
		return f, nil
	}
	return strconv.ParseFloat(string(num), 64)
}
