package trim_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/trim"
)

func add(t *testing.T, rdb *redis.Client, key string, n int) {
	t.Helper()
	for range n {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: []string{"k", "v"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// Only what every group has read and acknowledged goes; entries pending,
// unread, or younger than MinAge stay; a stream nobody reads keeps its tail.
func TestTrim(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	s := prefix + "s"
	add(t, rdb, s, 10)
	for _, g := range []string{"g1", "g2"} {
		rdb.XGroupCreate(ctx, s, g, "0")
	}
	// g1 reads and acks 6; g2 reads 4 and acks 2.
	r1 := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "c", Streams: []string{s, ">"}, Count: 6}).Val()[0].Messages
	for _, m := range r1 {
		rdb.XAck(ctx, s, "g1", m.ID)
	}
	r2 := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g2", Consumer: "c", Streams: []string{s, ">"}, Count: 4}).Val()[0].Messages
	rdb.XAck(ctx, s, "g2", r2[0].ID, r2[1].ID)
	streams := []trim.Stream{{Key: s, Groups: []string{"g1", "g2"}}}

	// Younger than MinAge: nothing goes.
	young := []trim.Stream{{Key: s, Groups: []string{"g1", "g2"}, MinAge: time.Hour}}
	if _, err := trim.Run(ctx, rdb, young, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(ctx, s).Val(); n != 10 {
		t.Fatalf("%d entries after trimming young ones, want 10", n)
	}
	if _, err := trim.Run(ctx, rdb, streams, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	first := rdb.XRangeN(ctx, s, "-", "+", 1).Val()
	if len(first) != 1 || first[0].ID != r2[2].ID {
		t.Errorf("first entry after trim %v, want %s (g2's first pending)", first, r2[2].ID)
	}

	// A group that does not exist yet will read from the start: keep all.
	all := prefix + "all"
	add(t, rdb, all, 5)
	rdb.XGroupCreate(ctx, all, "g1", "$")
	trim.Run(ctx, rdb, []trim.Stream{{Key: all, Groups: []string{"g1", "g2"}}}, time.Now().Add(time.Hour))
	if n := rdb.XLen(ctx, all).Val(); n != 5 {
		t.Errorf("trimmed a stream a group has not read: %d left", n)
	}
	// Nobody reads it: the tail stays.
	tail := prefix + "tail"
	add(t, rdb, tail, 20)
	trim.Run(ctx, rdb, []trim.Stream{{Key: tail, Groups: []string{"archive"}, KeepWithoutGroups: 5}}, time.Now())
	if n := rdb.XLen(ctx, tail).Val(); n != 5 {
		t.Errorf("a stream nobody reads kept %d, want 5", n)
	}
}

// MinKeep keeps the last entries even when every group is done with them.
func TestTrimMinKeep(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	s := prefix + "keep"
	add(t, rdb, s, 20)
	rdb.XGroupCreate(ctx, s, "g", "$") // read and acknowledged everything
	keep := []trim.Stream{{Key: s, Groups: []string{"g"}, MinKeep: 8}}
	if _, err := trim.Run(ctx, rdb, keep, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(ctx, s).Val(); n != 8 {
		t.Errorf("%d entries left, want the last 8", n)
	}
	keep[0].MinKeep = 50 // more than there are: nothing goes
	trim.Run(ctx, rdb, keep, time.Now().Add(time.Hour))
	if n := rdb.XLen(ctx, s).Val(); n != 8 {
		t.Errorf("%d entries left, want 8", n)
	}
}
