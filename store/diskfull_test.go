package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tmpfs mounts a tmpfs of size bytes for the test: a real file system that fills up. It
// skips the test where mounting is not allowed (it needs root).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs to fill up (%v); run as root", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes zeros to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// Ensure that on a full disk commits fail with WriteErr saying disk full and counted,
// committed fixes stay readable, and the store recovers once space is freed.
func TestDiskFullWriteErr(t *testing.T) {
	dir := tmpfs(t, "4m")
	db, err := Open(filepath.Join(dir, "edged.db"), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Commit(mkFixes(0, 100)...); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteErr(); err != nil {
		t.Fatalf("healthy store: WriteErr %v", err)
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	var failed int
	for i := range 200 {
		if _, err := db.Commit(mkFixes(1000+10*i, 10)...); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("200 commits on a full disk all succeeded")
	}
	err = db.WriteErr()
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("WriteErr = %v, want ErrDiskFull", err)
	}
	if full, other := db.WriteFailures(); full != uint64(failed) || other != 0 {
		t.Fatalf("WriteFailures = %d disk full, %d other; want %d, 0", full, other, failed)
	}
	if fixes, err := db.Fixes(t0, 100); err != nil || len(fixes) != 100 {
		t.Fatalf("committed fixes on a full disk: %d, %v", len(fixes), err)
	}
	// A caller's mistake is not a disk failure.
	if _, err := db.Commit(Fix{}); !errors.Is(err, ErrInvalidFix) {
		t.Fatalf("empty fix: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFixes(9000, 10)...); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	if err := db.WriteErr(); err != nil {
		t.Fatalf("after freeing space: WriteErr %v", err)
	}
}
