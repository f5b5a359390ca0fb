package audit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

type lister interface {
	Record(ctx context.Context, e Entry) error
	List(ctx context.Context, q Query) ([]Entry, string, error)
}

// pages reads every page of q and returns the targets, newest first.
func pages(t *testing.T, l lister, q Query) []string {
	t.Helper()
	var out []string
	for range 100 {
		list, next, err := l.List(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			out = append(out, e.Target)
		}
		if next == "" {
			return out
		}
		q.Before = next
	}
	t.Fatal("more than 100 pages")
	return nil
}

// Both logs answer the same queries alike: pages, actor, action, time.
func TestLogs(t *testing.T) {
	rdb, prefix := redistest.New(t)
	pool, _ := pgtest.Migrated(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for name, l := range map[string]lister{"redis": New(rdb, prefix+"r:"), "postgres": NewPostgres(pool, rdb, prefix+"p:")} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			for i := range 7 {
				actor, action := "admin:aaaaaaaaaaaa", "DELETE /api/v1/agents/{id}"
				if i%2 == 1 {
					actor, action = "admin:bbbbbbbbbbbb", "POST /api/v1/agents"
				}
				at := base.Add(time.Duration(i) * time.Minute)
				if name == "redis" {
					at = time.Now() // Redis ranges by the time of the stream id
				}
				if err := l.Record(ctx, Entry{At: at, Actor: actor, Action: action, Target: fmt.Sprintf("id=%d", i),
					From: "10.0.0.1", Status: 200}); err != nil {
					t.Fatal(err)
				}
				if name == "redis" {
					time.Sleep(2 * time.Millisecond)
				}
			}
			all := []string{"id=6", "id=5", "id=4", "id=3", "id=2", "id=1", "id=0"}
			if got := pages(t, l, Query{Limit: 3}); !slices.Equal(got, all) {
				t.Errorf("all, 3 a page = %v", got)
			}
			if got := pages(t, l, Query{Limit: 2, Actor: "admin:bbbbbbbbbbbb"}); !slices.Equal(got, []string{"id=5", "id=3", "id=1"}) {
				t.Errorf("by actor = %v", got)
			}
			if got := pages(t, l, Query{Action: "DELETE /api/v1/agents/{id}", Actor: "admin:aaaaaaaaaaaa"}); !slices.Equal(got, []string{"id=6", "id=4", "id=2", "id=0"}) {
				t.Errorf("by action = %v", got)
			}
			list, _, err := l.List(ctx, Query{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			// From the third record's time to the sixth's: the 3rd, 4th, 5th.
			from, to := list[4].At, list[1].At
			if name == "redis" {
				from, to = idTime(t, list[4].ID), idTime(t, list[1].ID)
			}
			if got := pages(t, l, Query{From: from, To: to}); !slices.Equal(got, []string{"id=4", "id=3", "id=2"}) {
				t.Errorf("from %v to %v = %v", from, to, got)
			}
			e := list[0]
			if e.Actor != "admin:aaaaaaaaaaaa" || e.From != "10.0.0.1" || e.Status != 200 || e.At.IsZero() || !ValidID(e.ID) {
				t.Errorf("entry = %+v", e)
			}
			other := "1700000000000-0"
			if name == "redis" {
				other = "42"
			}
			if _, _, err := l.List(ctx, Query{Before: other}); kf.KindOf(err) != kf.KindInvalid {
				t.Errorf("before of the other log's kind: %v", err)
			}
		})
	}
}

func idTime(t *testing.T, id string) time.Time {
	var ms, seq int64
	if _, err := fmt.Sscanf(id, "%d-%d", &ms, &seq); err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(ms)
}

// A filtered read of the Redis log stops after ScanLimit records, with a
// short page and the cursor to go on.
func TestRedisScanLimit(t *testing.T) {
	rdb, prefix := redistest.New(t)
	l := New(rdb, prefix)
	ctx := t.Context()
	p := rdb.Pipeline()
	p.XAdd(ctx, xargs(l.key, "admin:rare"))
	for range ScanLimit + 10 {
		p.XAdd(ctx, xargs(l.key, "admin:busy"))
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	list, next, err := l.List(ctx, Query{Actor: "admin:rare"})
	if err != nil || len(list) != 0 || next == "" {
		t.Fatalf("first page = %d entries, next %q, %v; want none and a cursor", len(list), next, err)
	}
	list, next, err = l.List(ctx, Query{Actor: "admin:rare", Before: next})
	if err != nil || len(list) != 1 || next != "" {
		t.Errorf("second page = %+v, next %q, %v", list, next, err)
	}
}

// While PostgreSQL is away, records wait in Redis; the next record or read
// once it is back moves them into the table, once.
func TestPostgresBuffer(t *testing.T) {
	rdb, prefix := redistest.New(t)
	pool, _ := pgtest.Migrated(t)
	ctx := t.Context()
	down, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/test?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	away := NewPostgres(down, rdb, prefix)
	for i := range 3 {
		if err := away.Record(ctx, Entry{Actor: "admin:x", Action: "POST /api/v1/agents", Target: fmt.Sprint("id=", i), Status: 201}); err != nil {
			t.Fatalf("record with PostgreSQL away: %v", err)
		}
	}
	if n := rdb.XLen(ctx, prefix+"audit").Val(); n != 3 {
		t.Fatalf("%d records buffered, want 3", n)
	}
	back := NewPostgres(pool, rdb, prefix)
	// Two replicas draining together write each record once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := back.Drain(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// One more waits; a read moves it first.
	time.Sleep(2 * time.Millisecond)
	_ = rdb.XAdd(ctx, xargs(prefix+"audit", "admin:y")).Err()
	if got := pages(t, back, Query{}); !slices.Equal(got, []string{"", "id=2", "id=1", "id=0"}) {
		t.Errorf("after the drain: %q", got)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 4 {
		t.Errorf("audit_log rows = %d, %v; want 4", n, err)
	}
	if n := rdb.XLen(ctx, prefix+"audit").Val(); n != 0 {
		t.Errorf("%d records left in the buffer", n)
	}
}

func xargs(stream, actor string) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: stream, Values: []any{"at", time.Now().UnixMilli(), "actor", actor,
		"action", "POST /api/v1/agents", "target", "", "from", "127.0.0.1", "status", 201}}
}
