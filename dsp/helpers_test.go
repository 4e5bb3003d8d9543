package dsp

import (
	"os"
	"path/filepath"
	"testing"
)

// iqRealDir returns ../shared/testdata/iq-real relative to the repository root (found by
// walking up from the test's working directory to go.mod), skipping the test if it is absent.
func iqRealDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the working directory; cannot locate ../shared/testdata/iq-real")
		}
		dir = parent
	}
	real := filepath.Join(dir, "..", "shared", "testdata", "iq-real")
	if _, err := os.Stat(filepath.Join(real, "MANIFEST.md")); err != nil {
		t.Skipf("real IQ recordings not present at %s (see MANIFEST.md there): %v", real, err)
	}
	return real
}

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
