// Package stream is how kfgate's components read a Redis stream as one
// consumer of a consumer group: the engine (the intake stream), the outbox
// worker (the outbox) and the archive (the events). It holds what each of
// them needs alike and nothing of what they do with an entry:
//
//   - the group is created with the stream (BUSYGROUP means it exists);
//   - a read that finds the group gone (NOGROUP: Redis restarted without
//     persistence, or the key was deleted) creates it again, from the start
//     or from what comes next as the component chooses, and reads on;
//   - XAUTOCLAIM takes over every page of the entries another consumer left
//     pending too long, stopping when ctx ends;
//   - an entry delivered more than MaxDeliveries times (each claim is a
//     delivery, so an entry whose handling fails or kills its consumer
//     again and again) is moved to the dead-letter stream instead of being
//     handed out once more, so that one bad entry never stalls a consumer.
//
// The dead-letter stream (DeadLetter, <prefix>deadletter) keeps the entry's
// source stream, id and fields and the last error; the admin API lists it,
// re-appends an entry to its source stream, or deletes it.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group is one consumer's view of a consumer group on a stream.
type Group struct {
	RDB      redis.Cmdable
	Stream   string // the stream's key
	Name     string // the consumer group
	Consumer string // this consumer's name, unique in the group
	// Restart is where the group starts when it is created again after
	// Redis lost it: "0" re-reads what is left of the stream (for an
	// idempotent consumer), "$" only what comes next (a consumer whose
	// work must not be done twice). Default "$".
	Restart string
	// MaxDeliveries is how many deliveries an entry gets; a claimed entry
	// delivered more often goes to Dead. 0: no limit.
	MaxDeliveries int64
	// Dead receives the entries over MaxDeliveries, and those a component
	// hands to DeadLetter. Required for either.
	Dead   *DeadLetter
	Logger *slog.Logger
}

func (g *Group) log() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// Create creates the group (and the stream) from the stream's start; a
// group that exists already is left as it is.
func (g *Group) Create(ctx context.Context) error {
	return g.create(ctx, "0")
}

func (g *Group) create(ctx context.Context, from string) error {
	err := g.RDB.XGroupCreateMkStream(ctx, g.Stream, g.Name, from).Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("stream %s: create group %s: %w", g.Stream, g.Name, err)
	}
	return nil
}

// Read reads at most count entries: id ">" new ones, waiting up to block
// (0 waits not at all; negative sends no BLOCK), or "0" this consumer's own
// pending ones. Nothing to read is no error. If Redis lost the group, Read
// creates it again from Restart and returns nothing.
func (g *Group) Read(ctx context.Context, id string, count int64, block time.Duration) ([]redis.XMessage, error) {
	if id != ">" || block == 0 {
		block = -1 // no BLOCK argument
	}
	res, err := g.RDB.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g.Name, Consumer: g.Consumer,
		Streams: []string{g.Stream, id}, Count: count, Block: block}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case IsNoGroup(err):
		return nil, g.Recreate(ctx)
	case err != nil:
		return nil, err
	}
	var out []redis.XMessage
	for _, s := range res {
		out = append(out, s.Messages...)
	}
	return out, nil
}

// IsNoGroup reports whether err says the group or its stream is gone.
func IsNoGroup(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOGROUP") }

// Recreate creates the group again after Redis lost it, from Restart.
func (g *Group) Recreate(ctx context.Context) error {
	from := g.Restart
	if from == "" {
		from = "$"
	}
	g.log().Warn("the consumer group is gone; creating it again", "stream", g.Stream, "group", g.Name, "from", from)
	return g.create(ctx, from)
}

// Claim takes over the entries other consumers have left pending longer
// than minIdle, count at a time, page after page through the whole pending
// list, and hands each page to fn; it stops when ctx ends. Entries deleted
// from the stream while pending are acknowledged; entries delivered more
// than MaxDeliveries times go to the dead-letter stream. It returns how
// many entries it handed to fn.
func (g *Group) Claim(ctx context.Context, minIdle time.Duration, count int64, fn func(context.Context, []redis.XMessage)) (int, error) {
	start, n := "0-0", 0
	for ctx.Err() == nil {
		msgs, next, err := g.RDB.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: g.Stream, Group: g.Name,
			Consumer: g.Consumer, MinIdle: minIdle, Start: start, Count: count}).Result()
		if IsNoGroup(err) {
			return n, g.Recreate(ctx)
		}
		if err != nil {
			return n, err
		}
		msgs, err = g.screen(ctx, msgs)
		if err != nil {
			return n, err
		}
		if len(msgs) > 0 {
			g.log().Info("claimed entries left pending by another consumer", "stream", g.Stream,
				"consumer", g.Consumer, "entries", len(msgs))
			n += len(msgs)
			fn(ctx, msgs)
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	return n, nil
}

// screen drops what must not be handed out again: entries deleted while
// pending (acknowledged) and entries over MaxDeliveries (dead-lettered).
func (g *Group) screen(ctx context.Context, msgs []redis.XMessage) ([]redis.XMessage, error) {
	out := msgs[:0]
	var gone []string
	for _, m := range msgs {
		if m.Values == nil {
			gone = append(gone, m.ID)
			continue
		}
		out = append(out, m)
	}
	if len(gone) > 0 {
		if err := g.RDB.XAck(ctx, g.Stream, g.Name, gone...).Err(); err != nil {
			return nil, err
		}
	}
	if g.MaxDeliveries <= 0 || len(out) == 0 {
		return out, nil
	}
	counts, err := g.Deliveries(ctx, out)
	if err != nil {
		return nil, err
	}
	keep := out[:0]
	for _, m := range out {
		if n := counts[m.ID]; n > g.MaxDeliveries {
			if err := g.DeadLetter(ctx, m, fmt.Errorf("delivered %d times without being handled", n)); err != nil {
				return nil, err
			}
			continue
		}
		keep = append(keep, m)
	}
	return keep, nil
}

// Deliveries returns how many times each of msgs (entries pending with
// this consumer) has been delivered, the claim that returned them
// included; one round trip.
func (g *Group) Deliveries(ctx context.Context, msgs []redis.XMessage) (map[string]int64, error) {
	out := make(map[string]int64, len(msgs))
	if len(msgs) == 0 {
		return out, nil
	}
	cmds := make([]*redis.XPendingExtCmd, len(msgs))
	_, err := g.RDB.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range msgs {
			cmds[i] = p.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: g.Stream, Group: g.Name,
				Start: m.ID, End: m.ID, Count: 1})
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for _, c := range cmds {
		for _, p := range c.Val() {
			out[p.ID] = p.RetryCount
		}
	}
	return out, nil
}

// Ack acknowledges ids in the group.
func (g *Group) Ack(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return g.RDB.XAck(ctx, g.Stream, g.Name, ids...).Err()
}

// DeadLetter moves m to the dead-letter stream with reason, and
// acknowledges it in the group in the same transaction, so the consumer
// moves on and the entry is neither lost nor handled twice.
func (g *Group) DeadLetter(ctx context.Context, m redis.XMessage, reason error) error {
	if g.Dead == nil {
		return fmt.Errorf("stream %s: no dead-letter stream for entry %s: %w", g.Stream, m.ID, reason)
	}
	var deliveries int64
	if counts, err := g.Deliveries(ctx, []redis.XMessage{m}); err == nil {
		deliveries = counts[m.ID]
	}
	err := g.Dead.add(ctx, g, m, reason, deliveries)
	if err != nil {
		return err
	}
	g.log().Error("an entry was moved to the dead-letter stream", "stream", g.Stream, "id", m.ID,
		"deliveries", deliveries, "err", reason)
	return nil
}

// Sleep waits d or until ctx ends; false if ctx ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
