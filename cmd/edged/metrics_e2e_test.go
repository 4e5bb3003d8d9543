package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/heimdall/edged/internal/testenv"
)

// Ensure a scrape of a running edged passes the checks of `promtool check metrics` (promlint
// is the library behind it) and carries the series operators alert on.
func TestE2EMetricsLint(t *testing.T) {
	httpAddr := testenv.FreeAddr(t)
	startDaemon(t, fmt.Sprintf(`
receiver_id: rx-metrics
state_dir: %s
fix: {print: none}
http: {listen: %s}
`, t.TempDir(), httpAddr))
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, "edged_fixes_total ") && !strings.Contains(body, "edged_fixes_total 0") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fix counted within 30 s; last scrape:\n%.2000s", body)
		}
		time.Sleep(200 * time.Millisecond) // polling a scrape endpoint, not synchronising
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{
		"edged_samples_delivered_total", "edged_samples_dropped_total", "edged_samples_lost_total",
		"edged_windows_total", "edged_windows_gated_total", "edged_stage_duration_seconds_bucket",
		"edged_fixes_total", "edged_outbox_fixes", "edged_model_info", "edged_store_size_bytes",
		"edged_store_written_bytes_total", "edged_store_cache_bytes", "edged_store_cache_evictions_total",
		"edged_source_up", "go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("metric %s missing from the scrape", name)
		}
	}
}
