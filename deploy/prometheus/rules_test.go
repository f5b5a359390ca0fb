// Package prometheus_test checks deploy/prometheus/kfgate.rules.yml with
// promtool: the rules load (`promtool check rules`) and every alert fires
// when it should and stays quiet when it should not (`promtool test rules`
// on kfgate.rules.test.yml, one test or more per alert). Whether the rules
// read metrics kfgate exposes is cmd/kfgate's TestDashboardsUseExposedMetrics.
//
// promtool comes with Debian's package `prometheus` (.ci/run installs it);
// without it the tests fail, as a test without Redis does.
package prometheus_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: apt-get install prometheus (.ci/run does)")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestRulesLoad(t *testing.T) {
	if out := promtool(t, "check", "rules", "kfgate.rules.yml"); !strings.Contains(out, "SUCCESS") {
		t.Fatal(out)
	}
}

// Every alert has a unit test, its runbook and a severity, and the tests pass.
func TestRulesUnitTests(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	for file, v := range map[string]any{"kfgate.rules.yml": &rules, "kfgate.rules.test.yml": &tests} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s has no unit test in which it fires", r.Alert)
			}
			if len(r.Annotations["runbook"]) < 80 || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("alert %s lacks a runbook, a summary or a severity", r.Alert)
			}
		}
	}
	if n < 10 {
		t.Fatalf("%d alerts", n)
	}
	if out := promtool(t, "test", "rules", "kfgate.rules.test.yml"); !strings.Contains(out, "SUCCESS") {
		t.Fatal(out)
	}
}
