package wxapi

import (
	"context"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
)

// clock is a fake clock shared by the simulator and every Tokens of a test.
type clock struct {
	base time.Time
	off  atomic.Int64
}

func newClock() *clock { return &clock{base: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time          { return c.base.Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// env is the simulator, its server, a Redis with a fresh prefix and a clock.
type env struct {
	api    *sim.API
	srv    *httptest.Server
	rdb    *redis.Client
	prefix string
	clk    *clock
}

var testAccounts = map[string]string{"wxapp1": "secret1", "wxapp2": "secret2"}

func newEnv(t testing.TB) *env {
	t.Helper()
	clk := newClock()
	api := sim.NewAPI(sim.APIOptions{Accounts: testAccounts, Now: clk.Now})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	rdb, prefix := redistest.New(t)
	return &env{api: api, srv: srv, rdb: rdb, prefix: prefix, clk: clk}
}

// tokens returns a Tokens of e: one "replica".
func (e *env) tokens(t testing.TB, mode TokenMode) *Tokens {
	t.Helper()
	ts, err := NewTokens(TokenOptions{Redis: e.rdb, Prefix: e.prefix, Accounts: testAccounts, Mode: mode,
		BaseURL: e.srv.URL, BackupURL: e.srv.URL, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// client returns a Client of e using ts.
func (e *env) client(t testing.TB, ts TokenSource) *Client {
	t.Helper()
	c, err := New(Options{Tokens: ts, BaseURL: e.srv.URL, BackupURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// interact makes openid send appid a message: a 48-hour window of 5 sends.
func (e *env) interact(t testing.TB, appid, openid string) {
	t.Helper()
	if err := e.api.Interact(appid, openid, sim.InteractMessage, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// closedURL returns the URL of a local port nobody listens on.
func closedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
