package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
)

// scrape reads one sample's value from /metrics (0 when absent or unreachable).
func scrape(t *testing.T, addr, series string) float64 {
	t.Helper()
	return scrapeSeries(t, addr, series)[0]
}

// scrapeSeries reads several samples' values from one /metrics response (0 when absent or
// unreachable).
func scrapeSeries(t *testing.T, addr string, series ...string) []float64 {
	t.Helper()
	v := make([]float64, len(series))
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return v
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		for i, s := range series {
			if rest, ok := strings.CutPrefix(sc.Text(), s+" "); ok {
				v[i], _ = strconv.ParseFloat(rest, 64)
			}
		}
	}
	return v
}

// Ensure SIGHUP re-reads the config and the model: a raised signal gate takes effect
// without a restart, and the model reload is counted.
func TestE2EReloadOnSIGHUP(t *testing.T) {
	addr := testenv.FreeAddr(t)
	state := t.TempDir()
	conf := func(gate int) string {
		return fmt.Sprintf("receiver_id: rx-hup\nstate_dir: %s\nsource:\n  file: {pace: 8}\nfix: {print: none}\ngate: {snr_db: %d}\nhttp: {listen: %s}\n", state, gate, addr)
	}
	d := startDaemon(t, conf(10))
	path := d.cmd.Args[len(d.cmd.Args)-1]
	testenv.Eventually(t, 30*time.Second, "first fixes", func() bool { return scrape(t, addr, "edged_fixes_total") > 0 })

	if err := os.WriteFile(path, []byte(conf(1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	testenv.Eventually(t, 30*time.Second, "model reload counted", func() bool {
		return scrape(t, addr, `edged_model_reloads_total{result="ok"}`) >= 1
	})
	// Let the old pipeline drain and the new one run a few windows, then no fix may appear.
	w0 := scrape(t, addr, "edged_windows_total")
	testenv.Eventually(t, 30*time.Second, "windows after reload", func() bool { return scrape(t, addr, "edged_windows_total") >= w0+16 })
	f1, w1 := scrape(t, addr, "edged_fixes_total"), scrape(t, addr, "edged_windows_total")
	testenv.Eventually(t, 30*time.Second, "more windows", func() bool { return scrape(t, addr, "edged_windows_total") >= w1+16 })
	if f2 := scrape(t, addr, "edged_fixes_total"); f2 != f1 {
		t.Errorf("fixes went %v → %v with the gate at 1000 dB: the reloaded config was not applied", f1, f2)
	}
	if !strings.Contains(d.stderr.String(), "reloaded") {
		t.Errorf("no reload log line")
	}
}
