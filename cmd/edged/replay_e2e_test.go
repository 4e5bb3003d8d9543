package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
)

// Ensure 10 replays of the same recording give one fix stream and one set of -features-out
// files, byte for byte: with the reference model on a real recording (FFTW plans must not
// vary between runs) and with Heimdall's training model, whose ONNX Runtime kernels round
// differently for different batch sizes (a recording's windows must not be batched by
// timing).
func TestE2EReplayDeterministic(t *testing.T) {
	root := testenv.ModuleRoot(t)
	synthDir := t.TempDir()
	synthRec := synthesize(t, synthDir, "-beacon", "E", "-windows", "30", "-bursts", "all", "-snr-db", "22", "-seed", "9")
	cases := []struct {
		name string
		runs int
		args func(t *testing.T) []string
	}{
		{"reference", 10, func(t *testing.T) []string {
			if real, ok := testenv.IQRealPath(t); ok {
				return []string{filepath.Join(real, "rtl_433", "g001_433.92M_250k.cu8")}
			}
			return []string{filepath.Join(root, "configs", "demo", configs.DemoName)}
		}},
		// 30 reference windows at 250 kS/s are 2 of its 1 s windows at 192 kS/s; its
		// STFT is slow under the race detector, hence fewer runs.
		{"heimdall_training", 5, func(t *testing.T) []string {
			return []string{"-model", filepath.Join(root, "infer/testdata/heimdall_training_1ch.onnx"),
				"-contract", filepath.Join(root, "infer/testdata/heimdall_training_contract.json"), synthRec}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args(t)
			fixSums, featSums := map[string]int{}, map[string]int{}
			var fixes int
			for range c.runs {
				got := runGoldenReplay(t, t.TempDir(), true, args...)
				fixSums[sum(got.fixes)]++
				featSums[sum(got.features)]++
				fixes = bytes.Count(got.fixes, []byte("\n"))
			}
			if len(fixSums) != 1 || len(featSums) != 1 || fixes == 0 {
				t.Fatalf("%d replays gave %d fix streams %v and %d feature sets %v (%d fixes)", c.runs, len(fixSums), fixSums, len(featSums), featSums, fixes)
			}
			for s := range fixSums {
				t.Logf("%d replays: fix stream sha256 %s (%d fixes)", c.runs, s, fixes)
			}
			for s := range featSums {
				t.Logf("%d replays: features (sha256 of their sha256 list) %s", c.runs, s)
			}
		})
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Ensure urh/homematic replayed at its 1 MS/s gives a fix for the window holding its
// strongest burst ([69632, 104448) in the MANIFEST), which is the last, zero-padded one,
// and that the summary line says so.
func TestE2EReplayPaddedTail(t *testing.T) {
	dir := testenv.IQRealDir(t)
	got := runGoldenReplay(t, dir, false, "-sample-rate", "1M", "cs16:urh/homematic.complex32s")
	var last fix
	for _, f := range parseFixes(t, string(got.fixes)) {
		if f.Properties["sample_offset"].(float64) == 65536 {
			last = f
		}
	}
	// Window 1 covers capture samples [65536, 131072), of which the file holds up to 117396.
	if last.ID != "golden:65536" {
		t.Fatalf("no fix for the padded window at sample 65536; fixes:\n%s", got.fixes)
	}
	if snr := last.Properties["snr_db"].(float64); snr < 20 {
		t.Errorf("the strongest burst's window measures %.1f dB", snr)
	}
	if !strings.Contains(string(got.stderr), "2 windows (the last padded with 13.7 ms of zeros)") ||
		!strings.Contains(string(got.stderr), "0 samples not analysed") {
		t.Errorf("summary: %s", got.stderr)
	}
}

// Ensure a recording too short for any window says so, with its duration against the
// model's window and what to do, and exits 0; and that a short tail is counted.
func TestE2EReplayTooShort(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short_433.92M_250k.cu8")
	if err := os.WriteFile(short, bytes.Repeat([]byte{127, 128}, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := edged(t, "replay", "-start-time", goldenStart, short)
	if err != nil || out != "" {
		t.Fatalf("exit %v, stdout %q", err, out)
	}
	want := short + ": 5000 samples (20 ms at 250 kS/s), 0 windows, 5000 samples not analysed: the model's window is 65.5 ms" +
		" (16384 samples at 250 kS/s) and a recording must fill at least half of one (32.8 ms); replay a longer recording," +
		" use a model with a shorter window, or check -sample-rate\n"
	if stderr != want {
		t.Errorf("stderr\n%q\nwant\n%q", stderr, want)
	}
}

// Ensure values a recording's name does not give are announced once per run, naming the
// flag that sets them, and the wall clock is announced when the recording has no time.
func TestE2EReplayAnnouncesDefaults(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.data", "b.data"} {
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{127, 128}, 16384), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(edgedBin, "replay", "a.data", "b.data")
	cmd.Dir = dir
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, e.String())
	}
	lines := strings.Split(strings.TrimSpace(e.String()), "\n")
	if len(lines) != 4 ||
		lines[0] != "a.data: centre frequency 433.92 MHz, sample rate 250 kS/s: rtl_433's defaults for a .data file, not read from it (-center-freq, -sample-rate set them)" ||
		lines[1] != "a.data: no start time in the recording: fix times count from the wall clock when the file starts (-start-time sets it)" ||
		!strings.HasPrefix(lines[2], "a.data: 16384 samples (65.5 ms at 250 kS/s), 1 window, 1 gated out, 0 fixes, 0 samples not analysed, ") ||
		!strings.HasPrefix(lines[3], "b.data: 16384 samples") {
		t.Errorf("stderr:\n%s", e.String())
	}
	// Flags that give the values: nothing to announce.
	cmd = exec.Command(edgedBin, "replay", "-center-freq", "868.3M", "-sample-rate", "250k", "-start-time", goldenStart, "a.data")
	cmd.Dir = dir
	e.Reset()
	cmd.Stderr = &e
	if err := cmd.Run(); err != nil || strings.Count(e.String(), "\n") != 1 {
		t.Errorf("with every value given: %v, stderr:\n%s", err, e.String())
	}
}

// Ensure -contract on a model that carries its own contract is refused with EX_CONFIG,
// naming the flag that allows it, and accepted with -override-contract; and that a bad
// -start-time is refused.
func TestE2EReplayContractOverride(t *testing.T) {
	dir := t.TempDir()
	c, err := infer.EmbeddedContract(reference.Model)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	contract := filepath.Join(dir, "contract.json")
	os.WriteFile(contract, b, 0o644)
	rec := filepath.Join(dir, "demo_433.92M_250k.cu8")
	os.WriteFile(rec, bytes.Repeat([]byte{127, 128}, 16384), 0o644)

	_, stderr, err := edged(t, "replay", "-contract", contract, rec)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 78 || !strings.Contains(stderr, "carries its own contract") ||
		!strings.Contains(stderr, "-override-contract") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("without -override-contract: %v, stderr %q", err, stderr)
	}
	if _, stderr, err := edged(t, "replay", "-contract", contract, "-override-contract", "-start-time", goldenStart, rec); err != nil {
		t.Errorf("with -override-contract: %v\n%s", err, stderr)
	}
	if _, stderr, err := edged(t, "replay", "-start-time", "yesterday", rec); err == nil || !strings.Contains(stderr, "RFC 3339") {
		t.Errorf("-start-time yesterday: %v, stderr %q", err, stderr)
	}
}
