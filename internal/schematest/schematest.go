// Package schematest validates what edged sends against its JSON Schemas (api/schema) and
// its HTTP answers against its OpenAPI document, for tests. It counts every document it
// validates, so that a test can say how many fixes it checked and where they came from.
//
// Schemas are compiled from the embedded files under the URLs they are served at
// (https://edged.invalid/api/v1/schema/NAME), so relative references resolve exactly as
// they do for a client reading /api/v1/openapi.json. Nothing is fetched from a network:
// a reference to a document that is not embedded fails to compile.
package schematest

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heimdall/edged/api/schema"
)

// Base is the URL the API's documents are compiled under: /api/v1/ of an imaginary host.
const Base = "https://edged.invalid/api/v1/"

// Validator validates documents against the schemas of api/schema. It is safe for
// concurrent use.
type Validator struct {
	c       *jsonschema.Compiler
	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by location
	counts  map[string]map[string]int     // schema name → source → documents valid
}

// New compiles nothing yet: each schema is compiled on first use. extra are further
// documents (such as the OpenAPI document) by their path under Base.
func New(extra map[string][]byte) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	files, err := fs.Glob(schema.FS, "*.json")
	if err != nil {
		return nil, err
	}
	docs := map[string][]byte{}
	for _, f := range files {
		b, err := fs.ReadFile(schema.FS, f)
		if err != nil {
			return nil, err
		}
		docs["schema/"+f] = b
	}
	maps.Copy(docs, extra)
	for path, b := range docs {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := c.AddResource(Base+path, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return &Validator{c: c, schemas: map[string]*jsonschema.Schema{}, counts: map[string]map[string]int{}}, nil
}

// refuseLoader makes a reference outside the embedded documents an error.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is not one of edged's documents (nothing is fetched)", url)
}

// compiled returns the schema at loc, a path under Base with an optional #fragment.
func (v *Validator) compiled(loc string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.schemas[loc]; ok {
		return s, nil
	}
	s, err := v.c.Compile(Base + loc)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", loc, err)
	}
	v.schemas[loc] = s
	return s, nil
}

// Validate checks the JSON document b against the schema at loc ("schema/fix.json", or a
// JSON pointer into another document, "openapi.json#/…"), and counts it under source when
// it is valid.
func (v *Validator) Validate(loc, source string, b []byte) error {
	s, err := v.compiled(loc)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return v.validate(s, loc, source, inst)
}

// ValidateValue is Validate for a document already decoded, such as the text payload of
// the availability topic given as a Go string.
func (v *Validator) ValidateValue(loc, source string, inst any) error {
	s, err := v.compiled(loc)
	if err != nil {
		return err
	}
	return v.validate(s, loc, source, inst)
}

func (v *Validator) validate(s *jsonschema.Schema, loc, source string, inst any) error {
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("not valid against %s: %w", loc, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.counts[loc] == nil {
		v.counts[loc] = map[string]int{}
	}
	v.counts[loc][source]++
	return nil
}

// Count returns how many documents were found valid against loc from source ("" for
// every source).
func (v *Validator) Count(loc, source string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if source != "" {
		return v.counts[loc][source]
	}
	n := 0
	for _, c := range v.counts[loc] {
		n += c
	}
	return n
}

// Report says, one line per schema, how many documents were validated and from where:
// "schema/fix.json: 312 valid (http 12, mqtt 100, replay 200)".
func (v *Validator) Report() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for _, loc := range slices.Sorted(maps.Keys(v.counts)) {
		n, parts := 0, []string{}
		for _, src := range slices.Sorted(maps.Keys(v.counts[loc])) {
			n += v.counts[loc][src]
			parts = append(parts, fmt.Sprintf("%s %d", src, v.counts[loc][src]))
		}
		fmt.Fprintf(&b, "%s: %d valid (%s)\n", loc, n, strings.Join(parts, ", "))
	}
	return b.String()
}
