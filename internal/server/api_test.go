package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/audit"
	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/openapitest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/signin"
	"github.com/kfgate/kfgate/web"
)

const adminToken = "admin-token-for-tests-0001"

type apiFixture struct {
	url     string
	eng     *engine.Engine
	log     *slog.Logger
	metrics *metrics.Metrics
	cb      *callback.Handler
	team    *agents.Team
}

func newAPI(t *testing.T) *apiFixture { return newAPILimited(t, 1000) }

func newAPILimited(t *testing.T, limit int) *apiFixture {
	t.Helper()
	rdb, prefix := redistest.New(t)
	store := session.NewStore(rdb, prefix, session.Options{ContextSize: 5, IdleTimeout: time.Hour, WarnBefore: time.Minute, ReturnWindow: time.Hour, Reserve: 2})
	eng := engine.New(store, routing.NewRouter(routing.Options{}), rdb, prefix, engine.Config{}, slog.New(slog.DiscardHandler))
	tm := agents.NewTeam(agents.NewRedis(rdb, prefix), eng, []string{"wxapi", "wxapi2"})
	f := &apiFixture{eng: eng, log: slog.New(slog.DiscardHandler), metrics: metrics.New(), team: tm,
		cb: callback.New(nil, intake.NewStore(rdb, prefix, time.Minute), callback.Options{Timeout: time.Second})}
	h := server.New(server.Options{Logger: f.log, Metrics: f.metrics, Callback: f.cb, Team: tm, AdminTokens: []string{adminToken},
		AuthFailures: limit, AgentWS: echoSocket{}, SignIns: signin.New(rdb, prefix, time.Hour), Console: web.Handler(), Audit: audit.New(rdb, prefix)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *apiFixture) call(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Every response is validated against docs/openapi.yaml.
	resp, err := openapitest.Load(t).Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON", method, path, b)
		}
	}
	return resp.StatusCode, out
}

func (f *apiFixture) createAgent(t *testing.T, id string) string {
	t.Helper()
	status, out := f.call(t, "POST", "/api/v1/agents", adminToken,
		`{"id":"`+id+`","name":"Agent `+id+`","accounts":["wxapi"],"skills":["billing"],"max_sessions":2}`)
	if status != 201 {
		t.Fatalf("create %s = %d %v", id, status, out)
	}
	token, _ := out["token"].(string)
	if !strings.HasPrefix(token, "kfa_") {
		t.Fatalf("token %q", token)
	}
	return token
}

// The admin manages agents; an agent sets its own status, heartbeats and
// lists its sessions; the token is shown once and only its hash is kept.
func TestAgentsAPI(t *testing.T) {
	f := newAPI(t)
	tokenA := f.createAgent(t, "alice")
	if status, out := f.call(t, "POST", "/api/v1/agents", adminToken, `{"id":"alice","accounts":["wxapi"],"max_sessions":1}`); status != 409 {
		t.Errorf("duplicate id = %d %v, want 409", status, out)
	}
	for _, bad := range []string{
		`{"id":"bob","accounts":["wxnobody"],"max_sessions":1}`,
		`{"id":"bob","accounts":["wxapi"],"max_sessions":0}`,
		`{"id":"b/b","accounts":["wxapi"],"max_sessions":1}`,
		`{"id":"bob","accounts":["wxapi"],"max_sessions":1,"status":"online"}`,
		`{"id":"bob","accounts":["wxapi"],"max_sessions":1,"colour":"red"}`,
		`{"id":`,
	} {
		if status, out := f.call(t, "POST", "/api/v1/agents", adminToken, bad); status != 400 || out["error"] == "" {
			t.Errorf("create %s = %d %v, want 400 with an error", bad, status, out)
		}
	}
	status, out := f.call(t, "GET", "/api/v1/agents", adminToken, "")
	list, _ := out["agents"].([]any)
	if status != 200 || len(list) != 1 || list[0].(map[string]any)["status"] != "offline" {
		t.Fatalf("list = %d %v", status, out)
	}
	if status, out := f.call(t, "PUT", "/api/v1/agent/status", tokenA, `{"status":"online"}`); status != 200 {
		t.Fatalf("status = %d %v", status, out)
	}
	if status, out := f.call(t, "PUT", "/api/v1/agent/status", tokenA, `{"status":"busy"}`); status != 400 {
		t.Errorf("bad status = %d %v", status, out)
	}
	if status, out := f.call(t, "POST", "/api/v1/agent/heartbeat", tokenA, ""); status != 200 || out["status"] != "online" {
		t.Errorf("heartbeat = %d %v", status, out)
	}
	// A user writes; alice, online, gets the session.
	if err := f.eng.Handle(context.Background(), &kf.Message{Account: "wxapi", OpenID: "u1", Type: kf.MsgText, Content: "hi", MsgID: "1"}, engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	status, out = f.call(t, "GET", "/api/v1/agent/sessions", tokenA, "")
	if sessions, _ := out["sessions"].([]any); status != 200 || len(sessions) != 1 || sessions[0].(map[string]any)["openid"] != "u1" {
		t.Errorf("my sessions = %d %v", status, out)
	}
	status, out = f.call(t, "PATCH", "/api/v1/agents/alice", adminToken, `{"max_sessions":5,"name":"Alice"}`)
	if a, _ := out["agent"].(map[string]any); status != 200 || a["max_sessions"] != 5.0 || a["name"] != "Alice" || a["load"] != 1.0 || a["status"] != "online" {
		t.Errorf("patch = %d %v", status, out)
	}
	// A new token replaces the old one; a revoked token stops working.
	status, out = f.call(t, "POST", "/api/v1/agents/alice/token", adminToken, "")
	newToken, _ := out["token"].(string)
	if status != 201 || newToken == "" || newToken == tokenA {
		t.Fatalf("new token = %d %v", status, out)
	}
	if status, _ := f.call(t, "POST", "/api/v1/agent/heartbeat", tokenA, ""); status != 401 {
		t.Errorf("old token after a new one = %d, want 401", status)
	}
	if status, _ := f.call(t, "DELETE", "/api/v1/agents/alice/token", adminToken, ""); status != 204 {
		t.Errorf("revoke = %d", status)
	}
	if status, _ := f.call(t, "POST", "/api/v1/agent/heartbeat", newToken, ""); status != 401 {
		t.Errorf("revoked token = %d, want 401", status)
	}
	if status, _ := f.call(t, "DELETE", "/api/v1/agents/alice", adminToken, ""); status != 204 {
		t.Errorf("delete = %d", status)
	}
	if status, _ := f.call(t, "GET", "/api/v1/agents/alice", adminToken, ""); status != 404 {
		t.Errorf("get after delete = %d, want 404", status)
	}
}

// Every endpoint × (no token, bad token, agent, admin): 401, 401, 403 or
// its answer, 403 or its answer.
func TestAPIAuth(t *testing.T) {
	f := newAPI(t)
	agentToken := f.createAgent(t, "carol")
	f.createAgent(t, "dave")
	type want struct{ none, agent, admin int }
	adminOnly, agentOnly := want{401, 403, 0}, want{401, 0, 401}
	endpoints := []struct {
		method, path, body string
		want               want
		ok                 int // the status when allowed
	}{
		{"GET", "/api/v1/agents", "", adminOnly, 200},
		{"POST", "/api/v1/agents", `{"id":"erin","accounts":["wxapi"],"max_sessions":1}`, adminOnly, 201},
		{"GET", "/api/v1/agents/dave", "", adminOnly, 200},
		{"PATCH", "/api/v1/agents/dave", `{"weight":2}`, adminOnly, 200},
		{"POST", "/api/v1/agents/dave/token", "", adminOnly, 201},
		{"DELETE", "/api/v1/agents/dave/token", "", adminOnly, 204},
		{"DELETE", "/api/v1/agents/dave", "", adminOnly, 204},
		{"PUT", "/api/v1/agent/status", `{"status":"away"}`, agentOnly, 200},
		{"POST", "/api/v1/agent/heartbeat", "", agentOnly, 200},
		{"GET", "/api/v1/agent/sessions", "", agentOnly, 200},
	}
	for _, e := range endpoints {
		for _, who := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", e.want.none},
			{"bad token", "kfa_not-a-token", 401},
			{"agent", agentToken, e.want.agent},
			{"admin", adminToken, e.want.admin},
		} {
			want := who.want
			if want == 0 {
				want = e.ok
			}
			if status, out := f.call(t, e.method, e.path, who.token, e.body); status != want {
				t.Errorf("%s %s as %s = %d %v, want %d", e.method, e.path, who.name, status, out, want)
			}
		}
		// reset what the admin changed, so each endpoint starts alike
		f.call(t, "POST", "/api/v1/agents", adminToken, `{"id":"dave","accounts":["wxapi"],"max_sessions":1}`)
		f.call(t, "DELETE", "/api/v1/agents/erin", adminToken, "")
	}
}

// Failed credentials are counted, and a client that fails too often is
// refused for the rest of the minute, even with a good token.
func TestAuthFailuresLimited(t *testing.T) {
	f := newAPILimited(t, 3)
	for i := range 3 {
		if status, _ := f.call(t, "GET", "/api/v1/agents", "kfa_guess-"+strconv.Itoa(i), ""); status != 401 {
			t.Fatalf("guess %d = %d, want 401", i, status)
		}
	}
	if status, out := f.call(t, "GET", "/api/v1/agents", adminToken, ""); status != 429 || !strings.Contains(out["error"].(string), "too many failed attempts") {
		t.Errorf("after 3 failures = %d %v, want 429", status, out)
	}
	if got := testutil.ToFloat64(f.metrics.APIAuthFailures.WithLabelValues("bad_token")); got != 3 {
		t.Errorf("bad_token failures counted %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.metrics.APIAuthFailures.WithLabelValues("blocked")); got != 1 {
		t.Errorf("blocked counted %v, want 1", got)
	}
}

// echoSocket stands in for the agents' WebSocket: it answers 200 with the
// agent the server authenticated.
type echoSocket struct{}

func (echoSocket) Serve(w http.ResponseWriter, _ *http.Request, a kf.Agent) error {
	_, err := io.WriteString(w, `{"agent":"`+a.ID+`"}`)
	return err
}

func (echoSocket) ServeAdmin(w http.ResponseWriter, _ *http.Request) error {
	_, err := io.WriteString(w, `{"agent":"(admin)"}`)
	return err
}

// The WebSocket's token comes from the header or, for browsers, from
// ?token=; a header wins even when it is bad; a refusal is a JSON 401.
func TestAgentSocketToken(t *testing.T) {
	f := newAPI(t)
	good := f.createAgent(t, "ws1")
	cases := []struct {
		name, header, query string
		want                int
		who                 string
	}{
		{"header", "Bearer " + good, "", 200, "ws1"},
		{"admin header", "Bearer " + adminToken, "", 200, "(admin)"},
		{"admin query", "", adminToken, 200, "(admin)"},
		{"header, lower-case scheme", "bearer " + good, "", 200, "ws1"},
		{"query", "", good, 200, "ws1"},
		{"none", "", "", 401, ""},
		{"bad header", "Bearer nope", "", 401, ""},
		{"bad query", "", "nope", 401, ""},
		{"basic scheme", "Basic " + good, "", 401, ""},
		{"bad header wins over good query", "Bearer nope", good, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.url+"/api/v1/agent/ws?token="+tc.query, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d %v, want %d", resp.StatusCode, out, tc.want)
			}
			if tc.want == 200 && out["agent"] != tc.who || tc.want != 200 && out["error"] == "" {
				t.Errorf("body %v", out)
			}
		})
	}
}

// The failed-auth limit with server.trusted_proxies: a peer that is not a
// trusted proxy is limited by its own address however it rotates
// X-Real-IP; through a trusted proxy the header names the client, so one
// client's failures neither lock out another nor hide behind the proxy.
func TestAuthLimitTrustedProxies(t *testing.T) {
	f := newAPILimited(t, 3)
	h := server.New(server.Options{Logger: f.log, Metrics: metrics.New(), Callback: f.cb, Team: f.team,
		AdminTokens: []string{adminToken}, AuthFailures: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	call := func(peer, realIP, token string) int {
		r := httptest.NewRequest("GET", "/api/v1/agents", nil)
		r.RemoteAddr = peer + ":40000"
		r.Header.Set("Authorization", "Bearer "+token)
		if realIP != "" {
			r.Header.Set("X-Real-IP", realIP)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	// Untrusted: rotating the header does not help.
	for i := range 3 {
		if got := call("203.0.113.9", fmt.Sprintf("198.51.100.%d", i), "kfa_guess"); got != 401 {
			t.Fatalf("guess %d from an untrusted peer = %d", i, got)
		}
	}
	if got := call("203.0.113.9", "198.51.100.200", adminToken); got != 429 {
		t.Errorf("untrusted peer after 3 failures with a fresh X-Real-IP = %d, want 429", got)
	}
	// Trusted proxy: each client by its header.
	for i := range 3 {
		if got := call("10.0.0.5", "192.0.2.1", "kfa_guess"); got != 401 {
			t.Fatalf("guess %d through the proxy = %d", i, got)
		}
	}
	if got := call("10.0.0.5", "192.0.2.1", adminToken); got != 429 {
		t.Errorf("the failing client through the proxy = %d, want 429", got)
	}
	if got := call("10.0.0.5", "192.0.2.2", adminToken); got != 200 {
		t.Errorf("another client through the same proxy = %d, want 200", got)
	}
	if got := call("10.0.0.5", "not-an-address", adminToken); got != 200 {
		t.Errorf("unparseable X-Real-IP: the proxy itself counts, which has not failed: %d", got)
	}
}

// Admins' changes are recorded in the audit log — who (a fingerprint of the
// token), what, on what, from where, how it ended — and read newest first,
// page by page; reads and the agents' own calls are not.
func TestAuditLog(t *testing.T) {
	f := newAPI(t)
	tokenA := f.createAgent(t, "alice")
	if status, _ := f.call(t, "PUT", "/api/v1/agent/status", tokenA, `{"status":"online"}`); status != 200 {
		t.Fatalf("agent status = %d", status)
	}
	f.call(t, "GET", "/api/v1/agents", adminToken, "")
	if status, _ := f.call(t, "DELETE", "/api/v1/agents/alice/token", adminToken, ""); status != 204 {
		t.Fatalf("revoke = %d", status)
	}
	if status, _ := f.call(t, "DELETE", "/api/v1/agents/nobody", adminToken, ""); status != 404 {
		t.Fatalf("delete nobody = %d", status)
	}
	status, out := f.call(t, "GET", "/api/v1/audit?limit=2", adminToken, "")
	if status != 200 {
		t.Fatalf("audit = %d %v", status, out)
	}
	entries, _ := out["entries"].([]any)
	next, _ := out["next_before"].(string)
	status, out = f.call(t, "GET", "/api/v1/audit?limit=2&before="+next, adminToken, "")
	if status != 200 || next == "" {
		t.Fatalf("audit page 2 = %d %v (next %q)", status, out, next)
	}
	more, _ := out["entries"].([]any)
	entries = append(entries, more...)
	if _, ok := out["next_before"]; ok {
		t.Errorf("a third page after %v", out)
	}
	want := []struct {
		action, target string
		status         float64
	}{
		{"DELETE /api/v1/agents/{id}", "id=nobody", 404},
		{"DELETE /api/v1/agents/{id}/token", "id=alice", 204},
		{"POST /api/v1/agents", "", 201},
	}
	if len(entries) != len(want) {
		t.Fatalf("audit entries %v, want %d", entries, len(want))
	}
	for i, w := range want {
		e := entries[i].(map[string]any)
		if e["action"] != w.action || e["target"] != w.target || e["status"] != w.status ||
			e["actor"] != audit.Actor(adminToken) || e["from"] != "127.0.0.1" || e["at"] == "" {
			t.Errorf("entry %d = %v, want %s %s %v by %s", i, e, w.action, w.target, w.status, audit.Actor(adminToken))
		}
	}
	if status, _ := f.call(t, "GET", "/api/v1/audit?before=nonsense", adminToken, ""); status != 400 {
		t.Errorf("bad before = %d, want 400", status)
	}
	if status, _ := f.call(t, "GET", "/api/v1/audit", tokenA, ""); status != 401 && status != 403 {
		t.Errorf("an agent reads the audit log: %d", status)
	}
}
