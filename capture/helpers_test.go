package capture

import (
	"os"
	"path/filepath"
	"testing"
)

// iqRealDir returns ../shared/testdata/iq-real relative to the repository root, or skips the
// test when the corpus is not there.
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
			t.Skip("skipped: no go.mod above the test directory, so ../shared/testdata/iq-real cannot be found")
		}
		dir = parent
	}
	corpus := filepath.Join(dir, "..", "shared", "testdata", "iq-real")
	if _, err := os.Stat(filepath.Join(corpus, "MANIFEST.md")); err != nil {
		t.Skipf("skipped: real IQ corpus %s is absent (%v)", corpus, err)
	}
	return corpus
}

// writeFile writes b to name in a fresh temp dir and returns the path.
func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
