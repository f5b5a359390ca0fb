package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	obx "github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
)

// Idle expiry with an injected clock and two replicas ticking at once: each
// session whose user owes the reply (the agent answered last) is warned
// once at idle_timeout − warn_before and closed once at idle_timeout, with
// one notice each in the outbox; the waiting users are never idle-closed.
func TestIdleExpiryAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	engines := []*engine.Engine{newEngine(rdb, prefix, routing.LeastLoaded), newEngine(rdb, prefix, routing.LeastLoaded)}
	for _, e := range engines {
		e.SetClock(now)
	}
	if err := engines[0].PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxprop"}, MaxSessions: 5, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	all := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7"} // 5 served, 2 waiting
	for i, u := range all {
		m := &kf.Message{Account: "wxprop", OpenID: u, Type: kf.MsgText, Content: "hi", MsgID: u, CreateTime: int64(i)}
		if err := engines[i%2].Handle(ctx, m, engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	users := all[:5]
	for _, u := range users {
		agentAnswers(t, rdb, prefix, now, "wxprop", u, "a")
	}
	tickBoth := func() int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for _, e := range engines {
			for range 3 {
				wg.Go(func() {
					if _, err := e.SweepPresence(ctx); err != nil {
						t.Error(err)
					}
					n, err := e.ExpireIdle(ctx)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		return total
	}
	count := func(typ string) int {
		n := 0
		for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
			if x.Values["type"] == typ {
				n++
			}
		}
		return n
	}

	set(24 * time.Minute)
	if n := tickBoth(); n != 0 {
		t.Errorf("%d deadlines due before idle_timeout − warn_before", n)
	}
	set(time.Minute) // 25 min: warnings due
	if n := tickBoth(); n != len(users) {
		t.Errorf("%d warnings claimed, want %d", n, len(users))
	}
	if n := tickBoth(); n != 0 {
		t.Errorf("%d claimed again", n)
	}
	if got := count(kf.EventSessionWarned); got != len(users) {
		t.Errorf("%d warnings, want %d", got, len(users))
	}
	set(5 * time.Minute) // 30 min: closes due
	if n := tickBoth(); n != len(users) {
		t.Errorf("%d closes claimed, want %d", n, len(users))
	}
	if got := count(kf.EventSessionClosed); got != len(users) {
		t.Errorf("%d closes, want %d", got, len(users))
	}
	if keys := rdb.Keys(ctx, prefix+"sess:*").Val(); len(keys) != 2 {
		t.Errorf("sessions left: %v, want the 2 waiting users'", keys)
	}
	set(3 * time.Hour)
	if n := tickBoth(); n != 0 {
		t.Errorf("%d waiting users warned or closed", n)
	}
	if load, _ := rdb.HGet(ctx, prefix+"agent:a", "load").Int(); load != 0 {
		t.Errorf("agent load %d after every session closed", load)
	}
	notices := 0
	for _, x := range rdb.XRange(ctx, prefix+"outbox", "-", "+").Val() {
		if x.Values["content"] == "bye" || x.Values["content"] == "still there?" {
			notices++
		}
	}
	if notices != 2*len(users) {
		t.Errorf("%d idle notices in the outbox, want %d (one warning and one close each)", notices, 2*len(users))
	}
}

// agentAnswers queues an answer of agent to the user through the outbox,
// as the desk does: the user owes the reply from then on.
func agentAnswers(t *testing.T, rdb *redis.Client, prefix string, now func() time.Time, account, openid, agent string) {
	t.Helper()
	ctx := context.Background()
	box, err := obx.New(obx.Options{Redis: rdb, Prefix: prefix, Now: now, ContextSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	sid := rdb.HGet(ctx, prefix+"sess:"+account+":"+openid, "id").Val()
	if _, err := box.Enqueue(ctx, obx.Message{Account: account, OpenID: openid, Session: sid, Kind: obx.KindAgent,
		Content: "answer from " + agent, Agent: agent}); err != nil {
		t.Fatal(err)
	}
}
