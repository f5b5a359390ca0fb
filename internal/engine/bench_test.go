package engine_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

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
