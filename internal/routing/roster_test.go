package routing

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/kf"
)

func testTeam(n int, accounts ...string) []Agent {
	agents := make([]Agent, n)
	for i := range agents {
		agents[i] = Agent{ID: fmt.Sprintf("a%03d", i), Accounts: accounts, Weight: 1 + i%3,
			MaxSessions: 10, Load: i % 11, Status: kf.AgentOnline}
	}
	return agents
}

func cachedRoster(r *Router, account string) *roster {
	e, _ := r.cache.load(account)
	return e.ro
}

// TestRosterCache: the roster and its ring are rebuilt when the set of agents
// serving the account changes, not when their status or load does, and
// accounts with the same team share one.
func TestRosterCache(t *testing.T) {
	r := NewRouter(Options{})
	agents := testTeam(30, "wx1", "wx2")
	req := Request{Account: "wx1", OpenID: "oUser1"}
	mustPick := func(req Request) string {
		t.Helper()
		id, err := r.Pick(ConsistentHash, req, agents, 0)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mustPick(req)
	first := cachedRoster(r, "wx1")
	if len(first.ids) != 30 || !slices.IsSorted(first.ids) || len(first.ring.points) != 30*DefaultVirtualNodes {
		t.Fatalf("roster of %d ids, ring of %d points", len(first.ids), len(first.ring.points))
	}

	for i := range agents {
		agents[i].Load = (agents[i].Load + 3) % 10
		if i%4 == 0 {
			agents[i].Status = kf.AgentAway
		}
	}
	mustPick(req)
	if cachedRoster(r, "wx1") != first {
		t.Error("status and load changes rebuilt the roster")
	}

	mustPick(Request{Account: "wx2", OpenID: "oUser1"})
	if cachedRoster(r, "wx2") != first {
		t.Error("wx2, served by the same team, got a roster of its own")
	}

	agents = append(agents, Agent{ID: "new", Accounts: []string{"wx1"}, MaxSessions: 1, Status: kf.AgentOffline})
	mustPick(req)
	if ro := cachedRoster(r, "wx1"); ro == first || len(ro.ids) != 31 {
		t.Error("a new agent of the account did not rebuild the roster")
	}
	if cachedRoster(r, "wx2") != first {
		t.Error("a new agent of wx1 only rebuilt wx2's roster")
	}
}

// TestAnswerIndependentOfCache: a roster that holds agents no longer in the
// team (same count, one agent swapped for a new, offline one) is kept, and
// gives the answers a cold Router gives; once the new agent is eligible the
// roster is rebuilt.
func TestAnswerIndependentOfCache(t *testing.T) {
	old := testTeam(50, "wx1")
	swapped := slices.Clone(old)
	swapped[17] = Agent{ID: "b999", Accounts: []string{"wx1"}, MaxSessions: 10, Status: kf.AgentOffline}
	warm := NewRouter(Options{})
	if _, err := warm.Pick(ConsistentHash, Request{Account: "wx1", OpenID: "o"}, old, 0); err != nil {
		t.Fatal(err)
	}
	stale := cachedRoster(warm, "wx1")

	for round, online := range []bool{false, true} {
		swapped[17].Status = kf.AgentOffline
		if online {
			swapped[17].Status = kf.AgentOnline
		}
		cold := NewRouter(Options{})
		for _, s := range []Strategy{ConsistentHash, RoundRobin} {
			var got, want []string
			for i := range 500 {
				req := Request{Account: "wx1", OpenID: fmt.Sprintf("oUser%d", i)}
				g, _ := warm.Pick(s, req, swapped, uint64(i))
				w, _ := cold.Pick(s, req, swapped, uint64(i))
				got, want = append(got, g), append(want, w)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round %d, %s: warm router differs from a cold one (-cold +warm):\n%s", round, s, diff)
			}
		}
		if kept := cachedRoster(warm, "wx1") == stale; kept == online {
			t.Errorf("round %d: roster kept = %v", round, kept)
		}
	}
}

// TestConcurrentPick runs every strategy from many goroutines on one Router
// while teams change (which rewrites the cache) and compares each answer with
// that of a Router used by one goroutine. Run with -race.
func TestConcurrentPick(t *testing.T) {
	teams := [][]Agent{testTeam(40, "wx1", "wx2"), testTeam(41, "wx1", "wx2"), testTeam(39, "wx2"), testTeam(40, "wx3")}
	type call struct {
		s     Strategy
		req   Request
		team  int
		seq   uint64
		agent string
	}
	strategies := []Strategy{ConsistentHash, LeastLoaded, RoundRobin, Weighted}
	var calls []call
	ref := NewRouter(Options{Balance: 1.1})
	for i := range 4000 {
		c := call{s: strategies[i%4], team: i / 7 % len(teams), seq: uint64(i),
			req: Request{Account: fmt.Sprintf("wx%d", 1+i%3), OpenID: fmt.Sprintf("oUser%d", i%500), Skill: ""}}
		c.agent, _ = ref.Pick(c.s, c.req, teams[c.team], c.seq)
		calls = append(calls, c)
	}
	r := NewRouter(Options{Balance: 1.1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range calls {
				c := calls[(k*7+g*509)%len(calls)]
				if got, _ := r.Pick(c.s, c.req, teams[c.team], c.seq); got != c.agent {
					t.Errorf("%s %+v on team %d: %q, want %q", c.s, c.req, c.team, got, c.agent)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewRouterOptions(t *testing.T) {
	tests := []struct {
		opts         Options
		balance      float64
		virtualNodes int
	}{
		{Options{}, DefaultBalance, DefaultVirtualNodes},
		{Options{Balance: math.NaN(), VirtualNodes: -1}, DefaultBalance, DefaultVirtualNodes},
		{Options{Balance: 0.5, VirtualNodes: 10}, 1, 10},
		{Options{Balance: math.Inf(1)}, math.Inf(1), DefaultVirtualNodes},
		{Options{Balance: 2}, 2, DefaultVirtualNodes},
	}
	for _, tt := range tests {
		r := NewRouter(tt.opts)
		if r.balance != tt.balance || r.vnodes != tt.virtualNodes {
			t.Errorf("NewRouter(%+v): balance %v, vnodes %d; want %v, %d", tt.opts, r.balance, r.vnodes, tt.balance, tt.virtualNodes)
		}
	}
}
