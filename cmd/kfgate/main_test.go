package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/openapitest"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/sim"
)

const (
	testAppID  = "wxe2e0000000001"
	testToken  = "e2etoken"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// syncBuffer collects the log that run writes from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kfgate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServe runs `kfgate serve` in the test and returns its base URL, a
// function that stops it (as SIGTERM does) and returns run's error, and its log.
func startServe(t *testing.T, config string, env map[string]string, flags ...string) (string, func() error, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	// No load balancer watches a test's /readyz: stop without the delay
	// unless the test sets one.
	if _, ok := env["KFGATE_SHUTDOWN_DELAY"]; !ok {
		env = maps.Clone(env)
		if env == nil {
			env = map[string]string{}
		}
		env["KFGATE_SHUTDOWN_DELAY"] = "1ms"
	}
	getenv := func(k string) string { return env[k] }
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	done := make(chan error, 1)
	args := append([]string{"serve", "--config", config}, flags...)
	go func() { done <- run(ctx, args, getenv, environ, io.Discard, logs) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("run did not return after the context was cancelled")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				t.Cleanup(func() { _ = stop() })
				return "http://" + line.Addr, stop, logs
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start listening:\n%s", logs)
	return "", nil, nil
}

// The real run on port 0 with real Redis and PostgreSQL: a safe-mode
// callback is answered and recorded, readiness covers both services, the
// metrics carry the contract's names, and SIGTERM lets an in-flight callback
// finish before run returns.
func TestServeEndToEnd(t *testing.T) {
	rdb, prefix := redistest.New(t)
	pool, pgURL := pgtest.New(t) // a schema of the test's own; serve migrates it
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
postgres: {url: %q}
accounts:
  - appid: %s
    token: %s
    aes_key: %s
agents:
  - {id: e2e-agent, accounts: [%s]}
admin:
  tokens: [e2e-admin-token-0000000001]
`, redistest.URL(), prefix, pgURL, testAppID, testToken, testAESKey, testAppID))
	base, stop, logs := startServe(t, cfg, map[string]string{"KFGATE_ACCOUNTS_0_SECRET": "from-the-environment"})

	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := p.Post(context.Background(), p.Prepare(sim.TextXML("gh_e2e", "o_e2e", time.Now().Unix(), "你好", 1)))
	if err != nil || status != 200 || string(body) != "success" {
		t.Fatalf("callback = %d %q %v", status, body, err)
	}

	// The engine takes the message from the intake: the declared agent has
	// not come online, so the user waits in the queue.
	waitFor(t, "the engine to queue the user", func() bool {
		return rdb.HGet(context.Background(), prefix+"sess:"+testAppID+":o_e2e", "state").Val() == "waiting"
	})

	// The declared agent is recorded in PostgreSQL. An admin creates a
	// second agent; it comes online and takes the waiting user.
	var declared int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM agents WHERE id = 'e2e-agent'").Scan(&declared); err != nil || declared != 1 {
		t.Fatalf("declared agent in PostgreSQL: %d, %v", declared, err)
	}
	api := func(method, path, token, body string) (int, map[string]any) {
		return apiCall(t, base, method, path, token, body)
	}
	status, out := api("POST", "/api/v1/agents", "e2e-admin-token-0000000001",
		`{"id":"e2e-agent-2","accounts":["`+testAppID+`"],"max_sessions":3}`)
	agentToken, _ := out["token"].(string)
	if status != 201 || agentToken == "" {
		t.Fatalf("create agent = %d %v", status, out)
	}
	if status, out := api("PUT", "/api/v1/agent/status", agentToken, `{"status":"online"}`); status != 200 {
		t.Fatalf("agent online = %d %v", status, out)
	}
	waitFor(t, "the waiting user to be served", func() bool {
		return rdb.HGet(context.Background(), prefix+"sess:"+testAppID+":o_e2e", "agent").Val() == "e2e-agent-2"
	})

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(ready), `"postgres":"ok"`) || !strings.Contains(string(ready), `"redis":"ok"`) {
		t.Errorf("readyz = %d %s", resp.StatusCode, ready)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`kfgate_callback_requests_total{account="` + testAppID + `",result="ok"} 1`,
		`kfgate_callback_duration_seconds_bucket{account="` + testAppID + `",result="ok"`,
		`kfgate_build_info{goversion="`,
		`kfgate_stream_lag{stream="intake"} `,
		`kfgate_stream_oldest_age_seconds{stream="outbox"} `,
		`kfgate_redis_pool_connections{state="total"} `,
		`kfgate_postgres_pool_connections{state="max"} `,
		`kfgate_sessions{state="serving"} 1`,
		`kfgate_agents{status="online"} 1`,
		`kfgate_outbox_backlog`,
		`kfgate_archive_backlog`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A callback whose body is still arriving when SIGTERM comes: the
	// server stops accepting but finishes it.
	pr := p.Prepare(sim.TextXML("gh_e2e", "o_e2e", time.Now().Unix(), "slow", 2))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: kfgate\r\nContent-Length: %d\r\n\r\n", strings.TrimPrefix(pr.URL, base), len(pr.Body))
	half := len(pr.Body) / 2
	if _, err := conn.Write(pr.Body[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server has the request and waits for the rest
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(200 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Error("still accepting connections after SIGTERM")
	}
	if _, err := conn.Write(pr.Body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight callback got no answer: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(answer) != "success" {
		t.Errorf("in-flight callback = %d %q", resp.StatusCode, answer)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run returned %v after SIGTERM", err)
	}
	if n, err := rdb.XLen(context.Background(), prefix+"intake").Result(); err != nil || n != 2 {
		t.Errorf("intake stream holds %d entries (%v), want 2", n, err)
	}
	if strings.Contains(logs.String(), "from-the-environment") || strings.Contains(logs.String(), testAESKey) {
		t.Error("the log shows a secret")
	}
}

// With no redis.url, serve runs on the embedded Redis-protocol server: the
// same code path answers a callback with nothing else running.
func TestServeEmbedded(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
accounts:
  - {appid: %s, secret: s, token: %s}
`, testAppID, testToken))
	base, stop, logs := startServe(t, cfg, nil)
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := p.Prepare(sim.TextXML("gh_e", "o_e", time.Now().Unix(), "hi", 7))
	for range 2 {
		if status, body, err := p.Post(context.Background(), pr); err != nil || status != 200 || string(body) != "success" {
			t.Fatalf("callback = %d %q %v", status, body, err)
		}
	}
	if !strings.Contains(logs.String(), "embedded Redis-protocol server") {
		t.Error("no warning that Redis is embedded")
	}
	// The metrics read from Redis work on the embedded server too.
	waitFor(t, "the engine to read the intake", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics on the embedded Redis = %d %.300s", resp.StatusCode, b)
		}
		return bytes.Contains(b, []byte(`kfgate_sessions{state="waiting"} `)) && bytes.Contains(b, []byte(`kfgate_stream_lag{stream="intake"} 0`))
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A bad configuration stops serve before it listens, naming every problem.
func TestServeBadConfig(t *testing.T) {
	cfg := writeConfig(t, `
listen: "nonsense"
accounts:
  - {appid: wx1, secret: s, token: "t", aes_key: "short"}
  - {appid: wx1, secret: s, token: tok}
`)
	err := run(context.Background(), []string{"serve", "--config", cfg}, func(string) string { return "" }, nil, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve accepted a bad configuration")
	}
	for _, want := range []string{"listen", "accounts[0].token", "accounts[0].aes_key: must be 43 characters", "accounts[1].appid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, os.Getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "kfgate dev") {
		t.Errorf("version printed %q", out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, os.Getenv, nil, io.Discard, io.Discard); err == nil {
		t.Error("an unknown command succeeded")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// kfgate migrate applies the schema once; a second run finds nothing to do.
func TestMigrateCommand(t *testing.T) {
	_, pgURL := pgtest.New(t)
	cfg := writeConfig(t, fmt.Sprintf(`
postgres: {url: %q}
accounts:
  - {appid: %s, secret: s, token: %s}
`, pgURL, testAppID, testToken))
	for _, want := range []string{"applied 00001_agents.sql", "0 migrations applied"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"migrate", "--config", cfg}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("migrate printed %q, want %q", out.String(), want)
		}
	}
	noPG := writeConfig(t, fmt.Sprintf("accounts:\n  - {appid: %s, secret: s, token: %s}\n", testAppID, testToken))
	if err := run(context.Background(), []string{"migrate", "--config", noPG}, func(string) string { return "" }, nil, io.Discard, io.Discard); err == nil {
		t.Error("migrate without postgres.url succeeded")
	}
}

// apiCall makes one call to the JSON API of a running serve (token "" for
// none) and returns the status and the decoded answer.
func apiCall(t *testing.T, base, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
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
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// An intake-only replica answers and records callbacks but leaves the
// conversations to the other replicas: nothing consumes its stream.
func TestServeIntakeOnly(t *testing.T) {
	rdb, prefix := redistest.New(t)
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
engine: {intake_only: true}
accounts:
  - {appid: %s, secret: s, token: %s}
`, redistest.URL(), prefix, testAppID, testToken))
	base, stop, _ := startServe(t, cfg, nil)
	p, _ := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	if status, body, err := p.Post(context.Background(), p.Prepare(sim.TextXML("gh", "o_io", time.Now().Unix(), "hi", 5))); err != nil || status != 200 || string(body) != "success" {
		t.Fatalf("callback = %d %q %v", status, body, err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := rdb.XLen(context.Background(), prefix+"intake").Val(); n != 1 {
		t.Errorf("intake stream holds %d, want 1", n)
	}
	if groups, _ := rdb.XInfoGroups(context.Background(), prefix+"intake").Result(); len(groups) != 0 {
		t.Errorf("an intake-only replica consumed its stream: %v", groups)
	}
	// The scheduler runs on an intake-only replica too: an agent last heard
	// from an hour ago is swept offline by it.
	ctx := context.Background()
	opts := session.Options{ContextSize: 5, IdleTimeout: time.Hour, WarnBefore: time.Minute, ReturnWindow: time.Hour}
	past := engine.New(session.NewStore(rdb, prefix, opts), routing.NewRouter(routing.Options{}), rdb, prefix,
		engine.Config{OfflineAfter: 90 * time.Second}, slog.New(slog.DiscardHandler))
	past.SetClock(func() time.Time { return time.Now().Add(-time.Hour) })
	if err := past.PutAgent(ctx, kf.Agent{ID: "stale", Accounts: []string{testAppID}, MaxSessions: 1, Weight: 1, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	if status, err := past.Heartbeat(ctx, "stale"); err != nil || status != kf.AgentOnline {
		t.Fatalf("heartbeat = %q, %v", status, err)
	}
	waitFor(t, "the intake-only replica's scheduler to sweep the silent agent", func() bool {
		all, _ := past.Agents(ctx)
		return len(all) == 1 && all[0].Status == kf.AgentOffline
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// simulated is a serve's surroundings for an end-to-end test: the test's
// own Redis prefix, PostgreSQL when asked for, the simulated WeChat for the
// test account, and the configuration file that points at them.
type simulated struct {
	wechat *sim.API
	rdb    *redis.Client // the test's Redis, keys under prefix; nil when embedded
	prefix string
	pool   *pgxpool.Pool // the test's schema, when postgres
	config string
}

// simulatedOptions say what the configuration holds beyond the basics.
type simulatedOptions struct {
	secret     string // the account's AppSecret at the simulated WeChat
	adminToken string
	postgres   bool   // the archive on, in a schema of the test's own
	embedded   bool   // no Redis server: the embedded default
	plaintext  bool   // the account without an EncodingAESKey
	account    string // more fields of the account, e.g. "menu_skills: [HELP=billing]"
	admin      string // more fields of admin, e.g. "max_auth_failures: 1000"
	extra      string // more top-level YAML, e.g. "engine: {strategy: least_loaded}"
}

func newSimulated(t *testing.T, o simulatedOptions) *simulated {
	t.Helper()
	s := &simulated{wechat: sim.NewAPI(sim.APIOptions{Accounts: map[string]string{testAppID: o.secret}})}
	wx := httptest.NewServer(s.wechat)
	t.Cleanup(wx.Close)
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "listen: \"127.0.0.1:0\"\nwechat: {api_base: %q}\n", wx.URL)
	if !o.embedded {
		s.rdb, s.prefix = redistest.New(t)
		fmt.Fprintf(&yaml, "redis: {url: %q, prefix: %q}\n", redistest.URL(), s.prefix)
	}
	if o.postgres {
		var url string
		s.pool, url = pgtest.New(t)
		fmt.Fprintf(&yaml, "postgres: {url: %q}\n", url)
	}
	account := ""
	if !o.plaintext {
		account += ", aes_key: " + testAESKey
	}
	if o.account != "" {
		account += ", " + o.account
	}
	admin := ""
	if o.admin != "" {
		admin = ", " + o.admin
	}
	fmt.Fprintf(&yaml, "accounts:\n  - {appid: %s, secret: %s, token: %s%s}\nadmin: {tokens: [%s]%s}\n%s\n",
		testAppID, o.secret, testToken, account, o.adminToken, admin, o.extra)
	s.config = writeConfig(t, yaml.String())
	return s
}
