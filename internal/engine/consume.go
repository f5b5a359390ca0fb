package engine

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/intake"
)

// Group is the consumer group of the intake stream that the engines of all
// replicas form: each entry goes to one of them.
const Group = "engine"

// Consumer feeds the intake stream to an Engine.
type Consumer struct {
	Engine    *Engine
	RDB       redis.Cmdable
	Stream    string        // the intake stream's key
	Name      string        // this replica's consumer name, unique among replicas
	Batch     int64         // entries per read; default 64
	Block     time.Duration // how long a read waits; default 2s
	ClaimIdle time.Duration // entries pending this long on a dead consumer are taken over; default 30s
	// Parallel is how many users' messages are handled at once; one
	// user's always in order. Default 8.
	Parallel int
}

// Run consumes until ctx ends. An entry whose handling fails stays pending
// and is retried after ClaimIdle, by this replica or another.
func (c *Consumer) Run(ctx context.Context) error {
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.Block == 0 {
		c.Block = 2 * time.Second
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.Parallel == 0 {
		c.Parallel = 8
	}
	err := c.RDB.XGroupCreateMkStream(ctx, c.Stream, Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	lastClaim := time.Now()
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= c.ClaimIdle/2 {
			c.claim(ctx)
			lastClaim = time.Now()
		}
		streams, err := c.RDB.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: c.Name,
			Streams: []string{c.Stream, ">"}, Count: c.Batch, Block: c.Block}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if redis.HasErrorPrefix(err, "NOGROUP") {
				// Redis lost the stream or the group (a restart without
				// persistence): start again from what comes next.
				c.Engine.log.Warn("the intake consumer group is gone; creating it again")
				_ = c.RDB.XGroupCreateMkStream(ctx, c.Stream, Group, "$").Err()
				continue
			}
			c.Engine.log.Warn("reading the intake stream failed", "err", err)
			time.Sleep(time.Second)
			continue
		}
		for _, s := range streams {
			c.handle(ctx, s.Messages)
		}
	}
	return nil
}

// claim takes over entries left pending by a replica that died.
func (c *Consumer) claim(ctx context.Context) {
	msgs, _, err := c.RDB.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: c.Stream, Group: Group, Consumer: c.Name,
		MinIdle: c.ClaimIdle, Start: "0", Count: c.Batch}).Result()
	if err != nil {
		return
	}
	c.handle(ctx, msgs)
}

// handle processes a batch: the messages of one user in order, different
// users in parallel (Parallel lanes, chosen by a hash of the user), so a
// replica keeps up with its share of the intake without reordering anyone's
// conversation.
func (c *Consumer) handle(ctx context.Context, msgs []redis.XMessage) {
	lanes := max(c.Parallel, 1)
	if lanes == 1 || len(msgs) == 1 {
		for _, msg := range msgs {
			c.handleOne(ctx, msg)
		}
		return
	}
	byLane := make([][]redis.XMessage, lanes)
	for _, msg := range msgs {
		h := fnv.New32a()
		_, _ = h.Write([]byte(intake.OpenID(msg)))
		i := int(h.Sum32() % uint32(lanes))
		byLane[i] = append(byLane[i], msg)
	}
	var wg sync.WaitGroup
	for _, lane := range byLane {
		if len(lane) == 0 {
			continue
		}
		wg.Go(func() {
			for _, msg := range lane {
				c.handleOne(ctx, msg)
			}
		})
	}
	wg.Wait()
}

func (c *Consumer) handleOne(ctx context.Context, msg redis.XMessage) {
	in, err := intake.Decode(msg)
	entry := Entry{Stream: c.Stream, Group: Group, ID: msg.ID}
	if err != nil {
		// The intake wrote it; this cannot happen short of a bug, and
		// retrying would not help.
		c.Engine.log.Error("undecodable intake entry", "id", msg.ID, "err", err)
		_ = c.Engine.ack(ctx, entry)
		return
	}
	if err := c.Engine.Handle(ctx, &in.Message, entry); err != nil {
		c.Engine.log.Warn("handling a message failed; it stays pending", "id", msg.ID, "err", err)
	}
}
