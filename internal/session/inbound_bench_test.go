package session_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/session"
)

// surgeMessage is user i's message as the engine hands it over during a
// surge with nobody online (engine.Handle): queue and no_agent notices,
// the intake entry acknowledged in the same step.
func surgeMessage(i, n int, now time.Time) session.Inbound {
	body, preview := memMessage(i, n, now)
	return session.Inbound{Account: memAccount, OpenID: memOpenID(i), Now: now, SessionID: memSessionID(i),
		Message: body, Preview: preview, QuotaGrant: 5, QuotaWindow: 48 * time.Hour,
		QueueNotice: "您前面还有 {ahead} 位，请稍候", QueuedNextNotice: "下一位就是您", NobodyOnline: true,
		NoAgentNotice: "客服暂时不在线，我们会尽快回复您", NoAgentEvery: 10 * time.Minute,
		Stream: "intake", Group: "engine", EntryID: "1-1"}
}

// fillQueue queues users [from, to) of memAccount, 8 at a time.
func fillQueue(tb testing.TB, store *session.Store, from, to int) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < to; i += 8 {
				if _, err := store.Inbound(context.Background(), surgeMessage(i, 0, t0)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// scriptCommands reports the commands Redis ran per op inside the
// scripts (INFO commandstats, the EVALSHA itself apart) and logs which.
func scriptCommands(b *testing.B, before, after map[string]int64) {
	var total int64
	var which []string
	for name, n := range after {
		switch {
		case name == "evalsha", name == "eval", name == "fcall", name == "script|load", name == "function|load", name == "info", name == "config|resetstat",
			name == "ping", name == "hello", name == "client|setinfo", strings.HasPrefix(name, "µs:"):
			continue
		}
		if d := n - before[name]; d > 0 {
			total += d
			which = append(which, fmt.Sprintf("%s %.2f", name, float64(d)/float64(b.N)))
		}
	}
	sort.Strings(which)
	b.ReportMetric(float64(total)/float64(b.N), "cmds/op")
	// Redis's own time in the scripts: what bounds the messages a second
	// one Redis core can take, whatever the round trips.
	us := after["µs:evalsha"] - before["µs:evalsha"] + after["µs:eval"] - before["µs:eval"] + after["µs:fcall"] - before["µs:fcall"]
	b.ReportMetric(float64(us)/float64(b.N), "redis-µs/op")
	b.Logf("b.N=%d, commands per op: %s", b.N, strings.Join(which, ", "))
}

// BenchmarkInbound is the inbound script's cost with 1,000, 10,000 and
// 100,000 users queued (nobody online): a queued user's second message
// ("waiting") and a new user's first ("new"), one at a time, on a Redis of
// the benchmark's own, so that INFO commandstats counts only these
// (cmds/op: the commands inside the script; each op is one round trip).
// The cost per message should not grow with the queue.
func BenchmarkInbound(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := redistest.Private(b)
	for _, n := range []int{1000, 10000, 100000} {
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		store := session.NewStore(rdb, prefix, session.Options{ContextSize: 20, IdleTimeout: 30 * time.Minute,
			WarnBefore: 5 * time.Minute, ReturnWindow: time.Hour, Reserve: 2})
		if err := store.PutAgent(ctx, kf.Agent{ID: "agent1", Accounts: []string{memAccount}, MaxSessions: 10, Status: kf.AgentOffline}, t0); err != nil {
			b.Fatal(err)
		}
		fillQueue(b, store, 0, n)
		next := n // the next new user
		b.Run(fmt.Sprintf("queue=%d/waiting", n), func(b *testing.B) {
			before := redistest.CommandCalls(b, rdb)
			b.ResetTimer()
			for i := range b.N {
				u := (i * 7919) % n // places all along the queue
				r, err := store.Inbound(ctx, surgeMessage(u, i+1, t0.Add(time.Second)))
				if err != nil || r.Outcome != "forwarded" || r.Position < 1 {
					b.Fatalf("user %d: %+v, %v", u, r, err)
				}
			}
			b.StopTimer()
			scriptCommands(b, before, redistest.CommandCalls(b, rdb))
		})
		b.Run(fmt.Sprintf("queue=%d/new", n), func(b *testing.B) {
			before := redistest.CommandCalls(b, rdb)
			b.ResetTimer()
			for range b.N {
				r, err := store.Inbound(ctx, surgeMessage(next, 0, t0.Add(time.Second)))
				if err != nil || r.Outcome != "queued" {
					b.Fatalf("user %d: %+v, %v", next, r, err)
				}
				next++
			}
			b.StopTimer()
			scriptCommands(b, before, redistest.CommandCalls(b, rdb))
		})
	}
}

// BenchmarkInboundServing is the inbound script's cost for a message in a
// session an agent serves (1,000 of them), every other one after the
// agent's answer (so that the agent owes the next): cmds/op as in
// BenchmarkInbound.
func BenchmarkInboundServing(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := redistest.Private(b)
	store := session.NewStore(rdb, prefix, session.Options{ContextSize: 20, IdleTimeout: 30 * time.Minute,
		WarnBefore: 5 * time.Minute, ReturnWindow: time.Hour, Reserve: 2})
	const users = 1000
	if err := store.PutAgent(ctx, kf.Agent{ID: "agent1", Accounts: []string{memAccount}, MaxSessions: users, Status: kf.AgentOnline}, t0); err != nil {
		b.Fatal(err)
	}
	serve := func(u, n int) {
		in := surgeMessage(u, n, t0)
		in.Proposed, in.NobodyOnline = "agent1", false
		if r, err := store.Inbound(ctx, in); err != nil || r.State != kf.StateServing {
			b.Fatalf("user %d: %+v, %v", u, r, err)
		}
	}
	for u := range users {
		serve(u, 0)
	}
	// The agent's answer as the outbox's script records it (see spoke in
	// internal/outbox/lua/common.lua): the user owes the reply.
	answered := func(u int) {
		key := prefix + "sess:" + memAccount + ":" + memOpenID(u)
		rdb.HSet(ctx, key, "answered", 1, "unread", 0)
		rdb.HDel(ctx, key, "waiting_since")
		rdb.ZRem(ctx, prefix+"owe:first", key)
		rdb.ZAdd(ctx, prefix+"deadlines", redis.Z{Score: float64(t0.Add(time.Hour).UnixMilli()), Member: key})
	}
	before := redistest.CommandCalls(b, rdb)
	b.ResetTimer()
	for i := range b.N {
		u := i % users
		if i%2 == 0 {
			b.StopTimer()
			answered(u)
			b.StartTimer()
		}
		serve(u, i+1)
	}
	b.StopTimer()
	// The benchmark's stand-in for the agent's answer is not the script's:
	// its commands (one each of these per answer) are taken out.
	after := redistest.CommandCalls(b, rdb)
	for _, c := range []string{"hset", "hdel", "zrem", "zadd"} {
		after[c] -= int64((b.N + 1) / 2)
	}
	scriptCommands(b, before, after)
}

// BenchmarkInboundAssigned is the inbound script's cost for a new user
// the router gave an agent (the everyday path: someone is online and the
// queue is empty): cmds/op as in BenchmarkInbound.
func BenchmarkInboundAssigned(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := redistest.Private(b)
	store := session.NewStore(rdb, prefix, session.Options{ContextSize: 20, IdleTimeout: 30 * time.Minute,
		WarnBefore: 5 * time.Minute, ReturnWindow: time.Hour, Reserve: 2})
	if err := store.PutAgent(ctx, kf.Agent{ID: "agent1", Accounts: []string{memAccount}, MaxSessions: 1 << 30, Status: kf.AgentOnline}, t0); err != nil {
		b.Fatal(err)
	}
	before := redistest.CommandCalls(b, rdb)
	b.ResetTimer()
	for i := range b.N {
		in := surgeMessage(i, 0, t0)
		in.Proposed, in.NobodyOnline = "agent1", false
		if r, err := store.Inbound(ctx, in); err != nil || r.Outcome != "assigned" {
			b.Fatalf("user %d: %+v, %v", i, r, err)
		}
	}
	b.StopTimer()
	scriptCommands(b, before, redistest.CommandCalls(b, rdb))
}

// BenchmarkQueueJob is one run of the queue job (place updates and the
// queue timeout, session.Store.Queues) over one queue of 10,000 and of
// 100,000 users where nothing is due: the O(n) work per run that remains
// (docs/redis.md, "What a message costs").
func BenchmarkQueueJob(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := redistest.Private(b)
	for _, n := range []int{10000, 100000} {
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		store := session.NewStore(rdb, prefix, session.Options{ContextSize: 20, IdleTimeout: 30 * time.Minute,
			WarnBefore: 5 * time.Minute, ReturnWindow: time.Hour, Reserve: 2})
		fillQueue(b, store, 0, n)
		rules := session.QueueRules{Places: 5, Every: 10 * time.Minute, Timeout: time.Hour, Reserve: 3}
		texts := []session.QueueTexts{{Account: memAccount, Update: "{ahead}", Next: "next", Timeout: "bye"}}
		b.Run(fmt.Sprintf("queue=%d", n), func(b *testing.B) {
			for range b.N {
				if ch, err := store.Queues(ctx, t0.Add(time.Minute), rules, texts); err != nil || len(ch) != 0 {
					b.Fatalf("%v, %v", ch, err)
				}
			}
		})
	}
}
