package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kfgate/kfgate/internal/sim"
)

// The end-to-end run: two replicas of the real serve on one Redis
// and one PostgreSQL, the simulated WeChat. A user writes; agent A's
// WebSocket on replica 1 receives it; A answers over REST and the user
// receives it; A transfers to agent B, connected to replica 2, who gets the
// last messages replayed; B closes; the user gets the survey and taps an
// answer; PostgreSQL holds the full transcript, the transitions and the
// answer.
func TestTwoReplicasEndToEnd(t *testing.T) {
	const adminToken = "e2e-admin-token-0000000002"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	setup := newSimulated(t, simulatedOptions{secret: "e2e-secret", adminToken: adminToken, postgres: true})
	pool, wechat := setup.pool, setup.wechat
	replica1, _, _ := startServe(t, setup.config, nil)
	replica2, _, _ := startServe(t, setup.config, nil)

	api := func(base, method, path, token, body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, base, method, path, token, body)
	}
	newAgent := func(id string) string {
		status, out := api(replica1, "POST", "/api/v1/agents", adminToken, `{"id":"`+id+`","accounts":["`+testAppID+`"],"max_sessions":3}`)
		token, _ := out["token"].(string)
		if status != 201 {
			t.Fatalf("create %s = %d %v", id, status, out)
		}
		return token
	}
	tokenA, tokenB := newAgent("agent-a"), newAgent("agent-b")

	// Agent A's WebSocket on replica 1, agent B's on replica 2.
	dial := func(base, token string) *websocket.Conn {
		c, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/api/v1/agent/ws?token="+token, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	wsA, wsB := dial(replica1, tokenA), dial(replica2, tokenB)
	type event struct {
		Type      string            `json:"type"`
		Session   string            `json:"session"`
		FromAgent string            `json:"from_agent"`
		Message   map[string]any    `json:"message"`
		Context   []json.RawMessage `json:"context"`
	}
	next := func(c *websocket.Conn, want string) event {
		t.Helper()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			var ev event
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatalf("frame %s: %v", data, err)
			}
			if ev.Type == want {
				return ev
			}
		}
	}
	if status, _ := api(replica1, "PUT", "/api/v1/agent/status", tokenA, `{"status":"online"}`); status != 200 {
		t.Fatal("A online")
	}

	// The user writes, through replica 2's callback.
	user := "o_e2e_two_replicas"
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewPoster(replica2, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, err := p.Post(ctx, p.Prepare(sim.TextXML("gh_e2e", user, time.Now().Unix(), "我的订单还没发货", 9001))); err != nil || status != 200 {
		t.Fatalf("callback = %d %v", status, err)
	}
	assigned := next(wsA, "session.assigned")
	got := next(wsA, "message.received")
	if got.Message["content"] != "我的订单还没发货" || got.Session != assigned.Session {
		t.Fatalf("A received %+v", got)
	}
	sid := assigned.Session

	// A answers over REST; the user receives it through WeChat's API.
	if status, out := api(replica1, "POST", "/api/v1/sessions/"+sid+"/messages", tokenA, `{"content":"您好，马上为您查询"}`); status != 202 {
		t.Fatalf("answer = %d %v", status, out)
	}
	waitFor(t, "the user to receive A's answer", func() bool {
		for _, r := range wechat.Received(testAppID, user) {
			if strings.Contains(string(r.Body), "马上为您查询") {
				return true
			}
		}
		return false
	})
	// A sees its message go from queued to sent.
	var statuses []any
	for len(statuses) == 0 || statuses[len(statuses)-1] == "queued" {
		statuses = append(statuses, next(wsA, "message.status").Message["status"])
	}
	if fmt.Sprint(statuses) != "[queued sent]" {
		t.Errorf("A's message went %v, want [queued sent]", statuses)
	}

	// A transfers to B (on replica 2), who gets the context replayed.
	if status, _ := api(replica2, "PUT", "/api/v1/agent/status", tokenB, `{"status":"online"}`); status != 200 {
		t.Fatal("B online")
	}
	if status, out := api(replica1, "POST", "/api/v1/sessions/"+sid+"/transfer", tokenA, `{"to_agent":"agent-b"}`); status != 200 || out["agent"] != "agent-b" {
		t.Fatalf("transfer = %d %v", status, out)
	}
	// The replay holds both sides: the user's message and A's answer, each
	// with its author and time.
	tr := next(wsB, "session.transferred")
	if tr.Session != sid || tr.FromAgent != "agent-a" || len(tr.Context) != 2 {
		t.Fatalf("B got %+v", tr)
	}
	var replay []struct {
		Direction, Author, Agent, Content string
		At                                int64
	}
	for _, raw := range tr.Context {
		var it struct {
			Direction, Author, Agent, Content string
			At                                int64
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		replay = append(replay, it)
	}
	if r := replay[0]; r.Direction != "in" || r.Author != "user" || r.Content != "我的订单还没发货" || r.At == 0 {
		t.Errorf("replay[0] = %+v, want the user's message", r)
	}
	if r := replay[1]; r.Direction != "out" || r.Author != "agent" || r.Agent != "agent-a" || r.Content != "您好，马上为您查询" || r.At < replay[0].At {
		t.Errorf("replay[1] = %+v, want A's answer", r)
	}

	// B closes; the user gets the survey and taps the first choice.
	if status, out := api(replica2, "POST", "/api/v1/sessions/"+sid+"/close", tokenB, ""); status != 200 {
		t.Fatalf("close = %d %v", status, out)
	}
	var choice string
	waitFor(t, "the survey", func() bool {
		for _, r := range wechat.Received(testAppID, user) {
			var m struct {
				MsgType string `json:"msgtype"`
				Menu    struct {
					List []struct{ ID string } `json:"list"`
				} `json:"msgmenu"`
			}
			if json.Unmarshal(r.Body, &m) == nil && m.MsgType == "msgmenu" && len(m.Menu.List) > 0 {
				choice = m.Menu.List[0].ID
				return true
			}
		}
		return false
	})
	click := fmt.Sprintf("<xml><ToUserName>gh_e2e</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>text</MsgType><Content>满意</Content><MsgId>9002</MsgId><bizmsgmenuid>%s</bizmsgmenuid></xml>", user, time.Now().Unix(), choice)
	if status, _, err := p.Post(ctx, p.Prepare([]byte(click))); err != nil || status != 200 {
		t.Fatalf("survey click = %d %v", status, err)
	}

	// PostgreSQL: the transcript, the transitions and the survey answer.
	// Two replicas' writers archive batches side by side: wait until every
	// step of the session is in, whichever wrote it.
	waitFor(t, "the archive", func() bool {
		var answered, closed, transferred int
		_ = pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE type = 'survey.answered' AND reason LIKE $2),
			count(*) FILTER (WHERE type = 'session.closed'), count(*) FILTER (WHERE type = 'session.transferred')
			FROM session_transitions WHERE session_id = $1`,
			sid, choice+" %").Scan(&answered, &closed, &transferred)
		return answered == 1 && closed == 1 && transferred >= 1
	})
	status, out := api(replica1, "GET", "/api/v1/sessions/"+sid, adminToken, "")
	session, _ := out["session"].(map[string]any)
	steps, _ := out["transitions"].([]any)
	if status != 200 || session["state"] != "closed" || session["agent"] != "agent-b" || len(steps) < 4 {
		t.Errorf("archived session = %d %v", status, out)
	}
	var types []string
	for _, s := range steps {
		types = append(types, s.(map[string]any)["type"].(string))
	}
	for _, want := range []string{"session.assigned", "session.transferred", "session.closed", "survey.answered"} {
		if !strings.Contains(strings.Join(types, " "), want) {
			t.Errorf("transitions %v lack %s", types, want)
		}
	}
	// The transcript: the user's message, A's answer (sent) and the survey.
	var transcript []string
	waitFor(t, "the transcript", func() bool {
		_, out = api(replica2, "GET", "/api/v1/sessions/"+sid+"/messages", adminToken, "")
		msgs, _ := out["messages"].([]any)
		transcript = transcript[:0]
		for _, m := range msgs {
			m := m.(map[string]any)
			transcript = append(transcript, fmt.Sprintf("%s %s %s", m["direction"], m["type"], m["status"]))
		}
		return len(msgs) == 3 && msgs[2].(map[string]any)["status"] == "sent"
	})
	if want := "[in text received out text sent out msgmenu sent]"; fmt.Sprint(transcript) != want {
		t.Errorf("transcript %v, want %s", transcript, want)
	}

	// The figures: one session, closed, answered, rated.
	status, out = api(replica1, "GET", "/api/v1/stats?account="+testAppID, adminToken, "")
	st, _ := out["stats"].(map[string]any)
	fr, _ := st["first_response_seconds"].(map[string]any)
	rated, _ := st["satisfaction"].(map[string]any)
	if status != 200 || st["sessions"] != 1.0 || st["closed"] != 1.0 || st["abandoned"] != 0.0 || fr["p50"] == nil ||
		st["messages_in"] != 1.0 || st["messages_out"] != 2.0 || rated[choice+" 满意"] != 1.0 {
		t.Errorf("stats = %d %v", status, out)
	}
	// The account's token was fetched once and is shared.
	status, out = api(replica2, "GET", "/api/v1/accounts", adminToken, "")
	accts, _ := out["accounts"].([]any)
	if status != 200 || len(accts) != 1 || accts[0].(map[string]any)["token"].(map[string]any)["cached"] != true {
		t.Errorf("accounts = %d %v", status, out)
	}
	if n := wechat.TokenFetches(testAppID); n != 1 {
		t.Errorf("%d token fetches by two replicas, want 1", n)
	}
}
