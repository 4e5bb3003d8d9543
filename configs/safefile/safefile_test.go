package safefile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4095, 4096, 100000} {
		p := filepath.Join(dir, "f")
		want := bytes.Repeat([]byte{'x'}, size)
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Read(p, int64(size))
		if err != nil {
			t.Fatalf("size %d at its own limit: %v", size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: read %d bytes", size, len(got))
		}
	}
}

func TestReadTooLargeStatesLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 1025), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Read(p, 1024)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	for _, want := range []string{p, "1025 bytes", "1024-byte limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A 2 GiB sparse file costs no disk; it must be refused from its size, not read.
func TestReadSparseRefusedBeforeReading(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Read(p, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// A FIFO with no writer would block a plain open forever; it must be refused at once.
func TestReadFIFORefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Read(p, 1<<20)
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("err = %v, want ErrNotRegular naming a FIFO", err)
	}
}

func TestReadDeviceAndDirectoryRefused(t *testing.T) {
	for path, kind := range map[string]string{"/dev/zero": "character device", t.TempDir(): "directory"} {
		_, err := Read(path, 1<<20)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), kind) {
			t.Errorf("%s: err = %v, want ErrNotRegular naming a %s", path, err, kind)
		}
	}
}

func TestReadFollowsSymlinkToRegular(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	got, err := Read(link, 64)
	if err != nil || string(got) != "secret\n" {
		t.Fatalf("Read(link) = %q, %v", got, err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), 64); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want os.ErrNotExist", err)
	}
}

// Files in /proc report size 0 and are regular: Read must still return their content.
func TestReadProcFile(t *testing.T) {
	got, err := Read("/proc/self/status", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte("Name:")) {
		t.Fatalf("read %q", got)
	}
	if _, err := Read("/proc/self/status", 16); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("16-byte limit on /proc/self/status: err = %v, want ErrTooLarge", err)
	}
}

func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		n, limit int
		fail     bool
	}{{0, 0, false}, {10, 10, false}, {11, 10, true}, {1 << 20, 1000, true}, {999, 1000, false}} {
		r := Limit(bytes.NewReader(make([]byte, tc.n)), "body", int64(tc.limit))
		got, err := io.ReadAll(r)
		if tc.fail {
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "body") {
				t.Errorf("%d bytes, limit %d: err = %v, want ErrTooLarge naming body", tc.n, tc.limit, err)
			}
			if len(got) > tc.limit {
				t.Errorf("%d bytes, limit %d: returned %d bytes past the limit", tc.n, tc.limit, len(got))
			}
			continue
		}
		if err != nil || len(got) != tc.n {
			t.Errorf("%d bytes, limit %d: read %d, %v", tc.n, tc.limit, len(got), err)
		}
	}
}
