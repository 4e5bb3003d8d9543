package infer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

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

// maxOpsetBytes bounds one opset_import entry (a domain name and a version).
const maxOpsetBytes = 64 << 10

// parseModelProto reads the few ModelProto fields ONNX Runtime's C API does not expose
// (ir_version, opset_import) with protowire's wire types, which the module already links,
// rather than generated ONNX bindings for two fields; it doubles as a cheap "is this ONNX at
// all" check. It streams: the graph and every other field are skipped as they are read, so
// a model file is never held in memory to be checked.
func parseModelProto(r io.Reader) (protoInfo, error) {
	var pi protoInfo
	br := bufio.NewReader(r)
	sawGraph := false
	for {
		t, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return pi, fmt.Errorf("bad field tag: %w", err)
		}
		num, typ := protowire.DecodeTag(t)
		if !num.IsValid() {
			// Field 0 is never valid: a file of zeros is refused at its first byte rather
			// than walked to its end.
			return pi, fmt.Errorf("bad field number %d", num)
		}
		switch typ {
		case protowire.VarintType:
			v, err := binary.ReadUvarint(br)
			if err != nil {
				return pi, fmt.Errorf("field %d: bad varint: %w", num, err)
			}
			if num == fieldIRVersion {
				pi.irVersion = int64(v)
			}
		case protowire.BytesType:
			l, err := binary.ReadUvarint(br)
			if err != nil {
				return pi, fmt.Errorf("field %d: bad length: %w", num, err)
			}
			if num != fieldOpsetImport {
				if err := discard(br, l); err != nil {
					return pi, fmt.Errorf("field %d: length %d past the end of the file", num, l)
				}
				sawGraph = sawGraph || num == fieldGraph
				continue
			}
			if l > maxOpsetBytes {
				return pi, fmt.Errorf("opset_import: %d bytes, more than %d", l, maxOpsetBytes)
			}
			body := make([]byte, l)
			if _, err := io.ReadFull(br, body); err != nil {
				return pi, fmt.Errorf("opset_import: length %d past the end of the file", l)
			}
			op, err := parseOpset(body)
			if err != nil {
				return pi, err
			}
			pi.opsets = append(pi.opsets, op)
		case protowire.Fixed32Type, protowire.Fixed64Type:
			size := uint64(4)
			if typ == protowire.Fixed64Type {
				size = 8
			}
			if err := discard(br, size); err != nil {
				return pi, fmt.Errorf("field %d: truncated", num)
			}
		default: // groups: proto2 only, never in ONNX
			return pi, fmt.Errorf("field %d: unsupported wire type %d", num, typ)
		}
	}
	if !sawGraph || pi.irVersion == 0 {
		return pi, errors.New("no graph or ir_version")
	}
	return pi, nil
}

// discard skips n bytes, failing if the stream ends first.
func discard(br *bufio.Reader, n uint64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		if _, err := br.Discard(step); err != nil {
			return err
		}
		n -= uint64(step)
	}
	return nil
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
