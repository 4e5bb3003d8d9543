package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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

// Ensure the same spec writes the same bytes, another seed others, each format the size it
// should, and the name says format, frequency and rate as rtl_433 names files.
func TestGenerateDeterministic(t *testing.T) {
	spec := Spec{Format: "cs16", SampleRateHz: 250000, CenterFreqHz: 433.92e6, OffsetHz: 31250, SNRDB: 20,
		WindowSamples: 1024, Windows: 3, Bursted: []int{1}, Seed: 4}
	var a, b, c bytes.Buffer
	for _, w := range []*bytes.Buffer{&a, &b} {
		if err := Generate(w, spec); err != nil {
			t.Fatal(err)
		}
	}
	other := spec
	other.Seed = 5
	if err := Generate(&c, other); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || bytes.Equal(a.Bytes(), c.Bytes()) || a.Len() != 3*1024*4 {
		t.Errorf("same seed equal %v, other seed equal %v, %d bytes", bytes.Equal(a.Bytes(), b.Bytes()), bytes.Equal(a.Bytes(), c.Bytes()), a.Len())
	}
	for format, size := range map[string]int{"cu8": 2, "cf32": 8} {
		s := spec
		s.Format = format
		var buf bytes.Buffer
		if err := Generate(&buf, s); err != nil || buf.Len() != 3*1024*size {
			t.Errorf("%s: %v, %d bytes", format, err, buf.Len())
		}
	}
	if got := spec.FileName("B"); got != "synth_B_433.92M_250k.cs16" {
		t.Errorf("FileName = %q", got)
	}
}

// Ensure bad specs and unwritable places give errors that say what is wrong.
func TestGenerateErrors(t *testing.T) {
	good := Spec{Format: "cu8", SampleRateHz: 250000, WindowSamples: 16, Windows: 2}
	cases := map[string]func(*Spec){
		"must be > 0":      func(s *Spec) { s.Windows = 0 },
		"outside ±rate/2":  func(s *Spec) { s.OffsetHz = 125000 },
		"outside 0..1":     func(s *Spec) { s.Bursted = []int{2} },
		`format "cs8"`:     func(s *Spec) { s.Format = "cs8" },
		"window_samples, ": func(s *Spec) { s.SampleRateHz = -1 },
	}
	for want, mutate := range cases {
		s := good
		mutate(&s)
		if err := Generate(&bytes.Buffer{}, s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error containing %q", s, err, want)
		}
	}
	if err := Generate(failingWriter{}, good); err == nil {
		t.Error("a failing writer: no error")
	}
	dir := t.TempDir()
	if _, err := Write(filepath.Join(dir, "missing"), "A", good); err == nil {
		t.Error("Write into a missing folder: no error")
	}
	bad := good
	bad.Format = "cs8"
	if _, err := Write(dir, "A", bad); err == nil || !strings.Contains(err.Error(), "write ") {
		t.Errorf("Write of a bad spec: %v", err)
	}
	path, err := Write(dir, "A", good)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 2*16*2 {
		t.Errorf("%s: %v %v", path, fi, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }
