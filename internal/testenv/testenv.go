// Package testenv finds what tests need outside the package folder: the module root and the
// real recordings in ../shared/testdata/iq-real, which stay outside the repository because
// their licences are mixed.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot walks up from the working directory to the folder holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// IQRealDir returns ../shared/testdata/iq-real beside the module root, or skips the test,
// saying so, when the recordings are not there.
func IQRealDir(t testing.TB) string {
	t.Helper()
	real := filepath.Join(ModuleRoot(t), "..", "shared", "testdata", "iq-real")
	if _, err := os.Stat(filepath.Join(real, "MANIFEST.md")); err != nil {
		t.Skipf("SKIPPED: real IQ recordings not present at %s (see its MANIFEST.md): %v", real, err)
	}
	return real
}
