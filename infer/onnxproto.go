package infer

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Opset is one operator set a model imports.
type Opset struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

type protoInfo struct {
	irVersion int64
	opsets    []Opset
}

// ModelProto and OperatorSetIdProto field numbers, from onnx.proto
// (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
const (
	fieldIRVersion   = 1
	fieldGraph       = 7
	fieldOpsetImport = 8
	fieldOpsetDomain = 1
	fieldOpsetVer    = 2
)

// parseModelProto reads the few ModelProto fields ONNX Runtime's C API does not expose
// (ir_version, opset_import) with protowire, which the module already links, rather than
// generated ONNX bindings for two fields; it doubles as a cheap "is this ONNX at all" check.
func parseModelProto(b []byte) (protoInfo, error) {
	var pi protoInfo
	sawGraph := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return pi, fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == fieldIRVersion && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return pi, fmt.Errorf("ir_version: %w", protowire.ParseError(n))
			}
			pi.irVersion = int64(v)
			b = b[n:]
		case num == fieldOpsetImport && typ == protowire.BytesType:
			body, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return pi, fmt.Errorf("opset_import: %w", protowire.ParseError(n))
			}
			op, err := parseOpset(body)
			if err != nil {
				return pi, err
			}
			pi.opsets = append(pi.opsets, op)
			b = b[n:]
		default:
			sawGraph = sawGraph || (num == fieldGraph && typ == protowire.BytesType)
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return pi, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !sawGraph || pi.irVersion == 0 {
		return pi, errors.New("no graph or ir_version")
	}
	return pi, nil
}

// parseOpset reads one OperatorSetIdProto; fields other than domain and version are
// skipped.
func parseOpset(b []byte) (Opset, error) {
	var op Opset
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return op, fmt.Errorf("opset_import: bad tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == fieldOpsetDomain && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return op, fmt.Errorf("opset_import: domain: %w", protowire.ParseError(n))
			}
			op.Domain = string(v)
			b = b[n:]
		case num == fieldOpsetVer && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return op, fmt.Errorf("opset_import: version: %w", protowire.ParseError(n))
			}
			op.Version = int64(v)
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return op, fmt.Errorf("opset_import: field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return op, nil
}
