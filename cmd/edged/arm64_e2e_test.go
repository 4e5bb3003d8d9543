package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/heimdall/edged/internal/testenv"
)

// parityRelTol is the largest relative difference allowed between a number in an amd64 fix
// and the same number from the arm64 build: float32 ONNX kernels and libm differ in the last
// bits between the two, and fixes print σ to the millimetre.
const parityRelTol = 1e-6

// Ensure the arm64 build, run under qemu-user with the arm64 ONNX Runtime, gives the same
// fixes as the amd64 build: the same ids in the same order and every number within 1e-6
// relative, on the bundled demo recording and on a real recording when present.
func TestE2EArm64Parity(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("SKIPPED: the arm64 parity test cross-builds from amd64 (this is %s)", runtime.GOARCH)
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Skip("SKIPPED: qemu-aarch64-static not found (make deps installs qemu-user-static)")
	}
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		t.Skip("SKIPPED: no arm64 cross compiler (make deps installs gcc-aarch64-linux-gnu)")
	}
	root := testenv.ModuleRoot(t)
	lib := filepath.Join(root, "third_party", "onnxruntime", "arm64", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("SKIPPED: no arm64 ONNX Runtime (make deps fetches it): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "edged-arm64")
	if out, err := exec.Command(filepath.Join(root, "scripts", "build.sh"), "-a", "arm64", "-o", bin).CombinedOutput(); err != nil {
		t.Fatalf("cross build: %v\n%s", err, out)
	}

	recordings := []string{filepath.Join(root, "configs", "demo", "synth_D_433.92M_250k.cu8")}
	if dir, ok := testenv.IQRealPath(t); !ok {
		t.Logf("demo recording only: no real recordings at %s (see its MANIFEST.md)", dir)
	} else {
		// Read in place: the recordings are not ours to copy.
		recordings = append(recordings, filepath.Join(dir, "rtl_433", "g001_433.92M_250k.cu8"))
	}
	for _, rec := range recordings {
		t.Run(filepath.Base(rec), func(t *testing.T) {
			amd, stderr, err := edged(t, "replay", "-receiver-id", "parity", rec)
			if err != nil {
				t.Fatalf("amd64 replay: %v\n%s", err, stderr)
			}
			cmd := exec.Command(qemu, bin, "replay", "-receiver-id", "parity", rec)
			// Without -L: qemu finds the arm64 loader and libraries at their multiarch paths.
			cmd.Env = append(os.Environ(), "EDGED_ORT_LIB="+lib)
			var arm, armErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &arm, &armErr
			if err := cmd.Run(); err != nil {
				t.Fatalf("arm64 replay under qemu: %v\n%s", err, armErr.String())
			}
			ids, worst := compareFixes(t, amd, arm.String())
			if ids == 0 {
				t.Fatal("no fixes: nothing was compared")
			}
			keys := make([]string, 0, len(worst))
			for k := range worst {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var b strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&b, "\n  %-28s %.2g", k, worst[k])
			}
			t.Logf("arm64 under qemu vs amd64: %d fixes, same ids; largest relative difference per number:%s", ids, b.String())
		})
	}
}

// compareFixes checks two replays' JSON lines fix by fix: equal ids in equal order, equal
// strings, and numbers within parityRelTol. It returns the number of fixes and, per JSON
// path, the largest relative difference seen.
func compareFixes(t *testing.T, want, got string) (int, map[string]float64) {
	t.Helper()
	w, g := jsonLines(t, want), jsonLines(t, got)
	if len(w) != len(g) {
		t.Fatalf("amd64 gave %d fixes, arm64 %d", len(w), len(g))
	}
	worst := map[string]float64{}
	for i := range w {
		wid, gid := w[i].(map[string]any)["id"], g[i].(map[string]any)["id"]
		if wid != gid {
			t.Fatalf("fix %d: id %v on amd64, %v on arm64", i, wid, gid)
		}
		compareJSON(t, fmt.Sprint(wid), "", w[i], g[i], worst)
	}
	return len(w), worst
}

func jsonLines(t *testing.T, s string) []any {
	t.Helper()
	var out []any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("fix is not JSON: %v\n%s", err, sc.Text())
		}
		out = append(out, v)
	}
	return out
}

func compareJSON(t *testing.T, id, path string, w, g any, worst map[string]float64) {
	t.Helper()
	switch w := w.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok || len(gm) != len(w) {
			t.Errorf("%s %s: %v on amd64, %v on arm64", id, path, w, g)
			return
		}
		for k, v := range w {
			// A recording without a timestamp is dated by the wall clock when its replay starts.
			if path+"."+k == ".properties.time" {
				continue
			}
			compareJSON(t, id, path+"."+k, v, gm[k], worst)
		}
	case []any:
		gs, ok := g.([]any)
		if !ok || len(gs) != len(w) {
			t.Errorf("%s %s: %d items on amd64, %v on arm64", id, path, len(w), g)
			return
		}
		for i := range w {
			compareJSON(t, id, path, w[i], gs[i], worst) // one figure per array, not per index
		}
	case float64:
		gf, ok := g.(float64)
		if !ok {
			t.Errorf("%s %s: %v on amd64, %v on arm64", id, path, w, g)
			return
		}
		rel := 0.0
		if w != gf {
			rel = math.Abs(w-gf) / math.Max(math.Abs(w), math.Abs(gf))
		}
		worst[path] = math.Max(worst[path], rel)
		if !(rel <= parityRelTol) {
			t.Errorf("%s %s: %v on amd64, %v on arm64 (relative difference %.2g > %g)", id, path, w, gf, rel, parityRelTol)
		}
	default:
		if w != g {
			t.Errorf("%s %s: %v on amd64, %v on arm64", id, path, w, g)
		}
	}
}
