package infer

import (
	"bytes"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/heimdall/edged/models/reference"
)

// modelProto builds a ModelProto's bytes: ir_version, opsets, a graph, and fields of every
// wire type that the parser must skip.
func modelProto(ir uint64, opsets ...Opset) []byte {
	var b []byte
	b = protowire.AppendTag(b, fieldIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, ir)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // producer_name
	b = protowire.AppendString(b, "test")
	for _, op := range opsets {
		var body []byte
		body = protowire.AppendTag(body, fieldOpsetDomain, protowire.BytesType)
		body = protowire.AppendString(body, op.Domain)
		body = protowire.AppendTag(body, fieldOpsetVer, protowire.VarintType)
		body = protowire.AppendVarint(body, uint64(op.Version))
		body = protowire.AppendTag(body, 9, protowire.Fixed32Type) // unknown: skipped
		body = protowire.AppendFixed32(body, 7)
		b = protowire.AppendTag(b, fieldOpsetImport, protowire.BytesType)
		b = protowire.AppendBytes(b, body)
	}
	b = protowire.AppendTag(b, 99, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1)
	b = protowire.AppendTag(b, fieldGraph, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte{})
	return b
}

// Ensure the fields ONNX Runtime does not expose are read from the wire, unknown ones of
// any wire type skipped, and broken or non-ONNX input refused.
func TestParseModelProto(t *testing.T) {
	want := []Opset{{"", 17}, {"ai.onnx.ml", 3}}
	pi, err := parseModelProto(bytes.NewReader(modelProto(8, want...)))
	if err != nil || pi.irVersion != 8 || !reflect.DeepEqual(pi.opsets, want) {
		t.Errorf("got %+v, %v", pi, err)
	}
	pi, err = parseModelProto(bytes.NewReader(reference.Model))
	if err != nil || pi.irVersion == 0 || len(pi.opsets) == 0 || pi.opsets[0].Version != 17 {
		t.Errorf("reference model: %+v, %v", pi, err)
	}
	good := modelProto(8, want...)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-3],
		"no graph":  modelProto(8, want...)[:len(good)-2],
		"json":      []byte(`{"version": 1}`),
		"bad tag":   {0x80},
	} {
		if _, err := parseModelProto(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseModelProto: any bytes give the fields or an error, never a panic.
func FuzzParseModelProto(f *testing.F) {
	f.Add(modelProto(8, Opset{"", 17}))
	f.Add(reference.Model[:min(len(reference.Model), 512)])
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseModelProto(bytes.NewReader(b))
	})
}
