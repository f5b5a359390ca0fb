package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"testing"
)

// `kfgate sim load --agents`, as make load runs it: simulated agents are
// created through the admin API, come online on WebSockets and receive the
// users' messages; the report counts what they received. (It broke once
// when the API began to refuse the agents' max_sessions.)
func TestSimLoadWithAgents(t *testing.T) {
	const adminToken = "simload-admin-token-000001"
	setup := newSimulated(t, simulatedOptions{secret: "simload-secret", adminToken: adminToken})
	base, _, _ := startServe(t, setup.config, nil)
	var out bytes.Buffer
	err := run(context.Background(), []string{"sim", "load", "--config", setup.config, "--url", base,
		"--agents", "2", "--users", "20", "--rate", "100", "--duration", "1s"}, func(string) string { return "" }, nil, &out, io.Discard)
	if err != nil {
		t.Fatalf("sim load: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`ok (\d+),.*: (\d+) delivered`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no ok/delivered counts in the report: %s", out.String())
	}
	ok, _ := strconv.Atoi(m[1])
	delivered, _ := strconv.Atoi(m[2])
	if ok != 100 || delivered != ok {
		t.Errorf("report %q: want 100 callbacks ok, all delivered to the agents", out.String())
	}
}
