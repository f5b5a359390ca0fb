package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
)

func gateEngine(t *testing.T, rdb *redis.Client, prefix string, cfg engine.Config) *engine.Engine {
	t.Helper()
	cfg.QueueNotice, cfg.QueueFullNotice, cfg.OffHoursNotice, cfg.NoAgentNotice = "wait {position}", "full", "closed now", "nobody here"
	return engine.New(session.NewStore(rdb, prefix, storeOpts), routing.NewRouter(routing.Options{}), rdb, prefix, cfg,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func text(account, user string, n int) *kf.Message {
	return &kf.Message{Account: account, OpenID: user, Type: kf.MsgText, Content: "hi", MsgID: strconv.Itoa(n), CreateTime: int64(n)}
}

func outbox(t *testing.T, rdb *redis.Client, prefix string) []string {
	t.Helper()
	var out []string
	for _, x := range rdb.XRange(context.Background(), prefix+"outbox", "-", "+").Val() {
		out = append(out, x.Values["openid"].(string)+": "+x.Values["content"].(string))
	}
	return out
}

// A full queue, business hours and an account nobody serves each turn a
// new user away with their own message; the message is still recorded.
func TestGates(t *testing.T) {
	ctx := context.Background()
	t.Run("queue full", func(t *testing.T) {
		rdb, prefix := redistest.New(t)
		e := gateEngine(t, rdb, prefix, engine.Config{QueueLimit: 2})
		if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxg"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
			t.Fatal(err)
		}
		for i, u := range []string{"u1", "u2", "u3", "u4"} {
			if err := e.Handle(ctx, text("wxg", u, i), engine.Entry{}); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := outbox(t, rdb, prefix), []string{"u2: wait 1", "u3: wait 2", "u4: full"}; !slices.Equal(got, want) {
			t.Errorf("outbox %v, want %v", got, want)
		}
		if rdb.Exists(ctx, prefix+"sess:wxg:u4").Val() != 0 {
			t.Error("u4 got a session past the queue limit")
		}
		if n := countEvents(rdb, prefix, kf.EventMessageReceived); n != 4 {
			t.Errorf("%d messages recorded, want 4", n)
		}
	})
	t.Run("off hours", func(t *testing.T) {
		rdb, prefix := redistest.New(t)
		never, err := kf.ParseHours([]string{"mon 00:00-00:01"}, "UTC")
		if err != nil {
			t.Fatal(err)
		}
		e := gateEngine(t, rdb, prefix, engine.Config{Hours: map[string]kf.Hours{"wxg": never}})
		e.SetClock(func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }) // a Tuesday
		if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxg"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
			t.Fatal(err)
		}
		if err := e.Handle(ctx, text("wxg", "u1", 1), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
		if got := outbox(t, rdb, prefix); !slices.Equal(got, []string{"u1: closed now"}) || rdb.Exists(ctx, prefix+"sess:wxg:u1").Val() != 0 {
			t.Errorf("off hours: outbox %v", got)
		}
	})
	t.Run("no agent serves the account", func(t *testing.T) {
		rdb, prefix := redistest.New(t)
		e := gateEngine(t, rdb, prefix, engine.Config{})
		if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxother"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
			t.Fatal(err)
		}
		if err := e.Handle(ctx, text("wxg", "u1", 1), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
		if got := outbox(t, rdb, prefix); !slices.Equal(got, []string{"u1: nobody here"}) {
			t.Errorf("no agent: outbox %v", got)
		}
	})
}

// The agent sees the reply units left with every message.
func TestQuotaShownToAgent(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e := gateEngine(t, rdb, prefix, engine.Config{})
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxg"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	if err := e.Handle(ctx, text("wxg", "u1", 1), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	rdb.HIncrBy(ctx, prefix+"sess:wxg:u1", "qleft", -4) // four answers sent (the live session holds the window view)
	click := &kf.Message{Account: "wxg", OpenID: "u1", Type: kf.MsgEvent, Event: kf.EventClick, EventKey: "HELP", CreateTime: 2}
	cfg := engine.Config{MenuSkills: map[string]map[string]string{"wxg": {"HELP": ""}}}
	e2 := gateEngine(t, rdb, prefix, cfg)
	if err := e2.Handle(ctx, click, engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	var quotas []int
	for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
		var ev struct {
			Type  string `json:"type"`
			Quota int    `json:"quota"`
		}
		_ = json.Unmarshal([]byte(x.Values["event"].(string)), &ev)
		if ev.Type == kf.EventMessageReceived {
			quotas = append(quotas, ev.Quota)
		}
	}
	// 5 after the message; the click does not shrink the open 48-hour window (1 left).
	if !slices.Equal(intsToStrings(quotas), []string{"5", "1"}) {
		t.Errorf("quota shown %v, want [5 1]", quotas)
	}
}

// An agent that stops heartbeating goes offline once, whichever replica
// sweeps; its next heartbeat brings it back and it takes the waiting user.
func TestPresence(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	engines := []*engine.Engine{gateEngine(t, rdb, prefix, engine.Config{}), gateEngine(t, rdb, prefix, engine.Config{})}
	for _, e := range engines {
		e.SetClock(now)
	}
	if err := engines[0].PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxg"}, MaxSessions: 2, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(60 * time.Second)
	mu.Unlock()
	if _, err := engines[1].Heartbeat(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(91 * time.Second) // 91 s of silence
	mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() {
			if _, err := e.Tick(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := rdb.HGet(ctx, prefix+"agent:a", "status").Val(); st != "offline" {
		t.Fatalf("status after 91 s of silence = %s", st)
	}
	if err := engines[0].Handle(ctx, text("wxg", "u1", 1), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	if st, err := engines[1].Heartbeat(ctx, "a"); err != nil || st != kf.AgentOnline {
		t.Fatalf("heartbeat = %s, %v", st, err)
	}
	if h := rdb.HGetAll(ctx, prefix+"sess:wxg:u1").Val(); h["state"] != "serving" || h["agent"] != "a" {
		t.Errorf("the waiting user was not assigned on the agent's return: %v", h)
	}
	if err := engines[0].SetStatus(ctx, "a", kf.AgentOffline); err != nil {
		t.Fatal(err)
	}
	if st, _ := engines[1].Heartbeat(ctx, "a"); st != kf.AgentOffline {
		t.Errorf("a heartbeat brought back an agent that chose offline: %s", st)
	}
}

func countEvents(rdb *redis.Client, prefix, typ string) int {
	n := 0
	for _, x := range rdb.XRange(context.Background(), prefix+"events", "-", "+").Val() {
		if x.Values["type"] == typ {
			n++
		}
	}
	return n
}

func intsToStrings(v []int) []string {
	out := make([]string, len(v))
	for i, n := range v {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// Removing an agent hands its users to the next agent, context and all,
// ahead of users already waiting.
func TestRemoveAgent(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e := gateEngine(t, rdb, prefix, engine.Config{})
	for _, a := range []kf.Agent{
		{ID: "a", Accounts: []string{"wxg"}, MaxSessions: 1, Status: kf.AgentOnline},
		{ID: "b", Accounts: []string{"wxg"}, MaxSessions: 1, Status: kf.AgentOnline},
	} {
		if err := e.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []string{"u1", "u2", "u3"} {
		if err := e.Handle(ctx, text("wxg", u, i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	served, err := e.AgentSessions(ctx, "a")
	if err != nil || len(served) != 1 {
		t.Fatalf("a serves %v, %v", served, err)
	}
	if err := e.RemoveAgent(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := e.SetStatus(ctx, "a", kf.AgentOnline); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Close(ctx, "wxg", served[0].OpenID, "", "agent:a", "done"); err != nil {
		t.Fatal(err)
	}
	// b's user, first in the queue now, goes to a; u3 still waits.
	got, err := e.AgentSessions(ctx, "a")
	if err != nil || len(got) != 1 {
		t.Fatalf("a serves %v, %v", got, err)
	}
	if got[0].OpenID == "u3" || got[0].OpenID == served[0].OpenID {
		t.Errorf("a took %s; b's user should have gone first", got[0].OpenID)
	}
	agents, _ := e.Agents(ctx)
	if len(agents) != 1 || agents[0].ID != "a" {
		t.Errorf("agents after removal: %v", agents)
	}
}

// A session served longer than TransferAfter moves to another agent with
// room, once, across replicas; with nobody free it stays.
func TestTransferAfter(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	engines := []*engine.Engine{
		gateEngine(t, rdb, prefix, engine.Config{TransferAfter: 20 * time.Minute, OfflineAfter: 24 * time.Hour}),
		gateEngine(t, rdb, prefix, engine.Config{TransferAfter: 20 * time.Minute, OfflineAfter: 24 * time.Hour}),
	}
	for _, e := range engines {
		e.SetClock(now)
	}
	put := func(id string, max int) {
		if err := engines[0].PutAgent(ctx, kf.Agent{ID: id, Accounts: []string{"wxg"}, MaxSessions: max, Status: kf.AgentOnline}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", 1)
	if err := engines[0].Handle(ctx, text("wxg", "u1", 1), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	tick := func() {
		var wg sync.WaitGroup
		for _, e := range engines {
			wg.Go(func() {
				if _, err := e.Tick(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	agentOf := func() string { return rdb.HGet(ctx, prefix+"sess:wxg:u1", "agent").Val() }
	advance(21 * time.Minute)
	tick() // nobody else: stays with a
	if agentOf() != "a" {
		t.Fatalf("moved to %q with nobody free", agentOf())
	}
	put("b", 1)
	tick() // not due again yet
	if agentOf() != "a" {
		t.Fatalf("moved before the rule looked again")
	}
	advance(21 * time.Minute)
	tick()
	if agentOf() != "b" {
		t.Fatalf("after 42 minutes with b free, served by %q", agentOf())
	}
	if n := countEvents(rdb, prefix, kf.EventSessionTransferred); n != 1 {
		t.Errorf("%d transfers, want 1", n)
	}
}

// A user turned away is told why once, not at every message meanwhile.
func TestRejectNoticeOnce(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e := gateEngine(t, rdb, prefix, engine.Config{})
	for i := range 3 {
		if err := e.Handle(ctx, text("wxnobody", "u1", i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := outbox(t, rdb, prefix); !slices.Equal(got, []string{"u1: nobody here"}) {
		t.Errorf("outbox %v, want one notice", got)
	}
}

// The engine's gauges read the shared state: sessions by state, the queue
// by account, agents by status.
func TestCollector(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e := gateEngine(t, rdb, prefix, engine.Config{})
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxg"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	if err := e.PutAgent(ctx, kf.Agent{ID: "b", Accounts: []string{"wxg"}, MaxSessions: 1, Status: kf.AgentAway}); err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"u1", "u2", "u3"} {
		if err := e.Handle(ctx, text("wxg", u, i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	for _, c := range []struct {
		metric string
		want   float64
	}{
		{`kfgate_sessions{state="serving"}`, 1}, {`kfgate_sessions{state="waiting"}`, 2},
		{`kfgate_queue_length{account="wxg"}`, 2},
		{`kfgate_agents{status="online"}`, 1}, {`kfgate_agents{status="away"}`, 1},
	} {
		if got := gaugeValue(t, reg, c.metric); got != c.want {
			t.Errorf("%s = %v, want %v", c.metric, got, c.want)
		}
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, metric string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	name, labels, _ := strings.Cut(metric, "{")
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if strings.Join(parts, ",")+"}" == labels {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("%s not collected", metric)
	return 0
}
