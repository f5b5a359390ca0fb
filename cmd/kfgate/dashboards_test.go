package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

// Every metric the Grafana dashboard and the alert rules read is one a
// real serve registers (with Redis and PostgreSQL, so every collector is
// there): a renamed metric cannot leave a panel or an alert silently empty.
func TestDashboardsUseExposedMetrics(t *testing.T) {
	_, prefix := redistest.New(t)
	_, pgURL := pgtest.New(t)
	var reg *metrics.Metrics
	serveMetrics = func(m *metrics.Metrics) { reg = m }
	t.Cleanup(func() { serveMetrics = nil })
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
postgres: {url: %q}
accounts:
  - {appid: %s, secret: s, token: %s}
engine:
  survey: {choices: ["1=满意"]}
`, redistest.URL(), prefix, pgURL, testAppID, testToken))
	_, stop, _ := startServe(t, cfg, nil)
	defer stop()

	exposed := map[string]bool{"up": true} // Prometheus's own, per target
	descs := make(chan *prometheus.Desc, 1024)
	go func() { reg.Registry.Describe(descs); close(descs) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			exposed[m[1]] = true
		}
	}

	used := map[string][]string{} // metric → where
	promql := parser.NewParser(parser.Options{})
	for where, expr := range promQLOf(t) {
		// Grafana's variables, replaced by what Prometheus would get.
		expr = strings.NewReplacer("$__rate_interval", "5m", "$account", ".*").Replace(expr)
		e, err := promql.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, expr)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				used[vs.Name] = append(used[vs.Name], where)
			}
			return nil
		})
	}
	if len(used) < 15 {
		t.Fatalf("only %d metrics found in the dashboard and the rules", len(used))
	}
	for name, where := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && exposed[b] {
				base = b
			}
		}
		if !exposed[base] {
			slices.Sort(where)
			t.Errorf("%s is used by %s but kfgate does not expose it", name, strings.Join(slices.Compact(where), ", "))
		}
	}
	t.Logf("%d metrics used by the dashboard and the rules, all among the %d kfgate exposes", len(used), len(exposed))
}

// promQLOf returns every PromQL expression of the dashboard and the alert
// rules, keyed by where it is.
func promQLOf(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	raw, err := os.ReadFile("../../deploy/grafana/kfgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr, RefID string }
		}
		Templating struct {
			List []struct {
				Name  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out["panel "+p.Title+" "+tg.RefID] = tg.Expr
		}
	}
	labelValues := regexp.MustCompile(`label_values\((\w+),`)
	for _, v := range dash.Templating.List {
		if m := labelValues.FindSubmatch(v.Query); m != nil {
			out["variable "+v.Name] = string(m[1])
		}
	}
	raw, err = os.ReadFile("../../deploy/prometheus/kfgate.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert+r.Record] = r.Expr
		}
	}
	return out
}
