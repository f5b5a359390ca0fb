package wxkf_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxapi"
	"github.com/kfgate/kfgate/internal/wxkf"
)

const appid = "wxkfunit00000001"

// setup is an engine with one wechat-mode account (kf accounts a@kf and
// b@kf, capacity 3), the simulated WeChat and a client of it.
type setup struct {
	eng    *engine.Engine
	wechat *sim.API
	api    *wxapi.Client
	rdb    *redis.Client
	prefix string
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	rdb, prefix := redistest.New(t)
	wechat := sim.NewAPI(sim.APIOptions{Accounts: map[string]string{appid: "secret"}})
	srv := httptest.NewServer(wechat)
	t.Cleanup(srv.Close)
	tokens, err := wxapi.NewTokens(wxapi.TokenOptions{Redis: rdb, Prefix: prefix, Accounts: map[string]string{appid: "secret"},
		BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	api, err := wxapi.New(wxapi.Options{Tokens: tokens, BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	store := session.NewStore(rdb, prefix, session.Options{ContextSize: 5, IdleTimeout: time.Hour, WarnBefore: time.Minute, ReturnWindow: time.Hour})
	eng := engine.New(store, routing.NewRouter(routing.Options{}), rdb, prefix, engine.Config{
		WeChat: map[string]engine.WeChatAccount{appid: {MaxSessions: 3}}}, slog.New(slog.DiscardHandler))
	for _, k := range []string{"a@kf", "b@kf"} {
		if err := wechat.AddKf(appid, k, k[:1]); err != nil {
			t.Fatal(err)
		}
	}
	return &setup{eng: eng, wechat: wechat, api: api, rdb: rdb, prefix: prefix}
}

func (s *setup) online(t *testing.T, kfAccount string, on bool) {
	t.Helper()
	if err := s.wechat.SetKfOnline(appid, kfAccount, on); err != nil {
		t.Fatal(err)
	}
}

func (s *setup) agent(t *testing.T, id string) kf.Agent {
	t.Helper()
	all, err := s.eng.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if a.ID == id {
			return a
		}
	}
	return kf.Agent{}
}

// The poll makes each online kf account an online routing target with
// WeChat's accepted_case as its load, and the others offline; one poll per
// period for all replicas.
func TestPoll(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	s.online(t, "a@kf", true)
	for _, u := range []string{"o_1", "o_2"} {
		if err := s.wechat.Interact(appid, u, sim.InteractMessage, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := s.wechat.Transfer(appid, u, "a@kf", time.Time{}); err != nil { // sessions opened in WeChat's tool
			t.Fatal(err)
		}
	}
	p := &wxkf.Poller{Engine: s.eng, API: s.api, RDB: s.rdb, Prefix: s.prefix, Every: time.Minute}
	if n, err := p.Poll(ctx); err != nil || n != 1 {
		t.Fatalf("Poll = %d, %v; want 1 online", n, err)
	}
	a := s.agent(t, "kf:a@kf")
	if diff := cmp.Diff(kf.Agent{ID: "kf:a@kf", Name: "a@kf", Accounts: []string{appid}, Weight: 1, MaxSessions: 3, Load: 2, Status: kf.AgentOnline},
		a, cmpIgnoreTimes); diff != "" {
		t.Errorf("kf:a@kf (-want +got):\n%s", diff)
	}
	if b := s.agent(t, "kf:b@kf"); b.ID != "" {
		t.Errorf("b@kf, never online, is a routing target: %+v", b)
	}
	// Another replica within the period polls nothing.
	if n, err := p.Poll(ctx); err != nil || n != 0 {
		t.Errorf("second Poll in the period = %d, %v; want 0", n, err)
	}
	s.online(t, "a@kf", false)
	if n, err := p.PollAccount(ctx, appid); err != nil || n != 0 {
		t.Fatalf("PollAccount = %d, %v", n, err)
	}
	if a := s.agent(t, "kf:a@kf"); a.Status != kf.AgentOffline {
		t.Errorf("a@kf, logged out of WeChat, is %q", a.Status)
	}
}

var cmpIgnoreTimes = cmp.Transformer("noTimes", func(a kf.Agent) kf.Agent { a.LastAssigned = time.Time{}; return a })

// The bridge hands a session over with kfsession/create; when WeChat says
// the kf account is offline after all (65415) it takes it out of routing
// and moves the user to the other kf account; when WeChat says another kf
// account serves the user (65414) kfgate follows; a close in kfgate closes
// WeChat's session.
func TestBridge(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	s.online(t, "a@kf", true)
	s.online(t, "b@kf", true)
	p := &wxkf.Poller{Engine: s.eng, API: s.api, RDB: s.rdb, Prefix: s.prefix, Every: time.Minute}
	if _, err := p.PollAccount(ctx, appid); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"o_1", "o_2", "o_3"} {
		if err := s.wechat.Interact(appid, u, sim.InteractMessage, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	b := &wxkf.Bridge{Engine: s.eng, API: s.api, RDB: s.rdb, Prefix: s.prefix}
	store := s.eng.Store()
	// give makes kf serve the user in kfgate (as WeChat's own event would)
	// and returns the assignment as the router's event.
	give := func(openid, kfAccount string) wxkf.Event {
		t.Helper()
		if err := s.eng.Adopt(ctx, appid, openid, kfAccount, "test"); err != nil {
			t.Fatal(err)
		}
		sess, err := store.Session(ctx, appid, openid)
		if err != nil {
			t.Fatal(err)
		}
		return wxkf.Event{Type: "session.assigned", Session: sess.ID, Account: appid, OpenID: openid, Agent: sess.Agent, Actor: "router"}
	}
	agentOf := func(openid string) string {
		sess, err := store.Session(ctx, appid, openid)
		if err != nil {
			return ""
		}
		return sess.Agent
	}

	// A plain hand-over.
	if err := b.Apply(ctx, give("o_1", "a@kf")); err != nil {
		t.Fatal(err)
	}
	if got := s.wechat.KfSessions(appid)["o_1"]; got != "a@kf" {
		t.Errorf("o_1 in WeChat: %q, want a@kf", got)
	}
	// An event WeChat caused is not sent back.
	ev := give("o_2", "a@kf")
	ev.Actor = engine.ActorWeChat
	if err := b.Apply(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.wechat.KfSessions(appid)["o_2"]; ok {
		t.Error("an event of WeChat's own was sent back to WeChat")
	}

	// a@kf logs out before the next poll: 65415, and the user goes to b@kf.
	s.online(t, "a@kf", false)
	ev = give("o_3", "a@kf")
	if err := b.Apply(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if a := s.agent(t, "kf:a@kf"); a.Status != kf.AgentOffline {
		t.Errorf("a@kf after 65415 is %q, want offline", a.Status)
	}
	if got := agentOf("o_3"); got != "kf:b@kf" {
		t.Fatalf("o_3 after 65415 is with %q, want kf:b@kf", got)
	}
	// The transfer's own event hands it over at WeChat.
	if err := b.Apply(ctx, wxkf.Event{Type: "session.transferred", Session: ev.Session, Account: appid, OpenID: "o_3",
		Agent: "kf:b@kf", FromAgent: "kf:a@kf", Actor: "kfgate"}); err != nil {
		t.Fatal(err)
	}
	if got := s.wechat.KfSessions(appid)["o_3"]; got != "b@kf" {
		t.Errorf("o_3 in WeChat: %q, want b@kf", got)
	}

	// WeChat has o_2 with b@kf; kfgate thinks a@kf (back online): kfgate follows WeChat.
	s.online(t, "a@kf", true)
	if err := s.wechat.Transfer(appid, "o_2", "b@kf", time.Time{}); err != nil {
		t.Fatal(err)
	}
	ev = give("o_2", "a@kf")
	ev.Actor = "router"
	if err := b.Apply(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got := agentOf("o_2"); got != "kf:b@kf" {
		t.Errorf("o_2 after 65414 is with %q, want kf:b@kf (WeChat's)", got)
	}

	// WeChat releases o_1's session silently (30 minutes of silence): the
	// user's next message reaches kfgate, which hands them back.
	if err := s.api.CloseSession(ctx, appid, "a@kf", "o_1"); err != nil {
		t.Fatal(err)
	}
	o1, _ := store.Session(ctx, appid, "o_1")
	// The message that opened the session (at its creation) is handed
	// over by its session.assigned: no second kfsession/create for it.
	creates := s.wechat.Calls("/customservice/kfsession/create")
	if err := b.Apply(ctx, wxkf.Event{Type: "message.received", Session: o1.ID, Account: appid, OpenID: "o_1", Agent: "kf:a@kf",
		Actor: "user", At: o1.CreatedAt.UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	if n := s.wechat.Calls("/customservice/kfsession/create") - creates; n != 0 {
		t.Errorf("the opening message made %d more kfsession/create calls, want 0", n)
	}
	if err := b.Apply(ctx, wxkf.Event{Type: "message.received", Session: o1.ID, Account: appid, OpenID: "o_1", Agent: "kf:a@kf", Actor: "user"}); err != nil {
		t.Fatal(err)
	}
	if got := s.wechat.KfSessions(appid)["o_1"]; got != "a@kf" {
		t.Errorf("o_1 in WeChat after a message reached kfgate: %q, want a@kf again", got)
	}

	// kfgate closes o_1 (an admin, idleness): WeChat's session closes; a
	// second delivery of the event finds none (65413) and is fine.
	closed := wxkf.Event{Type: "session.closed", Account: appid, OpenID: "o_1", Agent: "kf:a@kf", Actor: "admin"}
	if _, err := s.eng.Close(ctx, appid, "o_1", "", "admin", "closed"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.Apply(ctx, closed); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.wechat.KfSessions(appid)["o_1"]; ok {
		t.Error("o_1's session is still open in WeChat after kfgate closed it")
	}
	// A stale assignment (the session moved since) creates nothing.
	stale := wxkf.Event{Type: "session.assigned", Session: "gone", Account: appid, OpenID: "o_1", Agent: "kf:a@kf", Actor: "router"}
	if err := b.Apply(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.wechat.KfSessions(appid)["o_1"]; ok {
		t.Error("a stale assignment created a session in WeChat")
	}
}
