package infer

import (
	"fmt"
	"runtime"

	"github.com/heimdall/edged/configs/check"
)

// ModelConfig is the `model:` section of edged.yaml: which model runs and how.
type ModelConfig struct {
	// Path of an .onnx file; empty means the model MLflow sync installed last, else the
	// embedded reference model (the caller decides).
	Path string `yaml:"path"`
	// ContractFile is a JSON contract for models without edged.contract metadata.
	ContractFile string `yaml:"contract_file"`
	// OverrideContract uses ContractFile even when the model carries its own contract.
	OverrideContract bool `yaml:"override_contract"`
	// IntraOpThreads, Optimization and MaxBatch are Options' fields of the same names.
	IntraOpThreads int    `yaml:"intra_op_threads"`
	Optimization   string `yaml:"optimization"`
	MaxBatch       int    `yaml:"max_batch"`
	// Challenger runs beside the model.
	Challenger ChallengerConfig `yaml:"challenger"`
}

// ChallengerConfig is `model.challenger`: an A/B test, or a model run in shadow.
type ChallengerConfig struct {
	// Path of the challenger's .onnx file; empty means no challenger.
	Path string `yaml:"path"`
	// Split is the fraction of windows (chosen by window id) the challenger answers.
	Split float64 `yaml:"split"`
	// Mode is ab (the challenger's answers are published for its share of windows) or
	// shadow (it runs on every window, unpublished).
	Mode string `yaml:"mode"`
}

// FixConfig is the `fix:` section of edged.yaml: how estimates become fixes.
type FixConfig struct {
	// Print is stdout (each fix as a line of JSON) or none.
	Print string `yaml:"print"`
	// ConfidenceLevel and Vertices are FixOptions' fields of the same names.
	ConfidenceLevel float64 `yaml:"confidence_level"`
	Vertices        int     `yaml:"vertices"`
}

// Largest files the model section names: ONNX files are protobuf, which cannot exceed
// 2 GiB; a contract is a few kilobytes of JSON.
const (
	MaxModelBytes    = 2 << 30
	MaxContractBytes = 1 << 20
	maxBatchLimit    = 4096
)

// DefaultModelConfig is the section's defaults: the embedded reference model on one
// thread, so the other core of a small host is left to dsp and the uplink.
func DefaultModelConfig() ModelConfig {
	return ModelConfig{IntraOpThreads: 1, Optimization: "all", MaxBatch: 8, Challenger: ChallengerConfig{Mode: "ab"}}
}

// DefaultFixConfig is the section's defaults: fixes printed, 95 % ellipses of 64 vertices.
func DefaultFixConfig() FixConfig {
	return FixConfig{Print: "stdout", ConfidenceLevel: 0.95, Vertices: 64}
}

// Validate checks the section, opens the model files it names (without reading them) and
// parses the contract file, without loading ONNX Runtime. Errors are keyed relative to the
// section.
func (m ModelConfig) Validate() error {
	l := check.NewList(nil)
	if m.Path != "" && l.File("path", m.Path, MaxModelBytes) {
		checkModel(l, "path", m.Path)
	}
	if m.ContractFile != "" {
		if _, err := m.LoadContract(); err != nil {
			l.Add("contract_file", "%v", err)
		}
	} else if m.OverrideContract {
		l.Add("override_contract", "true, but contract_file is not set")
	}
	// More threads than CPUs only adds contention.
	l.Int("intra_op_threads", int64(m.IntraOpThreads), 0, int64(runtime.NumCPU()))
	l.OneOf("optimization", m.Optimization, "", "all", "extended", "basic", "disable")
	l.Int("max_batch", int64(m.MaxBatch), 0, maxBatchLimit)
	ch := m.Challenger
	l.OneOf("challenger.mode", ch.Mode, "ab", "shadow")
	l.Number("challenger.split", ch.Split, 0, 1, "")
	if ch.Path != "" && l.File("challenger.path", ch.Path, MaxModelBytes) {
		checkModel(l, "challenger.path", ch.Path)
	}
	return l.Err()
}

// checkModel records a mistake at key unless the readable file p names parses as ONNX.
func checkModel(l *check.List, key, p string) {
	r, err := check.Path(p)
	if err == nil {
		err = CheckModelFile(r)
	}
	if err != nil {
		l.Add(key, "%s: %v", p, err)
	}
}

// LoadContract reads and parses the contract file, if one is set.
func (m ModelConfig) LoadContract() (*Contract, error) {
	if m.ContractFile == "" {
		return nil, nil
	}
	data, err := check.ReadFile(m.ContractFile, MaxContractBytes)
	if err != nil {
		return nil, err
	}
	c, err := ParseContract(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.ContractFile, err)
	}
	return &c, nil
}

// Options is the section as Load's options, the contract file read.
func (m ModelConfig) Options() (Options, error) {
	c, err := m.LoadContract()
	if err != nil {
		return Options{}, fmt.Errorf("model.contract_file: %w", err)
	}
	return Options{Contract: c, Override: m.OverrideContract, IntraOpThreads: m.IntraOpThreads,
		Optimization: m.Optimization, MaxBatch: m.MaxBatch}, nil
}

// Validate checks the section. Errors are keyed relative to the section.
func (f FixConfig) Validate() error {
	l := check.NewList(nil)
	l.OneOf("print", f.Print, "stdout", "none")
	if p := f.ConfidenceLevel; !(p > 0 && p < 1) {
		l.Add("confidence_level", "%v: want a probability above 0 and below 1", p)
	}
	l.Int("vertices", int64(f.Vertices), 8, 1024)
	return l.Err()
}

// Options is the section as NewFeature's options.
func (f FixConfig) Options() FixOptions {
	return FixOptions{ConfidenceLevel: f.ConfidenceLevel, Vertices: f.Vertices}
}
