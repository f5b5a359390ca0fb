package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
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

// clocked returns an engine on a clock the test moves.
func clocked(t *testing.T, rdb *redis.Client, prefix string, cfg engine.Config) (*engine.Engine, func(time.Duration)) {
	t.Helper()
	clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	cfg.Strategy = map[string]routing.Strategy{"wxq": routing.LeastLoaded}
	cfg.OfflineAfter = time.Hour
	e := engine.New(session.NewStore(rdb, prefix, storeOpts), routing.NewRouter(routing.Options{}), rdb, prefix, cfg,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
	return e, func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
}

func mustTick(t *testing.T, e *engine.Engine) {
	t.Helper()
	if _, err := e.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With leave_message, a wait that reaches queue_timeout is not closed: the
// user is asked to leave a message ({minutes} from the timeout), is never
// timed out again, and what they write reaches the agent who takes them.
func TestQueueTimeoutLeaveMessage(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e, advance := clocked(t, rdb, prefix, engine.Config{QueueNotice: "wait {ahead}", QueuedNextNotice: "next",
		QueueTimeout: 10 * time.Minute, LeaveMessage: true, LeaveMessageNotice: "等了 {minutes} 分钟，请留言"})
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxq"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"busy", "u1"} {
		if err := e.Handle(ctx, text("wxq", u, i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	advance(10 * time.Minute)
	mustTick(t, e)
	advance(40 * time.Minute) // no second timeout, no idle close
	mustTick(t, e)
	leave := &kf.Message{Account: "wxq", OpenID: "u1", Type: kf.MsgText, Content: "请回电 138", MsgID: "9"}
	if err := e.Handle(ctx, leave, engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	if got := outbox(t, rdb, prefix); !slices.Equal(got, []string{"u1: next", "u1: 等了 10 分钟，请留言"}) {
		t.Errorf("outbox %v", got)
	}
	if _, err := e.Close(ctx, "wxq", "busy", "", "agent:a", "done"); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		OpenID  string `json:"openid"`
		Context []struct{ Content string }
	}
	for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
		if x.Values["type"] == kf.EventSessionAssigned {
			_ = json.Unmarshal([]byte(x.Values["event"].(string)), &ev)
		}
	}
	if ev.OpenID != "u1" || len(ev.Context) == 0 || ev.Context[len(ev.Context)-1].Content != "请回电 138" {
		t.Errorf("last assignment %+v, want u1 with the message left", ev)
	}
}

// A place update never spends the reply units the agent will need: with 3
// units left (2 reserved for the agent, 1 for the greeting) it is not sent.
func TestPlaceUpdatesKeepQuota(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e, _ := clocked(t, rdb, prefix, engine.Config{QueueNotice: "wait {ahead}", QueueUpdateNotice: "now {ahead}", QueueUpdatePlaces: 1})
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxq"}, MaxSessions: 2, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"s1", "s2", "w1", "w2", "w3"} {
		if err := e.Handle(ctx, text("wxq", u, i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	rdb.HSet(ctx, prefix+"sess:wxq:w3", "qleft", 3) // w2 keeps 4 (the live session holds the window view)
	if _, err := e.Close(ctx, "wxq", "s1", "", "agent:a", "done"); err != nil {
		t.Fatal(err)
	}
	mustTick(t, e)
	got := strings.Join(outbox(t, rdb, prefix), "; ")
	if want := "w1: wait 0; w2: wait 1; w3: wait 2; w2: now 0"; got != want {
		t.Errorf("outbox %q, want %q", got, want)
	}
}

// An overdue session moves to another agent overdue_transfer_after later,
// with its context; answered in time, it would have stayed.
func TestOverdueTransfer(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	cfg := engine.Config{QueueNotice: "wait {ahead}", OverdueTransferAfter: 2 * time.Minute}
	cfg.ReplySLA.First = time.Minute
	e, advance := clocked(t, rdb, prefix, cfg)
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxq"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	if err := e.Handle(ctx, text("wxq", "u1", 1), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	if err := e.PutAgent(ctx, kf.Agent{ID: "b", Accounts: []string{"wxq"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	advance(61 * time.Second)
	mustTick(t, e)
	if n := countEvents(rdb, prefix, "session.overdue"); n != 1 {
		t.Fatalf("%d overdue events, want 1", n)
	}
	advance(time.Minute)
	mustTick(t, e)
	if s, _ := e.UserSession(ctx, "wxq", "u1"); s.Agent != "a" {
		t.Fatalf("moved before overdue_transfer_after: agent %q", s.Agent)
	}
	advance(time.Minute)
	mustTick(t, e)
	if s, _ := e.UserSession(ctx, "wxq", "u1"); s.Agent != "b" {
		t.Errorf("u1 is with %q after overdue_transfer_after, want b", s.Agent)
	}
	if n := countEvents(rdb, prefix, kf.EventSessionTransferred); n != 1 {
		t.Errorf("%d transfers, want 1", n)
	}
}

// Nobody online: the user is queued and told so once per no_agent_every,
// with the account's business hours when it has them.
func TestNoAgentOnline(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e, advance := clocked(t, rdb, prefix, engine.Config{QueueNotice: "wait {ahead}", NoAgentNotice: "当前无客服在线。",
		NoAgentEvery: 10 * time.Minute, HoursText: map[string]string{"wxq": "mon-fri 09:00-18:00"}})
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxq"}, MaxSessions: 1, Status: kf.AgentAway}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := e.Handle(ctx, text("wxq", "u1", i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Close(ctx, "wxq", "u1", "", "admin", "test"); err != nil {
		t.Fatal(err)
	}
	advance(5 * time.Minute)
	if err := e.Handle(ctx, text("wxq", "u1", 5), engine.Entry{}); err != nil { // a new session, within the period
		t.Fatal(err)
	}
	if q, _ := e.Queue(ctx, "wxq", ""); !slices.Equal(q, []string{"u1"}) {
		t.Errorf("queue %v, want u1 waiting", q)
	}
	if _, err := e.Close(ctx, "wxq", "u1", "", "admin", "test"); err != nil {
		t.Fatal(err)
	}
	advance(6 * time.Minute)
	if err := e.Handle(ctx, text("wxq", "u1", 6), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"u1: 当前无客服在线。服务时间：mon-fri 09:00-18:00。", "u1: 当前无客服在线。服务时间：mon-fri 09:00-18:00。"}
	if got := outbox(t, rdb, prefix); !slices.Equal(got, want) {
		t.Errorf("outbox %q, want %q", got, want)
	}
}

// An agent who comes back within reassign_after keeps its users; one who
// stays offline loses them to an agent who can take them, with the context.
func TestReassignAfter(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e, advance := clocked(t, rdb, prefix, engine.Config{QueueNotice: "wait {ahead}", ReassignAfter: 2 * time.Minute})
	for _, id := range []string{"a", "b"} {
		if err := e.PutAgent(ctx, kf.Agent{ID: id, Accounts: []string{"wxq"}, MaxSessions: 1, Status: kf.AgentOnline}); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []string{"u1", "u2"} {
		if err := e.Handle(ctx, text("wxq", u, i), engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	s1, _ := e.UserSession(ctx, "wxq", "u1")
	if err := e.SetStatus(ctx, s1.Agent, kf.AgentOffline); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	mustTick(t, e)
	if err := e.SetStatus(ctx, s1.Agent, kf.AgentOnline); err != nil { // back in time
		t.Fatal(err)
	}
	advance(5 * time.Minute)
	mustTick(t, e)
	if s, _ := e.UserSession(ctx, "wxq", "u1"); s.Agent != s1.Agent || s.State != kf.StateServing {
		t.Fatalf("u1 %+v after its agent came back, want still with %s", s, s1.Agent)
	}
	// Now it leaves for good; the other agent closes its user and has room.
	other := map[string]string{"a": "b", "b": "a"}[s1.Agent]
	if err := e.SetStatus(ctx, s1.Agent, kf.AgentOffline); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Close(ctx, "wxq", "u2", "", "agent:"+other, "done"); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Minute)
	mustTick(t, e)
	if s, _ := e.UserSession(ctx, "wxq", "u1"); s.Agent != other {
		t.Errorf("u1 is with %q after reassign_after, want %s", s.Agent, other)
	}
	var ctxLen int
	for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
		var ev struct {
			Type, Reason string
			Context      []json.RawMessage
		}
		_ = json.Unmarshal([]byte(x.Values["event"].(string)), &ev)
		if ev.Type == kf.EventSessionTransferred && ev.Reason == "agent offline" {
			ctxLen = len(ev.Context)
		}
	}
	if ctxLen == 0 {
		t.Error("no transfer with the context for the agent offline")
	}
}
