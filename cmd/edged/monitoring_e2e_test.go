package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/monitoring"
)

// Ensure every metric the Grafana dashboard and the alert rules query exists in a live
// scrape of the daemon, and every metric family edged exports has a dashboard panel: a
// renamed metric breaks neither silently, and a new one cannot go without a panel. The
// daemon runs everything that exports metrics: the demo source, a real mosquitto, a model
// registry, the HTTP API.
func TestE2EMonitoringMatchesScrape(t *testing.T) {
	fake := registryWithV1(t)
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	addr := testenv.FreeAddr(t)
	startDaemon(t, fmt.Sprintf(`
receiver_id: rx-mon
state_dir: %s
fix: {print: none}
mqtt: {broker: %s, reconnect_min_ms: 100}
http: {listen: %s}
mlflow: {tracking_uri: %s, model_name: edged-beacon, alias: champion, interval_seconds: 1}
`, t.TempDir(), broker.URL(), addr, fake.URL), "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0")
	base := "http://" + addr

	var body string
	scrape := func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, "\nedged_mqtt_published_total ") && !strings.Contains(body, "\nedged_mqtt_published_total 0\n") &&
			!strings.Contains(body, "\nedged_model_sync_last_success_timestamp_seconds 0\n")
	}
	testenv.Eventually(t, 60*time.Second, "a fix published and a model sync poll done", scrape)
	// The API's families appear with its first answers.
	if resp, err := http.Post(base+"/api/v1/predict", "application/json", strings.NewReader(`{"iq_data":[[0.5,0.5],[0.5,-0.5]]}`)); err == nil {
		resp.Body.Close()
	}
	if !scrape() {
		t.Fatalf("scrape failed")
	}

	families := map[string]string{} // name → type
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	exists := func(name string) bool {
		if _, ok := families[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && (families[base] == "histogram" || families[base] == "summary") {
				return true
			}
		}
		return false
	}
	names, err := monitoring.Names()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !exists(n) {
			t.Errorf("%s is queried by monitoring/ but not in the daemon's scrape", n)
		}
	}
	onDashboard := map[string]bool{}
	panels, err := monitoring.DashboardPanels()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range panels {
		for _, e := range p.Exprs {
			for _, n := range monitoring.MetricNames(e) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					n = strings.TrimSuffix(n, suffix)
				}
				onDashboard[n] = true
			}
		}
	}
	var edged []string
	for name := range families {
		if strings.HasPrefix(name, "edged_") {
			edged = append(edged, name)
			if !onDashboard[name] {
				t.Errorf("%s is exported but has no panel in monitoring/grafana/edged.json", name)
			}
		}
	}
	t.Logf("%d metric names of the dashboard and alert rules all in the scrape; %d edged_ families exported, each on the dashboard", len(names), len(edged))
	if len(edged) < 30 {
		t.Errorf("only %d edged_ families in the scrape: %v", len(edged), slices.Sorted(slices.Values(edged)))
	}
}
