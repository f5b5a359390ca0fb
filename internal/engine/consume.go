package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/stream"
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
	// user's always in order. Default DefaultParallel.
	Parallel int
	// MaxDeliveries is how many deliveries an entry gets (its handling
	// failed, or killed its replica, each time) before it goes to the
	// dead-letter stream. Default 5.
	MaxDeliveries int
	// DeadLetter receives such entries; default <prefix of Stream>deadletter
	// without metrics.
	DeadLetter *stream.DeadLetter
	group      *stream.Group
}

// DefaultParallel is a Consumer's lanes unless set: enough scripts in
// flight at once that Redis, not the round trips, bounds a backlog's rate
// (the engine alone on a surge's backlog: 16 lanes kept Redis at 85 % of
// its core and took new users at 18,400–20,900/s; 32 at 87–88 % and
// 20,300–21,800/s; README, "Performance").
const DefaultParallel = 32

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
		c.Parallel = DefaultParallel
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = 5
	}
	if c.DeadLetter == nil {
		prefix := strings.TrimSuffix(c.Stream, intake.StreamKey)
		dl, err := stream.NewDeadLetter(c.RDB, prefix, nil)
		if err != nil {
			return err
		}
		c.DeadLetter = dl
	}
	// A group Redis lost is created again from what comes next: the
	// engine's work (notices, assignments) must not be done twice.
	c.group = &stream.Group{RDB: c.RDB, Stream: c.Stream, Name: Group, Consumer: c.Name, Restart: "$",
		MaxDeliveries: int64(c.MaxDeliveries), Dead: c.DeadLetter, Logger: c.Engine.log}
	if err := c.group.Create(ctx); err != nil {
		return err
	}
	lanes := c.startLanes(ctx)
	defer lanes.stop()
	lastClaim := time.Now()
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= c.ClaimIdle/2 {
			// What this replica read is handled before it claims: an entry
			// still in a lane must not come back as another's.
			lanes.wait()
			if _, err := c.group.Claim(ctx, c.ClaimIdle, c.Batch, lanes.handle); err != nil && ctx.Err() == nil {
				c.Engine.log.Warn("claiming intake entries failed", "err", err)
			}
			lastClaim = time.Now()
		}
		msgs, err := c.group.Read(ctx, ">", c.Batch, c.Block)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.Engine.log.Warn("reading the intake stream failed", "err", err)
			stream.Sleep(ctx, time.Second)
			continue
		}
		lanes.handle(ctx, msgs)
	}
	return nil
}

// lanes handle the entries read: the messages of one user in order, in
// the lane a hash of the user picks, different users in parallel
// (Parallel lanes), so a replica keeps up with its share of the intake
// without reordering anyone's conversation. The reader goes on reading
// while the lanes work, until a lane holds Batch entries; the session
// scripts of the lanes' messages share round trips (Store.Pipelined).
type lanes struct {
	in      []chan redis.XMessage
	pending sync.WaitGroup // entries handed to a lane and not yet handled
	done    sync.WaitGroup // the lanes' goroutines
}

func (c *Consumer) startLanes(ctx context.Context) *lanes {
	l := &lanes{in: make([]chan redis.XMessage, max(c.Parallel, 1))}
	for i := range l.in {
		l.in[i] = make(chan redis.XMessage, c.Batch)
		l.done.Go(func() {
			for msg := range l.in[i] {
				c.handleOne(ctx, msg)
				l.pending.Done()
			}
		})
	}
	return l
}

// handle hands msgs to their lanes, in order.
func (l *lanes) handle(_ context.Context, msgs []redis.XMessage) {
	for _, msg := range msgs {
		h := fnv.New32a()
		_, _ = h.Write([]byte(intake.OpenID(msg)))
		l.pending.Add(1)
		l.in[h.Sum32()%uint32(len(l.in))] <- msg
	}
}

// wait returns once every entry handed to a lane is handled.
func (l *lanes) wait() { l.pending.Wait() }

// stop ends the lanes after what they hold (with ctx ended, its handling
// fails fast and the entries stay pending for a retry).
func (l *lanes) stop() {
	for _, ch := range l.in {
		close(ch)
	}
	l.done.Wait()
}

func (c *Consumer) handleOne(ctx context.Context, msg redis.XMessage) {
	in, err := intake.Decode(msg)
	entry := Entry{Stream: c.Stream, Group: Group, ID: msg.ID}
	if err != nil {
		// The intake wrote it; this cannot happen short of a bug (or an
		// entry written by something else), and retrying would not help:
		// it goes to the dead-letter stream.
		if err := c.group.DeadLetter(ctx, msg, fmt.Errorf("undecodable intake entry: %w", err)); err != nil {
			c.Engine.log.Warn("an undecodable intake entry stays pending", "id", msg.ID, "err", err)
		}
		return
	}
	err = c.Engine.Handle(ctx, &in.Message, entry)
	if err == nil || ctx.Err() != nil {
		return
	}
	// The entry's last delivery failed too: it goes to the dead-letter
	// stream now, with the error, rather than at the next claim (which
	// catches only entries whose handling killed the replica).
	counts, cerr := c.group.Deliveries(ctx, []redis.XMessage{msg})
	if n := counts[msg.ID]; cerr == nil && n >= int64(c.MaxDeliveries) {
		if derr := c.group.DeadLetter(ctx, msg, fmt.Errorf("handling failed %d times: %w", n, err)); derr == nil {
			return
		}
	}
	c.Engine.log.Warn("handling a message failed; it stays pending", "id", msg.ID, "err", err)
}
