package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ensure `model inspect` describes a model: contract, tensors, opsets, producer, SHA-256,
// and says plainly when a model has no contract.
func TestE2EModelInspect(t *testing.T) {
	out, stderr, err := edged(t, "model", "inspect", "../../models/reference/beacon.onnx")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var r struct {
		SHA256 string
		Model  struct {
			Producer string
			Opsets   []struct{ Version int }
			Inputs   []struct {
				Name  string
				Shape []int
			}
		}
		Contract *struct{ Version int }
		Valid    string
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(r.SHA256) != 64 || r.Model.Producer != "edged make_reference.py" || r.Model.Opsets[0].Version != 17 ||
		r.Model.Inputs[0].Name != "spectrogram" || r.Contract == nil || r.Valid != "ok" {
		t.Errorf("inspect: %+v", r)
	}
	out, _, err = edged(t, "model", "inspect", "../../infer/testdata/heimdall_training_1ch.onnx")
	if err != nil || !strings.Contains(out, `"contract": null`) || !strings.Contains(out, "no edged.contract") {
		t.Errorf("contract-less model: %v\n%s", err, out)
	}
	out, _, err = edged(t, "model", "inspect", "-contract", "../../infer/testdata/heimdall_training_contract.json", "../../infer/testdata/heimdall_training_1ch.onnx")
	if err != nil || !strings.Contains(out, `"valid": "ok"`) {
		t.Errorf("with -contract: %v\n%s", err, out)
	}
}

// Ensure check-config accepts the shipped config and names the key of a bad one, exiting
// with EX_CONFIG (78) so systemd does not restart in a loop.
func TestE2ECheckConfig(t *testing.T) {
	if out, stderr, err := edged(t, "check-config", "../../configs/edged.yaml"); err != nil {
		t.Fatalf("shipped config refused: %v\n%s%s", err, out, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("fix:\n  vertices: 3\n"), 0o644)
	_, stderr, err := edged(t, "check-config", bad)
	code := -1
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	}
	if code != 78 || !strings.Contains(stderr, "fix.vertices") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if out, _, err := edged(t, "version"); err != nil || !strings.HasPrefix(out, "edged ") {
		t.Errorf("version: %q %v", out, err)
	}
}

// Ensure -features-out writes every window's model input as a .npy named by its sample
// offset, with the model's shape in the header, and -output geojson one FeatureCollection.
func TestE2EFeaturesOut(t *testing.T) {
	dir := t.TempDir()
	rec := synthesize(t, dir, "-beacon", "A", "-windows", "3", "-bursts", "1")
	feats := filepath.Join(dir, "features")
	out, stderr, err := edged(t, "replay", "-features-out", feats, "-output", "geojson", rec)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var fc struct {
		Type     string
		Features []json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &fc); err != nil || fc.Type != "FeatureCollection" || len(fc.Features) != 1 {
		t.Errorf("geojson output: %v %s", err, out)
	}
	if err := schemas.Validate("schema/fixes.json", "replay", []byte(out)); err != nil {
		t.Errorf("geojson output: %v", err)
	}
	for _, off := range []string{"0", "16384", "32768"} {
		b, err := os.ReadFile(filepath.Join(feats, off+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "\x93NUMPY") || !strings.Contains(string(b[:128]), "(1, 64, 63)") || len(b) < 64*63*4 {
			t.Errorf("%s.npy: header %q, %d bytes", off, b[:min(len(b), 80)], len(b))
		}
	}
}

// Ensure the one-shot device check says plainly that no dongle is there, and fails.
func TestE2ENoDongle(t *testing.T) {
	out, stderr, err := edged(t, "devices")
	if err == nil {
		t.Skipf("a dongle is present here: %s", out)
	}
	if !strings.Contains(stderr, "no RTL-SDR device found") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("stderr %q, want one line saying no RTL-SDR device found", stderr)
	}
}

// Ensure the daemon given a recording it cannot read exits with EX_CONFIG and names it.
func TestE2EDaemonBadRecording(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "edged.yaml")
	os.WriteFile(conf, []byte("state_dir: "+dir+"\nsource:\n  file: {path: "+dir+"/nope_433.92M_250k.cu8}\nhttp: {listen: '127.0.0.1:0'}\n"), 0o644)
	_, stderr, err := edged(t, "run", "-config", conf)
	code := -1
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	}
	if code != 78 || !strings.Contains(stderr, "nope_433.92M_250k.cu8") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
