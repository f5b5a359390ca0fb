package outbox

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxapi"
)

const appid = "wxapp1"

// env is the simulator, a Redis prefix of the test's own, an Outbox and a
// wxapi client sharing tokens through Redis.
type env struct {
	api    *sim.API
	srv    *httptest.Server
	rdb    *redis.Client
	prefix string
	box    *Outbox
	client *wxapi.Client
}

func newEnv(t testing.TB) *env {
	t.Helper()
	api := sim.NewAPI(sim.APIOptions{Accounts: map[string]string{appid: "secret1"}})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	rdb, prefix := redistest.New(t)
	box, err := New(Options{Redis: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return &env{api: api, srv: srv, rdb: rdb, prefix: prefix, box: box, client: newClient(t, rdb, prefix, srv.URL)}
}

func newClient(t testing.TB, rdb redis.UniversalClient, prefix, url string) *wxapi.Client {
	t.Helper()
	ts, err := wxapi.NewTokens(wxapi.TokenOptions{Redis: rdb, Prefix: prefix,
		Accounts: map[string]string{appid: "secret1"}, BaseURL: url, BackupURL: url})
	if err != nil {
		t.Fatal(err)
	}
	c, err := wxapi.New(wxapi.Options{Tokens: ts, BaseURL: url, BackupURL: url})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// open makes openid send the account a message, at at (zero: now), as the
// simulator and the engine's quota view both see it: 5 sends for 48 h.
func (e *env) open(t testing.TB, openid string, at time.Time) {
	t.Helper()
	if at.IsZero() {
		at = time.Now()
	}
	if err := e.api.Interact(appid, openid, sim.InteractMessage, at); err != nil {
		t.Fatal(err)
	}
	e.setQuota(t, openid, 5, at.Add(48*time.Hour))
}

func (e *env) setQuota(t testing.TB, openid string, left int, until time.Time) {
	t.Helper()
	if err := e.rdb.HSet(context.Background(), e.prefix+"quota:"+appid+":"+openid,
		"left", left, "until", until.UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
}

// fast are worker options scaled down for tests: retries in tens of
// milliseconds, a dead worker's entries claimed after 1 s.
func fast(e *env, consumer string) WorkerOptions {
	return WorkerOptions{Outbox: e.box, Sender: e.client, Consumer: consumer, Workers: 4, Rate: 500,
		Retries: 8, Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		ClaimIdle: time.Second, SendTimeout: 2 * time.Second, Poll: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
}

// run starts a Worker; the returned stop cancels it and waits for Run.
func run(t testing.TB, o WorkerOptions) (stop func()) {
	t.Helper()
	w, err := NewWorker(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func (e *env) enqueue(t testing.TB, openid, content string) string {
	t.Helper()
	id, err := e.box.Enqueue(context.Background(), Message{Account: appid, OpenID: openid,
		Session: "s-" + openid, Kind: KindAgent, Content: content, Agent: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// statusEvent is the JSON of a message.status event.
type statusEvent struct {
	Type, Session, Account, OpenID string
	Agent                          string
	Message                        struct {
		ID, Status, Reason, Code string
		ErrCode                  int
		Attempts                 int
	}
}

// statuses returns the message.status events so far, by message id
// (refusals without an id under "").
func (e *env) statuses(t testing.TB) map[string][]statusEvent {
	t.Helper()
	xs, err := e.rdb.XRange(context.Background(), e.prefix+"events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]statusEvent{}
	for _, x := range xs {
		if x.Values["type"] != "message.status" {
			continue
		}
		var ev statusEvent
		if err := json.Unmarshal([]byte(x.Values["event"].(string)), &ev); err != nil {
			t.Fatal(err)
		}
		out[ev.Message.ID] = append(out[ev.Message.ID], ev)
	}
	return out
}

// final returns the last status event of id once it is sent or failed
// (not queued or parked).
func (e *env) final(t testing.TB, id string, within time.Duration) statusEvent {
	t.Helper()
	var last statusEvent
	waitFor(t, within, func() bool {
		evs := e.statuses(t)[id]
		if len(evs) == 0 {
			return false
		}
		last = evs[len(evs)-1]
		return last.Message.Status == "sent" || last.Message.Status == "failed"
	})
	return last
}

func waitFor(t testing.TB, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// contents returns the text contents openid received, in order.
func (e *env) contents(openid string) []string {
	var out []string
	for _, r := range e.api.Received(appid, openid) {
		var b struct{ Text struct{ Content string } }
		_ = json.Unmarshal(r.Body, &b)
		out = append(out, b.Text.Content)
	}
	return out
}
