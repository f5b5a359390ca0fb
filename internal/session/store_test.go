package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redisconn"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/session"
)

const acct = "wxstate"

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var opts = session.Options{ContextSize: 5, IdleTimeout: 30 * time.Minute, WarnBefore: 5 * time.Minute, ReturnWindow: time.Hour, Reserve: 2}

type fixture struct {
	t      *testing.T
	rdb    *redis.Client
	store  *session.Store
	n      int
	prefix func() string
}

func newFixture(t *testing.T) *fixture {
	rdb, prefix := redistest.New(t)
	f := &fixture{t: t, rdb: rdb, store: session.NewStore(rdb, prefix, opts), prefix: func() string { return prefix }}
	for _, id := range []string{"a1", "a2"} {
		if err := f.store.PutAgent(context.Background(), kf.Agent{ID: id, Accounts: []string{acct}, MaxSessions: 1, Status: kf.AgentOffline}, t0); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) status(id string, st kf.AgentStatus) {
	f.t.Helper()
	if _, err := f.store.SetStatus(context.Background(), id, st, t0); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) message(proposed string) (session.InboundResult, error) {
	f.n++
	return f.store.Inbound(context.Background(), session.Inbound{Account: acct, OpenID: "u", Now: t0,
		SessionID: "s" + strconv.Itoa(f.n), Proposed: proposed, Message: []byte(`{"n":` + strconv.Itoa(f.n) + `}`),
		QuotaGrant: 5, QuotaWindow: 48 * time.Hour, QueueNotice: "position {position}"})
}

// state returns the user's session state, "none" without one.
func (f *fixture) state() string {
	s, err := f.store.Session(context.Background(), acct, "u")
	if errors.Is(err, session.ErrNoSession) {
		return "none"
	}
	if err != nil {
		f.t.Fatal(err)
	}
	if s.Agent != "" {
		return string(s.State) + ":" + s.Agent
	}
	return string(s.State)
}

func (f *fixture) load(id string) int {
	agents, err := f.store.Agents(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, a := range agents {
		if a.ID == id {
			return a.Load
		}
	}
	f.t.Fatalf("no agent %s", id)
	return 0
}

// setups bring the user to each state.
var setups = map[string]func(f *fixture){
	"none": func(f *fixture) {},
	"waiting": func(f *fixture) {
		if r, err := f.message(""); err != nil || r.Outcome != "queued" {
			f.t.Fatalf("setup waiting: %+v %v", r, err)
		}
	},
	"serving": func(f *fixture) {
		f.status("a1", kf.AgentOnline)
		if r, err := f.message("a1"); err != nil || r.Outcome != "assigned" {
			f.t.Fatalf("setup serving: %+v %v", r, err)
		}
	},
	"transferring": func(f *fixture) {
		f.status("a1", kf.AgentOnline)
		if _, err := f.message("a1"); err != nil {
			f.t.Fatal(err)
		}
		if to, err := f.store.Transfer(context.Background(), acct, "u", "", "", "agent:a1", "test", t0); err != nil || to != "" {
			f.t.Fatalf("setup transferring: %q %v", to, err)
		}
	},
}

// Every state × event pair is either handled (and lands in the state the
// table says) or refused with a named error.
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	type event struct {
		name string
		do   func(f *fixture) error
	}
	events := map[string]event{
		"message to a free agent": {"message", func(f *fixture) error {
			f.status("a2", kf.AgentOnline)
			_, err := f.message("a2")
			return err
		}},
		"message, nobody free": {"message", func(f *fixture) error { _, err := f.message(""); return err }},
		"message to a full agent": {"message", func(f *fixture) error {
			f.status("a2", kf.AgentOnline)
			if err := f.store.PutAgent(ctx, kf.Agent{ID: "a2", Accounts: []string{acct}, MaxSessions: 0}, t0); err != nil {
				return err
			}
			_, err := f.message("a2")
			return err
		}},
		"drain to a2": {"drain", func(f *fixture) error {
			f.status("a2", kf.AgentOnline)
			_, err := f.store.Drain(ctx, acct, "", "a2", t0)
			return err
		}},
		"transfer to a2": {"transfer", func(f *fixture) error {
			f.status("a2", kf.AgentOnline)
			_, err := f.store.Transfer(ctx, acct, "u", "a2", "", "agent:a1", "test", t0)
			return err
		}},
		"transfer to itself": {"transfer", func(f *fixture) error {
			_, err := f.store.Transfer(ctx, acct, "u", "a1", "", "agent:a1", "test", t0)
			return err
		}},
		"close": {"close", func(f *fixture) error {
			_, err := f.store.Close(ctx, acct, "u", "", "agent", "done", "", t0)
			return err
		}},
		"idle warning": {"tick", func(f *fixture) error {
			_, err := f.store.Tick(ctx, t0.Add(26*time.Minute), 10, "warn", "bye")
			return err
		}},
		"idle close": {"tick", func(f *fixture) error {
			f.store.Tick(ctx, t0.Add(26*time.Minute), 10, "warn", "bye")
			_, err := f.store.Tick(ctx, t0.Add(32*time.Minute), 10, "warn", "bye")
			return err
		}},
	}
	tests := []struct {
		from, event string
		want        string // resulting state, or the error
		err         error
	}{
		{"none", "message to a free agent", "serving:a2", nil},
		{"none", "message, nobody free", "waiting", nil},
		{"none", "message to a full agent", "none", session.ErrConflict},
		{"none", "drain to a2", "none", nil},
		{"none", "transfer to a2", "none", session.ErrNoSession},
		{"none", "close", "none", session.ErrNoSession},
		{"none", "idle warning", "none", nil},
		{"waiting", "message to a free agent", "waiting", nil}, // an existing session keeps its place in the queue
		{"waiting", "message, nobody free", "waiting", nil},
		{"waiting", "drain to a2", "serving:a2", nil},
		{"waiting", "transfer to a2", "waiting", session.ErrNotServing},
		{"waiting", "close", "none", nil},
		{"waiting", "idle warning", "waiting", nil},
		{"waiting", "idle close", "waiting", nil}, // a waiting user is never idle-closed
		{"serving", "message to a free agent", "serving:a1", nil},
		{"serving", "message, nobody free", "serving:a1", nil},
		{"serving", "drain to a2", "serving:a1", nil},
		{"serving", "transfer to a2", "serving:a2", nil},
		{"serving", "transfer to itself", "serving:a1", session.ErrConflict},
		{"serving", "close", "none", nil},
		{"serving", "idle warning", "serving:a1", nil},
		{"serving", "idle close", "serving:a1", nil}, // the user wrote last: the agent owes the reply
		{"transferring", "message, nobody free", "transferring", nil},
		{"transferring", "drain to a2", "serving:a2", nil},
		{"transferring", "transfer to a2", "transferring", session.ErrNotServing},
		{"transferring", "close", "none", nil},
		{"transferring", "idle close", "transferring", nil},
	}
	seen := map[[2]string]bool{}
	for _, tt := range tests {
		seen[[2]string{tt.from, events[tt.event].name}] = true
		t.Run(tt.from+"/"+tt.event, func(t *testing.T) {
			f := newFixture(t)
			setups[tt.from](f)
			err := events[tt.event].do(f)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if got := f.state(); got != tt.want {
				t.Errorf("state = %s, want %s", got, tt.want)
			}
			// Loads always equal the sessions served.
			for _, id := range []string{"a1", "a2"} {
				want := 0
				if f.state() == "serving:"+id {
					want = 1
				}
				if got := f.load(id); got != want {
					t.Errorf("load of %s = %d, want %d", id, got, want)
				}
			}
		})
	}
	for _, from := range []string{"none", "waiting", "serving", "transferring"} {
		for _, ev := range []string{"message", "drain", "transfer", "close", "tick"} {
			if !seen[[2]string{from, ev}] {
				t.Errorf("no test for %s × %s", from, ev)
			}
		}
	}
}

// The events a transition emits: in the stream for the archive and on the
// agent's channel, in order; a transfer out of the queue replays the context.
func TestEventsAndReplay(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	prefix := f.prefix()
	sub := f.rdb.Subscribe(ctx, prefix+"agent:a2:events")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	setups["transferring"](f)
	f.message("") // while transferring: kept for the next agent
	f.status("a2", kf.AgentOnline)
	if got, err := f.store.Drain(ctx, acct, "", "a2", t0); err != nil || got != "u" {
		t.Fatalf("Drain = %q, %v", got, err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Type      string           `json:"type"`
		Agent     string           `json:"agent"`
		FromAgent string           `json:"from_agent"`
		Context   []map[string]int `json:"context"`
	}
	if err := json.Unmarshal([]byte(msg.Payload), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != kf.EventSessionTransferred || ev.Agent != "a2" || ev.FromAgent != "a1" || len(ev.Context) != 2 || ev.Context[1]["n"] != 2 {
		t.Errorf("a2 got %s", msg.Payload)
	}
	entries, err := f.rdb.XRange(ctx, prefix+"events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range entries {
		types = append(types, e.Values["type"].(string))
	}
	want := []string{"session.assigned", "message.received", "session.transferred", "message.received", "session.transferred"}
	if !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
}

// Automatic notices never spend the reply units the agent needs: with 5
// units and 2 reserved, a waiting user gets at most 3 notices.
func TestNoticesKeepReserve(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for range 5 {
		if _, err := f.store.Inbound(ctx, session.Inbound{Account: acct, OpenID: "w" + strconv.Itoa(f.n), Now: t0,
			SessionID: "x" + strconv.Itoa(f.n), Message: []byte(`{}`), QuotaGrant: 0, QueueNotice: "position {position}"}); err != nil {
			t.Fatal(err)
		}
		f.n++
	}
	if n, _ := f.rdb.XLen(ctx, f.prefix()+"outbox").Result(); n != 0 {
		t.Errorf("%d notices without any reply quota, want 0", n)
	}
	if _, err := f.message(""); err != nil { // grants 5, reserve 2
		t.Fatal(err)
	}
	for i := range 4 {
		f.store.Close(ctx, acct, "u", "", "agent", "done", "bye", t0)
		f.store.Inbound(ctx, session.Inbound{Account: acct, OpenID: "u", Now: t0, SessionID: "again" + strconv.Itoa(i),
			Message: []byte(`{}`), QueueNotice: "again {position}"})
	}
	out, err := f.rdb.XRange(ctx, f.prefix()+"outbox", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].Values["content"] != "position 6" {
		t.Errorf("outbox = %v, want 3 notices starting with position 6", out)
	}
}

// A queue an earlier version kept as a list becomes the sorted set, in
// order, at the first script that touches it: a waiting user's message
// gets the right place, the queue reads first first and the head is
// assigned first.
func TestQueueFromList(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	users := []string{"w1", "w2", "w3"}
	for i, u := range users {
		_, err := f.store.Inbound(ctx, session.Inbound{Account: acct, OpenID: u, Now: t0, SessionID: "q" + strconv.Itoa(i),
			Message: []byte(`{}`), QuotaGrant: 5, QuotaWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
	}
	q := f.prefix() + "queue:" + acct + ":"
	if typ := f.rdb.Type(ctx, q).Val(); typ != "zset" {
		t.Fatalf("the queue is a %s", typ)
	}
	// As an earlier version left it: a list, first first.
	f.rdb.Del(ctx, q)
	f.rdb.RPush(ctx, q, "w1", "w2", "w3")
	r, err := f.store.Inbound(ctx, session.Inbound{Account: acct, OpenID: "w2", Now: t0, Message: []byte(`{}`), QuotaGrant: 5, QuotaWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != "forwarded" || r.Position != 2 {
		t.Fatalf("w2's second message: %+v, want forwarded at place 2", r)
	}
	if typ := f.rdb.Type(ctx, q).Val(); typ != "zset" {
		t.Fatalf("after a message the queue is a %s", typ)
	}
	if got, _ := f.store.Queue(ctx, acct, ""); !slices.Equal(got, users) {
		t.Fatalf("queue %v, want %v", got, users)
	}
	// Again from a list, converted by the drain this time.
	f.rdb.Del(ctx, q)
	f.rdb.RPush(ctx, q, "w1", "w2", "w3")
	f.status("a1", kf.AgentOnline)
	if u, err := f.store.Drain(ctx, acct, "", "a1", t0); err != nil || u != "w1" {
		t.Fatalf("drain gave %q, %v; want w1", u, err)
	}
	if got, _ := f.store.Queue(ctx, acct, ""); !slices.Equal(got, users[1:]) {
		t.Fatalf("queue %v, want %v", got, users[1:])
	}
	// A transfer to the front goes before everyone, the newest front first.
	for _, u := range []string{"w4"} {
		if _, err := f.store.Inbound(ctx, session.Inbound{Account: acct, OpenID: u, Now: t0, SessionID: "q4", Message: []byte(`{}`), QuotaGrant: 5, QuotaWindow: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.TransferFront(ctx, acct, "w1", "", "", "agent:a1", "test", true, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.Queue(ctx, acct, ""); !slices.Equal(got, []string{"w1", "w2", "w3", "w4"}) {
		t.Fatalf("queue %v after w1 went back to the front", got)
	}
}

// The view of WeChat's reply window lives in the live session's hash (no
// key of its own) and moves to <prefix>quota:… when the session ends, while
// the window is open. A session an earlier version opened keeps its view
// in <prefix>quota:… until the next message writes it into the hash.
func TestQuotaInSession(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sk, qk := f.prefix()+"sess:"+acct+":u", f.prefix()+"quota:"+acct+":u"
	if _, err := f.message(""); err != nil { // queued, told its place: one unit spent
		t.Fatal(err)
	}
	if left := f.rdb.HGet(ctx, sk, "qleft").Val(); left != "4" || f.rdb.Exists(ctx, qk).Val() != 0 {
		t.Fatalf("qleft %q, quota key exists %d; want 4 in the session and no key", left, f.rdb.Exists(ctx, qk).Val())
	}
	if _, err := f.store.Close(ctx, acct, "u", "", "agent:a1", "done", "", t0); err != nil {
		t.Fatal(err)
	}
	q := f.rdb.HGetAll(ctx, qk).Val()
	if q["left"] != "4" || q["until"] != strconv.FormatInt(t0.Add(48*time.Hour).UnixMilli(), 10) || f.rdb.PTTL(ctx, qk).Val() <= 0 {
		t.Fatalf("after the close the quota key is %v (ttl %v)", q, f.rdb.PTTL(ctx, qk).Val())
	}
	// As an earlier version left a live session: the view in the key.
	if _, err := f.message(""); err != nil {
		t.Fatal(err)
	}
	f.rdb.HDel(ctx, sk, "qleft", "quntil")
	f.rdb.HSet(ctx, qk, "left", 2, "until", t0.Add(time.Hour).UnixMilli())
	click := session.Inbound{Account: acct, OpenID: "u", Now: t0, Message: []byte(`{}`), QuotaGrant: 3, QuotaWindow: time.Minute}
	if _, err := f.store.Inbound(ctx, click); err != nil {
		t.Fatal(err)
	}
	if h := f.rdb.HMGet(ctx, sk, "qleft", "quntil").Val(); h[0] != "2" || h[1] != strconv.FormatInt(t0.Add(time.Hour).UnixMilli(), 10) {
		t.Fatalf("a click kept the open window, read from the key: qleft, quntil = %v", h)
	}
}

// A session is found by its id through the bucketed index; one an earlier
// version opened, through its own sid: key, which its close deletes.
func TestSessionByID(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r, err := f.message("")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := f.store.SessionByID(ctx, r.SessionID); err != nil || s.OpenID != "u" || s.Account != acct {
		t.Fatalf("by id %q: %+v, %v", r.SessionID, s, err)
	}
	if _, err := f.store.SessionByID(ctx, "nope"); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("an unknown id: %v", err)
	}
	// As an earlier version kept it.
	bucket := f.prefix() + "sids:" + r.SessionID[:min(len(r.SessionID), 3)]
	f.rdb.HDel(ctx, bucket, r.SessionID)
	old := f.prefix() + "sid:" + r.SessionID
	f.rdb.Set(ctx, old, f.prefix()+"sess:"+acct+":u", 0)
	if s, err := f.store.SessionByID(ctx, r.SessionID); err != nil || s.OpenID != "u" {
		t.Fatalf("by an earlier version's key: %+v, %v", s, err)
	}
	if _, err := f.store.Close(ctx, acct, "u", "", "agent:a1", "done", "", t0); err != nil {
		t.Fatal(err)
	}
	if n := f.rdb.Exists(ctx, old, bucket).Val(); n != 0 {
		t.Fatalf("%d of the id's keys left after the close", n)
	}
	if _, err := f.store.SessionByID(ctx, r.SessionID); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("a closed session by id: %v", err)
	}
}

// The queue job looks at the first Window users of a queue per run: a
// run's cost does not grow with the queue, and the users further back
// time out once they come that near the head.
func TestQueueJobWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for i := range 5 {
		_, err := f.store.Inbound(ctx, session.Inbound{Account: acct, OpenID: "w" + strconv.Itoa(i), Now: t0, SessionID: "q" + strconv.Itoa(i),
			Message: []byte(`{}`), QuotaGrant: 5, QuotaWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
	}
	rules := session.QueueRules{Timeout: time.Minute, Window: 2}
	texts := []session.QueueTexts{{Account: acct, Timeout: "bye"}}
	var runs []int
	for range 4 {
		ch, err := f.store.Queues(ctx, t0.Add(2*time.Minute), rules, texts)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, len(ch))
	}
	if !slices.Equal(runs, []int{2, 2, 1, 0}) {
		t.Fatalf("timeouts per run %v, want [2 2 1 0]", runs)
	}
	// A queue's count that drifted from the queue (a hand edit) is set
	// right by the next run.
	for i := range 3 {
		_, err := f.store.Inbound(ctx, session.Inbound{Account: acct, OpenID: "v" + strconv.Itoa(i), Now: t0.Add(2 * time.Minute),
			SessionID: "r" + strconv.Itoa(i), Message: []byte(`{}`), QuotaGrant: 5, QuotaWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
	}
	field := "queue:" + acct + ":"
	f.rdb.HSet(ctx, f.prefix()+"counts", field, 42)
	if _, err := f.store.Queues(ctx, t0.Add(2*time.Minute), rules, texts); err != nil {
		t.Fatal(err)
	}
	if n, err := f.rdb.HGet(ctx, f.prefix()+"counts", field).Int(); err != nil || n != 3 {
		t.Errorf("the queue's count after a run: %d, %v; want 3, what the queue holds", n, err)
	}
}

// The inbound script runs as a Redis Function where Redis has them, and is
// loaded again when Redis lost it; on a server without functions (the
// embedded miniredis) it runs as a script, loaded when Redis lacks it, also
// through a Batcher; a passing error of FUNCTION LOAD (a failover's
// LOADING) leaves the store on the script until it tries again.
func TestInboundFunctionOrScript(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	mr := miniredis.RunT(t)
	embedded := redis.NewClient(&redis.Options{Addr: mr.Addr(), Protocol: 2, DisableIdentity: true})
	defer embedded.Close()
	batcher := redisconn.NewBatcher(embedded, 1, 4)
	defer batcher.Close()
	failing := redis.NewClient(rdb.Options())
	defer failing.Close()
	hook := &loadingOnce{}
	failing.AddHook(hook)
	library := func() int {
		libs, err := rdb.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: session.InboundFunction}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(libs)
	}
	for _, c := range []struct {
		name  string
		rdb   *redis.Client
		batch bool
	}{{"redis", rdb, false}, {"miniredis", embedded, false}, {"miniredis, batched", embedded, true},
		{"redis, LOADING once", failing, false}} {
		store := session.NewStore(c.rdb, prefix, opts)
		if c.batch {
			store.Pipelined(batcher)
		}
		if err := c.rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		openid := "u" + strconv.Itoa(len(c.name))
		if c.rdb == failing {
			if err := rdb.FunctionDelete(ctx, session.InboundFunction).Err(); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			switch {
			case c.rdb == rdb && i == 1:
				if err := rdb.FunctionDelete(ctx, session.InboundFunction).Err(); err != nil {
					t.Fatal(err)
				}
			case c.rdb == failing && i == 1:
				if n := library(); n != 0 || !hook.failed.Load() {
					t.Fatalf("after LOADING: %d libraries, failed %v; want none yet", n, hook.failed.Load())
				}
				time.Sleep(session.FunctionRetry)
			}
			r, err := store.Inbound(ctx, session.Inbound{Account: "wxfn", OpenID: openid, Now: t0, SessionID: "fn" + openid,
				Message: []byte(`{"id":"m` + strconv.Itoa(i) + `"}`), QuotaGrant: 5, QuotaWindow: time.Hour})
			if err != nil {
				t.Fatalf("%s, message %d: %v", c.name, i, err)
			}
			want := "queued"
			if i > 0 {
				want = "forwarded"
			}
			if r.Outcome != want || r.SessionID != "fn"+openid {
				t.Fatalf("%s, message %d: %+v, want %s in session fn%s", c.name, i, r, want, openid)
			}
		}
		n, err := c.rdb.LLen(ctx, prefix+"ctx:wxfn:"+openid).Result()
		if err != nil || n != 3 {
			t.Fatalf("%s: the context holds %d messages (%v), want 3", c.name, n, err)
		}
	}
	if n := library(); n != 1 {
		t.Fatalf("the inbound library in Redis: %d, want 1", n)
	}
}

// loadingOnce answers the first FUNCTION command with a failover's LOADING.
type loadingOnce struct{ failed atomic.Bool }

type loadingError struct{}

func (loadingError) Error() string { return "LOADING Redis is loading the dataset in memory" }
func (loadingError) RedisError()   {}

func (h *loadingOnce) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *loadingOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "function" && !h.failed.Swap(true) {
			cmd.SetErr(loadingError{})
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}
func (h *loadingOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A session that opens queued keeps no field that repeats `created`, nor
// idle_ms, which only a served session needs; the agent who takes it
// writes idle_ms (the outbox's due time for the user's reply, once the
// agent wrote), and the session enters the live index then.
func TestQueuedSessionFields(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	store := session.NewStore(rdb, prefix, opts)
	if _, err := store.Inbound(ctx, session.Inbound{Account: "wxq", OpenID: "u1", Now: t0, SessionID: "q1",
		Message: []byte(`{"id":"m1"}`), QuotaGrant: 5, QuotaWindow: time.Hour}); err != nil {
		t.Fatal(err)
	}
	key := prefix + "sess:wxq:u1"
	h := rdb.HGetAll(ctx, key).Val()
	for _, f := range []string{"queued_at", "told_at", "updated", "idle_ms"} {
		if v, ok := h[f]; ok {
			t.Errorf("a session that opened queued has %s = %s", f, v)
		}
	}
	if h["created"] != strconv.FormatInt(t0.UnixMilli(), 10) || h["told_pos"] != "1" || h["state"] != "waiting" {
		t.Errorf("session = %v", h)
	}
	if n := rdb.ZCard(ctx, prefix+"live").Val(); n != 0 {
		t.Errorf("a queued session in the live index (%d entries)", n)
	}
	if err := store.PutAgent(ctx, kf.Agent{ID: "a1", Accounts: []string{"wxq"}, MaxSessions: 1, Status: kf.AgentOnline}, t0); err != nil {
		t.Fatal(err)
	}
	if openid, err := store.Drain(ctx, "wxq", "", "a1", t0.Add(time.Minute)); err != nil || openid != "u1" {
		t.Fatalf("drain: %q, %v", openid, err)
	}
	want := strconv.FormatInt((opts.IdleTimeout - opts.WarnBefore).Milliseconds(), 10)
	if got := rdb.HGet(ctx, key, "idle_ms").Val(); got != want {
		t.Errorf("idle_ms once served = %q, want %s", got, want)
	}
	if s, err := rdb.ZScore(ctx, prefix+"live", key).Result(); err != nil || s != float64(t0.Add(time.Minute).UnixMilli()) {
		t.Errorf("the served session's live entry: %v, %v", s, err)
	}
}
