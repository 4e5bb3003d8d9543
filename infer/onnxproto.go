package infer

import (
	"errors"
	"fmt"
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

// parseModelProto reads the few ModelProto fields ONNX Runtime's C API does not expose
// (ir_version = 1, opset_import = 8). It walks the wire format directly rather than pull in a
// protobuf dependency for two fields, and doubles as a cheap "is this ONNX at all" check.
func parseModelProto(b []byte) (protoInfo, error) {
	var pi protoInfo
	sawGraph := false
	for len(b) > 0 {
		field, wire, n := tag(b)
		if n <= 0 {
			return pi, errors.New("bad field tag")
		}
		b = b[n:]
		switch wire {
		case 0:
			v, n := uvarint(b)
			if n <= 0 {
				return pi, fmt.Errorf("field %d: bad varint", field)
			}
			if field == 1 {
				pi.irVersion = int64(v)
			}
			b = b[n:]
		case 2:
			l, n := uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return pi, fmt.Errorf("field %d: length %d past the end of the file", field, l)
			}
			body := b[n : n+int(l)]
			b = b[n+int(l):]
			switch field {
			case 7:
				sawGraph = true
			case 8:
				op, err := parseOpset(body)
				if err != nil {
					return pi, err
				}
				pi.opsets = append(pi.opsets, op)
			}
		case 1:
			if len(b) < 8 {
				return pi, errors.New("truncated fixed64")
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return pi, errors.New("truncated fixed32")
			}
			b = b[4:]
		default:
			return pi, fmt.Errorf("field %d: unsupported wire type %d", field, wire)
		}
	}
	if !sawGraph || pi.irVersion == 0 {
		return pi, errors.New("no graph or ir_version")
	}
	return pi, nil
}

func parseOpset(b []byte) (Opset, error) {
	var op Opset
	for len(b) > 0 {
		field, wire, n := tag(b)
		if n <= 0 {
			return op, errors.New("opset_import: bad tag")
		}
		b = b[n:]
		switch {
		case field == 1 && wire == 2:
			l, n := uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return op, errors.New("opset_import: bad domain")
			}
			op.Domain = string(b[n : n+int(l)])
			b = b[n+int(l):]
		case field == 2 && wire == 0:
			v, n := uvarint(b)
			if n <= 0 {
				return op, errors.New("opset_import: bad version")
			}
			op.Version = int64(v)
			b = b[n:]
		default:
			return op, fmt.Errorf("opset_import: unexpected field %d", field)
		}
	}
	return op, nil
}

func tag(b []byte) (field uint64, wire int, n int) {
	v, n := uvarint(b)
	return v >> 3, int(v & 7), n
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
