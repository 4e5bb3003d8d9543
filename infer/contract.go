package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/heimdall/edged/dsp"
)

// ContractKey is the ONNX metadata property holding a model's contract as JSON.
const ContractKey = "edged.contract"

// Contract says how to feed a model and how to read its answer. It travels inside the ONNX
// file (metadata property edged.contract) or, for models exported without it such as
// Heimdall's training export, comes from config. Keys are snake_case.
type Contract struct {
	// Version of the contract format; only 1 exists.
	Version    int        `json:"version" yaml:"version"`
	Preprocess dsp.Params `json:"preprocess" yaml:"preprocess"`
	Input      Input      `json:"input" yaml:"input"`
	Outputs    Outputs    `json:"outputs" yaml:"outputs"`
}

// Input names the model's input tensor and the order of its axes.
type Input struct {
	Name string `json:"name" yaml:"name"`
	// Layout orders the axes with the letters N (batch), C (channel), F (frequency row) and T
	// (frame): "NCFT" for Heimdall training ([B,C,128,32]), "NFT" for Heimdall serving
	// ([B,128,T]). N must come first. Default "NCFT".
	Layout string `json:"layout,omitempty" yaml:"layout,omitempty"`
	// Channels is how many identical-shape channels the model expects (C). edged has one
	// source per model, so anything but 1 is refused at load time. Default 1.
	Channels int `json:"channels,omitempty" yaml:"channels,omitempty"`
}

// Outputs names the model's output tensors and how to read them.
type Outputs struct {
	Position    Position    `json:"position" yaml:"position"`
	Uncertainty Uncertainty `json:"uncertainty" yaml:"uncertainty"`
	// Confidence is optional: an output whose first element per row is the model's own
	// confidence in [0,1].
	Confidence *Named `json:"confidence,omitempty" yaml:"confidence,omitempty"`
}

// Named is an output identified by name only.
type Named struct {
	Name string `json:"name" yaml:"name"`
}

// Position is the output holding the estimate's centre, [B,2].
type Position struct {
	Name string `json:"name" yaml:"name"`
	// Order is "lat_lon" (default; Heimdall) or "lon_lat".
	Order string `json:"order,omitempty" yaml:"order,omitempty"`
	// Units is "deg" (the only one supported).
	Units string `json:"units,omitempty" yaml:"units,omitempty"`
}

// Uncertainty kinds.
const (
	// SigmaXY is [σx, σy]: east and north standard deviations, uncorrelated (Heimdall
	// training export).
	SigmaXY = "sigma_xy"
	// SigmaXYTheta is [σx, σy, θ]: standard deviations along the ellipse's own axes, the
	// x axis rotated θ degrees counter-clockwise from east (Heimdall serving).
	SigmaXYTheta = "sigma_xy_theta"
	// SigmaXYRho is [σeast, σnorth, ρ] with ρ the correlation coefficient.
	SigmaXYRho = "sigma_xy_rho"
	// Covariance is the 2×2 east/north covariance, row-major [cee, cen, cne, cnn].
	Covariance = "covariance"
)

// Uncertainty is the output holding the position's uncertainty.
type Uncertainty struct {
	Name string `json:"name" yaml:"name"`
	// Kind is one of SigmaXY, SigmaXYTheta, SigmaXYRho, Covariance.
	Kind string `json:"kind" yaml:"kind"`
	// Units of σ (or of √covariance): "m" or "deg" (converted to metres with WGS84 radii
	// at the estimate's latitude).
	Units string `json:"units" yaml:"units"`
	// Order of the two σ of SigmaXY and SigmaXYRho: "east_north" (default) or "north_east"
	// (Heimdall's training export, whose σ follow its [lat, lon] positions).
	Order string `json:"order,omitempty" yaml:"order,omitempty"`
}

// ParseContract decodes a contract, refusing unknown keys so that a typo in a contract is
// an error rather than a silently ignored setting.
func ParseContract(data []byte) (Contract, error) {
	var c Contract
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Contract{}, fmt.Errorf("%w: %v", ErrBadContract, err)
	}
	c.setDefaults()
	return c, nil
}

func (c *Contract) setDefaults() {
	if c.Input.Layout == "" {
		c.Input.Layout = "NCFT"
	}
	if c.Input.Channels == 0 {
		c.Input.Channels = 1
	}
	if c.Outputs.Position.Order == "" {
		c.Outputs.Position.Order = "lat_lon"
	}
	if c.Outputs.Position.Units == "" {
		c.Outputs.Position.Units = "deg"
	}
}

// Validate checks the contract on its own, without a model. Errors name the field.
func (c Contract) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Version != 1 {
		bad("version", "must be 1, got %d", c.Version)
	}
	if err := c.Preprocess.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("preprocess.%w", err))
	}
	if c.Input.Name == "" {
		bad("input.name", "missing")
	}
	if err := checkLayout(c.Input.Layout); err != nil {
		bad("input.layout", "%v", err)
	}
	if c.Input.Channels != 1 {
		bad("input.channels", "the model needs %d input channels but edged feeds one source per model (1 channel)", c.Input.Channels)
	}
	if c.Outputs.Position.Name == "" {
		bad("outputs.position.name", "missing")
	}
	if o := c.Outputs.Position.Order; o != "lat_lon" && o != "lon_lat" {
		bad("outputs.position.order", "%q: want lat_lon or lon_lat", o)
	}
	if c.Outputs.Position.Units != "deg" {
		bad("outputs.position.units", "%q: want deg", c.Outputs.Position.Units)
	}
	u := c.Outputs.Uncertainty
	if u.Name == "" {
		bad("outputs.uncertainty.name", "missing")
	}
	if uncertaintyWidth(u.Kind) == 0 {
		bad("outputs.uncertainty.kind", "%q: want %s, %s, %s or %s", u.Kind, SigmaXY, SigmaXYTheta, SigmaXYRho, Covariance)
	}
	if u.Order != "" && u.Order != "east_north" && u.Order != "north_east" {
		bad("outputs.uncertainty.order", "%q: want east_north or north_east", u.Order)
	}
	if u.Units != "m" && u.Units != "deg" {
		bad("outputs.uncertainty.units", "%q: want m or deg", u.Units)
	}
	if c.Outputs.Confidence != nil && c.Outputs.Confidence.Name == "" {
		bad("outputs.confidence.name", "missing")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadContract, err)
	}
	return nil
}

func uncertaintyWidth(kind string) int {
	switch kind {
	case SigmaXY:
		return 2
	case SigmaXYTheta, SigmaXYRho:
		return 3
	case Covariance:
		return 4
	}
	return 0
}

func checkLayout(layout string) error {
	if len(layout) < 3 || layout[0] != 'N' {
		return fmt.Errorf("%q: must start with N and hold F and T", layout)
	}
	seen := map[rune]bool{}
	for _, r := range layout {
		if !strings.ContainsRune("NCFT", r) || seen[r] {
			return fmt.Errorf("%q: letters are N, C, F, T, each at most once", layout)
		}
		seen[r] = true
	}
	if !seen['F'] || !seen['T'] {
		return fmt.Errorf("%q: must hold F and T", layout)
	}
	return nil
}

// inputShape is the tensor shape the contract implies for a batch of n windows.
func (c Contract) inputShape(n, rows, frames int) []int64 {
	shape := make([]int64, 0, len(c.Input.Layout))
	for _, r := range c.Input.Layout {
		switch r {
		case 'N':
			shape = append(shape, int64(n))
		case 'C':
			shape = append(shape, int64(c.Input.Channels))
		case 'F':
			shape = append(shape, int64(rows))
		case 'T':
			shape = append(shape, int64(frames))
		}
	}
	return shape
}

// transposed reports whether the layout puts T before F, so features ([F][T] row-major)
// must be transposed when copied into the tensor.
func (c Contract) transposed() bool {
	return strings.IndexByte(c.Input.Layout, 'T') < strings.IndexByte(c.Input.Layout, 'F')
}

// EmbeddedContract reads the contract an ONNX model carries, without opening a session.
func EmbeddedContract(model []byte) (Contract, error) {
	if err := Init(""); err != nil {
		return Contract{}, err
	}
	meta, err := ort.GetModelMetadataWithONNXData(model)
	if err != nil {
		return Contract{}, fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	defer meta.Destroy()
	raw, ok, err := meta.LookupCustomMetadataMap(ContractKey)
	if err != nil {
		return Contract{}, fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	if !ok {
		return Contract{}, fmt.Errorf("%w: no %s metadata", ErrBadContract, ContractKey)
	}
	return ParseContract([]byte(raw))
}
