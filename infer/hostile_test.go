package infer

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/heimdall/edged/configs/safefile"
	"github.com/heimdall/edged/infer/infertest"
	"github.com/heimdall/edged/models/reference"
)

// Ensure that the contracts which once overflowed int arithmetic and panicked the process
// (from the registry's smoke test, replay -model and model inspect) are refused at load,
// naming the field, and that inspect still describes the file.
func TestOverflowingContractsRefused(t *testing.T) {
	models, err := infertest.OverflowingModels("..")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"first_bin": "preprocess.filterbank.first_bin", "frames": "preprocess.frames"}
	for name, data := range models {
		t.Run(name, func(t *testing.T) {
			_, err := Load(Source{Data: data}, Options{})
			if !errors.Is(err, ErrBadContract) || !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("Load: %v; want ErrBadContract naming %s", err, want[name])
			}
			path := filepath.Join(t.TempDir(), name+".onnx")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := Inspect(path, nil)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if !r.Info.HasContract || !strings.Contains(r.Valid, want[name]) {
				t.Fatalf("Inspect: has_contract %v, valid %q; want the field named", r.Info.HasContract, r.Valid)
			}
		})
	}
}

// Ensure that a model path naming a FIFO, a device or a huge sparse file is refused before
// it is read (each used to hang or grow the process until killed).
func TestModelFileHostile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A 2 GiB sparse file is within the size a protobuf can have: it is read, streaming,
	// and refused at its first byte (field number 0); a 3 GiB one is refused from its size.
	sparse := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	for path, want := range map[string]error{
		fifo: safefile.ErrNotRegular, "/dev/zero": safefile.ErrNotRegular, dir: safefile.ErrNotRegular,
		sparse("2GiB.onnx", 2<<30): ErrRuntime, sparse("3GiB.onnx", 3<<30): safefile.ErrTooLarge,
	} {
		if _, err := Load(Source{Path: path}, Options{}); !errors.Is(err, want) {
			t.Errorf("Load(%s): %v, want %v", path, err, want)
		}
		if _, err := Inspect(path, nil); !errors.Is(err, want) {
			t.Errorf("Inspect(%s): %v, want %v", path, err, want)
		}
	}
}

// Ensure that intra_op_threads beyond the CPU count is refused (a million was accepted and
// grew memory by 75 MB/s) and that the CPU count itself is fine.
func TestIntraOpThreadsBounded(t *testing.T) {
	_, err := Load(Source{Data: reference.Model}, Options{IntraOpThreads: 1000000})
	if err == nil || !strings.Contains(err.Error(), "model.intra_op_threads: 1000000 is more than") {
		t.Fatalf("1000000 threads: %v", err)
	}
	m, err := Load(Source{Data: reference.Model}, Options{IntraOpThreads: runtime.NumCPU()})
	if err != nil {
		t.Fatalf("%d threads: %v", runtime.NumCPU(), err)
	}
	m.Close()
}
