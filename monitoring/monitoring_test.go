package monitoring

import (
	"encoding/json"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Ensure the name scanner finds metric names and nothing else in PromQL.
func TestMetricNames(t *testing.T) {
	got := MetricNames(`histogram_quantile(0.99, sum by (le, stage) (rate(edged_stage_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))` +
		` / on (instance) go_goroutines and process_cpu_seconds_total offset 5m > edged_x`)
	want := []string{"edged_stage_duration_seconds_bucket", "edged_x", "go_goroutines", "process_cpu_seconds_total"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Ensure every alert has a promtool test that expects it to fire and one that expects it
// not to, every alert says its severity and what to do, and every panel says what it
// shows.
func TestEveryAlertIsTested(t *testing.T) {
	rules, err := AlertRules()
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(AlertTests, &tests); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tests.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("alerts_test.yml tests %v, want alerts.yml", tests.RuleFiles)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname]++
			} else {
				quiet[a.Alertname]++
			}
		}
	}
	if len(rules) < 7 {
		t.Fatalf("%d alerts", len(rules))
	}
	for _, r := range rules {
		if fires[r.Alert] == 0 || quiet[r.Alert] == 0 {
			t.Errorf("alert %s: %d tests where it fires, %d where it must not; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("alert %s: severity %q", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("alert %s: no summary or description", r.Alert)
		}
		delete(fires, r.Alert)
		delete(quiet, r.Alert)
	}
	for a := range fires {
		t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", a)
	}
	panels, err := DashboardPanels()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range panels {
		if p.Title == "" || p.Description == "" || len(p.Exprs) == 0 {
			t.Errorf("panel %q: a title, a description and a query, please", p.Title)
		}
	}
}

// Ensure the dashboard's panels fit Grafana's 24-column grid without overlapping.
func TestDashboardLayout(t *testing.T) {
	var d struct {
		Panels []struct {
			Title   string
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(Dashboard, &d); err != nil {
		t.Fatal(err)
	}
	taken := map[[2]int]string{}
	for _, p := range d.Panels {
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q at %+v: outside the grid", p.Title, g)
		}
		for y := g.Y; y < g.Y+g.H; y++ {
			for x := g.X; x < g.X+g.W; x++ {
				if other, ok := taken[[2]int{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at column %d, row %d", other, p.Title, x, y)
				}
				taken[[2]int{x, y}] = p.Title
			}
		}
	}
}
