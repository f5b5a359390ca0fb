package archive

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/session"
)

type env struct {
	rdb    *redis.Client
	prefix string
	pool   *pgxpool.Pool
	url    string
	store  *session.Store
	now    time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb, prefix := redistest.New(t)
	pool, u := pgtest.Migrated(t)
	e := &env{rdb: rdb, prefix: prefix, pool: pool, url: u, now: time.Now(),
		store: session.NewStore(rdb, prefix, session.Options{ContextSize: 10, IdleTimeout: time.Hour,
			WarnBefore: time.Minute, ReturnWindow: time.Hour, Reserve: 0})}
	return e
}

func (e *env) tick() time.Time { e.now = e.now.Add(time.Millisecond); return e.now }

func (e *env) agent(t *testing.T, id string, max int) {
	t.Helper()
	err := e.store.PutAgent(t.Context(), kf.Agent{ID: id, Name: id, Accounts: []string{"wx1"}, Weight: 1,
		MaxSessions: max, Status: kf.AgentOnline}, e.tick())
	if err != nil {
		t.Fatal(err)
	}
}

// inbound sends a user's text through the real session script.
func (e *env) inbound(t *testing.T, openid, msgID, text, proposed, gate string) session.InboundResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": msgID, "type": "text", "content": text, "at": e.now.Unix()})
	for range 5 {
		r, err := e.store.Inbound(t.Context(), session.Inbound{Account: "wx1", OpenID: openid, Now: e.tick(),
			SessionID: "s-" + openid + "-" + msgID, Proposed: proposed, Message: body, QuotaGrant: 5,
			QuotaWindow: 48 * time.Hour, Gate: gate, GateNotice: "closed now"})
		if err == session.ErrConflict {
			proposed = ""
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Fatal("inbound: conflict after conflict")
	return session.InboundResult{}
}

// run starts a Writer and stops it when the test ends.
func run(t *testing.T, o Options) *Writer {
	t.Helper()
	if o.Block == 0 {
		o.Block = 100 * time.Millisecond
	}
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop within 10 s")
		}
	})
	return w
}

// drained waits until the group's backlog is 0.
func drained(t *testing.T, w *Writer, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := w.Backlog(t.Context())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog still %d (%v) after %v", n, err, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func rowsTotal(w *Writer, table string) float64 {
	return testutil.ToFloat64(w.rows.WithLabelValues(table))
}

// poolVia returns a pool for the test's schema whose connections go through p.
func poolVia(t *testing.T, dsn string, p *pgtest.Proxy) *pgxpool.Pool {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.Addr()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func targetOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return u.Hostname() + ":5432"
	}
	return u.Host
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
