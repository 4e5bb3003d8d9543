package hostile

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer/infertest"
)

// servingContract returns Heimdall's serving contract with edit applied to its decoded
// JSON (numbers kept exact), as a file in dir.
func servingContract(t *testing.T, dir, name string, edit func(pre map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "infer", "testdata", "heimdall_serving_contract.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	edit(c["preprocess"].(map[string]any))
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHostileContracts runs the models and contracts whose numbers once overflowed,
// allocated without bound or spun, through replay, model inspect and the configuration:
// each is refused naming the field (inspect describes the model and says why it is not
// valid), at once.
func TestHostileContracts(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, configs.DemoName)
	if err := os.WriteFile(rec, configs.Demo, 0o600); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(root, "models", "reference", "beacon.onnx")
	serving := filepath.Join(root, "infer", "testdata", "heimdall_serving.onnx")
	models, err := infertest.OverflowingModels(root)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	firstBin := write("first_bin.onnx", models["first_bin"])
	frames := write("frames.onnx", models["frames"])
	billion := servingContract(t, dir, "billion.json", func(p map[string]any) {
		p["filterbank"] = map[string]any{"kind": "identity", "bins": json.Number("1000000000")}
	})
	millionMel := servingContract(t, dir, "million-mel.json", func(p map[string]any) {
		p["window_samples"] = json.Number("131072")
		p["stft"].(map[string]any)["n_fft"] = json.Number("65536")
		p["stft"].(map[string]any)["hop"] = json.Number("65536")
		p["filterbank"] = map[string]any{"kind": "mel", "bins": json.Number("1000000")}
	})
	// As many mel bands as the spectrum has rows: valid numbers, the most work a
	// filterbank can be, built in one pass (it spun for 15 s at 10^6 bands).
	fullMel := servingContract(t, dir, "full-mel.json", func(p map[string]any) {
		p["window_samples"] = json.Number("65536")
		p["stft"].(map[string]any)["n_fft"] = json.Number("65536")
		p["stft"].(map[string]any)["hop"] = json.Number("65536")
		p["stft"].(map[string]any)["bins"] = "onesided"
		p["filterbank"] = map[string]any{"kind": "mel", "bins": json.Number("32769")}
		p["frames"] = json.Number("1")
	})
	window := servingContract(t, dir, "window.json", func(p map[string]any) { p["window_samples"] = json.Number("4611686018427387904") })
	rate := servingContract(t, dir, "rate.json", func(p map[string]any) { p["sample_rate_hz"] = json.Number("1e300") })
	nested := write("nested.json", append(bytes.Repeat([]byte("["), 1<<19), bytes.Repeat([]byte("]"), 1<<19)...))
	rng := rand.New(rand.NewPCG(1, 1))
	garbage := make([]byte, 1<<20)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	garbageModel := write("garbage.onnx", garbage)
	refBytes, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	truncated := write("truncated.onnx", refBytes[:len(refBytes)/2])
	threads := write("threads.yaml", []byte("model: {intra_op_threads: 1000000}\n"))
	huge := write("huge.yaml", append([]byte("receiver_id: rx\n# "), bytes.Repeat([]byte("x"), 100<<20)...))

	refused := []int{1, 78}
	cases := []cliCase{
		{name: "model inspect, first_bin 2^63-64", args: []string{"model", "inspect", firstBin}, want: []string{"preprocess.filterbank.first_bin"}, exits: []int{0}},
		{name: "replay -model, first_bin 2^63-64", args: []string{"replay", "-model", firstBin, rec}, want: []string{"preprocess.filterbank.first_bin"}, exits: refused},
		{name: "model inspect, frames 2^58", args: []string{"model", "inspect", frames}, want: []string{"preprocess.frames"}, exits: []int{0}},
		{name: "replay -model, frames 2^58", args: []string{"replay", "-model", frames, rec}, want: []string{"preprocess.frames"}, exits: refused},
		{name: "replay -contract, 10^9 bands", args: []string{"replay", "-model", serving, "-contract", billion, rec}, want: []string{"filterbank.bins"}, exits: refused},
		{name: "model inspect -contract, 10^9 bands", args: []string{"model", "inspect", "-contract", billion, serving}, want: []string{"filterbank.bins"}, exits: []int{0}},
		{name: "replay -contract, 10^6 mel bands over n_fft 65536", args: []string{"replay", "-model", serving, "-contract", millionMel, rec}, want: []string{"filterbank.bins"}, exits: refused},
		{name: "replay -contract, 32769 mel bands over n_fft 65536", args: []string{"replay", "-model", serving, "-contract", fullMel, rec}, want: []string{"axis F"}, exits: refused},
		{name: "replay -contract, window 2^62", args: []string{"replay", "-model", serving, "-contract", window, rec}, want: []string{"window_samples"}, exits: refused},
		{name: "replay -contract, rate 1e300", args: []string{"replay", "-model", serving, "-contract", rate, rec}, want: []string{"sample_rate_hz"}, exits: refused},
		{name: "replay -contract, 2^19 nested arrays", args: []string{"replay", "-model", serving, "-contract", nested, rec}, want: []string{nested}, exits: refused},
		{name: "model inspect, 1 MB of random bytes", args: []string{"model", "inspect", garbageModel}, want: []string{"not an ONNX model"}, exits: refused},
		{name: "replay -model, 1 MB of random bytes", args: []string{"replay", "-model", garbageModel, rec}, want: []string{"not an ONNX model"}, exits: refused},
		{name: "model inspect, truncated model", args: []string{"model", "inspect", truncated}, want: []string{truncated}, exits: refused},
		{name: "check-config, intra_op_threads 10^6", args: []string{"check-config", threads}, want: []string{"model.intra_op_threads: 1000000"}, exits: []int{78}},
		{name: "run, intra_op_threads 10^6", args: []string{"run", "-config", threads}, want: []string{"model.intra_op_threads: 1000000"}, exits: []int{78}},
		{name: "check-config, 100 MB config", args: []string{"check-config", huge}, want: []string{huge, "too large"}, exits: []int{78}},
		{name: "run, 100 MB config", args: []string{"run", "-config", huge}, want: []string{huge, "too large"}, exits: []int{78}},
	}
	idle := map[string]int64{
		"model":        baseline(t, "model", "inspect", ref),
		"replay":       baseline(t, "replay", rec),
		"check-config": baseline(t, "check-config", write("good.yaml", []byte("receiver_id: rx\n"))),
	}
	idle["run"] = idle["check-config"]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, dir, idle[c.args[0]]) })
	}
	// inspect says the model is not valid, and why, rather than that it is.
	for _, m := range []string{firstBin, frames} {
		o := run(t, dir, nil, "model", "inspect", m)
		if strings.Contains(o.stdout, `"valid": "ok"`) {
			t.Errorf("model inspect %s calls it valid", m)
		}
	}
}
