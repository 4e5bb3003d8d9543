package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/configs"
)

// plantedLibrary builds a shared library whose constructor writes the file named by
// $HOSTILE_MARKER: loading it at all leaves the marker.
func plantedLibrary(t *testing.T, path string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "planted.c")
	code := `#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void) {
	const char *p = getenv("HOSTILE_MARKER");
	if (p) { FILE *f = fopen(p, "w"); if (f) { fputs("loaded\n", f); fclose(f); } }
}
`
	if err := os.WriteFile(src, []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-shared", "-fPIC", "-o", path, src).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: no C compiler to build the planted library: %v\n%s", err, out)
	}
}

// TestHostileTrustedPaths checks where edged takes code and writes files from:
//   - run from a folder holding a planted third_party/onnxruntime/libonnxruntime.so.1 under a
//     go.mod, with no environment or config pointing there, edged does not load it (and,
//     pointed at it explicitly, it would: the marker proves the planted library runs);
//   - with RUNTIME_DIRECTORY unset, the demo recording is not written through a symlink
//     planted at its old fixed name in the temporary directory;
//   - an API address other hosts can reach, without a token, is refused at start.
func TestHostileTrustedPaths(t *testing.T) {
	work := t.TempDir()
	write(t, filepath.Join(work, "go.mod"), []byte("module github.com/heimdall/edged\n\ngo 1.26\n"))
	planted := filepath.Join(work, "third_party", "onnxruntime", "libonnxruntime.so.1")
	plantedLibrary(t, planted)
	rec := filepath.Join(work, configs.DemoName)
	write(t, rec, configs.Demo)
	sub := filepath.Join(work, "cmd", "edged")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(root, "models", "reference", "beacon.onnx")
	idle := baseline(t, "model", "inspect", ref)

	for _, c := range []struct {
		name string
		dir  string
		args []string
	}{
		{"model inspect", work, []string{"model", "inspect", ref}},
		{"replay", work, []string{"replay", rec}},
		{"replay, from a package folder below the go.mod", sub, []string{"replay", rec}},
		{"run", work, []string{"run"}},
	} {
		name := "planted ONNX Runtime, " + c.name
		t.Run(name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "loaded")
			cc := cliCase{name: name, args: c.args, env: []string{noORTEnv, "HOSTILE_MARKER=" + marker},
				want: []string{"libonnxruntime.so.1 not found"}, exits: []int{1, 78}}
			cc.check(t, c.dir, idle)
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("%s: the planted library was loaded", name)
			}
		})
	}
	// The control: named explicitly, the planted library is loaded (and is no ONNX Runtime).
	marker := filepath.Join(t.TempDir(), "loaded")
	o := run(t, work, []string{"EDGED_ORT_LIB=" + planted, "HOSTILE_MARKER=" + marker}, "model", "inspect", ref)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("control: the planted library given in EDGED_ORT_LIB was not loaded (%v); exit %d: %s", err, o.code, o.stderr)
	}

	t.Run("demo recording through a planted symlink", func(t *testing.T) {
		tmp := t.TempDir()
		victim := filepath.Join(t.TempDir(), "victim")
		write(t, victim, []byte("root-owned file\n"))
		if err := os.Symlink(victim, filepath.Join(tmp, configs.DemoName)); err != nil {
			t.Fatal(err)
		}
		o := startDaemonOutcome(t, "receiver_id: rx\nfix: {print: none}\n", "TMPDIR="+tmp)
		var problems []string
		if o.err != nil {
			problems = append(problems, o.err.Error())
		}
		if b, _ := os.ReadFile(victim); string(b) != "root-owned file\n" {
			problems = append(problems, fmt.Sprintf("the symlink's target was written: %.40q", b))
		}
		name := "demo recording with a symlink planted at its old name"
		suite.add(name, len(problems) == 0, o.crash, o.hang, 0)
		if len(problems) > 0 {
			t.Errorf("%s: %s", name, strings.Join(problems, "; "))
		}
	})

	t.Run("open API address without a token", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "open.yaml")
		write(t, cfg, []byte("receiver_id: rx\n"))
		for _, args := range [][]string{{"run", "-config", cfg}, {"check-config", cfg}} {
			c := cliCase{name: "http.listen 0.0.0.0 without token_file, " + args[0], args: args,
				env:  []string{"EDGED_HTTP_LISTEN=0.0.0.0:0"},
				want: []string{"http.listen", "token_file"}, exits: []int{78}}
			c.check(t, "", idle)
		}
	})
}
