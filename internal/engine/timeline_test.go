package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	obx "github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// What the customer experiences, step by step on an injected clock: every
// notice each user receives through the simulated WeChat (exact text, in
// order) and every session event each agent receives. The steps cover the
// no_agent notice sent once, the greeting, 0 ahead ("您是下一位"), no idle
// close while the agent owes the reply or while the user waits, overdue at
// the reply SLA, the idle warning's {minutes} from warn_before, an agent
// who goes offline losing its user after reassign_after (front of the
// queue, then to the next agent with the context), place updates within
// the reply quota, the queue timeout, and one account's own texts.
func TestCustomerTimeline(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	accounts := map[string]string{"wxa": "secret-a", "wxb": "secret-b"}
	wechat := sim.NewAPI(sim.APIOptions{Accounts: accounts})
	srv := httptest.NewServer(wechat)
	defer srv.Close()

	clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	opts := session.Options{ContextSize: 10, IdleTimeout: 30 * time.Minute, WarnBefore: 3 * time.Minute, ReturnWindow: time.Hour, Reserve: 2}
	cfg := engine.Config{
		Strategy:           map[string]routing.Strategy{"wxa": routing.LeastLoaded, "wxb": routing.LeastLoaded},
		QueueNotice:        "客服繁忙，您前面还有 {ahead} 位用户，请稍候。",
		QueuedNextNotice:   "客服繁忙，您是下一位，请稍候。",
		QueueUpdateNotice:  "您前面还有 {ahead} 位用户，请继续稍候。",
		QueueTimeoutNotice: "抱歉，您已等待 {minutes} 分钟仍无客服接入，请稍后再试。",
		NoAgentNotice:      "当前无客服在线，您已进入排队。",
		WarnNotice:         "您已经有一段时间没有回复，会话将在 {minutes} 分钟后结束。",
		CloseNotice:        "会话已结束，感谢您的咨询。",
		Greeting:           "您好，我是{agent}，很高兴为您服务。",
		Accounts:           map[string]engine.Texts{"wxb": {QueuedNext: "[B] 马上就到您了。", Greeting: "[B] {agent} 为您服务。"}},

		QueueUpdatePlaces: 2,
		QueueTimeout:      90 * time.Minute,
		ReassignAfter:     2 * time.Minute,
		SnapshotTTL:       time.Nanosecond,
	}
	cfg.ReplySLA.First, cfg.ReplySLA.Next = 2*time.Minute, 5*time.Minute
	e := engine.New(session.NewStore(rdb, prefix, opts), routing.NewRouter(routing.Options{}), rdb, prefix, cfg,
		slog.New(slog.DiscardHandler))
	e.SetClock(now)

	// The outbox and one worker deliver to the simulated WeChat, in order.
	box, err := obx.New(obx.Options{Redis: rdb, Prefix: prefix, Now: now, ContextSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := wxapi.NewTokens(wxapi.TokenOptions{Redis: rdb, Prefix: prefix, Accounts: accounts, BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	client, err := wxapi.New(wxapi.Options{Tokens: tokens, BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := obx.NewWorker(obx.WorkerOptions{Outbox: box, Sender: client, Consumer: "timeline", Workers: 1, Rate: 500,
		Retries: 3, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, ClaimIdle: time.Second,
		SendTimeout: 2 * time.Second, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- worker.Run(wctx) }()
	defer func() { stop(); <-done }()

	// The agents' channels, as their WebSockets get them.
	sub := rdb.Subscribe(ctx, prefix+"agent:ann:events", prefix+"agent:bob:events")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	var evMu sync.Mutex
	var agentEvents []string
	go func() {
		for m := range sub.Channel() {
			var ev struct {
				Type, OpenID string
				Context      []struct{ Content string }
			}
			_ = json.Unmarshal([]byte(m.Payload), &ev)
			if !strings.HasPrefix(ev.Type, "session.") {
				continue // message.received and message.status are not the point here
			}
			who := strings.TrimSuffix(strings.TrimPrefix(m.Channel, prefix+"agent:"), ":events")
			evMu.Lock()
			line := who + " " + ev.Type + " " + ev.OpenID
			if len(ev.Context) > 0 { // what the user and the agents said, replayed
				var said []string
				for _, c := range ev.Context {
					said = append(said, c.Content)
				}
				line += " [" + strings.Join(said, " | ") + "]"
			}
			agentEvents = append(agentEvents, line)
			evMu.Unlock()
		}
	}()

	msgID := 0
	write := func(account, user, content string) {
		t.Helper()
		msgID++
		if err := wechat.Interact(account, user, sim.InteractMessage, time.Now()); err != nil {
			t.Fatal(err)
		}
		m := &kf.Message{Account: account, OpenID: user, Type: kf.MsgText, Content: content, MsgID: fmt.Sprint(msgID), CreateTime: now().Unix()}
		if err := e.Handle(ctx, m, engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	present := map[string]bool{}
	status := func(agent string, s kf.AgentStatus) {
		t.Helper()
		present[agent] = s != kf.AgentOffline
		if err := e.SetStatus(ctx, agent, s); err != nil {
			t.Fatal(err)
		}
	}
	// tick runs the timed jobs after the present agents' heartbeats (their
	// WebSockets), as every replica's scheduler does.
	tick := func() {
		t.Helper()
		for agent, here := range present {
			if here {
				if _, err := e.Heartbeat(ctx, agent); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := e.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	answer := func(agent, user string) {
		t.Helper()
		agentAnswers(t, rdb, prefix, now, "wxa", user, agent)
	}
	closeBy := func(user string) {
		t.Helper()
		if _, err := e.Close(ctx, "wxa", user, "", "agent", "done"); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []kf.Agent{{ID: "ann", Name: "小安"}, {ID: "bob", Name: "小博"}} {
		a.Accounts, a.MaxSessions = []string{"wxa", "wxb"}, 1
		if err := e.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	steps := []struct {
		name    string
		do      func()
		notices []string // "user: text" received during the step, in order per user
		events  []string // "agent type user" received during the step, in order
	}{
		{"nobody online: u1 is queued and told once", func() { write("wxa", "u1", "在吗"); write("wxa", "u1", "有人吗") },
			[]string{"u1: 当前无客服在线，您已进入排队。"}, nil},
		{"Ann comes online: u1 is hers, with a greeting", func() { status("ann", kf.AgentOnline) },
			[]string{"u1: 您好，我是小安，很高兴为您服务。"}, []string{"ann session.assigned u1 [在吗 | 有人吗 | 当前无客服在线，您已进入排队。]"}},
		{"four more users queue: the first is next, not 1 ahead", func() {
			for _, u := range []string{"u2", "u3", "u4", "u5"} {
				write("wxa", u, "你好")
			}
		}, []string{"u2: 客服繁忙，您是下一位，请稍候。", "u3: 客服繁忙，您前面还有 1 位用户，请稍候。",
			"u4: 客服繁忙，您前面还有 2 位用户，请稍候。", "u5: 客服繁忙，您前面还有 3 位用户，请稍候。"}, nil},
		{"Ann owes u1 an answer past the 2-minute SLA: overdue, no idle notice", func() { advance(3 * time.Minute); tick() },
			nil, []string{"ann session.overdue u1"}},
		{"30 minutes on, Ann still owes the answer and everyone waits: nobody is idle-closed", func() {
			for range 3 {
				advance(10 * time.Minute)
				tick()
			}
		}, nil, nil},
		{"Ann answers; 27 minutes of silence from u1 bring the warning, with warn_before's 3 minutes", func() {
			answer("ann", "u1")
			advance(27 * time.Minute)
			tick()
		}, []string{"u1: answer from ann", "u1: 您已经有一段时间没有回复，会话将在 3 分钟后结束。"}, []string{"ann session.warned u1"}},
		{"3 minutes later u1 is closed; u2 is next for Ann", func() { advance(3 * time.Minute); tick() },
			[]string{"u1: 会话已结束，感谢您的咨询。", "u2: 您好，我是小安，很高兴为您服务。"},
			[]string{"ann session.closed u1", "ann session.assigned u2 [你好 | 客服繁忙，您是下一位，请稍候。]"}},
		{"Ann goes offline: she has reassign_after (2 minutes) to come back", func() {
			answer("ann", "u2")
			status("ann", kf.AgentOffline)
			advance(time.Minute)
			tick()
		}, []string{"u2: answer from ann"}, nil},
		{"she does not: u2 goes to the front of the queue", func() { advance(90 * time.Second); tick() },
			nil, []string{"ann session.transferred u2"}},
		{"Bob comes online and gets u2 first, with the context", func() { status("bob", kf.AgentOnline) },
			nil, []string{"bob session.transferred u2 [你好 | 客服繁忙，您是下一位，请稍候。 | 您好，我是小安，很高兴为您服务。 | answer from ann]",
				"ann session.transferred u2 [你好 | 客服繁忙，您是下一位，请稍候。 | 您好，我是小安，很高兴为您服务。 | answer from ann]"}},
		{"Bob closes u2 and takes u3: u4 and u5 moved up two places and are told, within quota", func() {
			closeBy("u2")
			tick()
		}, []string{"u3: 您好，我是小博，很高兴为您服务。", "u4: 客服繁忙，您是下一位，请稍候。", "u5: 您前面还有 1 位用户，请继续稍候。"},
			[]string{"bob session.closed u2", "bob session.assigned u3 [你好 | 客服繁忙，您前面还有 1 位用户，请稍候。]"}},
		{"account wxb has its own texts", func() { write("wxb", "v1", "hello") },
			[]string{"v1: [B] 马上就到您了。"}, nil},
		{"Bob owes u3 an answer; u4 and u5 reach the 90-minute queue timeout", func() { advance(25 * time.Minute); tick() },
			[]string{"u4: 抱歉，您已等待 90 分钟仍无客服接入，请稍后再试。", "u5: 抱歉，您已等待 90 分钟仍无客服接入，请稍后再试。"},
			[]string{"bob session.overdue u3"}},
	}

	seen := map[string]int{}
	users := []string{"u1", "u2", "u3", "u4", "u5", "v1"}
	account := func(u string) string {
		if u == "v1" {
			return "wxb"
		}
		return "wxa"
	}
	received := func() []string {
		var out []string
		for _, u := range users {
			for _, r := range wechat.Received(account(u), u)[seen[u]:] {
				var m struct{ Text struct{ Content string } }
				_ = json.Unmarshal(r.Body, &m)
				out = append(out, u+": "+m.Text.Content)
			}
		}
		return out
	}
	for _, st := range steps {
		st.do()
		// Everything queued reaches WeChat (or fails) before the next step.
		waitUntil(t, st.name+": the outbox drained", func() bool {
			p, err := rdb.XPending(ctx, prefix+"outbox", "outbox").Result()
			n, _ := rdb.ZCard(ctx, prefix+"outbox:due").Result()
			return err == nil && p.Count == 0 && n == 0 && len(received()) >= len(st.notices)
		})
		time.Sleep(50 * time.Millisecond) // the agents' last events arrive
		got := received()
		sort.SliceStable(got, func(i, j int) bool { return strings.SplitN(got[i], ":", 2)[0] < strings.SplitN(got[j], ":", 2)[0] })
		if !slices.Equal(got, st.notices) {
			t.Errorf("%s:\nusers received %q\nwant           %q", st.name, got, st.notices)
		}
		for _, u := range users {
			seen[u] = len(wechat.Received(account(u), u))
		}
		evMu.Lock()
		events := agentEvents
		agentEvents = nil
		evMu.Unlock()
		if !slices.Equal(events, st.events) {
			t.Errorf("%s:\nagents received %q\nwant            %q", st.name, events, st.events)
		}
	}
	if n := counterValue(t, rdb, prefix, "kfgate_sessions_overdue_total"); n != 2 {
		t.Errorf("kfgate_sessions_overdue_total = %v, want 2", n)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
