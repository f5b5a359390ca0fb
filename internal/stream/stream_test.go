package stream_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/stream"
)

func setup(t *testing.T) (*redis.Client, string, *stream.DeadLetter, *prometheus.Registry) {
	rdb, prefix := redistest.New(t)
	reg := prometheus.NewRegistry()
	dl, err := stream.NewDeadLetter(rdb, prefix, reg)
	if err != nil {
		t.Fatal(err)
	}
	return rdb, prefix, dl, reg
}

func add(t *testing.T, rdb *redis.Client, key string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: map[string]any{"n": i}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// A group lost by Redis is created again by the next read, from Restart.
func TestReadRecreatesLostGroup(t *testing.T) {
	ctx := context.Background()
	for _, restart := range []string{"0", "$"} {
		t.Run(restart, func(t *testing.T) {
			rdb, prefix, dl, _ := setup(t)
			g := &stream.Group{RDB: rdb, Stream: prefix + "s", Name: "g", Consumer: "c1", Restart: restart, Dead: dl}
			if err := g.Create(ctx); err != nil {
				t.Fatal(err)
			}
			if err := g.Create(ctx); err != nil { // BUSYGROUP is no error
				t.Fatalf("second create: %v", err)
			}
			rdb.Del(ctx, g.Stream)
			add(t, rdb, g.Stream, 2) // the stream is back, its group is not
			msgs, err := g.Read(ctx, ">", 10, 0)
			if err != nil || len(msgs) != 0 {
				t.Fatalf("read after loss: %v %v", msgs, err)
			}
			add(t, rdb, g.Stream, 1)
			msgs, err = g.Read(ctx, ">", 10, 0)
			want := map[string]int{"0": 3, "$": 1}[restart]
			if err != nil || len(msgs) != want {
				t.Fatalf("read: %d entries, %v; want %d", len(msgs), err, want)
			}
		})
	}
}

// Claim walks every page of the pending list, and dead-letters an entry
// delivered more than MaxDeliveries times instead of handing it out.
func TestClaimAllPagesAndDeadLetter(t *testing.T) {
	ctx := context.Background()
	rdb, prefix, dl, reg := setup(t)
	g := &stream.Group{RDB: rdb, Stream: prefix + "events", Name: "g", Consumer: "dead", Dead: dl, MaxDeliveries: 3}
	if err := g.Create(ctx); err != nil {
		t.Fatal(err)
	}
	ids := add(t, rdb, g.Stream, 25)
	if msgs, err := g.Read(ctx, ">", 100, 0); err != nil || len(msgs) != 25 {
		t.Fatalf("read: %d %v", len(msgs), err)
	}
	other := *g
	other.Consumer = "alive"
	for round := 1; round <= 3; round++ {
		var got int
		n, err := other.Claim(ctx, 0, 4, func(_ context.Context, msgs []redis.XMessage) { got += len(msgs) })
		if err != nil {
			t.Fatal(err)
		}
		// deliveries: 1 read + round claims; the third claim makes 4 > 3
		want := 25
		if round == 3 {
			want = 0
		}
		if n != want || got != want {
			t.Fatalf("round %d: claimed %d (fn saw %d), want %d across pages of 4", round, n, got, want)
		}
	}
	if n, _ := dl.Len(ctx); n != 25 {
		t.Fatalf("dead-letter length %d, want 25", n)
	}
	if p, _ := rdb.XPending(ctx, g.Stream, g.Name).Result(); p.Count != 0 {
		t.Fatalf("%d entries still pending after the dead-letter", p.Count)
	}
	if v := testutil.ToFloat64(mustCounter(t, reg)); v != 25 {
		t.Fatalf("kfgate_deadletter_total %v", v)
	}
	list, next, err := dl.List(ctx, "", 10)
	if err != nil || len(list) != 10 || next == "" {
		t.Fatalf("list: %d %q %v", len(list), next, err)
	}
	e := list[0]
	if e.Stream != "events" || e.SourceID != ids[0] || e.Deliveries != 4 || e.Fields["n"] != "0" || e.Error == "" {
		t.Fatalf("entry %+v", e)
	}
	rest, next2, _ := dl.List(ctx, next, 100)
	if len(rest) != 15 || next2 != "" {
		t.Fatalf("second page %d %q", len(rest), next2)
	}

	// Retry re-appends to the source stream; the group delivers it anew.
	newID, err := dl.Retry(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := g.Read(ctx, ">", 10, 0)
	if len(msgs) != 1 || msgs[0].ID != newID || msgs[0].Values["n"] != "0" {
		t.Fatalf("retried entry read as %+v", msgs)
	}
	if _, err := dl.Retry(ctx, e.ID); kf.KindOf(err) != kf.KindNotFound {
		t.Fatalf("second retry: %v", err)
	}
	if err := dl.Delete(ctx, list[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := dl.Delete(ctx, list[1].ID); kf.KindOf(err) != kf.KindNotFound {
		t.Fatalf("second delete: %v", err)
	}
	if err := dl.Delete(ctx, "x\x00"); kf.KindOf(err) != kf.KindInvalid {
		t.Fatalf("bad id: %v", err)
	}
	if n, _ := dl.Len(ctx); n != 23 {
		t.Fatalf("dead-letter length %d, want 23", n)
	}
}

// A component's own DeadLetter keeps the bytes of a bad entry exactly, so
// a retry after a fix re-appends what came.
func TestDeadLetterKeepsBytes(t *testing.T) {
	ctx := context.Background()
	rdb, prefix, dl, _ := setup(t)
	g := &stream.Group{RDB: rdb, Stream: prefix + "s", Name: "g", Consumer: "c", Dead: dl}
	_ = g.Create(ctx)
	raw := "a\x00b\xff"
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: g.Stream, Values: []any{"text", raw}})
	msgs, _ := g.Read(ctx, ">", 1, 0)
	if err := g.DeadLetter(ctx, msgs[0], errors.New("invalid byte sequence\nfor encoding")); err != nil {
		t.Fatal(err)
	}
	list, _, _ := dl.List(ctx, "", 10)
	if len(list) != 1 || list[0].Error != "invalid byte sequence for encoding" || list[0].Deliveries != 1 {
		t.Fatalf("%+v", list)
	}
	if _, err := dl.Retry(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	again, _ := g.Read(ctx, ">", 1, 0)
	if len(again) != 1 || again[0].Values["text"] != raw {
		t.Fatalf("retried %+v", again)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kfgate_deadletter_total" {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatal("kfgate_deadletter_total not registered")
	return nil
}
