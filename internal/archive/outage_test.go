package archive

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/prometheus/client_golang/prometheus"
)

// TestPostgresOutage: PostgreSQL goes away in the middle of a stream of
// conversations (the writer's connections go through a proxy the test
// closes) and comes back. Every message ends up archived, none twice, and
// the backlog metric rises while PostgreSQL is down and returns to 0.
func TestPostgresOutage(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "a1", 100000)
	p := pgtest.NewProxy(t, targetOf(t, e.url))
	reg := prometheus.NewRegistry()
	w := run(t, Options{Redis: e.rdb, Prefix: e.prefix, DB: poolVia(t, e.url, p), Registerer: reg,
		Batch: 50, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})

	// The backlog gauge, sampled as a scraper would.
	var mu sync.Mutex
	var peak, last float64
	ctx, stop := context.WithCancel(t.Context())
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for ctx.Err() == nil {
			v := gauge(t, reg, "kfgate_archive_backlog")
			mu.Lock()
			peak, last = max(peak, v), v
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	})

	const users = 300
	conversation := func(i int) {
		openid := fmt.Sprintf("u%d", i)
		r := e.inbound(t, openid, "1", "hello", "a1", "")
		e.inbound(t, openid, "2", "more", "", "")
		if _, err := e.store.Close(t.Context(), "wx1", openid, r.SessionID, "a1", "resolved", "", e.tick()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range users / 3 {
		conversation(i)
	}
	time.Sleep(50 * time.Millisecond) // some batches committed, some in flight
	p.Down()
	t.Log("PostgreSQL down")
	for i := users / 3; i < 2*users/3; i++ {
		conversation(i)
	}
	time.Sleep(500 * time.Millisecond) // retries fail meanwhile
	mu.Lock()
	down := last
	mu.Unlock()
	if down == 0 {
		t.Error("kfgate_archive_backlog is 0 while PostgreSQL is down")
	}
	p.Up(t)
	t.Log("PostgreSQL up")
	for i := 2 * users / 3; i < users; i++ {
		conversation(i)
	}
	drained(t, w, 30*time.Second)
	time.Sleep(30 * time.Millisecond)
	stop()
	sampler.Wait()
	if got := gauge(t, reg, "kfgate_archive_backlog"); got != 0 {
		t.Errorf("kfgate_archive_backlog after recovery = %v, want 0", got)
	}

	in := count(t, e.pool, `SELECT count(*) FROM messages WHERE direction = 'in'`)
	distinct := count(t, e.pool, `SELECT count(DISTINCT (openid, msg_id)) FROM messages WHERE direction = 'in'`)
	trans := count(t, e.pool, `SELECT count(*) FROM session_transitions`)
	closed := count(t, e.pool, `SELECT count(*) FROM sessions WHERE state = 'closed' AND closed_at IS NOT NULL`)
	if in != 2*users || distinct != in {
		t.Errorf("inbound messages archived %d (distinct %d), want %d once each", in, distinct, 2*users)
	}
	if trans != 2*users || closed != users {
		t.Errorf("transitions %d, closed sessions %d; want %d and %d", trans, closed, 2*users, users)
	}
	t.Logf("%d events, %d messages, %d transitions, %d sessions archived, %d duplicates; backlog %v when down, peak %v, 0 after recovery",
		4*users, in, trans, closed, in-distinct, down, peak)
}
