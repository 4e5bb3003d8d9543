package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
)

// Ensure a challenger in shadow mode runs on every window the champion runs and is counted
// apart, never published; that SIGHUP turns it into an A/B test answering every window
// (split 1); and that a challenger whose preprocessing differs from the champion's is
// refused with its key, leaving the daemon serving the champion.
func TestE2EChallengerShadowThenAB(t *testing.T) {
	addr := testenv.FreeAddr(t)
	dir := t.TempDir()
	challenger := filepath.Join(dir, "challenger.onnx")
	if err := os.WriteFile(challenger, reference.Model, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := func(challengerYAML string) string {
		return fmt.Sprintf("receiver_id: rx-ab\nstate_dir: %s\nlog_level: debug\nsource:\n  file: {pace: 8}\nfix: {print: none}\nhttp: {listen: %s}\nmodel:\n  challenger: %s\n",
			dir, addr, challengerYAML)
	}
	d := startDaemon(t, conf("{path: "+challenger+", mode: shadow}"))
	path := d.cmd.Args[len(d.cmd.Args)-1]
	const champ = `edged_model_predictions_total{model="edged-reference-beacon",result="ok",version="1"}`
	const shadow = `edged_model_predictions_total{model="edged-reference-beacon",result="shadow_ok",version="1"}`
	testenv.Eventually(t, 30*time.Second, "shadow predictions", func() bool { return scrape(t, addr, shadow) >= 2 })
	// One scrape: the pipeline counts each window's champion answer, then its shadow's.
	if v := scrapeSeries(t, addr, champ, shadow); v[0]-v[1] < 0 || v[0]-v[1] > 1 {
		t.Errorf("champion ran %v windows, shadow %v: the shadow must follow the champion", v[0], v[1])
	}

	// A/B with the whole split: the challenger answers every window from now on.
	if err := os.WriteFile(path, []byte(conf("{path: "+challenger+", mode: ab, split: 1}")), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	testenv.Eventually(t, 30*time.Second, "the reload", func() bool { return strings.Contains(d.stderr.String(), "msg=reloaded") })
	// A window already inside the model when the routing changed may still be shadowed.
	s0, f0 := scrape(t, addr, shadow), scrape(t, addr, "edged_fixes_total")
	testenv.Eventually(t, 30*time.Second, "fixes after the reload", func() bool { return scrape(t, addr, "edged_fixes_total") >= f0+3 })
	if s := scrape(t, addr, shadow); s > s0+1 {
		t.Errorf("shadow predictions went on after the switch to A/B: %v → %v", s0, s)
	}

	// A challenger with other preprocessing cannot be compared: refused, champion kept.
	other := filepath.Join(dir, "other.onnx")
	if b, err := os.ReadFile("../../infer/testdata/heimdall_serving.onnx"); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(other, b, 0o644); err != nil {
		t.Fatal(err)
	}
	contract, _ := filepath.Abs("../../infer/testdata/heimdall_serving_contract.json")
	bad := conf("{path: "+other+", mode: shadow}") + "  contract_file: " + contract + "\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	testenv.Eventually(t, 30*time.Second, "the refusal", func() bool { return strings.Contains(d.stderr.String(), "model.challenger.path") })
	f1 := scrape(t, addr, "edged_fixes_total")
	testenv.Eventually(t, 30*time.Second, "fixes after the refusal", func() bool { return scrape(t, addr, "edged_fixes_total") >= f1+2 })
	d.stop(t, 10*time.Second)
}
