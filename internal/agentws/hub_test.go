package agentws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/session"
)

// tokens are the agents the fake Authenticate knows.
var tokens = map[string]string{"tok-a": "a", "tok-b": "b"}

func authenticate(_ context.Context, token string) (kf.Agent, error) {
	if id, ok := tokens[token]; ok {
		return kf.Agent{ID: id}, nil
	}
	return kf.Agent{}, kf.Errorf(kf.KindUnauthorized, "bad_token", "invalid token")
}

// beats counts heartbeats by agent.
type beats struct {
	mu sync.Mutex
	n  map[string]int
}

func (b *beats) beat(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == nil {
		b.n = map[string]int{}
	}
	b.n[id]++
	return nil
}

func (b *beats) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n[id]
}

// replica is one Hub behind an httptest server.
type replica struct {
	hub   *Hub
	srv   *httptest.Server
	beats *beats
}

func newReplica(t *testing.T, rdb redis.UniversalClient, prefix string, tune func(*Options)) *replica {
	t.Helper()
	r := &replica{beats: &beats{}}
	o := Options{Redis: rdb, Prefix: prefix, Heartbeat: r.beats.beat}
	if tune != nil {
		tune(&o)
	}
	hub, err := NewHub(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	r.hub = hub
	r.srv = httptest.NewServer(serveAuthenticated(hub))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Close(ctx)
		r.srv.Close()
	})
	return r
}

func (r *replica) url() string {
	return "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/api/v1/agent/ws"
}

// dial connects with the token in the Authorization header.
func (r *replica) dial(t *testing.T, token string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), r.url(), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func publish(t *testing.T, rdb redis.UniversalClient, prefix, agent string, events ...string) {
	t.Helper()
	pipe := rdb.Pipeline()
	for _, e := range events {
		pipe.Publish(t.Context(), prefix+"agent:"+agent+":events", e)
	}
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func event(session string, seq int) string {
	return fmt.Sprintf(`{"type":"message.received","session":%q,"agent":"a","seq":%d}`, session, seq)
}

// read returns the next text frame within 5 s.
func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	return string(b)
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// An agent's events, published by any replica's code, reach every one of
// its connections on every replica, byte for byte and in order; another
// agent's connection gets none of them.
func TestEventsAcrossReplicas(t *testing.T) {
	rdb, prefix := redistest.New(t)
	// 300 events in one pipeline are a burst larger than the default
	// buffer: the fan-out can outrun a healthy writer by that much.
	big := func(o *Options) { o.SendBuffer = 1024 }
	r1 := newReplica(t, rdb, prefix, big)
	r2 := newReplica(t, rdb, prefix, big)
	tabs := []*websocket.Conn{r2.dial(t, "tok-a"), r2.dial(t, "tok-a"), r1.dial(t, "tok-a")}
	other := r1.dial(t, "tok-b")

	var want []string
	for i := range 300 {
		want = append(want, event(fmt.Sprintf("s%d", i%3), i))
	}
	publish(t, rdb, prefix, "a", want...)
	marker := `{"type":"session.assigned","session":"sb","agent":"b"}`
	publish(t, rdb, prefix, "b", marker)

	for n, c := range tabs {
		for i, w := range want {
			if got := read(t, c); got != w {
				t.Fatalf("tab %d, event %d = %s, want %s", n, i, got, w)
			}
		}
	}
	if got := read(t, other); got != marker {
		t.Fatalf("agent b got %s, want only its own event", got)
	}
}

// An admin's socket carries what the events stream receives, whichever
// replica wrote it, and nothing of the agents' own channels (every event
// goes to both, so an admin would otherwise see it twice); an agent's
// socket gets nothing of the stream. An admin's socket is no presence.
func TestAdminSocket(t *testing.T) {
	rdb, prefix := redistest.New(t)
	r1, r2 := newReplica(t, rdb, prefix, nil), newReplica(t, rdb, prefix, nil)
	admin := r2.dial(t, "tok-admin")
	agent := r1.dial(t, "tok-a")
	eventually(t, "both sockets registered", func() bool { return r1.hub.Connections() == 1 && r2.hub.Connections() == 1 })

	publish(t, rdb, prefix, "a", event("s1", 1)) // the agent's channel only
	all := []string{event("s1", 1), `{"type":"session.queued","session":"s2","agent":""}`}
	for _, e := range all {
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: prefix + session.EventsStream, Values: []any{"event", e}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range all {
		if got := read(t, admin); got != w {
			t.Fatalf("admin frame %d = %s, want %s", i, got, w)
		}
	}
	if got := read(t, agent); got != event("s1", 1) {
		t.Fatalf("agent got %s, want its own event", got)
	}
	// Nothing more for the agent: the next frame is a pong to its ping.
	if err := agent.Write(t.Context(), websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, agent); got != string(framePong) {
		t.Fatalf("agent got %s, want only the pong", got)
	}
	if n := r2.beats.count(admins); n != 0 {
		t.Errorf("the admin's socket made %d heartbeats", n)
	}
}

// serveAuthenticated stands in for the API server in these tests: it
// takes the token of the header or ?token=, and answers a refusal with the
// status of its kind (the server's own mapping is tested in package server).
func serveAuthenticated(hub *Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" {
			token = r.URL.Query().Get("token")
		}
		var err error
		if token == "tok-admin" {
			err = hub.ServeAdmin(w, r)
		} else {
			var a kf.Agent
			if a, err = authenticate(r.Context(), token); err == nil {
				err = hub.Serve(w, r, a)
			}
		}
		if err != nil {
			status := map[kf.Kind]int{kf.KindUnauthorized: 401, kf.KindUnavailable: 503, kf.KindUpgradeRequired: 426}[kf.KindOf(err)]
			http.Error(w, err.Error(), status)
		}
	})
}

// A request without "Upgrade: websocket" is refused before anything is
// written, with an error of kind KindUpgradeRequired for the caller to answer.
func TestServeRefusesPlainRequest(t *testing.T) {
	rdb, prefix := redistest.New(t)
	r := newReplica(t, rdb, prefix, nil)
	rec := httptest.NewRecorder()
	err := r.hub.Serve(rec, httptest.NewRequest(http.MethodGet, "/api/v1/agent/ws", nil), kf.Agent{ID: "a"})
	if kf.KindOf(err) != kf.KindUpgradeRequired {
		t.Fatalf("Serve = %v, want an upgrade-required error", err)
	}
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("Serve wrote %d %q %v; it must leave the answer to its caller", rec.Code, rec.Body, rec.Header())
	}
}

// The client may ping (or heartbeat) and gets a pong; anything else gets an
// error frame and the connection stays open.
func TestClientFrames(t *testing.T) {
	rdb, prefix := redistest.New(t)
	c := newReplica(t, rdb, prefix, nil).dial(t, "tok-a")
	cases := []struct {
		typ  websocket.MessageType
		send string
		want string
	}{
		{websocket.MessageText, `{"type":"ping"}`, `{"type":"pong"}`},
		{websocket.MessageText, `{"type":"heartbeat"}`, `{"type":"pong"}`},
		{websocket.MessageText, `{"type":"reply","content":"hi"}`, `"type":"error"`},
		{websocket.MessageText, `not json`, `"type":"error"`},
		{websocket.MessageText, `{}`, `"type":"error"`},
		{websocket.MessageBinary, `{"type":"ping"}`, `"type":"error"`},
		{websocket.MessageText, `{"type":"ping"}`, `{"type":"pong"}`},
	}
	for _, tc := range cases {
		if err := c.Write(t.Context(), tc.typ, []byte(tc.send)); err != nil {
			t.Fatal(err)
		}
		got := read(t, c)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s → %s, want %s", tc.send, got, tc.want)
		}
		if strings.Contains(tc.want, "error") {
			var f struct{ Type, Error string }
			if err := json.Unmarshal([]byte(got), &f); err != nil || f.Error == "" {
				t.Errorf("error frame %s: %v", got, err)
			}
		}
	}
}

// A connected WebSocket is presence: the heartbeat is called on connect and
// every HeartbeatEvery, and stops when the socket closes.
func TestHeartbeat(t *testing.T) {
	rdb, prefix := redistest.New(t)
	r := newReplica(t, rdb, prefix, func(o *Options) { o.HeartbeatEvery = 20 * time.Millisecond })
	c := r.dial(t, "tok-a")
	eventually(t, "5 heartbeats", func() bool { return r.beats.count("a") >= 5 })
	_ = c.Close(websocket.StatusNormalClosure, "")
	eventually(t, "the connection to end", func() bool { return r.hub.Connections() == 0 })
	time.Sleep(50 * time.Millisecond)
	n := r.beats.count("a")
	time.Sleep(100 * time.Millisecond)
	if m := r.beats.count("a"); m != n {
		t.Errorf("heartbeats went on after the socket closed: %d → %d", n, m)
	}
	if r.beats.count("b") != 0 {
		t.Error("heartbeat for an agent not connected")
	}
}

// A client that answers no ping is cut after PingEvery + WriteTimeout.
func TestDeadPeer(t *testing.T) {
	rdb, prefix := redistest.New(t)
	r := newReplica(t, rdb, prefix, func(o *Options) {
		o.PingEvery = 50 * time.Millisecond
		o.WriteTimeout = 100 * time.Millisecond
	})
	r.dial(t, "tok-a") // never reads, so never answers a ping
	live := r.dial(t, "tok-a")
	go func() { // reads, so answers pings
		for {
			if _, _, err := live.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	eventually(t, "the dead peer to be cut", func() bool { return r.hub.Connections() == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := r.hub.Connections(); n != 1 {
		t.Errorf("%d connections, want the live one", n)
	}
}

// Hub.Close says going-away to every client, refuses new ones with 503,
// stops the gauge, and may be called again.
func TestClose(t *testing.T) {
	rdb, prefix := redistest.New(t)
	reg := prometheus.NewRegistry()
	r := newReplica(t, rdb, prefix, func(o *Options) { o.Registerer = reg })
	conns := []*websocket.Conn{r.dial(t, "tok-a"), r.dial(t, "tok-a"), r.dial(t, "tok-b")}
	if n := testutil.ToFloat64(r.hub.gauge); n != 3 {
		t.Errorf("kfgate_agent_connections = %v, want 3", n)
	}
	if n, err := testutil.GatherAndCount(reg, "kfgate_agent_connections"); n != 1 || err != nil {
		t.Errorf("gauge not registered: %d, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// The clients read, as browsers do, so that they answer the close.
	ended := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			_, _, err := c.Read(ctx)
			ended <- err
		}()
	}
	start := time.Now()
	if err := r.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(start))
	for range conns {
		if err := <-ended; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("client ended with %v, want going away", err)
		}
	}
	if n := testutil.ToFloat64(r.hub.gauge); n != 0 {
		t.Errorf("kfgate_agent_connections = %v after Close", n)
	}
	_, resp, err := websocket.Dial(ctx, r.url()+"?token=tok-a", nil)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, %v", resp, err)
	}
	if err := r.hub.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestGlobEscape(t *testing.T) {
	for in, want := range map[string]string{"kf:": "kf:", `a*b?[c]\`: `a\*b\?\[c\]\\`} {
		if got := globEscape(in); got != want {
			t.Errorf("globEscape(%q) = %q, want %q", in, got, want)
		}
	}
	// A prefix with pattern characters matches only itself.
	rdb, prefix := redistest.New(t)
	r := newReplica(t, rdb, prefix+"x*", nil)
	c := r.dial(t, "tok-a")
	publish(t, rdb, prefix+"xy", "a", event("wrong", 0))
	publish(t, rdb, prefix+"x*", "a", event("right", 1))
	if got := read(t, c); got != event("right", 1) {
		t.Errorf("got %s", got)
	}
}

// Revoke closes every tab of the agent on every replica — the last frame
// {"type":"access.revoked"}, then close code 1008 — and leaves the other
// agents' sockets alone.
func TestRevoke(t *testing.T) {
	rdb, prefix := redistest.New(t)
	r1, r2 := newReplica(t, rdb, prefix, nil), newReplica(t, rdb, prefix, nil)
	tabs := []*websocket.Conn{r1.dial(t, "tok-a"), r2.dial(t, "tok-a")}
	other := r1.dial(t, "tok-b")
	if err := Revoke(context.Background(), rdb, prefix, "a"); err != nil {
		t.Fatal(err)
	}
	for i, c := range tabs {
		if got := read(t, c); got != string(frameRevoked) {
			t.Fatalf("tab %d got %s, want the revoked frame", i, got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := c.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("tab %d: %v, want close 1008", i, err)
		}
	}
	marker := `{"type":"session.assigned","session":"sb","agent":"b"}`
	publish(t, rdb, prefix, "b", marker)
	if got := read(t, other); got != marker {
		t.Fatalf("agent b got %s after a's revocation", got)
	}
	eventually(t, "a's connections to be gone", func() bool { return r1.hub.Connections()+r2.hub.Connections() == 1 })
}
