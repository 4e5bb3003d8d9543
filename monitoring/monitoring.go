// Package monitoring holds edged's operator kit: a Grafana dashboard with a panel for every
// metric family edged exports (grafana/edged.json) and Prometheus alerting rules
// (prometheus/alerts.yml) with a promtool unit test for every alert
// (prometheus/alerts_test.yml). The files are the product; this package embeds them and
// reads the metric names they query, so that tests can hold them to a live scrape.
package monitoring

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Dashboard is grafana/edged.json.
//
//go:embed grafana/edged.json
var Dashboard []byte

// Alerts is prometheus/alerts.yml.
//
//go:embed prometheus/alerts.yml
var Alerts []byte

// AlertTests is prometheus/alerts_test.yml, promtool's unit tests of Alerts.
//
//go:embed prometheus/alerts_test.yml
var AlertTests []byte

// metricName matches the metric names of edged and of client_golang's Go and process
// collectors in a PromQL expression. Label names, functions and durations never start
// with these prefixes.
var metricName = regexp.MustCompile(`\b(?:edged|go|process)_[a-zA-Z0-9_]*[a-zA-Z0-9]\b`)

// MetricNames returns the metric names an expression queries, sorted, each once. A
// histogram's series keep their suffix (_bucket, _sum, _count).
func MetricNames(expr string) []string {
	names := metricName.FindAllString(expr, -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// Panel is one dashboard panel and the expressions of its queries.
type Panel struct {
	Title       string
	Description string
	Exprs       []string
}

// DashboardPanels returns the dashboard's panels, rows excluded.
func DashboardPanels() ([]Panel, error) {
	var d struct {
		Panels []struct {
			Type        string `json:"type"`
			Title       string `json:"title"`
			Description string `json:"description"`
			Targets     []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(Dashboard, &d); err != nil {
		return nil, fmt.Errorf("grafana/edged.json: %w", err)
	}
	var out []Panel
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		pn := Panel{Title: p.Title, Description: p.Description}
		for _, t := range p.Targets {
			pn.Exprs = append(pn.Exprs, t.Expr)
		}
		out = append(out, pn)
	}
	return out, nil
}

// Rule is one alerting rule.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// AlertRules returns the alerting rules of every group.
func AlertRules() ([]Rule, error) {
	var f struct {
		Groups []struct {
			Rules []Rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(Alerts, &f); err != nil {
		return nil, fmt.Errorf("prometheus/alerts.yml: %w", err)
	}
	var out []Rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// Names returns every metric name the dashboard and the alert rules query, each once.
func Names() ([]string, error) {
	panels, err := DashboardPanels()
	if err != nil {
		return nil, err
	}
	rules, err := AlertRules()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range panels {
		for _, e := range p.Exprs {
			names = append(names, MetricNames(e)...)
		}
	}
	for _, r := range rules {
		names = append(names, MetricNames(r.Expr)...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
