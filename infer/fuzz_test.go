package infer

import (
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
