package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/heimdall/edged/configs"
)

// Ensure that a demo name planted as a symlink is not written through (it once overwrote a
// root-owned file), and that a copy left by an earlier run is replaced.
func TestWriteDemoRefusesPlantedSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The symlink is unlinked, never opened; one planted between that and the create would
	// make O_EXCL fail rather than be followed.
	if err := os.Symlink(victim, filepath.Join(dir, configs.DemoName)); err != nil {
		t.Fatal(err)
	}
	path, err := writeDemo(dir)
	if err != nil {
		t.Fatalf("writeDemo over a planted symlink: %v", err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "keep me" {
		t.Fatalf("the symlink's target was written: %q", got)
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("demo at %s: %v, %v; want a regular 0600 file", path, fi.Mode(), err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, configs.Demo) {
		t.Fatal("demo content differs")
	}
	if _, err := writeDemo(dir); err != nil {
		t.Fatalf("rewriting over an earlier copy: %v", err)
	}
}

// Ensure that without RUNTIME_DIRECTORY the daemon makes a private directory, not a fixed
// name under /tmp, and removes it.
func TestRuntimeDirPrivate(t *testing.T) {
	t.Setenv("RUNTIME_DIRECTORY", "")
	dir, cleanup, err := runtimeDir()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("runtime dir %s: %v, %v; want a 0700 directory", dir, fi.Mode(), err)
	}
	dir2, cleanup2, _ := runtimeDir()
	defer cleanup2()
	if dir2 == dir {
		t.Fatalf("two daemons share %s", dir)
	}
	cleanup()
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("runtime dir left behind: %v", err)
	}
	t.Setenv("RUNTIME_DIRECTORY", "/run/edged:/run/other")
	if d, _, _ := runtimeDir(); d != "/run/edged" {
		t.Fatalf("RUNTIME_DIRECTORY: %q", d)
	}
}
