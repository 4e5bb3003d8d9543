package infer

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heimdall/edged/models/reference"
)

func loadReference(t testing.TB) *Model {
	t.Helper()
	m, err := Load(Source{Data: reference.Model}, Options{})
	if err != nil {
		t.Fatalf("load reference model: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func readContract(t testing.TB, path string) *Contract {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseContract(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &c
}

// beaconFeatures makes reference-model features with beacon b's band loud: 64 rows × 63
// frames of dB, noise at −60 dB and the beacon's 8 rows at −60+snrDB in the middle frames.
func beaconFeatures(b int, snrDB float32) []float32 {
	const rows, frames = 64, 63
	f := make([]float32, rows*frames)
	for i := range f {
		f[i] = -60 + float32(i%7)*0.1
	}
	for r := b * 8; r < b*8+8; r++ {
		for t := 16; t < 48; t++ {
			f[r*frames+t] = -60 + snrDB
		}
	}
	return f
}

// Ensure the reference model loads, carries its contract, and reports itself truthfully.
func TestLoadReference(t *testing.T) {
	m := loadReference(t)
	if m.Name != "edged-reference-beacon" || m.Version != "1" {
		t.Errorf("name/version = %q/%q", m.Name, m.Version)
	}
	if !m.Info.HasContract || m.Contract.Input.Name != "spectrogram" {
		t.Errorf("contract not read from metadata: %+v", m.Contract.Input)
	}
	if got := m.Info.Inputs[0].Shape; !reflect.DeepEqual(got, []int64{-1, 1, 64, 63}) {
		t.Errorf("input shape %v", got)
	}
	if len(m.Info.Opsets) != 1 || m.Info.Opsets[0].Version != 17 {
		t.Errorf("opsets %+v, want ai.onnx 17", m.Info.Opsets)
	}
	if m.FeatureLen() != 64*63 || m.MaxBatch() != 8 {
		t.Errorf("feature len %d, max batch %d", m.FeatureLen(), m.MaxBatch())
	}
}

// Ensure each beacon's band yields that beacon's catalogued site, exactly, and that a
// stronger signal gives a smaller ellipse.
func TestReferencePredictsBeaconSites(t *testing.T) {
	m := loadReference(t)
	beacons := reference.Beacons()
	feats := make([][]float32, len(beacons))
	for i := range beacons {
		feats[i] = beaconFeatures(i, 30)
	}
	est, errs, err := m.Predict(context.Background(), append(feats, beaconFeatures(0, 15)))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range beacons {
		if errs[i] != nil {
			t.Fatalf("beacon %s: %v", b.Name, errs[i])
		}
		if math.Abs(est[i].LatDeg-b.LatDeg) > 1e-5 || math.Abs(est[i].LonDeg-b.LonDeg) > 1e-5 {
			t.Errorf("beacon %s: got %.6f,%.6f want %.6f,%.6f", b.Name, est[i].LatDeg, est[i].LonDeg, b.LatDeg, b.LonDeg)
		}
		if !est[i].HasConfidence || est[i].Confidence < 0.9 {
			t.Errorf("beacon %s: confidence %v", b.Name, est[i].Confidence)
		}
	}
	weak, strong := est[len(beacons)], est[0]
	if !(weak.Cov.EastM2 > strong.Cov.EastM2) {
		t.Errorf("σ² east: 15 dB %g should exceed 30 dB %g", weak.Cov.EastM2, strong.Cov.EastM2)
	}
}

// Ensure the committed reference model is what make_reference.py makes: same contract and
// the same outputs on fixed inputs.
func TestReferenceModelIsReproducible(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("Debian python3 absent; `make deps` installs python3-onnx")
	}
	out := filepath.Join(t.TempDir(), "beacon.onnx")
	cmd := exec.Command(py, "../models/reference/make_reference.py", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "No module named") {
			t.Skipf("python3-onnx missing: %s", b)
		}
		t.Fatalf("make_reference.py: %v\n%s", err, b)
	}
	fresh, err := Load(Source{Path: out}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	committed := loadReference(t)
	if !reflect.DeepEqual(fresh.Contract, committed.Contract) {
		t.Errorf("contracts differ:\nscript:    %+v\ncommitted: %+v", fresh.Contract, committed.Contract)
	}
	var feats [][]float32
	for b := range 8 {
		feats = append(feats, beaconFeatures(b, float32(10+3*b)))
	}
	a, _, err := fresh.Predict(context.Background(), feats)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := committed.Predict(context.Background(), feats)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, c) {
		t.Errorf("outputs differ:\nscript:    %+v\ncommitted: %+v", a, c)
	}
}

// Ensure a model shaped like Heimdall's training export runs with its contract from config,
// its σ in degrees becoming metres, and that the real 3-channel export is refused clearly.
func TestHeimdallTrainingExport(t *testing.T) {
	c := readContract(t, "testdata/heimdall_training_contract.json")
	m, err := Load(Source{Path: "testdata/heimdall_training_1ch.onnx"}, Options{Contract: c})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	feat := make([]float32, m.FeatureLen())
	for i := range feat {
		feat[i] = 2 // mean 2 → +0.002°; peak 2 → σ = softplus(0.02), softplus(0.04) degrees
	}
	est, errs, err := m.Predict(context.Background(), [][]float32{feat})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if math.Abs(est[0].LatDeg-45.0723) > 1e-4 || math.Abs(est[0].LonDeg-7.6889) > 1e-4 {
		t.Errorf("position %.5f,%.5f", est[0].LatDeg, est[0].LonDeg)
	}
	softplus := func(x float64) float64 { return math.Log1p(math.Exp(x)) }
	// σ order follows [lat, lon]: north first. One degree of latitude near 45° is ~111.1 km.
	sn, se := math.Sqrt(est[0].Cov.NorthM2), math.Sqrt(est[0].Cov.EastM2)
	if math.Abs(sn-softplus(0.02)*111_132) > 200 || math.Abs(se-softplus(0.04)*78_600) > 300 {
		t.Errorf("σ north %.0f m, east %.0f m", sn, se)
	}

	_, err = Load(Source{Path: "testdata/heimdall_training_3ch.onnx"}, Options{Contract: c})
	if !errors.Is(err, ErrContractMismatch) || !strings.Contains(err.Error(), "needs 3 input channels") {
		t.Errorf("3-channel export: err = %v, want a clear channel refusal", err)
	}
	_, err = Load(Source{Path: "testdata/heimdall_training_1ch.onnx"}, Options{})
	if !errors.Is(err, ErrBadContract) || !strings.Contains(err.Error(), "no edged.contract") {
		t.Errorf("no contract: err = %v", err)
	}
}

// Ensure Heimdall's serving form ([B,128,T] in; position, σx σy θ, confidence out) runs.
func TestHeimdallServingForm(t *testing.T) {
	c := readContract(t, "testdata/heimdall_serving_contract.json")
	m, err := Load(Source{Path: "testdata/heimdall_serving.onnx"}, Options{Contract: c})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	est, errs, err := m.Predict(context.Background(), [][]float32{make([]float32, m.FeatureLen())})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if !est[0].HasConfidence || math.Abs(est[0].Confidence-0.9) > 1e-6 {
		t.Errorf("confidence %+v", est[0])
	}
	// σx 100 m along an axis 30° ccw from east, σy 50 m: the covariance's trace is kept.
	if tr := est[0].Cov.EastM2 + est[0].Cov.NorthM2; math.Abs(tr-12500) > 1e-3 {
		t.Errorf("trace %g, want 12500", tr)
	}
}

// Ensure contracts that disagree with the model are refused at load, naming the field.
func TestContractMismatchRefusedAtLoad(t *testing.T) {
	base := readContract(t, "testdata/heimdall_serving_contract.json")
	cases := []struct {
		name   string
		change func(c *Contract)
		want   string
	}{
		{"input name", func(c *Contract) { c.Input.Name = "x" }, `contract says input.name "x"`},
		{"output name", func(c *Contract) { c.Outputs.Position.Name = "where" }, `outputs.position "where" is not an output`},
		{"rows", func(c *Contract) { c.Preprocess.Filterbank.Bins = 64 }, "axis F is 128, the preprocessing gives 64"},
		{"kind", func(c *Contract) { c.Outputs.Uncertainty.Kind = "ellipse" }, "outputs.uncertainty.kind"},
		{"hop zero", func(c *Contract) { c.Preprocess.STFT.Hop = 0 }, "hop"},
		{"channels", func(c *Contract) { c.Input.Channels = 3 }, "input.channels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *base
			tc.change(&c)
			_, err := Load(Source{Path: "testdata/heimdall_serving.onnx"}, Options{Contract: &c})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := Load(Source{Data: []byte("not a model")}, Options{}); !errors.Is(err, ErrRuntime) {
		t.Errorf("garbage bytes: %v", err)
	}
}

// Ensure non-finite outputs never become an estimate.
func TestNonFiniteOutputs(t *testing.T) {
	o := Outputs{Position: Position{Name: "p", Order: "lat_lon"}, Uncertainty: Uncertainty{Name: "u", Kind: SigmaXYRho, Units: "m"}}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range [][2][]float32{
		{{nan, 7}, {1, 1, 0}},
		{{45, 7}, {inf, 1, 0}},
		{{45, 7}, {1, 1, nan}},
		{{95, 7}, {1, 1, 0}},
	} {
		if _, err := o.estimate(tc[0], tc[1], nil); !errors.Is(err, ErrNonFinite) {
			t.Errorf("%v %v: err = %v, want ErrNonFinite", tc[0], tc[1], err)
		}
	}
}

// Ensure swapping models 100 times under 4 inferring goroutines drops no window and every
// answer comes from a model that was active while its window ran.
func TestHotSwapUnderLoad(t *testing.T) {
	first := loadReference(t)
	e := NewEngine(first)
	var mu sync.Mutex
	history := []*Model{first} // history[i] is the champion after swap i
	var swaps atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var windows atomic.Int64
	errc := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				before := swaps.Load()
				res, err := e.Predict(context.Background(), []Job{{ID: "w", Features: beaconFeatures((g+k)%8, 25)}})
				after := swaps.Load()
				if err != nil || len(res) != 1 || res[0].Err != nil {
					errc <- errors.Join(err, errors.New("window dropped"))
					return
				}
				mu.Lock()
				ok := false
				// The counter moves just after each Swap, so a model swapped in during the
				// window may be history[after+1].
				for i := before; i <= after+1 && i < int64(len(history)); i++ {
					ok = ok || history[i] == res[0].Model
				}
				mu.Unlock()
				if !ok {
					errc <- errors.New("answer from a model that was not active during the window")
					return
				}
				windows.Add(1)
			}
		}()
	}
	for i := range 100 {
		m, err := Load(Source{Data: reference.Model, Version: string(rune('a' + i%26))}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		history = append(history, m)
		mu.Unlock()
		e.Swap(m)
		swaps.Add(1)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if windows.Load() == 0 {
		t.Error("no window ran")
	}
	e.Active().Close()
}

// Ensure A/B routing sends the configured share to the challenger, the same way each time.
func TestABSplitDeterministic(t *testing.T) {
	a := loadReference(t)
	b, err := Load(Source{Data: reference.Model, Version: "challenger"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(a)
	e.SetChallenger(b, 0.3, false)
	route := func() []string {
		jobs := make([]Job, 10000)
		feat := beaconFeatures(3, 20)
		for i := range jobs {
			jobs[i] = Job{ID: "rx:" + strconv.Itoa(i*16384), Features: feat}
		}
		res, err := e.Predict(context.Background(), jobs)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]string, len(res))
		for i, r := range res {
			v[i] = r.Model.Version
		}
		return v
	}
	first, second := route(), route()
	if !reflect.DeepEqual(first, second) {
		t.Fatal("routing differs between two identical replays")
	}
	n := 0
	for _, v := range first {
		if v == "challenger" {
			n++
		}
	}
	if frac := float64(n) / float64(len(first)); math.Abs(frac-0.3) > 0.02 {
		t.Errorf("challenger share %.3f, want 0.30 ± 0.02", frac)
	}
	// Shadow: every window also runs on the challenger; only the champion answers.
	e.SetChallenger(b, 0, true)
	res, err := e.Predict(context.Background(), []Job{{ID: "x", Features: beaconFeatures(1, 20)}})
	if err != nil || res[0].Model != a || res[0].Shadow == nil || res[0].Shadow.Model != b {
		t.Errorf("shadow: %+v %v", res, err)
	}
}
