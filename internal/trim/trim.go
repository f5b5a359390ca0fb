// Package trim keeps kfgate's Redis streams from growing forever: an entry
// every consumer group has read and acknowledged is trimmed away, never one
// a group still needs. A stream no group reads (the events stream without
// the archive) keeps its last entries only.
package trim

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream is one stream to trim and the groups that must have read an entry
// before it may go.
type Stream struct {
	Key    string
	Groups []string
	// KeepWithoutGroups is how many entries stay when none of Groups
	// exists (nobody reads the stream); 0 = leave the stream alone then.
	KeepWithoutGroups int64
	// MinAge keeps every entry younger than this, read or not: another
	// reader may still look entries up by id (the archive reads an outbox
	// entry's content when its status arrives).
	MinAge time.Duration
	// MinKeep keeps the stream's last MinKeep entries, read or not; 0 = none.
	MinKeep int64
}

// Run trims each stream once and returns how many entries went. Every
// replica may run it: trimming below what all groups are done with is
// idempotent.
func Run(ctx context.Context, rdb redis.Cmdable, streams []Stream, now time.Time) (int64, error) {
	var total int64
	for _, s := range streams {
		n, err := trimOne(ctx, rdb, s, now)
		if err != nil {
			return total, fmt.Errorf("trim %s: %w", s.Key, err)
		}
		total += n
	}
	return total, nil
}

func trimOne(ctx context.Context, rdb redis.Cmdable, s Stream, now time.Time) (int64, error) {
	groups, err := rdb.XInfoGroups(ctx, s.Key).Result()
	if redis.HasErrorPrefix(err, "no such key") {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var safe string // the lowest id some group still needs
	found := 0
	for _, want := range s.Groups {
		for _, g := range groups {
			if g.Name != want {
				continue
			}
			found++
			need := next(g.LastDeliveredID) // everything up to last delivered was read
			if g.Pending > 0 {
				p, err := rdb.XPending(ctx, s.Key, g.Name).Result()
				if err != nil {
					return 0, err
				}
				need = p.Lower // read but not acknowledged: still needed
			}
			if safe == "" || less(need, safe) {
				safe = need
			}
		}
	}
	if found < len(s.Groups) {
		// A group that does not exist yet will read from the start: keep
		// everything, unless no group reads the stream at all.
		if found == 0 && s.KeepWithoutGroups > 0 && len(s.Groups) > 0 && len(groups) == 0 {
			return rdb.XTrimMaxLen(ctx, s.Key, s.KeepWithoutGroups).Result()
		}
		return 0, nil
	}
	if safe == "" {
		return 0, nil
	}
	if young := strconv.FormatInt(now.Add(-s.MinAge).UnixMilli(), 10) + "-0"; less(young, safe) {
		safe = young
	}
	if s.MinKeep > 0 {
		last, err := rdb.XRevRangeN(ctx, s.Key, "+", "-", s.MinKeep).Result()
		if err != nil {
			return 0, err
		}
		if int64(len(last)) < s.MinKeep {
			return 0, nil // fewer entries than kept
		}
		if oldest := last[len(last)-1].ID; less(oldest, safe) {
			safe = oldest
		}
	}
	return rdb.XTrimMinID(ctx, s.Key, safe).Result()
}

// next is the stream id right after id.
func next(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return id
	}
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

// less compares two stream ids.
func less(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ai, _ := strconv.ParseUint(am, 10, 64)
	bi, _ := strconv.ParseUint(bm, 10, 64)
	if ai != bi {
		return ai < bi
	}
	x, _ := strconv.ParseUint(as, 10, 64)
	y, _ := strconv.ParseUint(bs, 10, 64)
	return x < y
}
