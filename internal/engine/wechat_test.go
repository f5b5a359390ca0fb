package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
)

// WeChat's kf_* events move the sessions of an account in wechat mode:
// every (event, the user's session) pair, and an account in kfgate mode
// that only records them.
func TestKfEvents(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	const acct, other = "wxkfmode", "wxkfgate"
	eng := engine.New(session.NewStore(rdb, prefix, storeOpts), routing.NewRouter(routing.Options{}), rdb, prefix,
		engine.Config{WeChat: map[string]engine.WeChatAccount{acct: {MaxSessions: 1,
			Kf: map[string]engine.KfTarget{"b@kf": {MaxSessions: 4, Weight: 2, Skills: []string{"vip"}}}}}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	ev := func(account, user string, e kf.EventType, kfAccount, from, to string) {
		t.Helper()
		m := &kf.Message{Account: account, OpenID: user, Type: kf.MsgEvent, Event: e, KfAccount: kfAccount,
			FromKfAccount: from, ToKfAccount: to, CreateTime: time.Now().Unix()}
		if err := eng.Handle(ctx, m, engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	state := func(account, user string) string {
		s, err := eng.Store().Session(ctx, account, user)
		if err != nil {
			return "none"
		}
		return string(s.State) + " " + s.Agent
	}
	// A user kfgate never saw, taken in WeChat's tool: a session served by
	// the kf account, whose routing view is made (offline until a poll),
	// over its capacity if need be.
	ev(acct, "u1", kf.EventKfCreateSession, "a@kf", "", "")
	ev(acct, "u2", kf.EventKfCreateSession, "a@kf", "", "")
	// The echo of the same: nothing changes.
	ev(acct, "u1", kf.EventKfCreateSession, "a@kf", "", "")
	// A switch: the session follows.
	ev(acct, "u2", kf.EventKfSwitchSession, "", "a@kf", "b@kf")
	// A close by a kf account that does not serve the user: stale, ignored.
	ev(acct, "u1", kf.EventKfCloseSession, "b@kf", "", "")
	// A close of a user with no session: ignored.
	ev(acct, "u9", kf.EventKfCloseSession, "a@kf", "", "")
	got := map[string]string{"u1": state(acct, "u1"), "u2": state(acct, "u2"), "u9": state(acct, "u9")}
	want := map[string]string{"u1": "serving kf:a@kf", "u2": "serving kf:b@kf", "u9": "none"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sessions (-want +got):\n%s", diff)
	}
	agents, err := eng.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]kf.Agent{}
	for _, a := range agents {
		a.LastAssigned = time.Time{}
		views[a.ID] = a
	}
	wantViews := map[string]kf.Agent{
		"kf:a@kf": {ID: "kf:a@kf", Name: "a@kf", Accounts: []string{acct}, Weight: 1, MaxSessions: 1, Load: 1, Status: kf.AgentOffline},
		"kf:b@kf": {ID: "kf:b@kf", Name: "b@kf", Accounts: []string{acct}, Skills: []string{"vip"}, Weight: 2, MaxSessions: 4, Load: 1, Status: kf.AgentOffline},
	}
	if diff := cmp.Diff(wantViews, views); diff != "" {
		t.Errorf("routing views (-want +got):\n%s", diff)
	}
	// The serving kf account closes: closed, its load freed.
	ev(acct, "u1", kf.EventKfCloseSession, "a@kf", "", "")
	if s := state(acct, "u1"); s != "none" {
		t.Errorf("u1 after kf_close_session = %q", s)
	}
	// A waiting user taken in WeChat's tool leaves kfgate's queue.
	if err := eng.Handle(ctx, text(acct, "u3", 1), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	if s := state(acct, "u3"); s != "waiting " {
		t.Fatalf("u3 = %q, want waiting", s)
	}
	ev(acct, "u3", kf.EventKfCreateSession, "a@kf", "", "")
	if q, _ := eng.Queue(ctx, acct, ""); len(q) != 0 || state(acct, "u3") != "serving kf:a@kf" {
		t.Errorf("after kf_create_session: queue %v, u3 %q", q, state(acct, "u3"))
	}
	// Its idle clock runs from the hand-over; nobody owes an answer.
	key := prefix + "sess:" + acct + ":u3"
	if rdb.ZScore(ctx, prefix+"deadlines", key).Err() != nil || rdb.ZScore(ctx, prefix+"owe:first", key).Err() == nil {
		t.Error("a session served in WeChat's tool is not on the idle clock, or owes an answer")
	}
	// A message of the user that reaches kfgate anyway restarts that
	// clock, in the inbound script's one round trip, and owes nothing.
	clock := rdb.ZScore(ctx, prefix+"deadlines", key).Val()
	if err := eng.Handle(ctx, text(acct, "u3", 2), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	if rdb.ZScore(ctx, prefix+"owe:first", key).Err() == nil || rdb.HExists(ctx, key, "waiting_since").Val() ||
		rdb.ZScore(ctx, prefix+"deadlines", key).Val() < clock {
		t.Error("a user's message in a session served in WeChat's tool made kfgate owe an answer, or left the idle clock behind")
	}
	// The transitions, in order.
	var actors []string
	for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
		if x.Values["type"] != "message.received" {
			actors = append(actors, x.Values["type"].(string))
		}
	}
	wantTypes := []string{"session.assigned", "session.assigned", "session.transferred", "session.closed", "session.queued", "session.assigned"}
	if diff := cmp.Diff(wantTypes, actors); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// An account in kfgate mode records the events and moves nothing.
	ev(other, "u1", kf.EventKfCreateSession, "a@kf", "", "")
	if s := state(other, "u1"); s != "none" {
		t.Errorf("a kfgate-mode account's user after kf_create_session = %q", s)
	}
}
