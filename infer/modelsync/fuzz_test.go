package modelsync_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/infer/modelsync"
)

// FuzzEntryFile: whatever MLmodel says, EntryFile either names a regular
// file inside the directory or fails with ErrBadModelDir; it never panics.
func FuzzEntryFile(f *testing.F) {
	f.Add([]byte("flavors:\n  onnx:\n    data: model.onnx\n"))
	f.Add([]byte("flavors:\n  onnx:\n    data: ../../etc/passwd\n"))
	f.Add([]byte("flavors:\n  onnx:\n    data: [1, 2]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("flavors: !!binary aGVsbG8=\n"))
	f.Fuzz(func(t *testing.T, mlmodel []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "MLmodel"), mlmodel, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := modelsync.EntryFile(dir)
		if err != nil {
			if !errors.Is(err, modelsync.ErrBadModelDir) {
				t.Fatalf("error %v is not ErrBadModelDir", err)
			}
			return
		}
		if strings.HasPrefix(got, "../") || got == ".." || filepath.IsAbs(got) {
			t.Fatalf("entry %q escapes the directory", got)
		}
		fi, err := os.Lstat(filepath.Join(dir, got))
		if err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("entry %q is not a regular file in dir: %v", got, err)
		}
	})
}
