package pipeline

import (
	"os"
	"testing"

	"github.com/heimdall/edged/internal/testenv"
)

// TestMain passes the checkout's ONNX Runtime explicitly: edged never searches for it.
func TestMain(m *testing.M) {
	testenv.SetORTLibrary()
	os.Exit(m.Run())
}
