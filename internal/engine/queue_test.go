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
	rdb.HSet(ctx, prefix+"quota:wxq:w3", "left", 3) // w2 keeps 4
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
