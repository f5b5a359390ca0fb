package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
)

// The live view without PostgreSQL, on the embedded Redis of the default
// setup and on a real Redis: three users, two agents of one session each,
// so one user waits. GET /api/v1/sessions lists exactly the three live
// sessions with their states, how long each user has waited for an answer
// and their unread messages; the admin's WebSocket sees every event (on a
// real Redis: exactly the events stream, in order).
func TestLiveSessionsWithoutArchive(t *testing.T) {
	for _, mode := range []string{"embedded", "redis"} {
		t.Run(mode, func(t *testing.T) { testLiveSessions(t, mode) })
	}
}

func testLiveSessions(t *testing.T, mode string) {
	const adminToken = "live-admin-token-000000001"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wechat := sim.NewAPI(sim.APIOptions{Accounts: map[string]string{testAppID: "live-secret"}})
	wx := httptest.NewServer(wechat)
	defer wx.Close()
	redisLine := ""
	var rdbEvents func() []string
	if mode == "redis" {
		rdb, prefix := redistest.New(t)
		redisLine = fmt.Sprintf("redis: {url: %q, prefix: %q}", redistest.URL(), prefix)
		rdbEvents = func() []string {
			var out []string
			for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
				out = append(out, x.Values["event"].(string))
			}
			return out
		}
	}
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
%s
wechat: {api_base: %q}
accounts:
  - {appid: %s, secret: live-secret, token: %s}
admin: {tokens: [%s]}
`, redisLine, wx.URL, testAppID, testToken, adminToken))
	base, _, _ := startServe(t, cfg, nil)
	api := func(method, path, token, body string, want int) map[string]any {
		t.Helper()
		status, out := apiCall(t, base, method, path, token, body)
		if status != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, status, out, want)
		}
		return out
	}

	// The admin's WebSocket, open before anything happens.
	admin, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/api/v1/agent/ws?token="+adminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.CloseNow()
	var (
		mu     sync.Mutex
		frames []string
	)
	go func() {
		for {
			_, data, err := admin.Read(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			frames = append(frames, string(data))
			mu.Unlock()
		}
	}()
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(frames) }

	tokens := map[string]string{}
	for _, id := range []string{"alice", "bob"} {
		out := api("POST", "/api/v1/agents", adminToken, `{"id":"`+id+`","accounts":["`+testAppID+`"],"max_sessions":1}`, 201)
		tokens[id], _ = out["token"].(string)
		api("PUT", "/api/v1/agent/status", tokens[id], `{"status":"online"}`, 200)
	}

	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgID := int64(500)
	write := func(user, text string) {
		t.Helper()
		msgID++
		if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
			t.Fatal(err)
		}
		if status, body, err := p.Post(ctx, p.Prepare(sim.TextXML("gh_live", user, time.Now().Unix(), text, msgID))); err != nil || status != 200 {
			t.Fatalf("callback = %d %s %v", status, body, err)
		}
	}
	type live struct {
		ID           string     `json:"id"`
		Account      string     `json:"account"`
		OpenID       string     `json:"openid"`
		State        string     `json:"state"`
		Agent        string     `json:"agent"`
		CreatedAt    time.Time  `json:"created_at"`
		UpdatedAt    time.Time  `json:"updated_at"`
		WaitingSince *time.Time `json:"waiting_since"`
		Waited       *float64   `json:"waited"`
		Unread       int        `json:"unread"`
		LastMessage  *struct {
			Direction, Author, Agent, Type, Text string
		} `json:"last_message"`
	}
	list := func(query string) (map[string]live, []string) {
		t.Helper()
		out := api("GET", "/api/v1/sessions"+query, adminToken, "", 200)
		raw, _ := json.Marshal(out["sessions"])
		var ss []live
		if err := json.Unmarshal(raw, &ss); err != nil {
			t.Fatal(err)
		}
		byUser, order := map[string]live{}, []string{}
		for _, s := range ss {
			byUser[s.OpenID] = s
			order = append(order, s.OpenID)
		}
		return byUser, order
	}
	until := func(what string, cond func(map[string]live) bool) map[string]live {
		t.Helper()
		var got map[string]live
		waitFor(t, what, func() bool { got, _ = list(""); return cond(got) })
		return got
	}

	// u1 and u2 get an agent each; u3 waits.
	write("u1", "你好")
	until("u1 served", func(m map[string]live) bool { return m["u1"].State == "serving" })
	start2 := time.Now()
	write("u2", "在吗")
	until("u2 served", func(m map[string]live) bool { return m["u2"].State == "serving" })
	start3 := time.Now()
	write("u3", "有人吗")
	until("u3 waiting", func(m map[string]live) bool { return m["u3"].State == "waiting" })
	write("u2", "我的订单")
	write("u3", "还在等")
	got := until("the second messages", func(m map[string]live) bool { return m["u2"].Unread == 2 && m["u3"].Unread == 2 })

	// u1's agent answers: u1 no longer waits.
	s1 := got["u1"]
	api("POST", "/api/v1/sessions/"+s1.ID+"/messages", tokens[s1.Agent], `{"content":"您好，请讲"}`, 202)
	until("u1 answered", func(m map[string]live) bool { return m["u1"].Unread == 0 })
	checked := time.Now()

	got, order := list("")
	if len(got) != 3 || len(order) != 3 {
		t.Fatalf("the live list holds %v, want exactly u1, u2, u3", order)
	}
	if fmt.Sprint(order) != "[u1 u2 u3]" {
		t.Errorf("order %v: want the served, the most recently active first (u1 was answered last), then the queued", order)
	}
	if s := got["u1"]; s.State != "serving" || s.Agent == "" || s.WaitingSince != nil || s.Waited != nil || s.Unread != 0 ||
		s.LastMessage == nil || s.LastMessage.Author != "agent" || s.LastMessage.Text != "您好，请讲" {
		t.Errorf("u1 = %+v, want served and answered", s)
	}
	for _, c := range []struct {
		user, state string
		since       time.Time
	}{{"u2", "serving", start2}, {"u3", "waiting", start3}} {
		s := got[c.user]
		if s.State != c.state || s.Unread != 2 || s.WaitingSince == nil || s.Waited == nil {
			t.Errorf("%s = %+v, want %s with 2 unread messages and a waiting time", c.user, s, c.state)
			continue
		}
		// The user waits since the first unanswered message.
		if s.WaitingSince.Before(c.since.Add(-time.Millisecond)) || s.WaitingSince.After(checked) ||
			*s.Waited < 0 || *s.Waited > time.Since(c.since).Seconds()+1 {
			t.Errorf("%s waits since %v (%.3fs), want since its first message at %v", c.user, s.WaitingSince, *s.Waited, c.since)
		}
		if s.LastMessage == nil || s.LastMessage.Author != "user" || s.LastMessage.Direction != "in" {
			t.Errorf("%s's last message = %+v, want the user's", c.user, s.LastMessage)
		}
	}
	if got["u1"].Agent == got["u2"].Agent || got["u3"].Agent != "" {
		t.Errorf("agents: u1 %q, u2 %q, u3 %q", got["u1"].Agent, got["u2"].Agent, got["u3"].Agent)
	}

	// Filters, one live session by id, the queue with since.
	if _, order := list("?state=waiting"); fmt.Sprint(order) != "[u3]" {
		t.Errorf("state=waiting lists %v", order)
	}
	if _, order := list("?agent=" + got["u2"].Agent); fmt.Sprint(order) != "[u2]" {
		t.Errorf("agent=%s lists %v", got["u2"].Agent, order)
	}
	if _, order := list("?account=wxnobody"); len(order) != 0 {
		t.Errorf("another account lists %v", order)
	}
	if first, order := list("?limit=2"); len(order) != 2 || len(first) != 2 {
		t.Errorf("limit=2 lists %v", order)
	}
	out := api("GET", "/api/v1/sessions?limit=2", adminToken, "", 200)
	next, _ := out["next"].(string)
	if _, rest := list("?limit=2&cursor=" + next); len(rest) != 1 {
		t.Errorf("the page after %q lists %v, want the third session", next, rest)
	}
	out = api("GET", "/api/v1/sessions/"+got["u3"].ID, adminToken, "", 200)
	if s, _ := out["session"].(map[string]any); s["state"] != "waiting" || s["openid"] != "u3" {
		t.Errorf("GET the waiting session = %v", out)
	}
	out = api("GET", "/api/v1/queue?account="+testAppID, adminToken, "", 200)
	w, _ := out["waiting"].([]any)
	if len(w) != 1 {
		t.Fatalf("queue = %v", out)
	}
	if q := w[0].(map[string]any); q["openid"] != "u3" || q["session"] != got["u3"].ID || q["since"] == nil {
		t.Errorf("queue = %v, want u3 with since", out)
	} else if since, err := time.Parse(time.RFC3339Nano, q["since"].(string)); err != nil || since.Before(start3.Add(-time.Millisecond)) || since.After(checked) {
		t.Errorf("u3 queued since %v (%v), want since its first message at %v", q["since"], err, start3)
	}
	api("GET", "/api/v1/sessions?archived=1", adminToken, "", 404)
	api("GET", "/api/v1/sessions?state=asleep", adminToken, "", 400)
	api("GET", "/api/v1/sessions?cursor=nonsense", adminToken, "", 400)

	// The admin's WebSocket saw every event: each user's, and the status
	// of the agent's answer and of the queue notice.
	want := map[string]int{
		"session.assigned u1": 1, "message.received u1": 1,
		"session.assigned u2": 1, "message.received u2": 2,
		"session.queued u3": 1, "message.received u3": 2,
		"message.status u1 agent":  2, // queued, sent
		"message.status u3 notice": 1,
	}
	count := func() map[string]int {
		n := map[string]int{}
		for _, f := range seen() {
			var ev struct {
				Type, OpenID string
				Message      struct{ Kind string }
			}
			if err := json.Unmarshal([]byte(f), &ev); err != nil {
				t.Fatalf("frame %s: %v", f, err)
			}
			k := ev.Type + " " + ev.OpenID
			if ev.Type == "message.status" {
				k += " " + ev.Message.Kind
			}
			n[k]++
		}
		return n
	}
	waitFor(t, "the admin to see every event", func() bool {
		n := count()
		for k, v := range want {
			if n[k] < v {
				return false
			}
		}
		return true
	})
	if rdbEvents != nil {
		// On a real Redis, exactly the events stream, in its order.
		waitFor(t, "the admin's frames to match the events stream", func() bool {
			return slices.Equal(seen(), rdbEvents())
		})
	}
}
