package infer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/heimdall/edged/infer/infertest"
	"github.com/heimdall/edged/models/reference"
)

// FuzzParseContract: any bytes give a contract or an error naming the problem, never a
// panic, and a parsed contract validates without panicking either.
func FuzzParseContract(f *testing.F) {
	for _, p := range []string{"testdata/heimdall_serving_contract.json", "testdata/heimdall_training_contract.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"version":1,"input":{"layout":"NTFC"}}`))
	f.Add([]byte(`{"version":1,"preprocess":{"stft":{"n_fft":-1,"hop":0}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseContract(data)
		if err != nil {
			return
		}
		_ = c.Validate()
		_ = c.inputShape(1, 8, 8)
	})
}

// FuzzUnpack: any stored bytes render to a fix or give an error, never a panic; a
// rendering that succeeds is valid JSON.
func FuzzUnpack(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 4 {
		p, err := randomFeature(f, rng).Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add([]byte(`{"type":"Feature"}`))
	f.Add([]byte{packMagic})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Unpack(data)
		if err != nil || len(data) == 0 || data[0] != packMagic {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Unpack(%x) rendered invalid JSON %s", data, out)
		}
	})
}

// FuzzModelBytes loads arbitrary bytes as a model, from memory and from a file, and inspects
// the file: each gives a model or an error, never a panic. Seeds are the reference model,
// Heimdall's serving model, each with contracts that once overflowed, and truncations.
func FuzzModelBytes(f *testing.F) {
	f.Add(reference.Model)
	f.Add(reference.Model[:len(reference.Model)/2])
	f.Add([]byte{0x08, 0x08, 0x3a, 0x00})
	if b, err := os.ReadFile("testdata/heimdall_serving.onnx"); err == nil {
		f.Add(b)
	}
	if models, err := infertest.OverflowingModels(".."); err == nil {
		for _, m := range models {
			f.Add(m)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := Load(Source{Data: data}, Options{}); err == nil {
			m.Close()
		}
		path := filepath.Join(dir, "model.onnx")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if m, err := Load(Source{Path: path}, Options{}); err == nil {
			m.Close()
		}
		_, _ = Inspect(path, nil)
	})
}
