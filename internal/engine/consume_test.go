package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/stream"
	"github.com/kfgate/kfgate/internal/wxmsg"
)

// Messages the intake recorded reach their sessions through the consumer,
// each entry acknowledged in the step that records it; an unsubscribe
// closes the user's session.
func TestConsumerHandsOffIntake(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, prefix := redistest.New(t)
	store := intake.NewStore(rdb, prefix, time.Minute)
	e := newEngine(rdb, prefix, routing.LeastLoaded)
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxprop"}, MaxSessions: 5, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	record := func(raw []byte) {
		m, err := wxmsg.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		m.Account = "wxprop"
		if _, err := store.Record(ctx, intake.Delivery{Message: &m}); err != nil {
			t.Fatal(err)
		}
	}
	record(sim.TextXML("gh_p", "u1", 1, "hello", 1))
	record(sim.TextXML("gh_p", "u2", 2, "hello", 2))

	c := &engine.Consumer{Engine: e, RDB: rdb, Stream: store.Stream(), Name: "test", Block: 50 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	waitFor("two served sessions", func() bool {
		l, _ := rdb.HGet(ctx, prefix+"agent:a", "load").Int()
		return l == 2
	})
	record([]byte(`<xml><ToUserName>gh_p</ToUserName><FromUserName>u1</FromUserName><CreateTime>3</CreateTime><MsgType>event</MsgType><Event>unsubscribe</Event></xml>`))
	waitFor("u1's session closed", func() bool {
		return rdb.Exists(ctx, prefix+"sess:wxprop:u1").Val() == 0
	})
	waitFor("every entry acknowledged", func() bool {
		p, err := rdb.XPending(ctx, store.Stream(), engine.Group).Result()
		return err == nil && p.Count == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Redis loses everything (a restart without persistence): the consumer
// creates its group again and goes on with new messages.
func TestConsumerSurvivesLostGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, prefix := redistest.New(t)
	store := intake.NewStore(rdb, prefix, time.Minute)
	e := newEngine(rdb, prefix, routing.LeastLoaded)
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxprop"}, MaxSessions: 5, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	c := &engine.Consumer{Engine: e, RDB: rdb, Stream: store.Stream(), Name: "test", Block: 50 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	rdb.Del(ctx, store.Stream()) // the stream and its group are gone
	time.Sleep(100 * time.Millisecond)
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxprop"}, MaxSessions: 5, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n := 1; rdb.Exists(ctx, prefix+"sess:wxprop:u9").Val() == 0; n++ {
		if time.Now().After(deadline) {
			t.Fatal("the consumer never came back after its group was lost")
		}
		m, _ := wxmsg.Decode(sim.TextXML("gh_p", "u9", int64(n), "hello", int64(100+n)))
		m.Account = "wxprop"
		if _, err := store.Record(ctx, intake.Delivery{Message: &m}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// An entry that cannot be handled never stalls the engine: one it cannot
// decode goes to the dead-letter stream at once, one delivered more than
// MaxDeliveries times (its handling killed replica after replica) when it
// is claimed; the messages after them are served.
func TestConsumerDeadLetters(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, prefix := redistest.New(t)
	store := intake.NewStore(rdb, prefix, time.Minute)
	e := newEngine(rdb, prefix, routing.LeastLoaded)
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxprop"}, MaxSessions: 5, Status: kf.AgentOnline}); err != nil {
		t.Fatal(err)
	}
	dl, err := stream.NewDeadLetter(rdb, prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &stream.Group{RDB: rdb, Stream: store.Stream(), Name: engine.Group, Consumer: "dead"}
	if err := g.Create(ctx); err != nil {
		t.Fatal(err)
	}
	// A message whose handling killed its consumer five times over.
	m, _ := wxmsg.Decode(sim.TextXML("gh_p", "u1", 1, "crash", 1))
	m.Account = "wxprop"
	if _, err := store.Record(ctx, intake.Delivery{Message: &m}); err != nil {
		t.Fatal(err)
	}
	msgs, err := g.Read(ctx, ">", 1, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("read %v %v", msgs, err)
	}
	for range 4 {
		rdb.XClaim(ctx, &redis.XClaimArgs{Stream: store.Stream(), Group: engine.Group, Consumer: "dead", Messages: []string{msgs[0].ID}})
	}
	// An entry nobody can decode.
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: store.Stream(), Values: map[string]any{"msg": "{\x00", "account": "wxprop", "openid": "u0"}})
	record := func(user string) {
		m, _ := wxmsg.Decode(sim.TextXML("gh_p", user, 2, "hello", 2))
		m.Account = "wxprop"
		if _, err := store.Record(ctx, intake.Delivery{Message: &m}); err != nil {
			t.Fatal(err)
		}
	}
	record("u2")

	c := &engine.Consumer{Engine: e, RDB: rdb, Stream: store.Stream(), Name: "test", Block: 50 * time.Millisecond,
		ClaimIdle: time.Millisecond, DeadLetter: dl, MaxDeliveries: 5}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := dl.Len(ctx)
		p, _ := rdb.XPending(ctx, store.Stream(), engine.Group).Result()
		if n == 2 && p != nil && p.Count == 0 && rdb.Exists(ctx, prefix+"sess:wxprop:u2").Val() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters %d, pending %+v", n, p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rdb.Exists(ctx, prefix+"sess:wxprop:u1").Val() != 0 {
		t.Error("the entry over MaxDeliveries was handled")
	}
	list, _, _ := dl.List(ctx, "", 10)
	var reasons []string
	for _, d := range list {
		reasons = append(reasons, d.Error)
	}
	if len(list) != 2 || !strings.Contains(strings.Join(reasons, "|"), "delivered 6 times") ||
		!strings.Contains(strings.Join(reasons, "|"), "undecodable") {
		t.Errorf("dead letters: %q", reasons)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
