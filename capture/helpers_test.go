package capture

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/heimdall/edged/internal/testenv"
)

// iqRealDir returns ../shared/testdata/iq-real, or skips the test when it is absent.
func iqRealDir(t testing.TB) string { return testenv.IQRealDir(t) }

// writeFile writes b to name in a fresh temp dir and returns the path.
func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
