package synth

import (
	"bytes"
	"testing"

	"github.com/heimdall/edged/configs"
)

// Ensure the bundled demo recording is exactly what DemoSpec generates.
func TestDemoIsReproducible(t *testing.T) {
	var buf bytes.Buffer
	if err := Generate(&buf, DemoSpec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), configs.Demo) {
		t.Fatal("configs/demo recording differs from DemoSpec's output; run `make reference`")
	}
	if DemoSpec.FileName("D") != configs.DemoName {
		t.Errorf("name %q vs %q", DemoSpec.FileName("D"), configs.DemoName)
	}
}
