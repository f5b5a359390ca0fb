package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
)

// SIGTERM under load: two replicas on one Redis; a load generator posts
// callbacks to replica A and, when A fails to answer (refused, reset, 502,
// 503), sends the same request to replica B, as Nginx's
// proxy_next_upstream does (deploy/nginx/kfgate.conf). A is stopped as
// SIGTERM stops it: its /readyz answers 503 "draining" while it still
// answers callbacks, then it stops accepting and drains. The generator sees
// no failed callback, and every message is recorded exactly once.
func TestSIGTERMUnderLoad(t *testing.T) {
	rdb, prefix := redistest.New(t)
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
accounts:
  - {appid: %s, secret: s, token: %s, aes_key: %s}
`, redistest.URL(), prefix, testAppID, testToken, testAESKey))
	a, stopA, logsA := startServe(t, cfg, map[string]string{"KFGATE_SHUTDOWN_DELAY": "700ms"})
	b, _, _ := startServe(t, cfg, nil)

	p, err := sim.NewPoster("", sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	var prepMu sync.Mutex
	seq := int64(0)
	prepare := func() sim.Prepared {
		prepMu.Lock()
		defer prepMu.Unlock()
		seq++
		return p.Prepare(sim.TextXML("gh_term", fmt.Sprintf("o_term_%d", seq%50), time.Now().Unix(), "在吗", 5_000_000+seq))
	}
	// Keep-alive connections, as Nginx keeps to its upstreams.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 4 * time.Second}
	post := func(base string, pr sim.Prepared) (int, string, error) {
		resp, err := client.Post(base+pr.URL, "text/xml", bytes.NewReader(pr.Body))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	var (
		sent, failed, retried, servedByADraining atomic.Int64
		draining                                 atomic.Bool // A's /readyz said so
		stopLoad                                 = make(chan struct{})
		wg                                       sync.WaitGroup
		failMu                                   sync.Mutex
		failures                                 []string
	)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				pr := prepare()
				sent.Add(1)
				wasDraining := draining.Load()
				status, body, err := post(a, pr)
				if err == nil && status == 200 && body == "success" {
					if wasDraining {
						servedByADraining.Add(1)
					}
					continue
				}
				// Nginx: error, timeout, http_502, http_503 → the next upstream.
				retried.Add(1)
				status, body, err = post(b, pr)
				if err != nil || status != 200 || body != "success" {
					failed.Add(1)
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("%d %q %v", status, body, err))
					failMu.Unlock()
				}
			}
		})
	}
	// A's readiness, as the load balancer polls it.
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		for {
			select {
			case <-stopLoad:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := http.Get(a + "/readyz")
			if err != nil {
				continue // A no longer listens
			}
			var body map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == 503 && body["status"] == "draining" {
				draining.Store(true)
			}
		}
	}()

	time.Sleep(500 * time.Millisecond) // load on A alone
	stopped := make(chan error, 1)
	go func() { stopped <- stopA() }() // SIGTERM
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("A's run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("A did not stop")
	}
	time.Sleep(300 * time.Millisecond) // and on B alone
	close(stopLoad)
	wg.Wait()
	<-readyDone

	t.Logf("sent %d callbacks; %d went on to replica B; %d answered by A while /readyz said draining; %d failed",
		sent.Load(), retried.Load(), servedByADraining.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d callbacks failed at the load generator, want 0: %v", failed.Load(), failures[:min(len(failures), 5)])
	}
	if !draining.Load() {
		t.Error("A's /readyz never answered 503 draining")
	}
	if servedByADraining.Load() == 0 {
		t.Error("A answered no callback while draining: it stopped accepting before the load balancer could notice")
	}
	if retried.Load() == 0 {
		t.Error("no callback went on to B: the load never met the stopped replica")
	}
	// Every message once: retries that reached both replicas are dropped
	// as duplicates.
	if n := rdb.XLen(context.Background(), prefix+"intake").Val(); n != sent.Load() {
		t.Errorf("intake holds %d records for %d messages", n, sent.Load())
	}
	log := logsA.String()
	order := []string{`"draining: /readyz answers 503`, `"stopping HTTP`, `"component":"http"`, `"component":"agent websockets"`,
		`"component":"engine"`, `"component":"outbox"`, `"msg":"shut down"`}
	last := -1
	for _, step := range order {
		i := strings.Index(log, step)
		if i < 0 || i < last {
			t.Errorf("A's log: %s missing or out of order", step)
		}
		last = max(last, i)
	}
}

// PostgreSQL unreachable (its connections cut at a proxy): /readyz stays
// 200, reporting postgres as unavailable in its body and its metric, and
// callbacks go on; when PostgreSQL is back the archive catches up with what
// waited in Redis.
func TestReadyWhilePostgresDown(t *testing.T) {
	_, prefix := redistest.New(t)
	pool, pgURL := pgtest.New(t)
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
postgres: {url: %q}
accounts:
  - {appid: %s, secret: s, token: %s}
agents:
  - {id: pg-agent, accounts: [%s]}
`, redistest.URL(), prefix, u.String(), testAppID, testToken, testAppID))
	base, _, logs := startServe(t, cfg, nil)
	readyz := func() (int, map[string]string) {
		t.Helper()
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	metric := func(name string) string {
		t.Helper()
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for line := range strings.Lines(string(b)) {
			if strings.HasPrefix(line, name+" ") {
				return strings.TrimSpace(strings.TrimPrefix(line, name+" "))
			}
		}
		return ""
	}
	if code, body := readyz(); code != 200 || body["postgres"] != "ok" || body["redis"] != "ok" || body["engine"] != "ok" || body["archive"] != "ok" {
		t.Fatalf("readyz before = %d %v", code, body)
	}

	proxy.Down()
	code, body := readyz()
	if code != 200 || body["postgres"] != "unavailable" || body["status"] != "ready" {
		t.Errorf("readyz with PostgreSQL cut = %d %v, want 200, ready, postgres unavailable", code, body)
	}
	if got := metric(`kfgate_readiness_check{check="postgres"}`); got != "0" {
		t.Errorf(`kfgate_readiness_check{check="postgres"} = %q, want 0`, got)
	}
	if got := metric("kfgate_ready"); got != "1" {
		t.Errorf("kfgate_ready = %q, want 1", got)
	}
	// Callbacks go on; the user's session waits in Redis for the archive.
	p, _ := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	for i := range 3 {
		status, answer, err := p.Post(context.Background(), p.Prepare(sim.TextXML("gh_pg", "o_pg_user", time.Now().Unix(), "PostgreSQL 停了吗", int64(800+i))))
		if err != nil || status != 200 || string(answer) != "success" {
			t.Fatalf("callback with PostgreSQL cut = %d %q %v", status, answer, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	archived := func() int {
		var n int
		_ = pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE openid = 'o_pg_user'").Scan(&n)
		return n
	}
	if n := archived(); n != 0 {
		t.Fatalf("%d sessions archived through a cut connection", n)
	}
	if !strings.Contains(logs.String(), "the replica stays ready") {
		t.Error("no log line says PostgreSQL's check fails while the replica stays ready")
	}

	proxy.Up(t)
	deadline := time.Now().Add(45 * time.Second)
	for archived() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := archived(); n != 1 {
		t.Fatalf("after PostgreSQL came back, %d sessions of the user are archived, want 1", n)
	}
	// The session's row may come in an earlier batch than its messages:
	// wait for the backlog to drain rather than look once.
	var msgs int
	for {
		_ = pool.QueryRow(context.Background(), "SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id WHERE s.openid = 'o_pg_user' AND m.direction = 'in'").Scan(&msgs)
		if msgs == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if msgs != 3 {
		t.Errorf("%d of the user's 3 messages archived", msgs)
	}
	if code, body := readyz(); code != 200 || body["postgres"] != "ok" {
		t.Errorf("readyz after = %d %v", code, body)
	}
}
