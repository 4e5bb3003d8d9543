package configs

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/heimdall/edged/configs/check"
)

// removedKeys were accepted once without effect; they are refused with what to do instead.
var removedKeys = map[string]string{
	"mqtt.receiver_id": "the receiver id is the top-level receiver_id",
}

// decode overlays data (YAML named name) on c. It walks the document itself rather than
// letting yaml.v3 fill c, so that every mistake names its full key and line, and all of
// them are reported: unknown or repeated keys, values of the wrong kind. Where each key was
// set is recorded in o.
func decode(data []byte, name string, c *Config, o *origins) []*Mistake {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []*Mistake{{Where: name, Err: err}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file is valid and changes nothing
	}
	d := decoder{file: name, o: o}
	d.value(doc.Content[0], reflect.ValueOf(c).Elem(), "", 0)
	return d.errs
}

type decoder struct {
	file  string
	o     *origins
	errs  []*Mistake
	steps int
}

// maxAliasDepth bounds alias chains, and maxSteps the nodes visited: aliases and merges
// fanning out level after level (a "billion laughs") must not make decoding exponential.
const (
	maxAliasDepth = 16
	maxSteps      = 100_000
)

// budget counts one visited node and reports whether decoding may go on.
func (d *decoder) budget(n *yaml.Node) bool {
	d.steps++
	if d.steps == maxSteps {
		d.fail(n, "", "more than %d nodes visited (aliases expanding too far)", maxSteps)
	}
	return d.steps < maxSteps
}

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &Mistake{Where: fmt.Sprintf("%s:%d", d.file, n.Line), Line: n.Line, Err: check.Errorf(nil, key, format, args...)})
}

// value decodes n into v, the field at key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string, depth int) {
	if !d.budget(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		if depth >= maxAliasDepth {
			d.fail(n, key, "aliases nested more than %d deep", maxAliasDepth)
			return
		}
		d.value(n.Alias, v, key, depth+1)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // `key:` with no value leaves the default, as yaml.v3 does
	}
	if v.Kind() == reflect.Struct {
		if n.Kind != yaml.MappingNode {
			d.fail(n, key, "want a mapping of keys, got %s", describe(n))
			return
		}
		d.mapping(n, v, key, map[string]int{}, depth)
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, key, "want %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	// A scalar into a scalar field: yaml.v3's own conversion, into a scratch value so a
	// failure leaves the default.
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.fail(n, key, "want %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	v.Set(tmp.Elem())
}

// mapping decodes a mapping node into struct v; seen holds the keys already set at this
// level (merge keys `<<` share it).
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string, seen map[string]int, depth int) {
	fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			d.fail(kn, key, "a key must be a plain word, got %s", describe(kn))
			continue
		}
		if kn.Value == "<<" && kn.ShortTag() == "!!merge" {
			d.merge(vn, v, key, seen, depth)
			continue
		}
		full := check.Join(key, kn.Value)
		if line, dup := seen[kn.Value]; dup {
			d.fail(kn, full, "set twice (first on line %d)", line)
			continue
		}
		seen[kn.Value] = kn.Line
		idx, ok := fields[kn.Value]
		if !ok {
			if hint, ok := removedKeys[full]; ok {
				d.fail(kn, full, "not a key: %s", hint)
			} else {
				d.fail(kn, full, "unknown key (known here: %s)", strings.Join(sortedKeys(fields), ", "))
			}
			continue
		}
		if _, seen := d.o.at[full]; !seen {
			d.o.at[full] = origin{where: fmt.Sprintf("%s:%d", d.file, kn.Line), line: kn.Line}
		}
		d.value(vn, v.FieldByIndex(idx), full, depth)
	}
}

// merge applies a `<<: *anchor` (or a sequence of them) at this level.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, key string, seen map[string]int, depth int) {
	if !d.budget(n) {
		return
	}
	for n.Kind == yaml.AliasNode && depth < maxAliasDepth {
		n, depth = n.Alias, depth+1
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.mapping(n, v, key, seen, depth)
	case yaml.SequenceNode:
		for _, m := range n.Content {
			d.merge(m, v, key, seen, depth+1)
		}
	default:
		d.fail(n, key, "a merge (<<) needs a mapping, got %s", describe(n))
	}
}

// yamlFields maps the yaml keys of struct type t to field index paths, following inline
// structs. Fields tagged "-" have no key.
func yamlFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			for k, idx := range yamlFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

func sortedKeys(m map[string][]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// kindName says what a field of kind k takes.
func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	}
	return k.String()
}

// describe names what a node holds, quoting a scalar's text (short: it may be long).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return fmt.Sprintf("%q", v)
}
