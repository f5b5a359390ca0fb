package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
)

var storeOpts = session.Options{ContextSize: 10, IdleTimeout: 30 * time.Minute, WarnBefore: 5 * time.Minute, ReturnWindow: time.Hour, Reserve: 2}

func newEngine(rdb *redis.Client, prefix string, strategy routing.Strategy) *engine.Engine {
	return engine.New(session.NewStore(rdb, prefix, storeOpts), routing.NewRouter(routing.Options{}), rdb, prefix,
		engine.Config{Strategy: map[string]routing.Strategy{"wxprop": strategy}, QueueNotice: "you are number {position}", WarnNotice: "still there?", CloseNotice: "bye",
			SnapshotTTL: 50 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// Two engines, many goroutines, random user messages, agents going on and
// off, capacity changes, transfers and closes. Then the invariants of the
// issue, checked against Redis and the events stream.
func TestConcurrentProperties(t *testing.T) {
	for _, strategy := range []routing.Strategy{routing.ConsistentHash, routing.LeastLoaded} {
		t.Run(string(strategy), func(t *testing.T) {
			for seed := range uint64(3) {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runProperty(t, strategy, seed) })
			}
		})
	}
}

func runProperty(t *testing.T, strategy routing.Strategy, seed uint64) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	engines := []*engine.Engine{newEngine(rdb, prefix, strategy), newEngine(rdb, prefix, strategy)}
	const account, nAgents, nUsers, workers, ops = "wxprop", 6, 40, 8, 150
	agentID := func(i int) string { return "agent" + strconv.Itoa(i) }
	for i := range nAgents {
		if err := engines[0].PutAgent(ctx, kf.Agent{ID: agentID(i), Accounts: []string{account}, MaxSessions: 1 + i%3, Weight: 1, Status: kf.AgentOnline}); err != nil {
			t.Fatal(err)
		}
	}
	var msgSeq atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for range ops {
				e := engines[r.IntN(len(engines))]
				user := "user" + strconv.Itoa(r.IntN(nUsers))
				var err error
				switch p := r.IntN(100); {
				case p < 55:
					id := msgSeq.Add(1)
					m := &kf.Message{Account: account, OpenID: user, Type: kf.MsgText, Content: "hi", MsgID: strconv.FormatInt(id, 10), CreateTime: id}
					err = e.Handle(ctx, m, engine.Entry{})
				case p < 65:
					st := []kf.AgentStatus{kf.AgentOnline, kf.AgentOnline, kf.AgentAway, kf.AgentOffline}[r.IntN(4)]
					err = e.SetStatus(ctx, agentID(r.IntN(nAgents)), st)
				case p < 75:
					i := r.IntN(nAgents)
					err = e.PutAgent(ctx, kf.Agent{ID: agentID(i), Accounts: []string{account}, MaxSessions: r.IntN(4), Weight: 1})
				case p < 85:
					to := ""
					if r.IntN(2) == 0 {
						to = agentID(r.IntN(nAgents))
					}
					_, err = e.Transfer(ctx, account, user, to, "", "agent", "test")
					if errors.Is(err, session.ErrNoSession) || errors.Is(err, session.ErrNotServing) || errors.Is(err, session.ErrConflict) {
						err = nil
					}
				default:
					_, err = e.Close(ctx, account, user, "", "agent", "test")
					if errors.Is(err, session.ErrNoSession) {
						err = nil
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, rdb, prefix, account, int(msgSeq.Load()))
}

type event struct {
	Type      string          `json:"type"`
	Session   string          `json:"session"`
	OpenID    string          `json:"openid"`
	State     string          `json:"state"`
	Agent     string          `json:"agent"`
	Reason    string          `json:"reason"`
	Load      int             `json:"load"`
	Max       int             `json:"max"`
	Position  int             `json:"position"`
	FromAgent string          `json:"from_agent"`
	Message   json.RawMessage `json:"message"`
}

func checkInvariants(t *testing.T, rdb *redis.Client, prefix, account string, messages int) {
	ctx := context.Background()
	entries, err := rdb.XRange(ctx, prefix+"events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]string{}    // user → live session
	seenMsg := map[string]string{} // message id → session
	var queue []string             // sessions waiting, in the order they joined
	for _, x := range entries {
		var ev event
		if err := json.Unmarshal([]byte(x.Values["event"].(string)), &ev); err != nil {
			t.Fatal(err)
		}
		if s, ok := live[ev.OpenID]; ok && s != ev.Session && ev.Type != kf.EventSessionClosed {
			t.Fatalf("user %s in two live sessions: %s and %s", ev.OpenID, s, ev.Session)
		}
		switch ev.Type {
		case kf.EventSessionAssigned, kf.EventSessionTransferred, kf.EventSessionQueued:
			live[ev.OpenID] = ev.Session
			if ev.Agent != "" && ev.Load > ev.Max {
				t.Errorf("%s took %s with load %d over max %d", ev.Agent, ev.Session, ev.Load, ev.Max)
			}
			if ev.Reason == "capacity freed" { // out of the queue: must be its head
				if len(queue) == 0 || queue[0] != ev.Session {
					t.Errorf("queue not FIFO: %s left it, head was %v", ev.Session, queue[:min(1, len(queue))])
				} else {
					queue = queue[1:]
				}
			}
			if ev.Agent == "" { // joined the queue
				queue = append(queue, ev.Session)
			}
		case kf.EventSessionClosed:
			delete(live, ev.OpenID)
			if i := indexOf(queue, ev.Session); i >= 0 {
				queue = append(queue[:i], queue[i+1:]...)
			}
		case kf.EventMessageReceived:
			var m struct{ ID string }
			_ = json.Unmarshal(ev.Message, &m)
			if s, dup := seenMsg[m.ID]; dup {
				t.Errorf("message %s in sessions %s and %s", m.ID, s, ev.Session)
			}
			seenMsg[m.ID] = ev.Session
		}
	}
	if len(seenMsg) != messages {
		t.Errorf("%d messages recorded in sessions, %d sent", len(seenMsg), messages)
	}
	// Redis as it stands: loads equal the serving sessions, agent by agent.
	serving := map[string]int{}
	keys, err := rdb.Keys(ctx, prefix+"sess:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	waiting := 0
	indexed := rdb.ZRange(ctx, prefix+"live", 0, -1).Val()
	for _, k := range keys {
		h := rdb.HGetAll(ctx, k).Val()
		switch h["state"] {
		case "serving":
			serving[h["agent"]]++
		case "waiting", "transferring":
			waiting++
		}
		// The live index holds the served sessions, no queued one.
		if in := slices.Contains(indexed, k); in != (h["state"] == "serving") {
			t.Errorf("%s, %s: in the live index %v", k, h["state"], in)
		}
	}
	if len(indexed) != len(keys)-waiting {
		t.Errorf("the live index holds %d keys, %d sessions are served", len(indexed), len(keys)-waiting)
	}
	if len(keys) != len(live) {
		t.Errorf("%d live sessions in Redis, the events say %d", len(keys), len(live))
	}
	qlen := rdb.ZCard(ctx, prefix+"queue:"+account+":").Val()
	if int(qlen) != waiting || len(queue) != waiting {
		t.Errorf("queue holds %d, %d sessions wait, the events say %d", qlen, waiting, len(queue))
	}
	total, loads := 0, 0
	for id, n := range serving {
		total += n
		if got := rdb.SCard(ctx, prefix+"agent:"+id+":sessions").Val(); int(got) != n {
			t.Errorf("%s serves %d sessions but its set holds %d", id, n, got)
		}
	}
	for _, id := range rdb.SMembers(ctx, prefix+"agents").Val() {
		l, _ := rdb.HGet(ctx, prefix+"agent:"+id, "load").Int()
		if l != serving[id] {
			t.Errorf("%s: load %d, serving %d", id, l, serving[id])
		}
		loads += l
	}
	if loads != total {
		t.Errorf("sum of loads %d != %d serving sessions", loads, total)
	}
	checkCounts(t, rdb, prefix, account, keys)
	t.Logf("%d events, %d messages, %d live sessions (%d serving, %d waiting)", len(entries), len(seenMsg), len(keys), total, waiting)
	if total == 0 {
		t.Error("no session was being served at the end: the test exercised nothing")
	}
}

// checkCounts compares the counts the scripts keep for the metrics
// (session.Counts) with Redis as it stands: sessions by state, the queue's
// length, agents by status; and a recount from scratch with both.
func checkCounts(t *testing.T, rdb *redis.Client, prefix, account string, keys []string) {
	ctx := context.Background()
	want := session.Counts{Sessions: map[string]int64{"waiting": 0, "serving": 0, "transferring": 0},
		Queue:  map[string]int64{account: rdb.ZCard(ctx, prefix+"queue:"+account+":").Val()},
		Agents: map[string]int64{"online": 0, "away": 0, "offline": 0}}
	for _, k := range keys {
		want.Sessions[rdb.HGet(ctx, k, "state").Val()]++
	}
	for _, id := range rdb.SMembers(ctx, prefix+"agents").Val() {
		want.Agents[rdb.HGet(ctx, prefix+"agent:"+id, "status").Val()]++
	}
	store := session.NewStore(rdb, prefix, storeOpts)
	for _, step := range []string{"kept by the scripts", "recounted"} {
		got, err := store.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got.Sessions, want.Sessions) || !maps.Equal(got.Agents, want.Agents) || got.Queue[account] != want.Queue[account] {
			t.Errorf("counts %s: %+v, Redis holds %+v", step, got, want)
		}
		if step == "recounted" {
			break
		}
		if rebuilt, err := store.Recount(ctx); err != nil || !rebuilt {
			t.Fatalf("recount: %v %v", rebuilt, err)
		}
	}
	if again, err := store.Recount(ctx); err != nil || again {
		t.Errorf("a second recount ran again (%v, %v): it must run once", again, err)
	}
}

func indexOf(s []string, v string) int {
	for i := range s {
		if s[i] == v {
			return i
		}
	}
	return -1
}
