package redisconn

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Batcher sends the commands (scripts, functions) that callers start
// concurrently in pipelines: the
// calls made while a pipeline is on its way go together in the next one,
// one write and one read for all of them, here and at Redis. A lone call
// goes out at once, as without a Batcher. Redis runs each script whole, in
// the order sent, so a caller that waits for its answer before its next
// call keeps its own order; callers not waiting on each other never had
// one.
//
// This is by hand because go-redis has no automatic pipelining (rueidis
// has, but kfgate's client is go-redis) and it is small. It is worth it
// where one process starts many short scripts at once: the engine working
// off a backlog spent as much of Redis's core on a system call per script
// as on some of the scripts.
type Batcher struct {
	rdb   redis.Cmdable
	max   int
	calls chan *call
	wg    sync.WaitGroup
	once  sync.Once
}

type call struct {
	ctx  context.Context
	do   func(ctx context.Context, c redis.Cmdable) *redis.Cmd
	cmd  *redis.Cmd
	done chan struct{}
}

// NewBatcher starts a Batcher with senders pipelines in flight at most,
// each of up to size calls. Close stops it; Do must not be called after.
func NewBatcher(rdb redis.Cmdable, senders, size int) *Batcher {
	b := &Batcher{rdb: rdb, max: max(size, 1), calls: make(chan *call)}
	for range max(senders, 1) {
		b.wg.Go(b.send)
	}
	return b
}

// Do sends the one command do issues on c (EVALSHA, FCALL …) with the
// others of its pipeline and returns it once answered.
func (b *Batcher) Do(ctx context.Context, do func(ctx context.Context, c redis.Cmdable) *redis.Cmd) *redis.Cmd {
	c := &call{ctx: ctx, do: do, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return failed(ctx, ctx.Err())
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		// As with a call that timed out: the command may still run.
		return failed(ctx, ctx.Err())
	}
	return c.cmd
}

// Close stops the senders once the calls started have their answers.
func (b *Batcher) Close() {
	b.once.Do(func() { close(b.calls) })
	b.wg.Wait()
}

func (b *Batcher) send() {
	batch := make([]*call, 0, b.max)
	for c := range b.calls {
		batch = append(batch[:0], c)
	more:
		for len(batch) < b.max {
			select {
			case c, ok := <-b.calls:
				if !ok {
					break more
				}
				batch = append(batch, c)
			default:
				break more
			}
		}
		if len(batch) == 1 {
			c.cmd = c.do(c.ctx, b.rdb)
			close(c.done)
			continue
		}
		// The pipeline is not any one caller's: a caller that gives up
		// stops waiting, the others still get their answers.
		pipe := b.rdb.Pipeline()
		for _, c := range batch {
			c.cmd = c.do(context.WithoutCancel(c.ctx), pipe)
		}
		_, _ = pipe.Exec(context.Background()) // each command holds its own error
		for _, c := range batch {
			close(c.done)
		}
	}
}

func failed(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
