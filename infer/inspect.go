package infer

import (
	"errors"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// Report is what `edged model inspect` prints about a model file.
type Report struct {
	Path     string            `json:"path"`
	SHA256   string            `json:"sha256"`
	Bytes    int               `json:"bytes"`
	Info     Info              `json:"model"`
	Metadata map[string]string `json:"metadata"`
	Contract *Contract         `json:"contract"`
	// Valid is "ok" when the model loads and matches its contract, else the reason.
	Valid string `json:"valid"`
}

// Inspect describes a model file without needing it to be valid: a model without a
// contract, or one that disagrees with it, is still described, with the reason in Valid.
func Inspect(path string, contract *Contract) (Report, error) {
	if err := Init(""); err != nil {
		return Report{}, err
	}
	id, err := identify(Source{Path: path})
	if err != nil {
		if errors.Is(err, ErrRuntime) {
			return Report{}, fmt.Errorf("%s: %w", path, err)
		}
		return Report{}, err
	}
	r := Report{Path: path, SHA256: id.sha256, Bytes: int(id.bytes), Metadata: map[string]string{}}
	r.Info.Opsets, r.Info.IRVersion = id.proto.opsets, id.proto.irVersion
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return Report{}, fmt.Errorf("%s: %w: %v", path, ErrRuntime, err)
	}
	r.Info.Inputs, r.Info.Outputs = describe(ins), describe(outs)
	meta, err := ort.GetModelMetadata(path)
	if err != nil {
		return Report{}, fmt.Errorf("%s: %w: %v", path, ErrRuntime, err)
	}
	defer meta.Destroy()
	r.Info.Producer, _ = meta.GetProducerName()
	r.Info.GraphName, _ = meta.GetGraphName()
	r.Info.Description, _ = meta.GetDescription()
	keys, _ := meta.GetCustomMetadataMapKeys()
	for _, k := range keys {
		v, _, _ := meta.LookupCustomMetadataMap(k)
		r.Metadata[k] = v
	}
	if raw, ok := r.Metadata[ContractKey]; ok {
		r.Info.HasContract = true
		if c, err := ParseContract([]byte(raw)); err == nil {
			r.Contract = &c
		}
	}
	if contract != nil {
		r.Contract = contract
	}
	m, err := Load(Source{Path: path}, Options{Contract: contract, Override: contract != nil})
	if err != nil {
		r.Valid = err.Error()
	} else {
		r.Valid = "ok"
		m.Close()
	}
	return r, nil
}
