package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
)

func strategyEngine(rdb *redis.Client, prefix string, s routing.Strategy, cfg engine.Config) *engine.Engine {
	cfg.Strategy = map[string]routing.Strategy{"wxs": s}
	cfg.QueueNotice = "wait {ahead}"
	return engine.New(session.NewStore(rdb, prefix, storeOpts), routing.NewRouter(routing.Options{}), rdb, prefix, cfg,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// assignment is a session.assigned or session.transferred event.
type assignment struct {
	Type, OpenID, Agent string
	Load, Max           int
}

// assignments returns the assignments in the events stream, in order.
func assignments(t *testing.T, rdb *redis.Client, prefix string) []assignment {
	t.Helper()
	var out []assignment
	for _, x := range rdb.XRange(context.Background(), prefix+"events", "-", "+").Val() {
		if x.Values["type"] != kf.EventSessionAssigned {
			continue
		}
		var ev struct {
			OpenID string `json:"openid"`
			Agent  string `json:"agent"`
			Load   int    `json:"load"`
			Max    int    `json:"max"`
		}
		if err := json.Unmarshal([]byte(x.Values["event"].(string)), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, assignment{Type: kf.EventSessionAssigned, OpenID: ev.OpenID, Agent: ev.Agent, Load: ev.Load, Max: ev.Max})
	}
	return out
}

func perAgent(as []assignment) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Agent]++
	}
	return m
}

func putAgents(t *testing.T, e *engine.Engine, agents ...kf.Agent) {
	t.Helper()
	for _, a := range agents {
		if a.Accounts == nil {
			a.Accounts = []string{"wxs"}
		}
		a.Status = kf.AgentOnline
		if err := e.PutAgent(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

// round_robin through two engines at once: 30 new users over 3 agents are
// 10/10/10, whichever engine handles each, and the 60 messages of users
// already served do not move the rotation: the next 3 new users go one to
// each agent, in rotation order.
func TestRoundRobinAcrossEngines(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	engines := []*engine.Engine{strategyEngine(rdb, prefix, routing.RoundRobin, engine.Config{}),
		strategyEngine(rdb, prefix, routing.RoundRobin, engine.Config{})}
	putAgents(t, engines[0], kf.Agent{ID: "a", MaxSessions: 50}, kf.Agent{ID: "b", MaxSessions: 50}, kf.Agent{ID: "c", MaxSessions: 50})
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			if err := engines[i%2].Handle(ctx, text("wxs", fmt.Sprintf("u%02d", i), i), engine.Entry{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	as := assignments(t, rdb, prefix)
	if got := perAgent(as); len(as) != 30 || got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Fatalf("30 new users gave %v (%d assignments), want 10/10/10", got, len(as))
	}
	last := as[len(as)-1].Agent
	for i := range 60 { // the served users write again, through both engines
		if err := engines[i%2].Handle(ctx, text("wxs", fmt.Sprintf("u%02d", i%30), 100+i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(assignments(t, rdb, prefix)); n != 30 {
		t.Fatalf("existing users' messages made %d assignments", n-30)
	}
	order := map[string]string{"a": "b", "b": "c", "c": "a"}
	want := order[last]
	for i := range 3 {
		if err := engines[i%2].Handle(ctx, text("wxs", fmt.Sprintf("n%d", i), 200+i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
		as := assignments(t, rdb, prefix)
		if got := as[len(as)-1].Agent; got != want {
			t.Errorf("new user %d after the existing users' messages went to %s, want %s (the rotation moved)", i, got, want)
		}
		want = order[want]
	}
}

// Each strategy through the engine, not only the router.
func TestStrategiesThroughEngine(t *testing.T) {
	ctx := context.Background()
	t.Run("consistent_hash: the same user to the same agent on every replica, loads bounded", func(t *testing.T) {
		got := map[string]string{}
		for run := range 2 { // two deployments (two Redis prefixes), the same team
			rdb, prefix := redistest.New(t)
			// Fresh loads at every decision: the bound depends on them.
			e := strategyEngine(rdb, prefix, routing.ConsistentHash, engine.Config{SnapshotTTL: time.Nanosecond})
			putAgents(t, e, kf.Agent{ID: "a", MaxSessions: 100}, kf.Agent{ID: "b", MaxSessions: 100}, kf.Agent{ID: "c", MaxSessions: 100})
			for i := range 60 {
				if err := e.Handle(ctx, text("wxs", fmt.Sprintf("u%02d", i), i), engine.Entry{}); err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range assignments(t, rdb, prefix) {
				if run == 0 {
					got[a.OpenID] = a.Agent
				} else if got[a.OpenID] != a.Agent {
					t.Errorf("%s went to %s, then to %s", a.OpenID, got[a.OpenID], a.Agent)
				}
				// bounded loads: ⌈1.25 × (L+1)/3⌉ when assigned
			}
			for agent, n := range perAgent(assignments(t, rdb, prefix)) {
				if n > int(math.Ceil(1.25*60/3)) {
					t.Errorf("%s has %d users, above ⌈1.25 × 20⌉", agent, n)
				}
			}
		}
	})
	t.Run("least_loaded: every new user to the least loaded agent", func(t *testing.T) {
		rdb, prefix := redistest.New(t)
		// A fresh view of the loads at every decision (by default the
		// engine routes from a snapshot up to a second old).
		e := strategyEngine(rdb, prefix, routing.LeastLoaded, engine.Config{SnapshotTTL: time.Nanosecond})
		putAgents(t, e, kf.Agent{ID: "a", MaxSessions: 10}, kf.Agent{ID: "b", MaxSessions: 20})
		for i := range 24 {
			if err := e.Handle(ctx, text("wxs", fmt.Sprintf("u%02d", i), i), engine.Entry{}); err != nil {
				t.Fatal(err)
			}
		}
		// by load relative to capacity: b (20) takes two for each of a's (10)
		if got := perAgent(assignments(t, rdb, prefix)); got["a"] != 8 || got["b"] != 16 {
			t.Errorf("loads %v, want a 8, b 16", got)
		}
	})
	t.Run("weighted: traffic by weight, and sticky: a user comes back to the same agent", func(t *testing.T) {
		rdb, prefix := redistest.New(t)
		e := strategyEngine(rdb, prefix, routing.Weighted, engine.Config{})
		putAgents(t, e, kf.Agent{ID: "a", MaxSessions: 1000, Weight: 1}, kf.Agent{ID: "b", MaxSessions: 1000, Weight: 3})
		first := map[string]string{}
		for i := range 400 {
			if err := e.Handle(ctx, text("wxs", fmt.Sprintf("u%03d", i), i), engine.Entry{}); err != nil {
				t.Fatal(err)
			}
		}
		as := assignments(t, rdb, prefix)
		for _, a := range as {
			first[a.OpenID] = a.Agent
		}
		if got := perAgent(as); got["b"] < 260 || got["b"] > 340 {
			t.Errorf("weights 1:3 gave %v, want b near 300 of 400", got)
		}
		// Every session closes and the return window is forgotten: the
		// choice is the strategy's alone, and it is the same again.
		for i := range 400 {
			u := fmt.Sprintf("u%03d", i)
			if _, err := e.Close(ctx, "wxs", u, "", "test", "done"); err != nil {
				t.Fatal(err)
			}
			rdb.Del(ctx, prefix+"last:wxs:"+u)
			if err := e.Handle(ctx, text("wxs", u, 1000+i), engine.Entry{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range assignments(t, rdb, prefix)[400:] {
			if first[a.OpenID] != a.Agent {
				t.Errorf("%s went to %s, then to %s", a.OpenID, first[a.OpenID], a.Agent)
			}
		}
	})
}
