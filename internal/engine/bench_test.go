package engine_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
)

// roundTrips counts the commands and pipelines go-redis sends: each is one
// round trip to Redis.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// BenchmarkServingMessage is the engine's throughput on real Redis for user
// messages in sessions already being served, and the Redis round trips
// each costs (goal: ≤ 2).
func BenchmarkServingMessage(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := redistest.New(b)
	hook := &roundTrips{}
	rdb.AddHook(hook)
	e := newEngine(rdb, prefix, routing.ConsistentHash)
	for i := range 20 {
		if err := e.PutAgent(ctx, kf.Agent{ID: "a" + strconv.Itoa(i), Accounts: []string{"wxprop"}, MaxSessions: 50, Status: kf.AgentOnline}); err != nil {
			b.Fatal(err)
		}
	}
	const users = 500
	msg := func(u, n int) *kf.Message {
		return &kf.Message{Account: "wxprop", OpenID: "u" + strconv.Itoa(u), Type: kf.MsgText, Content: "在吗？我的订单还没发货", MsgID: strconv.Itoa(n), CreateTime: int64(n)}
	}
	for u := range users { // open every session first
		if err := e.Handle(ctx, msg(u, u), engine.Entry{}); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	seq.Store(users)
	before := hook.n.Load()
	b.SetParallelism(16) // messages of many users in flight, as from the intake stream
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := int(seq.Add(1))
			if err := e.Handle(ctx, msg(n%users, n), engine.Entry{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(hook.n.Load()-before)/float64(b.N), "roundtrips/msg")
}

// BenchmarkBacklog is the engine working off a backlog with the only agent
// offline and 30,000 users queued (the surge of docs/architecture.md's
// sizing): the second messages of users already waiting, and the first
// messages of new users, 16 in flight as from the intake stream, on a
// Redis of the benchmark's own. msgs/s is the engine's rate; it should be
// about the same for both and not fall as the queue grows.
func BenchmarkBacklog(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := redistest.Private(b)
	e := newEngine(rdb, prefix, routing.ConsistentHash)
	if err := e.PutAgent(ctx, kf.Agent{ID: "a0", Accounts: []string{"wxprop"}, MaxSessions: 50, Status: kf.AgentOffline}); err != nil {
		b.Fatal(err)
	}
	msg := func(u, n int) *kf.Message {
		return &kf.Message{Account: "wxprop", OpenID: "u" + strconv.Itoa(u), Type: kf.MsgText, Content: "在吗？我的订单还没发货",
			MsgID: strconv.Itoa(u) + "-" + strconv.Itoa(n), CreateTime: int64(n)}
	}
	const queued = 30000
	var next atomic.Int64
	fill := func(pb *testing.PB, handle func() error) {
		for pb.Next() {
			if err := handle(); err != nil {
				b.Fatal(err)
			}
		}
	}
	errs := make(chan error, 8) // the backlog, 8 at a time (not timed)
	for w := range 8 {
		go func() {
			for u := w; u < queued; u += 8 {
				if err := e.Handle(ctx, msg(u, 0), engine.Entry{}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	next.Store(queued)
	run := func(name string, handle func(i int64) error) {
		b.Run(name, func(b *testing.B) {
			var seq atomic.Int64
			b.SetParallelism(8) // 16 in flight on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				fill(pb, func() error { return handle(seq.Add(1)) })
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
	run("waiting-second", func(i int64) error { return e.Handle(ctx, msg(int(i*7919%queued), int(i)), engine.Entry{}) })
	run("new-first", func(i int64) error { return e.Handle(ctx, msg(int(next.Add(1)), 0), engine.Entry{}) })
}
