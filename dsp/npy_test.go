package dsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Ensure that WriteNPY output reads back exactly, for several ranks.
func TestNPY_RoundTrip(t *testing.T) {
	for _, shape := range [][]int{{2, 3}, {5}, {1, 128, 32}, {}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(i)*0.25 - 3
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, shape, data); err != nil {
			t.Fatal(err)
		}
		if hdr := buf.Len() - 4*n; hdr%64 != 0 {
			t.Errorf("shape %v: data starts at byte %d, not 64-aligned", shape, hdr)
		}
		gotShape, got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		if len(gotShape) != len(shape) {
			t.Fatalf("shape %v read back as %v", shape, gotShape)
		}
		for i := range shape {
			if gotShape[i] != shape[i] {
				t.Fatalf("shape %v read back as %v", shape, gotShape)
			}
		}
		for i := range data {
			if float32(got[i]) != data[i] {
				t.Fatalf("value %d: %g, want %g", i, got[i], data[i])
			}
		}
	}
}

// Ensure that NumPy itself reads what WriteNPY writes (Debian's python3-numpy).
func TestNPY_NumPyReads(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s with numpy not available: %v", py, err)
	}
	path := filepath.Join(t.TempDir(), "m.npy")
	var buf bytes.Buffer
	if err := WriteNPY(&buf, []int{2, 3}, []float32{1, 2, 3, 4, 5, -6.5}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", "import numpy,sys,json; a=numpy.load(sys.argv[1]); print(json.dumps([a.dtype.str, list(a.shape), a.ravel().tolist()]))", path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy.load: %v\n%s", err, out)
	}
	var got struct {
		Dtype string
		Shape []int
		Data  []float64
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil || len(raw) != 3 {
		t.Fatalf("%s: %v", out, err)
	}
	for i, dst := range []any{&got.Dtype, &got.Shape, &got.Data} {
		if err := json.Unmarshal(raw[i], dst); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
	}
	want := []float64{1, 2, 3, 4, 5, -6.5}
	if got.Dtype != "<f4" || len(got.Shape) != 2 || got.Shape[0] != 2 || got.Shape[1] != 3 || !slices.Equal(got.Data, want) {
		t.Errorf("numpy read %s, want <f4 (2, 3) %v", out, want)
	}
}

// Ensure that bad input is refused with ErrNPY, never a panic.
func TestNPY_Errors(t *testing.T) {
	if err := WriteNPY(&bytes.Buffer{}, []int{2, 2}, make([]float32, 3)); !errors.Is(err, ErrNPY) {
		t.Errorf("shape/data mismatch: %v", err)
	}
	if err := WriteNPY(&bytes.Buffer{}, []int{-1}, nil); !errors.Is(err, ErrNPY) {
		t.Errorf("negative dimension: %v", err)
	}
	bad := map[string]string{
		"empty":        "",
		"no magic":     "NUMPY\x01\x00",
		"version 9":    "\x93NUMPY\x09\x00\x10\x00",
		"short header": "\x93NUMPY\x01\x00\xff\x00{'descr'",
		"fortran":      npyHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }") + "\x00\x00\x00\x00",
		"int dtype":    npyHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }") + "\x00\x00\x00\x00",
		"bad shape":    npyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (x,), }"),
		"short data":   npyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }") + "\x00\x00",
	}
	for name, in := range bad {
		if _, _, err := ReadNPY(strings.NewReader(in)); !errors.Is(err, ErrNPY) {
			t.Errorf("%s: got %v, want ErrNPY", name, err)
		}
	}
}

func npyHeader(dict string) string {
	return "\x93NUMPY\x01\x00" + string([]byte{byte(len(dict)), 0}) + dict
}

// FuzzReadNPY checks that arbitrary bytes never panic and that whatever parses writes back
// to an equal array.
func FuzzReadNPY(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteNPY(&buf, []int{2, 2}, []float32{1, 2, 3, 4})
	f.Add(buf.Bytes())
	f.Add([]byte(npyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }") + "\x00\x00\x00\x00\x00\x00\xf0\x3f"))
	f.Add([]byte(npyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (), }") + "\x00\x00\x80\x3f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		shape, data, err := ReadNPY(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrNPY) {
				t.Fatalf("error %v does not wrap ErrNPY", err)
			}
			return
		}
		f32 := make([]float32, len(data))
		for i, v := range data {
			f32[i] = float32(v)
		}
		var out bytes.Buffer
		if err := WriteNPY(&out, shape, f32); err != nil {
			t.Fatalf("cannot write back shape %v: %v", shape, err)
		}
	})
}

// FuzzParams checks that any contract JSON either is refused by Validate with a field error or
// builds a Frontend that computes features without error (small sizes only, to stay fast).
func FuzzParams(f *testing.F) {
	for _, name := range []string{"heimdall_serving.json", "heimdall_training.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"sample_rate_hz":1000,"window_samples":64,"stft":{"n_fft":16,"hop":8,"boundary":"odd"},"filterbank":{"kind":"linear","bins":4,"f_min_hz":-500}}`))
	f.Add([]byte(`{"sample_rate_hz":1000,"window_samples":33,"input":"magnitude","stft":{"n_fft":7,"hop":3,"boundary":"even","precision":"float64"},"filterbank":{"kind":"mel","bins":3,"scale":"slaney","norm":"slaney"},"frames":40}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Params
		if json.Unmarshal(b, &p) != nil {
			return
		}
		err := p.Validate()
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("Validate error %q names no field", err)
			}
			return
		}
		if p.WindowSamples > 1<<13 || p.STFT.NFFT > 1<<10 || p.Frames > 1<<10 || p.Filterbank.Bins > 1<<10 {
			return
		}
		fe, err := NewFrontend(p)
		if err != nil {
			t.Fatalf("Validate accepted %s but NewFrontend failed: %v", b, err)
		}
		rows, frames := fe.Shape()
		if _, err := fe.Features(synthetic(p.WindowSamples, 1000, synthFull), make([]float32, rows*frames)); err != nil {
			t.Fatalf("Features: %v", err)
		}
	})
}
