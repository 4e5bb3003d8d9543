package dsp

import (
	"os"
	"testing"

	"github.com/heimdall/edged/internal/testenv"
)

// iqRealDir returns ../shared/testdata/iq-real, skipping the test when it is absent.
func iqRealDir(t testing.TB) string { return testenv.IQRealDir(t) }

// readCU8 reads an RTL-SDR .cu8 file as complex samples (b−127.5)/127.5, the MANIFEST's scaling.
func readCU8(t testing.TB, path string) []complex64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return cu8ToComplex(b)
}

func cu8ToComplex(b []byte) []complex64 {
	out := make([]complex64, len(b)/2)
	for i := range out {
		out[i] = complex((float32(b[2*i])-127.5)/127.5, (float32(b[2*i+1])-127.5)/127.5)
	}
	return out
}
