// Package infertest makes model files for tests: a real ONNX model with its edged.contract
// metadata replaced, so that a test can serve, sync or load a model whose contract is
// hostile without a Python toolchain.
package infertest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ONNX ModelProto fields (onnx/onnx.proto): metadata_props is repeated
// StringStringEntryProto{key = 1, value = 2}.
const (
	fieldMetadataProps = 14
	wireVarint         = 0
	wireFixed64        = 1
	wireBytes          = 2
	wireFixed32        = 5
)

// WithMetadata returns model with the metadata property key set to value: every existing
// entry for key is dropped and one new entry appended. The graph is left byte for byte.
func WithMetadata(model []byte, key, value string) ([]byte, error) {
	out := make([]byte, 0, len(model)+len(key)+len(value)+16)
	b := model
	for len(b) > 0 {
		start := b
		t, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("infertest: bad field tag")
		}
		field, wire := t>>3, t&7
		b = b[n:]
		var body []byte
		switch wire {
		case wireVarint:
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, fmt.Errorf("infertest: field %d: bad varint", field)
			}
			b = b[n:]
		case wireFixed64, wireFixed32:
			size := map[uint64]int{wireFixed64: 8, wireFixed32: 4}[wire]
			if len(b) < size {
				return nil, fmt.Errorf("infertest: field %d: truncated", field)
			}
			b = b[size:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, fmt.Errorf("infertest: field %d: bad length", field)
			}
			body = b[n : n+int(l)]
			b = b[n+int(l):]
		default:
			return nil, fmt.Errorf("infertest: field %d: wire type %d", field, wire)
		}
		if field == fieldMetadataProps && wire == wireBytes && entryKey(body) == key {
			continue
		}
		out = append(out, start[:len(start)-len(b)]...)
	}
	var entry []byte
	entry = appendBytes(entry, 1, []byte(key))
	entry = appendBytes(entry, 2, []byte(value))
	return appendBytes(out, fieldMetadataProps, entry), nil
}

// entryKey returns a StringStringEntryProto's key, or "" when it has none.
func entryKey(b []byte) string {
	for len(b) > 0 {
		t, n := binary.Uvarint(b)
		if n <= 0 || t&7 != wireBytes {
			return ""
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return ""
		}
		if t>>3 == 1 {
			return string(b[n : n+int(l)])
		}
		b = b[n+int(l):]
	}
	return ""
}

func appendBytes(dst []byte, field uint64, body []byte) []byte {
	dst = binary.AppendUvarint(dst, field<<3|wireBytes)
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// ContractKey is the ONNX metadata property edged reads its contract from (infer.ContractKey;
// repeated here because infer's own tests use this package).
const ContractKey = "edged.contract"

// OverflowingModels returns Heimdall's serving model (infer/testdata/heimdall_serving.onnx
// under root, input [B,128,T] with a dynamic time axis) carrying, as edged.contract, its
// serving contract with one integer set where int arithmetic once overflowed:
//
//   - "first_bin": filterbank.first_bin = 2^63−64, so first_bin + bins wrapped negative and
//     the frontend indexed past the spectrum;
//   - "frames": frames = 2^58, so rows × frames wrapped past the size check and the first
//     window indexed past the feature matrix.
//
// Both loaded, synced or replayed used to panic the process; each must be refused.
func OverflowingModels(root string) (map[string][]byte, error) {
	model, err := os.ReadFile(filepath.Join(root, "infer", "testdata", "heimdall_serving.onnx"))
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(root, "infer", "testdata", "heimdall_serving_contract.json"))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for name, set := range map[string]func(pre map[string]any){
		"first_bin": func(pre map[string]any) {
			pre["filterbank"].(map[string]any)["first_bin"] = json.Number("9223372036854775744")
		},
		"frames": func(pre map[string]any) { pre["frames"] = json.Number("288230376151711744") },
	} {
		var c map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // keep 64-bit integers exact
		if err := dec.Decode(&c); err != nil {
			return nil, err
		}
		set(c["preprocess"].(map[string]any))
		js, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if out[name], err = WithMetadata(model, ContractKey, string(js)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
