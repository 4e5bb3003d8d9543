package infer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
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
