package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/sim"
)

// documentedEvents reads docs/events.md: under each "### `<type>`" heading,
// the first ```json block is that event type's example; under "## Messages",
// the first is a message (kf.Item) with every field, returned as "#item".
func documentedEvents(t *testing.T) map[string]map[string]any {
	t.Helper()
	f, err := os.Open("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	typ, inBlock, block := "", false, []string{}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### `") && strings.HasSuffix(line, "`"):
			typ = strings.Trim(strings.TrimPrefix(line, "### "), "`")
		case line == "## Messages":
			typ = "#item"
		case line == "```json" && typ != "" && out[typ] == nil:
			inBlock, block = true, nil
		case line == "```" && inBlock:
			inBlock = false
			var ex map[string]any
			if err := json.Unmarshal([]byte(strings.Join(block, "\n")), &ex); err != nil {
				t.Fatalf("docs/events.md: the example of %s: %v", typ, err)
			}
			if ex["type"] != typ && typ != "#item" {
				t.Fatalf("docs/events.md: the example under %s has type %v", typ, ex["type"])
			}
			out[typ] = ex
		case inBlock:
			block = append(block, line)
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/events.md documents no event")
	}
	return out
}

// fieldPaths lists the field names of a JSON value as paths ("message.location.label");
// the elements of an array share the path of the array with "[]".
func fieldPaths(prefix string, v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			into[p] = true
			fieldPaths(p, x, into)
		}
	case []any:
		for _, x := range v {
			fieldPaths(prefix+"[]", x, into)
		}
	}
}

// Every event kfgate emits matches docs/events.md: a scripted conversation
// through the real serve (users, two agents, a queue, a transfer with
// context, a transfer to a queue, an answer, closes by an agent and by
// idleness, a survey answer, a menu click, a location) produces events of
// documented types only, each with documented field names only; and every
// documented type occurs, so the document holds no fiction.
func TestEventsMatchDocument(t *testing.T) {
	const adminToken = "events-admin-token-0000001"
	docs := documentedEvents(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	setup := newSimulated(t, simulatedOptions{secret: "events-secret", adminToken: adminToken, plaintext: true,
		account: `menu_skills: ["HELP=billing"]`,
		extra:   "engine: {idle_timeout: 2500ms, warn_before: 1s, reply_sla: {first: 200ms}}\nscheduler: {every: 100ms}"})
	rdb, prefix, wechat := setup.rdb, setup.prefix, setup.wechat
	base, _, _ := startServe(t, setup.config, nil)
	api := func(method, path, token, body string, want int) map[string]any {
		t.Helper()
		status, out := apiCall(t, base, method, path, token, body)
		if status != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, status, out, want)
		}
		return out
	}
	tokens := map[string]string{}
	for id, max := range map[string]int{"ann": 1, "bob": 2} {
		out := api("POST", "/api/v1/agents", adminToken, fmt.Sprintf(`{"id":%q,"accounts":[%q],"skills":["billing"],"max_sessions":%d}`, id, testAppID, max), 201)
		tokens[id], _ = out["token"].(string)
	}
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgID := int64(700)
	post := func(user, xml string) {
		t.Helper()
		if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
			t.Fatal(err)
		}
		if status, body, err := p.Post(ctx, p.Prepare([]byte(xml))); err != nil || status != 200 {
			t.Fatalf("callback = %d %s %v", status, body, err)
		}
	}
	text := func(user, s string) {
		t.Helper()
		msgID++
		post(user, string(sim.TextXML("gh_ev", user, time.Now().Unix(), s, msgID)))
	}
	sessionOf := func(user string) string {
		t.Helper()
		var id string
		waitFor(t, user+"'s session", func() bool {
			id = rdb.HGet(ctx, prefix+"sess:"+testAppID+":"+user, "id").Val()
			return id != ""
		})
		return id
	}
	stateOf := func(user, want string) {
		t.Helper()
		waitFor(t, user+" "+want, func() bool { return rdb.HGet(ctx, prefix+"sess:"+testAppID+":"+user, "state").Val() == want })
	}

	// u1 writes; Ann is online and takes u1. u2 writes and waits (Ann is
	// full, Bob away), writes again, clicks a menu and sends a location.
	api("PUT", "/api/v1/agent/status", tokens["ann"], `{"status":"online"}`, 200)
	text("u1", "在吗")
	s1 := sessionOf("u1")
	stateOf("u1", "serving")
	text("u2", "有人吗")
	s2 := sessionOf("u2")
	text("u2", "还在等")
	post("u2", fmt.Sprintf("<xml><ToUserName>gh_ev</ToUserName><FromUserName>u2</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>event</MsgType><Event>CLICK</Event><EventKey>ORDERS</EventKey></xml>", time.Now().Unix()))
	post("u2", fmt.Sprintf("<xml><ToUserName>gh_ev</ToUserName><FromUserName>u2</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>location</MsgType><Location_X>31.2304</Location_X><Location_Y>121.4737</Location_Y><Scale>15</Scale>"+
		"<Label>上海市黄浦区</Label><MsgId>799</MsgId></xml>", time.Now().Unix()))
	waitFor(t, "u2's four messages", func() bool { return rdb.LLen(ctx, prefix+"ctx:"+testAppID+":u2").Val() >= 4 })
	// Bob comes online and takes u2 (with what u2 wrote while waiting).
	api("PUT", "/api/v1/agent/status", tokens["bob"], `{"status":"online"}`, 200)
	stateOf("u2", "serving")
	// Bob owes u2 an answer past the reply SLA: u2's session is overdue.
	waitFor(t, "u2's session overdue", func() bool { return rdb.HGet(ctx, prefix+"sess:"+testAppID+":u2", "overdue").Val() == "1" })
	// Ann answers u1, notes something for whoever comes next, then hands
	// u1 to Bob (both sides replayed).
	api("POST", "/api/v1/sessions/"+s1+"/messages", tokens["ann"], `{"content":"您好"}`, 202)
	api("POST", "/api/v1/sessions/"+s1+"/notes", tokens["ann"], `{"text":"客户要开发票"}`, 201)
	waitFor(t, "Ann's answer sent", func() bool { return len(wechat.Received(testAppID, "u1")) >= 1 })
	api("POST", "/api/v1/sessions/"+s1+"/transfer", tokens["ann"], `{"to_agent":"bob"}`, 200)
	// Ann steps away; Bob hands u1 to the billing group, where nobody else
	// is free: u1 queues, and Bob, who has room again, takes u1 back from
	// the queue (the context replayed once more).
	api("PUT", "/api/v1/agent/status", tokens["ann"], `{"status":"away"}`, 200)
	api("POST", "/api/v1/sessions/"+s1+"/transfer", tokens["bob"], `{"skill":"billing"}`, 200)
	stateOf("u1", "serving")
	// The admin closes u1; u1 taps the survey's last choice (flagged).
	api("POST", "/api/v1/sessions/"+s1+"/close", adminToken, "", 200)
	var choice, label string
	waitFor(t, "the survey", func() bool {
		for _, r := range wechat.Received(testAppID, "u1") {
			var m struct {
				MsgType string `json:"msgtype"`
				Menu    struct {
					List []struct{ ID, Content string } `json:"list"`
				} `json:"msgmenu"`
			}
			if json.Unmarshal(r.Body, &m) == nil && m.MsgType == "msgmenu" && len(m.Menu.List) > 0 {
				last := m.Menu.List[len(m.Menu.List)-1]
				choice, label = last.ID, last.Content
				return true
			}
		}
		return false
	})
	post("u1", fmt.Sprintf("<xml><ToUserName>gh_ev</ToUserName><FromUserName>u1</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>text</MsgType><Content>%s</Content><MsgId>798</MsgId><bizmsgmenuid>%s</bizmsgmenuid></xml>", time.Now().Unix(), label, choice))
	// Bob answers u2, who falls silent: warned, then closed for idleness.
	api("POST", "/api/v1/sessions/"+s2+"/messages", tokens["bob"], `{"content":"请问有什么可以帮您"}`, 202)
	waitFor(t, "u2 closed for idleness", func() bool {
		return rdb.HGet(ctx, prefix+"sess:"+testAppID+":u2", "id").Val() != s2
	})

	// Every event of the stream against the document.
	waitFor(t, "every documented event type", func() bool {
		seen := map[string]bool{}
		for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
			seen[x.Values["type"].(string)] = true
		}
		for typ := range docs {
			if !seen[typ] && typ != "#item" {
				return false
			}
		}
		return true
	})
	documented := map[string]map[string]bool{}
	for typ, ex := range docs {
		documented[typ] = map[string]bool{}
		fieldPaths("", ex, documented[typ])
	}
	undocumented := map[string]bool{}
	emitted := map[string]map[string]bool{}
	for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
		body := x.Values["event"].(string)
		var ev map[string]any
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatalf("event %s: %v", body, err)
		}
		typ, _ := ev["type"].(string)
		if documented[typ] == nil {
			t.Errorf("event type %q is not in docs/events.md: %s", typ, body)
			continue
		}
		paths := map[string]bool{}
		fieldPaths("", ev, paths)
		if emitted[typ] == nil {
			emitted[typ] = map[string]bool{}
		}
		for p := range paths {
			emitted[typ][p] = true
			if !documented[typ][p] && (typ == "message.status" || !documentedItemField(documented["#item"], p)) {
				undocumented[typ+": "+p] = true
			}
		}
	}
	if len(undocumented) > 0 {
		keys := make([]string, 0, len(undocumented))
		for k := range undocumented {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("fields not in docs/events.md:\n%s", strings.Join(keys, "\n"))
	}
	// Each example's top-level fields are ones kfgate emits.
	for typ, ex := range docs {
		for k := range ex {
			if typ != "#item" && !emitted[typ][k] {
				t.Errorf("docs/events.md: %s shows %q, which no %s event carried", typ, k, typ)
			}
		}
	}
}

// documentedItemField reports whether path names a field of a message
// (the message of message.received, an entry of a context) that the full
// message of docs/events.md's "## Messages" shows.
func documentedItemField(item map[string]bool, path string) bool {
	for _, head := range []string{"message.", "context[]."} {
		if tail, ok := strings.CutPrefix(path, head); ok {
			return item[tail]
		}
	}
	return false
}
