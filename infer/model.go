package infer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/heimdall/edged/configs/safefile"
	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer/geo"
)

// Source is where a model's bytes come from: a file (which may have ONNX external-data
// sidecars next to it) or bytes in memory (the embedded reference model).
type Source struct {
	Path string
	Data []byte
	// Name and Version override what the model's metadata says (e.g. the MLflow registry's
	// name and version for a synced model).
	Name, Version string
}

// Options tune how a model is loaded.
type Options struct {
	// Contract is used when the model carries none (Heimdall exports), or replaces the
	// embedded one when Override is set.
	Contract *Contract
	Override bool
	// IntraOpThreads for ONNX Runtime; 0 means 1, which suits a small model on a 2-core host
	// where dsp and the uplink need the other core.
	IntraOpThreads int
	// Optimization is "all" (default), "extended", "basic" or "disable".
	Optimization string
	// MaxBatch caps how many queued windows run in one call when the batch axis is dynamic.
	// Default 8.
	MaxBatch int
}

// maxBatchValues bounds one batch's input tensor (windows × features), so that a contract
// with a large feature matrix runs smaller batches instead of allocating MaxBatch of them.
const maxBatchValues = 1 << 22

// Model is a loaded, validated model. It is safe for concurrent use.
type Model struct {
	Name, Version string
	SHA256        string
	Contract      Contract
	Info          Info

	rows, frames int
	maxBatch     int
	session      *ort.DynamicAdvancedSession
	outNames     []string

	// mu guards the session's life: Predict holds it shared, Close exclusively, so a
	// swapped-out model is destroyed only after its last window finished.
	mu     sync.RWMutex
	closed bool
	pool   sync.Pool // *runner
}

// Info is what a model file says about itself.
type Info struct {
	Producer    string   `json:"producer"`
	GraphName   string   `json:"graph_name"`
	Description string   `json:"description,omitempty"`
	Opsets      []Opset  `json:"opsets"`
	IRVersion   int64    `json:"ir_version"`
	Inputs      []Tensor `json:"inputs"`
	Outputs     []Tensor `json:"outputs"`
	HasContract bool     `json:"has_contract"`
}

// Tensor describes a model input or output.
type Tensor struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int64 `json:"shape"` // -1 for a dynamic axis
}

// Load reads, validates and opens a model. Every disagreement between the model and its
// contract is reported here, never at inference time.
func Load(src Source, opts Options) (*Model, error) {
	label := src.Path
	if label == "" {
		label = "embedded model"
	}
	m, err := load(src, opts)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", label, err)
	}
	return m, nil
}

// identity is what edged computes itself from a model's bytes.
type identity struct {
	sha256 string
	bytes  int64
	proto  protoInfo
}

// identify hashes and parses a model from its file, streaming (ONNX Runtime reads the file
// itself, so edged never holds it), or from memory.
func identify(src Source) (identity, error) {
	var r io.Reader = bytes.NewReader(src.Data)
	if src.Path != "" {
		f, _, err := safefile.Open(src.Path, MaxModelBytes)
		if err != nil {
			return identity{}, fmt.Errorf("read model: %w", err)
		}
		defer f.Close()
		r = safefile.Limit(f, src.Path, MaxModelBytes)
	}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	pi, err := parseModelProto(cr)
	switch {
	case errors.Is(err, safefile.ErrTooLarge):
		return identity{}, fmt.Errorf("read model: %w", err)
	case cr.n == 0:
		return identity{}, fmt.Errorf("%w: empty file", ErrRuntime)
	case err != nil:
		// Refused where the parse stopped: a file of zeros at its first byte, not read on.
		return identity{}, fmt.Errorf("%w: not an ONNX model: %v", ErrRuntime, err)
	}
	return identity{sha256: hex.EncodeToString(h.Sum(nil)), bytes: cr.n, proto: pi}, nil
}

// CheckModelFile checks, without ONNX Runtime and without holding the file, that path is
// a regular file of at most MaxModelBytes that parses as an ONNX model (a graph and an IR
// version): what a configuration check can know before the model is loaded.
func CheckModelFile(path string) error {
	_, err := identify(Source{Path: path})
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func load(src Source, opts Options) (*Model, error) {
	if err := Init(""); err != nil {
		return nil, err
	}
	id, err := identify(src)
	if err != nil {
		return nil, err
	}
	m := &Model{SHA256: id.sha256}
	m.Info.Opsets, m.Info.IRVersion = id.proto.opsets, id.proto.irVersion
	data := src.Data

	var ins, outs []ort.InputOutputInfo
	var meta *ort.ModelMetadata
	if src.Path != "" {
		// From the path, so that ONNX external-data sidecars resolve relative to the file.
		ins, outs, err = ort.GetInputOutputInfo(src.Path)
		if err == nil {
			meta, err = ort.GetModelMetadata(src.Path)
		}
	} else {
		ins, outs, err = ort.GetInputOutputInfoWithONNXData(data)
		if err == nil {
			meta, err = ort.GetModelMetadataWithONNXData(data)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	defer meta.Destroy()
	m.Info.Inputs, m.Info.Outputs = describe(ins), describe(outs)
	m.Info.Producer, _ = meta.GetProducerName()
	m.Info.GraphName, _ = meta.GetGraphName()
	m.Info.Description, _ = meta.GetDescription()

	raw, hasContract, err := meta.LookupCustomMetadataMap(ContractKey)
	if err != nil {
		return nil, fmt.Errorf("%w: read metadata: %v", ErrRuntime, err)
	}
	m.Info.HasContract = hasContract
	switch {
	case opts.Contract != nil && (opts.Override || !hasContract):
		m.Contract = *opts.Contract
		m.Contract.setDefaults()
	case hasContract:
		if m.Contract, err = ParseContract([]byte(raw)); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", ContractKey, err)
		}
	default:
		return nil, fmt.Errorf("%w: the model has no %s metadata and no contract was configured (set model.contract in the config)", ErrBadContract, ContractKey)
	}
	if err := m.Contract.Validate(); err != nil {
		return nil, err
	}
	fe, err := dsp.NewFrontend(m.Contract.Preprocess)
	if err != nil {
		return nil, fmt.Errorf("%w: preprocess: %w", ErrBadContract, err)
	}
	m.rows, m.frames = fe.Shape()
	if err := m.checkShapes(ins, outs, opts); err != nil {
		return nil, err
	}

	m.Name, m.Version = src.Name, src.Version
	if m.Name == "" {
		m.Name, _, _ = meta.LookupCustomMetadataMap("edged.model_name")
	}
	if m.Name == "" && src.Path != "" {
		m.Name = filepath.Base(src.Path)
	}
	if m.Version == "" {
		m.Version, _, _ = meta.LookupCustomMetadataMap("edged.model_version")
	}
	if m.Version == "" {
		if v, err := meta.GetVersion(); err == nil && v != 0 {
			m.Version = strconv.FormatInt(v, 10)
		} else {
			m.Version = m.SHA256[:12]
		}
	}

	so, err := sessionOptions(opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	m.outNames = []string{m.Contract.Outputs.Position.Name, m.Contract.Outputs.Uncertainty.Name}
	if c := m.Contract.Outputs.Confidence; c != nil {
		m.outNames = append(m.outNames, c.Name)
	}
	in := []string{m.Contract.Input.Name}
	if src.Path != "" {
		m.session, err = ort.NewDynamicAdvancedSession(src.Path, in, m.outNames, so)
	} else {
		m.session, err = ort.NewDynamicAdvancedSessionWithONNXData(data, in, m.outNames, so)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: create session: %v", ErrRuntime, err)
	}
	return m, nil
}

func sessionOptions(opts Options) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	threads := opts.IntraOpThreads
	if threads <= 0 {
		threads = 1
	}
	if err := checkThreads(threads); err != nil {
		so.Destroy()
		return nil, err
	}
	level := map[string]ort.GraphOptimizationLevel{
		"": ort.GraphOptimizationLevelEnableAll, "all": ort.GraphOptimizationLevelEnableAll,
		"extended": ort.GraphOptimizationLevelEnableExtended, "basic": ort.GraphOptimizationLevelEnableBasic,
		"disable": ort.GraphOptimizationLevelDisableAll,
	}
	lv, ok := level[opts.Optimization]
	if !ok {
		so.Destroy()
		return nil, fmt.Errorf("model.optimization: %q: want all, extended, basic or disable", opts.Optimization)
	}
	for _, err := range []error{so.SetIntraOpNumThreads(threads), so.SetInterOpNumThreads(1), so.SetGraphOptimizationLevel(lv)} {
		if err != nil {
			so.Destroy()
			return nil, fmt.Errorf("%w: session options: %v", ErrRuntime, err)
		}
	}
	return so, nil
}

// checkThreads bounds ONNX Runtime's intra-op pool by the CPUs edged may use: each thread
// is a spinning worker with its own stack and scratch, and more than the CPUs only costs
// memory and latency (a million was accepted once and grew the process by 75 MB/s).
func checkThreads(n int) error {
	if cpus := runtime.NumCPU(); n > cpus {
		return fmt.Errorf("model.intra_op_threads: %d is more than the %d CPUs this host has", n, cpus)
	}
	return nil
}

func describe(infos []ort.InputOutputInfo) []Tensor {
	out := make([]Tensor, len(infos))
	for i, in := range infos {
		out[i] = Tensor{Name: in.Name, Type: elemType(in.DataType), Shape: append([]int64(nil), in.Dimensions...)}
	}
	return out
}

func elemType(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeBool:
		return "bool"
	}
	return t.String()
}

// checkShapes compares the model's real inputs and outputs with what the contract implies.
func (m *Model) checkShapes(ins, outs []ort.InputOutputInfo, opts Options) error {
	c := m.Contract
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrContractMismatch, fmt.Sprintf(format, args...))
	}
	if len(ins) != 1 {
		names := make([]string, len(ins))
		for i, in := range ins {
			names[i] = in.Name
		}
		return mismatch("the model has %d inputs %v; edged feeds exactly one, %q", len(ins), names, c.Input.Name)
	}
	in := ins[0]
	if in.Name != c.Input.Name {
		return mismatch("input is named %q, the contract says input.name %q", in.Name, c.Input.Name)
	}
	if in.DataType != ort.TensorElementDataTypeFloat {
		return mismatch("input %q is %s, edged feeds float32", in.Name, elemType(in.DataType))
	}
	if len(in.Dimensions) != len(c.Input.Layout) {
		return mismatch("input %q has shape %v (rank %d), the layout %q needs rank %d", in.Name, in.Dimensions, len(in.Dimensions), c.Input.Layout, len(c.Input.Layout))
	}
	m.maxBatch = opts.MaxBatch
	if m.maxBatch <= 0 {
		m.maxBatch = 8
	}
	// rows × frames is at most dsp's matrix limit, so this leaves at least one window.
	m.maxBatch = max(1, min(m.maxBatch, maxBatchValues/max(1, m.rows*m.frames)))
	for i, r := range c.Input.Layout {
		d := in.Dimensions[i]
		var want int64
		switch r {
		case 'N':
			if d > 0 {
				m.maxBatch = 1
				if d != 1 {
					return mismatch("input %q has a fixed batch of %d; edged needs 1 or dynamic", in.Name, d)
				}
			}
			continue
		case 'C':
			if d > 0 && d != int64(c.Input.Channels) {
				return mismatch("the model needs %d input channels (input %q shape %v) but edged feeds one source per model, 1 channel", d, in.Name, in.Dimensions)
			}
			continue
		case 'F':
			want = int64(m.rows)
		case 'T':
			want = int64(m.frames)
		}
		if d > 0 && d != want {
			return mismatch("input %q axis %c is %d, the preprocessing gives %d (shape %v, layout %s)", in.Name, r, d, want, in.Dimensions, c.Input.Layout)
		}
	}
	byName := map[string]ort.InputOutputInfo{}
	for _, o := range outs {
		byName[o.Name] = o
	}
	check := func(field, name string, width int) error {
		o, ok := byName[name]
		if !ok {
			return mismatch("%s %q is not an output of the model (outputs: %v)", field, name, describe(outs))
		}
		if o.DataType != ort.TensorElementDataTypeFloat {
			return mismatch("%s %q is %s, want float32", field, name, elemType(o.DataType))
		}
		n := int64(1)
		for _, d := range o.Dimensions[min(1, len(o.Dimensions)):] {
			n *= d
		}
		// Rank 0 means ONNX Runtime does not know the shape; the smoke inference checks it.
		if len(o.Dimensions) > 0 && n > 0 && n < int64(width) {
			return mismatch("%s %q has shape %v, want [batch,%d]", field, name, o.Dimensions, width)
		}
		return nil
	}
	if err := check("outputs.position", c.Outputs.Position.Name, 2); err != nil {
		return err
	}
	if err := check("outputs.uncertainty", c.Outputs.Uncertainty.Name, uncertaintyWidth(c.Outputs.Uncertainty.Kind)); err != nil {
		return err
	}
	if cf := c.Outputs.Confidence; cf != nil {
		if err := check("outputs.confidence", cf.Name, 1); err != nil {
			return err
		}
	}
	return nil
}

// FeatureLen is the number of float32 values one window's features hold.
func (m *Model) FeatureLen() int { return m.rows * m.frames }

// MaxBatch is the most windows one Predict call runs at once.
func (m *Model) MaxBatch() int { return m.maxBatch }

// Estimate is a model's answer for one window.
type Estimate struct {
	LatDeg, LonDeg float64
	Cov            geo.Cov
	// Confidence is the model's own confidence in [0,1]; valid when HasConfidence.
	Confidence    float64
	HasConfidence bool
}

// runner holds input and output tensors for one batch size, allocated once and reused.
type runner struct {
	batch int
	in    *ort.Tensor[float32]
	outs  []ort.Value
}

func (m *Model) runnerFor(batch int) (*runner, error) {
	if r, ok := m.pool.Get().(*runner); ok {
		if r.batch == batch {
			return r, nil
		}
		r.destroy()
	}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(m.Contract.inputShape(batch, m.rows, m.frames)...))
	if err != nil {
		return nil, fmt.Errorf("%w: input tensor: %v", ErrRuntime, err)
	}
	r := &runner{batch: batch, in: in, outs: make([]ort.Value, len(m.outNames))}
	return r, nil
}

func (r *runner) destroy() {
	r.in.Destroy()
	for _, o := range r.outs {
		if o != nil {
			o.Destroy()
		}
	}
}

// Predict runs len(features) windows (each FeatureLen values, [F][T] row-major) and returns
// one estimate per window. errs[i] is non-nil (wrapping ErrNonFinite) for a window whose
// output is not finite; err is a failure of the whole call.
func (m *Model) Predict(ctx context.Context, features [][]float32) (est []Estimate, errs []error, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, nil, ErrNoModel
	}
	est = make([]Estimate, 0, len(features))
	errs = make([]error, 0, len(features))
	for start := 0; start < len(features); start += m.maxBatch {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		batch := features[start:min(start+m.maxBatch, len(features))]
		e, es, err := m.run(batch)
		if err != nil {
			return nil, nil, err
		}
		est, errs = append(est, e...), append(errs, es...)
	}
	return est, errs, nil
}

func (m *Model) run(batch [][]float32) ([]Estimate, []error, error) {
	r, err := m.runnerFor(len(batch))
	if err != nil {
		return nil, nil, err
	}
	dst := r.in.GetData()
	n := m.FeatureLen()
	for i, f := range batch {
		if len(f) != n {
			m.pool.Put(r)
			return nil, nil, fmt.Errorf("window %d has %d feature values, the model takes %d", i, len(f), n)
		}
		row := dst[i*n : (i+1)*n]
		if m.Contract.transposed() {
			for fr := 0; fr < m.rows; fr++ {
				for t := 0; t < m.frames; t++ {
					row[t*m.rows+fr] = f[fr*m.frames+t]
				}
			}
		} else {
			copy(row, f)
		}
	}
	if err := m.session.Run([]ort.Value{r.in}, r.outs); err != nil {
		r.destroy()
		return nil, nil, fmt.Errorf("%w: run: %v", ErrRuntime, err)
	}
	defer m.pool.Put(r)
	get := func(i int) ([]float32, int, error) {
		t, ok := r.outs[i].(*ort.Tensor[float32])
		if !ok {
			return nil, 0, fmt.Errorf("%w: output %q is not a float32 tensor", ErrContractMismatch, m.outNames[i])
		}
		d := t.GetData()
		return d, len(d) / len(batch), nil
	}
	pos, posW, err := get(0)
	if err != nil {
		return nil, nil, err
	}
	unc, uncW, err := get(1)
	if err != nil {
		return nil, nil, err
	}
	var conf []float32
	confW := 0
	if len(r.outs) > 2 {
		if conf, confW, err = get(2); err != nil {
			return nil, nil, err
		}
	}
	if posW < 2 || uncW < uncertaintyWidth(m.Contract.Outputs.Uncertainty.Kind) || (conf != nil && confW < 1) {
		return nil, nil, fmt.Errorf("%w: outputs hold %d, %d and %d values per window; the contract needs 2, %d and 1",
			ErrContractMismatch, posW, uncW, confW, uncertaintyWidth(m.Contract.Outputs.Uncertainty.Kind))
	}
	est := make([]Estimate, len(batch))
	errs := make([]error, len(batch))
	for i := range batch {
		var c []float32
		if conf != nil {
			c = conf[i*confW : i*confW+1]
		}
		est[i], errs[i] = m.Contract.Outputs.estimate(pos[i*posW:i*posW+2], unc[i*uncW:(i+1)*uncW], c)
	}
	return est, errs, nil
}

// estimate converts one row of raw outputs into an Estimate in degrees and metres.
func (o Outputs) estimate(pos, unc, conf []float32) (Estimate, error) {
	var e Estimate
	e.LatDeg, e.LonDeg = float64(pos[0]), float64(pos[1])
	if o.Position.Order == "lon_lat" {
		e.LatDeg, e.LonDeg = e.LonDeg, e.LatDeg
	}
	vals := make([]float64, 0, 5)
	vals = append(vals, e.LatDeg, e.LonDeg)
	for _, u := range unc {
		vals = append(vals, float64(u))
	}
	if len(conf) > 0 {
		e.Confidence, e.HasConfidence = float64(conf[0]), true
		vals = append(vals, e.Confidence)
	}
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Estimate{}, fmt.Errorf("%w: %v", ErrNonFinite, vals)
		}
	}
	if e.LatDeg < -90 || e.LatDeg > 90 {
		return Estimate{}, fmt.Errorf("%w: latitude %g outside [-90,90]", ErrNonFinite, e.LatDeg)
	}
	e.LonDeg = math.Remainder(e.LonDeg, 360)
	if e.LonDeg == 180 {
		e.LonDeg = -180
	}
	u := o.Uncertainty
	var err error
	switch u.Kind {
	case SigmaXY:
		sx, sy := float64(unc[0]), float64(unc[1])
		if u.Order == "north_east" {
			sx, sy = sy, sx
		}
		e.Cov, err = geo.FromSigmas(sx, sy, 0)
	case SigmaXYRho:
		sx, sy := float64(unc[0]), float64(unc[1])
		if u.Order == "north_east" {
			sx, sy = sy, sx
		}
		e.Cov, err = geo.FromSigmas(sx, sy, float64(unc[2]))
	case SigmaXYTheta:
		e.Cov, err = geo.FromSigmaTheta(float64(unc[0]), float64(unc[1]), float64(unc[2]))
	case Covariance:
		e.Cov = geo.Cov{EastM2: float64(unc[0]), EastNorthM2: float64(unc[1]), NorthM2: float64(unc[3])}
	}
	if err != nil {
		return Estimate{}, fmt.Errorf("%w: uncertainty: %v", ErrNonFinite, err)
	}
	if u.Units == "deg" {
		northM, eastM := geo.MetresPerDegree(e.LatDeg)
		e.Cov.EastM2 *= eastM * eastM
		e.Cov.NorthM2 *= northM * northM
		e.Cov.EastNorthM2 *= eastM * northM
	}
	return e, nil
}

// Close releases the session once every Predict in flight has returned.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for {
		r, ok := m.pool.Get().(*runner)
		if !ok {
			break
		}
		r.destroy()
	}
	return m.session.Destroy()
}
