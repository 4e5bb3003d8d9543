package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/ from this run's output instead of comparing")

// goldenStart is every golden replay's -start-time, so fix times are the recording's.
const goldenStart = "2024-05-01T12:00:00Z"

// goldenCase is one replay whose exact output testdata/golden/<name>/ holds: its fixes, its
// stderr, and the SHA-256 of each -features-out file, so a change in the low bits of the
// model input fails the test even where the fixes, rounded, do not move.
type goldenCase struct {
	name string
	// setup returns the folder to run in and the replay arguments after the common ones.
	setup func(t *testing.T) (dir string, args []string)
}

func goldenCases() []goldenCase {
	repo := func(t *testing.T, rel string) string {
		return filepath.Join(testenv.ModuleRoot(t), rel)
	}
	synth := func(t *testing.T, args ...string) (string, string) {
		dir := t.TempDir()
		out, stderr, err := edged(t, append([]string{"synth", "-out", dir}, args...)...)
		if err != nil {
			t.Fatalf("synth: %v\n%s", err, stderr)
		}
		return dir, filepath.Base(strings.TrimSpace(out))
	}
	return []goldenCase{
		{name: "demo", setup: func(t *testing.T) (string, []string) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, configs.DemoName), configs.Demo, 0o644); err != nil {
				t.Fatal(err)
			}
			return dir, []string{configs.DemoName}
		}},
		// 2.4 MS/s cs16: the resampler (L/M = 5/48) and its flush are on the path.
		{name: "synth_cs16_2400k", setup: func(t *testing.T) (string, []string) {
			dir, rec := synth(t, "-beacon", "C", "-format", "cs16", "-sample-rate", "2400k", "-windows", "6", "-bursts", "1,4", "-snr-db", "18", "-seed", "3")
			return dir, []string{rec}
		}},
		// Heimdall's serving contract (12.5 kS/s, 13184-sample windows, float64 STFT): 45
		// reference windows at 250 kS/s are 2.8 of its windows, the last one padded. No
		// reference beacon lies within its ±6.25 kHz, so the gate is opened for every window.
		{name: "heimdall_serving", setup: func(t *testing.T) (string, []string) {
			dir, rec := synth(t, "-beacon", "F", "-windows", "45", "-bursts", "3,20,40", "-snr-db", "25", "-seed", "11")
			return dir, []string{"-gate-snr-db", "0", "-model", repo(t, "infer/testdata/heimdall_serving.onnx"),
				"-contract", repo(t, "infer/testdata/heimdall_serving_contract.json"), rec}
		}},
		{name: "iqreal_250k", setup: func(t *testing.T) (string, []string) {
			return testenv.IQRealDir(t), []string{"rtl_433/g001_433.92M_250k.cu8", "rtl_433/radiohead_ask/03/g002_433.92M_250k.cu8",
				"rtl_433_tests/cresta_ws668/gfile005.data", "rtl_433_tests/danfoss/CFR/dfile001.data", "rtl_433_tests/dsc/01/gfile001.data",
				"rtl_433_tests/ec3k/01/gfile002.data", "rtl_433_tests/fineoffset/01/gfile001.data", "rtl_433_tests/lacrosse/02/gfile003.data",
				"rtl_433_tests/valeo/01/gfile001.data", "rtl_433_tests/x10/01/record-x10-b1-on-001.data"}
		}},
		// The MANIFEST's rates for URH's captures: homematic's strongest burst lies in its
		// padded last window; enocean is too short for any window.
		{name: "iqreal_homematic_1M", setup: func(t *testing.T) (string, []string) {
			return testenv.IQRealDir(t), []string{"-sample-rate", "1M", "cs16:urh/homematic.complex32s"}
		}},
		{name: "iqreal_ook_overshoot_1M", setup: func(t *testing.T) (string, []string) {
			return testenv.IQRealDir(t), []string{"-sample-rate", "1M", "urh/ook_overshoot.complex16s"}
		}},
		{name: "iqreal_enocean_5M", setup: func(t *testing.T) (string, []string) {
			return testenv.IQRealDir(t), []string{"-sample-rate", "5M", "urh/enocean.complex"}
		}},
	}
}

// replayOutput is what one replay produced, in the golden files' form.
type replayOutput struct {
	fixes    []byte // stdout
	stderr   []byte // with the speed, which varies, replaced by N
	features []byte // "sha256  name" per .npy, sorted by name; nil without -features-out
}

var speedRE = regexp.MustCompile(`[0-9.]+× real time`)

// runReplay runs edged replay in dir with the golden flags.
func runGoldenReplay(t *testing.T, dir string, features bool, args ...string) replayOutput {
	t.Helper()
	all := []string{"replay", "-receiver-id", "golden", "-start-time", goldenStart}
	var feats string
	if features {
		feats = t.TempDir()
		all = append(all, "-features-out", feats)
	}
	cmd := exec.Command(edgedBin, append(all, args...)...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("edged %s: %v\n%s", strings.Join(all, " "), err, e.String())
	}
	out := replayOutput{fixes: o.Bytes(), stderr: speedRE.ReplaceAll(e.Bytes(), []byte("N× real time"))}
	for line := range bytes.Lines(out.fixes) {
		validFix(t, "replay", bytes.TrimSuffix(line, []byte("\n")))
	}
	if features {
		out.features = hashDir(t, feats)
	}
	return out
}

// hashDir lists the SHA-256 of every file under dir by its path relative to dir, sorted, as
// sha256sum does.
func hashDir(t *testing.T, dir string) []byte {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return b.Bytes()
}

// Ensure replay's output is exactly what testdata/golden/ holds, byte for byte: the fix
// stream, the per-file notices and summary lines (speed aside), and each -features-out
// file's SHA-256. `go test ./cmd/edged -run TestE2EGolden -update` rewrites the files after
// an intended change; review the diff before committing it.
func TestE2EGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			dir, args := c.setup(t)
			got := runGoldenReplay(t, dir, true, args...)
			golden := filepath.Join("testdata", "golden", c.name)
			files := map[string][]byte{"fixes.jsonl": got.fixes, "stderr.txt": got.stderr, "features.sha256": got.features}
			if *update {
				if err := os.MkdirAll(golden, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, data := range files {
					if err := os.WriteFile(filepath.Join(golden, name), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			for name, data := range files {
				want, err := os.ReadFile(filepath.Join(golden, name))
				if err != nil {
					t.Fatalf("%v (run `go test ./cmd/edged -run TestE2EGolden -update` to create it)", err)
				}
				if !bytes.Equal(data, want) {
					t.Errorf("%s/%s differs from this run: %s\n(if the change is intended: go test ./cmd/edged -run TestE2EGolden -update)",
						golden, name, firstDiff(want, data))
				}
			}
		})
	}
}

// firstDiff describes the first line where got differs from want, around the first byte
// that differs.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			col := 0
			for col < min(len(w), len(g)) && w[col] == g[col] {
				col++
			}
			return fmt.Sprintf("line %d, column %d:\n  want …%s…\n  got  …%s…", i+1, col+1, around(w, col), around(g, col))
		}
	}
	return "same lines"
}

// around is s from 60 bytes before col to 60 after.
func around(s string, col int) string {
	return s[max(0, col-60):min(len(s), col+60)]
}
