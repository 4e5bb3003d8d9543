package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrUndocumented means the document has no operation for a method and path.
var ErrUndocumented = errors.New("no such operation in the OpenAPI document")

// OpenAPI checks HTTP answers against an OpenAPI 3.1 document whose schemas refer to
// api/schema, and records which documented answers were seen.
type OpenAPI struct {
	v    *Validator
	doc  openapiDoc
	name string // the document's path under Base

	mu   sync.Mutex
	seen map[Answer]int
}

// Answer is one documented response: a method, a path template and a status ("200",
// "4XX" or "default").
type Answer struct {
	Method, Path, Status string
}

func (a Answer) String() string { return a.Method + " " + a.Path + " " + a.Status }

type openapiDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Responses map[string]response `json:"responses"`
		Headers   map[string]header   `json:"headers"`
	} `json:"components"`
}

type operation struct {
	Responses map[string]response `json:"responses"`
}

type response struct {
	Ref     string            `json:"$ref"`
	Headers map[string]header `json:"headers"`
	Content map[string]struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"content"`
}

type header struct {
	Ref      string `json:"$ref"`
	Required bool   `json:"required"`
}

const (
	responsesPrefix = "#/components/responses/"
	headersPrefix   = "#/components/headers/"
)

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// NewOpenAPI reads the OpenAPI document doc, served as name under Base (e.g.
// "openapi.json"), with the schemas of api/schema beside it.
func NewOpenAPI(name string, doc []byte) (*OpenAPI, error) {
	v, err := New(map[string][]byte{name: doc})
	if err != nil {
		return nil, err
	}
	o := &OpenAPI{v: v, name: name, seen: map[Answer]int{}}
	if err := json.Unmarshal(doc, &o.doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !strings.HasPrefix(o.doc.OpenAPI, "3.1.") {
		return nil, fmt.Errorf("%s: openapi %q, want 3.1.x", name, o.doc.OpenAPI)
	}
	return o, nil
}

// Validator is the schema validator the document's schemas are compiled in.
func (o *OpenAPI) Validator() *Validator { return o.v }

// Documented lists every response the document declares, sorted.
func (o *OpenAPI) Documented() ([]Answer, error) {
	var out []Answer
	for path, item := range o.doc.Paths {
		for _, m := range methods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, path, err)
			}
			for status := range op.Responses {
				out = append(out, Answer{strings.ToUpper(m), path, status})
			}
		}
	}
	slices.SortFunc(out, func(a, b Answer) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// Seen returns how many answers were checked for each documented response.
func (o *OpenAPI) Seen() map[Answer]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := make(map[Answer]int, len(o.seen))
	for k, v := range o.seen {
		m[k] = v
	}
	return m
}

// match finds the path template that path matches: a literal path first, then templates
// whose {parameters} match one segment each.
func (o *OpenAPI) match(path string) (string, bool) {
	if _, ok := o.doc.Paths[path]; ok {
		return path, true
	}
	segs := strings.Split(path, "/")
	for tmpl := range o.doc.Paths {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		ok := true
		for i := range ts {
			if !(ts[i] == segs[i] || strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") && segs[i] != "") {
				ok = false
				break
			}
		}
		if ok {
			return tmpl, true
		}
	}
	return "", false
}

// Check validates one answer: the operation for method and path (a URL path, without
// the query) must be documented, the status must be one of its responses (or fall under
// "4XX" or "default"), every header the response marks required must be present, the
// Content-Type must be one the response declares, and a JSON body must be valid against
// its schema. An undocumented method or path returns an error wrapping ErrUndocumented.
func (o *OpenAPI) Check(method, path string, status int, hdr http.Header, body []byte) error {
	tmpl, ok := o.match(path)
	if !ok {
		return fmt.Errorf("%s %s: %w", method, path, ErrUndocumented)
	}
	m := strings.ToLower(method)
	raw, ok := o.doc.Paths[tmpl][m]
	if !ok {
		return fmt.Errorf("%s %s: %w", method, path, ErrUndocumented)
	}
	var op operation
	if err := json.Unmarshal(raw, &op); err != nil {
		return fmt.Errorf("%s %s: %w", method, tmpl, err)
	}
	code := strconv.Itoa(status)
	key := code
	if _, ok := op.Responses[key]; !ok {
		key = code[:1] + "XX"
		if _, ok := op.Responses[key]; !ok {
			key = "default"
		}
	}
	resp, ok := op.Responses[key]
	if !ok {
		return fmt.Errorf("%s %s: status %d is not documented", method, tmpl, status)
	}
	schemaAt := pointer("paths", tmpl, m, "responses", key, "content")
	if resp.Ref != "" {
		name, ok := strings.CutPrefix(resp.Ref, responsesPrefix)
		if resp, ok = o.doc.Components.Responses[name]; !ok || resp.Ref != "" {
			return fmt.Errorf("%s %s %s: $ref %s: want a response under %s", method, tmpl, key, resp.Ref, responsesPrefix)
		}
		schemaAt = pointer("components", "responses", name, "content")
	}
	for h, spec := range resp.Headers {
		if spec.Ref != "" {
			name, _ := strings.CutPrefix(spec.Ref, headersPrefix)
			if spec, ok = o.doc.Components.Headers[name]; !ok {
				return fmt.Errorf("%s %s %s: header $ref %s: want a header under %s", method, tmpl, key, spec.Ref, headersPrefix)
			}
		}
		if spec.Required && hdr.Get(h) == "" {
			return fmt.Errorf("%s %s %d: required header %s missing", method, tmpl, status, h)
		}
	}
	if len(resp.Content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("%s %s %d: a body where none is documented: %.200s", method, tmpl, status, body)
		}
	} else {
		ct := hdr.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return fmt.Errorf("%s %s %d: Content-Type %q: %v", method, tmpl, status, ct, err)
		}
		media, ok := resp.Content[mt]
		if !ok {
			return fmt.Errorf("%s %s %d: Content-Type %s is not documented", method, tmpl, status, mt)
		}
		if (mt == "application/json" || mt == "application/geo+json") && len(media.Schema) > 0 && method != http.MethodHead {
			loc := o.name + "#" + schemaAt + pointer(mt, "schema")
			if err := o.v.Validate(loc, "http", body); err != nil {
				return fmt.Errorf("%s %s %d: %w", method, tmpl, status, err)
			}
		}
	}
	o.mu.Lock()
	o.seen[Answer{method, tmpl, key}]++
	o.mu.Unlock()
	return nil
}

// pointer is an RFC 6901 JSON pointer to the given member names.
func pointer(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(n))
	}
	return b.String()
}
