package routing_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/routing"
)

func weight(w int) func(*routing.Agent) { return func(a *routing.Agent) { a.Weight = w } }

// TestWeightedShares: with weights 1, 2, 3, 4 and 100,000 users, each agent's
// share is within 2 points of 10/20/30/40 %.
func TestWeightedShares(t *testing.T) {
	agents := []routing.Agent{agent("w1", weight(1)), agent("w2", weight(2)), agent("w3", weight(3)), agent("w4", weight(4))}
	r := routing.NewRouter(routing.Options{})
	const users = 100_000
	count := map[string]int{}
	for _, u := range openids(users) {
		id, err := r.Pick(routing.Weighted, routing.Request{Account: "wx1", OpenID: u}, agents, 0)
		if err != nil {
			t.Fatal(err)
		}
		count[id]++
	}
	for i, a := range agents {
		share := 100 * float64(count[a.ID]) / users
		want := 10 * float64(i+1)
		t.Logf("%s weight %d: %d users, %.2f %% (want %.0f %% ± 2)", a.ID, a.Weight, count[a.ID], share, want)
		if math.Abs(share-want) > 2 {
			t.Errorf("%s: share %.2f %%, want %.0f %% ± 2", a.ID, share, want)
		}
	}
}

func TestWeightedStable(t *testing.T) {
	agents := make([]routing.Agent, 10)
	for i := range agents {
		agents[i] = agent(fmt.Sprintf("w%d", i), weight(1+i%4), maxSessions(math.MaxInt))
	}
	r := routing.NewRouter(routing.Options{})
	users := openids(5000)
	route := func(agents []routing.Agent) map[string]string {
		m := make(map[string]string, len(users))
		for _, u := range users {
			m[u], _ = r.Pick(routing.Weighted, routing.Request{Account: "wx1", OpenID: u}, agents, 0)
		}
		return m
	}
	before := route(agents)
	if diff := cmp.Diff(before, route(agents)); diff != "" {
		t.Fatalf("same inputs, different answers:\n%s", diff)
	}
	// Loads do not matter to Weighted, only eligibility.
	for i := range agents {
		agents[i].Load = i * 1000
	}
	if diff := cmp.Diff(before, route(agents)); diff != "" {
		t.Fatalf("loads changed the answers:\n%s", diff)
	}
	// Without w3 only w3's users move.
	after := route(append(agents[:3:3], agents[4:]...))
	moved := 0
	for _, u := range users {
		if before[u] != "w3" && after[u] != before[u] {
			t.Fatalf("%s moved from %s to %s", u, before[u], after[u])
		}
		if before[u] == "w3" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("w3 had no users: the test shows nothing")
	}
}
