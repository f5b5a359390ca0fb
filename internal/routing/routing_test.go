package routing_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/routing"
)

var strategies = []routing.Strategy{routing.ConsistentHash, routing.LeastLoaded, routing.RoundRobin, routing.Weighted}

// agent returns an online agent of account wx1 with room for three
// sessions, changed by edits.
func agent(id string, edits ...func(*routing.Agent)) routing.Agent {
	a := routing.Agent{ID: id, Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 3, Status: kf.AgentOnline}
	for _, e := range edits {
		e(&a)
	}
	return a
}

func load(n int) func(*routing.Agent)        { return func(a *routing.Agent) { a.Load = n } }
func maxSessions(n int) func(*routing.Agent) { return func(a *routing.Agent) { a.MaxSessions = n } }
func skills(s ...string) func(*routing.Agent) {
	return func(a *routing.Agent) { a.Skills = s }
}
func accounts(s ...string) func(*routing.Agent) {
	return func(a *routing.Agent) { a.Accounts = s }
}
func status(s kf.AgentStatus) func(*routing.Agent) { return func(a *routing.Agent) { a.Status = s } }
func lastAssigned(t time.Time) func(*routing.Agent) {
	return func(a *routing.Agent) { a.LastAssigned = t }
}

func TestEligible(t *testing.T) {
	base := agent("a1", accounts("wx1", "wx2"), skills("billing", "en"), load(1))
	tests := []struct {
		name string
		req  routing.Request
		edit func(*routing.Agent)
		want bool
	}{
		{"serves the account, online, room", routing.Request{Account: "wx1"}, nil, true},
		{"its second account", routing.Request{Account: "wx2"}, nil, true},
		{"another account", routing.Request{Account: "wx3"}, nil, false},
		{"no account at all", routing.Request{Account: "wx1"}, accounts(), false},
		{"empty request account", routing.Request{}, nil, false},
		{"away", routing.Request{Account: "wx1"}, status(kf.AgentAway), false},
		{"offline", routing.Request{Account: "wx1"}, status(kf.AgentOffline), false},
		{"unknown status", routing.Request{Account: "wx1"}, status(""), false},
		{"one seat left", routing.Request{Account: "wx1"}, load(2), true},
		{"full", routing.Request{Account: "wx1"}, load(3), false},
		{"over capacity", routing.Request{Account: "wx1"}, load(4), false},
		{"no capacity", routing.Request{Account: "wx1"}, func(a *routing.Agent) { a.Load, a.MaxSessions = 0, 0 }, false},
		{"has the skill", routing.Request{Account: "wx1", Skill: "en"}, nil, true},
		{"lacks the skill", routing.Request{Account: "wx1", Skill: "ja"}, nil, false},
		{"skill needed, agent has none", routing.Request{Account: "wx1", Skill: "en"}, skills(), false},
		{"excluded", routing.Request{Account: "wx1", Exclude: []string{"a0", "a1"}}, nil, false},
		{"another agent excluded", routing.Request{Account: "wx1", Exclude: []string{"a2"}}, nil, true},
		{"previous is not a filter", routing.Request{Account: "wx1", Previous: "a9"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			if tt.edit != nil {
				tt.edit(&a)
			}
			if got := routing.Eligible(tt.req, a); got != tt.want {
				t.Errorf("Eligible = %v, want %v", got, tt.want)
			}
		})
	}
}

type result struct {
	ID  string
	Err error
}

func pick(r *routing.Router, s routing.Strategy, req routing.Request, agents []routing.Agent, seq uint64) result {
	id, err := r.Pick(s, req, agents, seq)
	return result{id, err}
}

var cmpErrors = cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) || errors.Is(b, a) })

// TestPickFilters runs every strategy on cases that have one right answer
// whatever the strategy: errors, the returning user, and teams where the
// filters leave a single agent.
func TestPickFilters(t *testing.T) {
	u := routing.Request{Account: "wx1", OpenID: "oUser1"}
	with := func(edit func(*routing.Request)) routing.Request { r := u; edit(&r); return r }
	tests := []struct {
		name   string
		req    routing.Request
		agents []routing.Agent
		want   result
	}{
		{"no agents", u, nil, result{Err: routing.ErrNoAgent}},
		{"agents of other accounts only", u, []routing.Agent{agent("a1", accounts("wx2"))}, result{Err: routing.ErrNoAgent}},
		{"all offline or away", u, []routing.Agent{agent("a1", status(kf.AgentOffline)), agent("a2", status(kf.AgentAway))},
			result{Err: routing.ErrNoneAvailable}},
		{"all full", u, []routing.Agent{agent("a1", load(3)), agent("a2", maxSessions(0))}, result{Err: routing.ErrNoneAvailable}},
		{"nobody has the skill", with(func(r *routing.Request) { r.Skill = "ja" }),
			[]routing.Agent{agent("a1", skills("en")), agent("a2")}, result{Err: routing.ErrNoneAvailable}},
		{"the only agent is excluded", with(func(r *routing.Request) { r.Exclude = []string{"a1"} }),
			[]routing.Agent{agent("a1"), agent("a2", accounts("wx2"))}, result{Err: routing.ErrNoneAvailable}},
		{"one agent left by the filters", with(func(r *routing.Request) { r.Skill = "en"; r.Exclude = []string{"a6"} }),
			[]routing.Agent{
				agent("a1", skills("en"), status(kf.AgentOffline)),
				agent("a2", skills("en"), status(kf.AgentAway)),
				agent("a3", skills("en"), load(3)),
				agent("a4", skills("fr")),
				agent("a5", skills("en"), accounts("wx2")),
				agent("a6", skills("en")),
				agent("a7", skills("fr", "en"), load(2)),
			}, result{ID: "a7"}},
		{"the previous agent gets the user back", with(func(r *routing.Request) { r.Previous = "a2" }),
			[]routing.Agent{agent("a1"), agent("a2", load(2), maxSessions(100)), agent("a3")}, result{ID: "a2"}},
		{"a previous agent who is full does not", with(func(r *routing.Request) { r.Previous = "a1" }),
			[]routing.Agent{agent("a1", load(3)), agent("a2")}, result{ID: "a2"}},
		{"nor one who is offline", with(func(r *routing.Request) { r.Previous = "a1" }),
			[]routing.Agent{agent("a1", status(kf.AgentOffline)), agent("a2")}, result{ID: "a2"}},
		{"nor one who is excluded (transfer)", with(func(r *routing.Request) { r.Previous = "a1"; r.Exclude = []string{"a1"} }),
			[]routing.Agent{agent("a1"), agent("a2")}, result{ID: "a2"}},
		{"nor one without the skill", with(func(r *routing.Request) { r.Previous = "a1"; r.Skill = "en" }),
			[]routing.Agent{agent("a1"), agent("a2", skills("en"))}, result{ID: "a2"}},
		{"nor one who left the account", with(func(r *routing.Request) { r.Previous = "a1" }),
			[]routing.Agent{agent("a1", accounts("wx2")), agent("a2")}, result{ID: "a2"}},
		{"a previous agent who is gone", with(func(r *routing.Request) { r.Previous = "a0" }),
			[]routing.Agent{agent("a2")}, result{ID: "a2"}},
		{"a snapshot that lists an agent twice (a bug) does no harm", u,
			[]routing.Agent{agent("a2", load(1)), agent("a1", load(3)), agent("a2", load(2))}, result{ID: "a2"}},
	}
	for _, s := range strategies {
		r := routing.NewRouter(routing.Options{})
		for _, tt := range tests {
			t.Run(string(s)+"/"+tt.name, func(t *testing.T) {
				got := pick(r, s, tt.req, tt.agents, 7)
				if diff := cmp.Diff(tt.want, got, cmpErrors); diff != "" {
					t.Errorf("Pick (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestPickUnknownStrategy(t *testing.T) {
	r := routing.NewRouter(routing.Options{})
	_, err := r.Pick("random", routing.Request{Account: "wx1"}, []routing.Agent{agent("a1")}, 0)
	if kf.KindOf(err) != kf.KindInvalid {
		t.Errorf("err = %v (kind %v), want kind invalid", err, kf.KindOf(err))
	}
	if routing.Strategy("").Valid() || !routing.Weighted.Valid() {
		t.Error("Valid is wrong")
	}
}

func TestLeastLoaded(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		agents []routing.Agent
		want   string
	}{
		{"idle first", []routing.Agent{agent("a1", load(1), maxSessions(100)), agent("a2", load(0), maxSessions(2))}, "a2"},
		{"lowest load relative to capacity", []routing.Agent{agent("a1", load(2), maxSessions(3)), agent("a2", load(3), maxSessions(10))}, "a2"},
		{"equal ratios: idle longest", []routing.Agent{
			agent("a1", load(1), maxSessions(2), lastAssigned(t0.Add(time.Minute))),
			agent("a2", load(2), maxSessions(4), lastAssigned(t0)),
		}, "a2"},
		{"never assigned counts as idle longest", []routing.Agent{
			agent("a1", lastAssigned(t0)), agent("a2"), agent("a3", lastAssigned(t0.Add(-time.Hour))),
		}, "a2"},
		{"then the smallest ID", []routing.Agent{agent("a3"), agent("a1"), agent("a2")}, "a1"},
		{"unlimited capacities compare exactly", []routing.Agent{
			agent("a1", load(2), maxSessions(math.MaxInt)), agent("a2", load(1), maxSessions(math.MaxInt)),
		}, "a2"},
		{"near-equal ratios at the edge of 64 bits", []routing.Agent{
			agent("a1", load(math.MaxInt-1), maxSessions(math.MaxInt)), agent("a2", load(math.MaxInt-2), maxSessions(math.MaxInt-1)),
		}, "a2"},
	}
	r := routing.NewRouter(routing.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pick(r, routing.LeastLoaded, routing.Request{Account: "wx1", OpenID: "oUser1"}, tt.agents, 0)
			if diff := cmp.Diff(result{ID: tt.want}, got, cmpErrors); diff != "" {
				t.Errorf("Pick (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoundRobinCycles(t *testing.T) {
	// Input order is not ID order, and ineligible agents sit in between.
	agents := []routing.Agent{
		agent("c"), agent("x", status(kf.AgentAway)), agent("a"), agent("y", load(3)),
		agent("d"), agent("b"), agent("z", accounts("wx2")),
	}
	r := routing.NewRouter(routing.Options{})
	req := routing.Request{Account: "wx1", OpenID: "oUser1"}
	var got []string
	for seq := uint64(100); seq < 110; seq++ {
		id, err := r.Pick(routing.RoundRobin, req, agents, seq)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	want := []string{"a", "b", "c", "d", "a", "b", "c", "d", "a", "b"} // 100 mod 4 = 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round robin (-want +got):\n%s", diff)
	}
	// An excluded agent drops out of the cycle; the counter wraps cleanly.
	req.Exclude = []string{"b"}
	got = got[:0]
	for _, seq := range []uint64{0, 1, 2, 3, math.MaxUint64} { // MaxUint64 mod 3 = 0
		id, _ := r.Pick(routing.RoundRobin, req, agents, seq)
		got = append(got, id)
	}
	if diff := cmp.Diff([]string{"a", "c", "d", "a", "a"}, got); diff != "" {
		t.Errorf("round robin with b excluded (-want +got):\n%s", diff)
	}
}
