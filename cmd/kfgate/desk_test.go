package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
)

// The customer and the agents' tools through the real serve, with the
// archive on: an agent reads the user's WeChat profile and history, sets
// a remark and a tag that reach the simulated WeChat's user/info, writes
// notes and labels, and follows up after the session closed while the
// user's window is open (refused once it is not); a tag mapped to a skill
// routes a user to the agent with that skill; admins manage canned
// replies; the archive's search finds the user's words by a Chinese
// substring and a label. Another agent is refused everything.
func TestCustomerAndTools(t *testing.T) {
	const adminToken = "desk-admin-token-00000001"
	ctx := context.Background()
	_, prefix := redistest.New(t)
	_, pgURL := pgtest.New(t)
	wechat := sim.NewAPI(sim.APIOptions{Accounts: map[string]string{testAppID: "desk-secret"}})
	vip, err := wechat.AddTag(testAppID, "VIP")
	if err != nil {
		t.Fatal(err)
	}
	wx := httptest.NewServer(wechat)
	defer wx.Close()
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
postgres: {url: %q}
wechat: {api_base: %q}
accounts:
  - {appid: %s, secret: desk-secret, token: %s, aes_key: %s, tag_skills: ["%d=vip"]}
admin: {tokens: [%s]}
`, redistest.URL(), prefix, pgURL, wx.URL, testAppID, testToken, testAESKey, vip, adminToken))
	base, _, _ := startServe(t, cfg, nil)
	api := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, base, method, path, token, body)
	}
	tok := map[string]string{}
	for _, a := range []struct{ id, skills string }{{"alice", ""}, {"vic", `"vip"`}, {"eve", ""}} {
		status, out := api("POST", "/api/v1/agents", adminToken,
			`{"id":"`+a.id+`","accounts":["`+testAppID+`"],"skills":[`+a.skills+`],"max_sessions":3}`)
		if status != 201 {
			t.Fatalf("create %s = %d %v", a.id, status, out)
		}
		tok[a.id], _ = out["token"].(string)
	}
	online := func(id string) {
		if status, out := api("PUT", "/api/v1/agent/status", tok[id], `{"status":"online"}`); status != 200 {
			t.Fatalf("%s online = %d %v", id, status, out)
		}
	}
	online("alice")
	poster, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgID := int64(300)
	say := func(user, text string) {
		t.Helper()
		msgID++
		if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
			t.Fatal(err)
		}
		if status, body, err := poster.Post(ctx, poster.Prepare(sim.TextXML("gh_desk", user, time.Now().Unix(), text, msgID))); err != nil || status != 200 {
			t.Fatalf("callback = %d %s %v", status, body, err)
		}
	}
	sessionOf := func(agent, user string) string {
		t.Helper()
		var id string
		waitFor(t, agent+" to serve "+user, func() bool {
			_, out := api("GET", "/api/v1/agent/sessions", tok[agent], "")
			list, _ := out["sessions"].([]any)
			for _, s := range list {
				if m := s.(map[string]any); m["openid"] == user {
					id, _ = m["id"].(string)
				}
			}
			return id != ""
		})
		return id
	}

	// A user writes; alice serves them and reads who they are.
	const user = "o_desk_user"
	say(user, "你好，我想咨询退款申请单号 B778 的进度")
	sid := sessionOf("alice", user)
	userPath := "/api/v1/users/" + testAppID + "/" + user
	status, out := api("GET", userPath, tok["alice"], "")
	profile, _ := out["user"].(map[string]any)
	if status != 200 || profile["subscribe"] != 1.0 || profile["openid"] != user || out["session"] == nil {
		t.Fatalf("GET user = %d %v", status, out)
	}
	if tags, _ := out["tags"].([]any); len(tags) != 2 {
		t.Errorf("account tags = %v, want 星标组 and VIP", out["tags"])
	}
	if status, _ := api("GET", userPath, tok["eve"], ""); status != 403 {
		t.Errorf("eve reads alice's user: %d, want 403", status)
	}

	// Remark and tags reach WeChat.
	status, out = api("PATCH", userPath, tok["alice"], fmt.Sprintf(`{"remark":"老客户 王先生","tags":[2,%d]}`, vip))
	if p, _ := out["user"].(map[string]any); status != 200 || p["remark"] != "老客户 王先生" {
		t.Fatalf("PATCH user = %d %v", status, out)
	}
	if remark, tags := wechat.UserTags(testAppID, user); remark != "老客户 王先生" || !slices.Equal(tags, []int{2, vip}) {
		t.Errorf("WeChat's user/info has remark %q tags %v", remark, tags)
	}
	if status, _ = api("PATCH", userPath, tok["alice"], `{"tags":[2]}`); status != 200 {
		t.Fatalf("untag = %d", status)
	}
	if _, tags := wechat.UserTags(testAppID, user); !slices.Equal(tags, []int{2}) {
		t.Errorf("after untagging, WeChat has tags %v", tags)
	}
	for _, bad := range []string{`{}`, `{"remark":"` + strings.Repeat("长", 31) + `"}`, `{"tags":"x"}`} {
		if status, out := api("PATCH", userPath, tok["alice"], bad); status != 400 || out["error"] == "" {
			t.Errorf("PATCH %s = %d %v, want 400", bad, status, out)
		}
	}
	if status, _ := api("PATCH", userPath, tok["eve"], `{"remark":"x"}`); status != 403 {
		t.Errorf("eve PATCH = %d, want 403", status)
	}

	// Notes and labels on the session; eve may not.
	if status, out := api("POST", "/api/v1/sessions/"+sid+"/notes", tok["alice"], `{"text":"用户很着急，优先处理"}`); status != 201 {
		t.Fatalf("note = %d %v", status, out)
	}
	status, out = api("GET", "/api/v1/sessions/"+sid+"/notes", adminToken, "")
	if notes, _ := out["notes"].([]any); status != 200 || len(notes) != 1 || notes[0].(map[string]any)["author"] != "alice" {
		t.Errorf("notes = %d %v", status, out)
	}
	status, out = api("PUT", "/api/v1/sessions/"+sid+"/labels", tok["alice"], `{"labels":["refund"," vip","refund"]}`)
	if l, _ := out["labels"].([]any); status != 200 || len(l) != 2 || l[0] != "refund" || l[1] != "vip" {
		t.Errorf("labels = %d %v", status, out)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/notes", `{"text":"x"}`}, {"GET", "/notes", ""}, {"PUT", "/labels", `{"labels":["x"]}`},
	} {
		if status, _ := api(c.method, "/api/v1/sessions/"+sid+c.path, tok["eve"], c.body); status != 403 {
			t.Errorf("eve %s %s = %d, want 403", c.method, c.path, status)
		}
	}

	// The session closes; alice follows up while the window is open.
	if status, _ := api("POST", "/api/v1/sessions/"+sid+"/close", tok["alice"], ""); status != 200 {
		t.Fatal("close")
	}
	status, out = api("POST", userPath+"/messages", tok["alice"], `{"content":"您的退款已经处理好了"}`)
	sess, _ := out["session"].(map[string]any)
	if status != 202 || sess["agent"] != "alice" || sess["state"] != "serving" || sess["id"] == sid {
		t.Fatalf("follow-up = %d %v", status, out)
	}
	waitFor(t, "the follow-up to reach the user", func() bool {
		for _, r := range wechat.Received(testAppID, user) {
			if strings.Contains(string(r.Body), "您的退款已经处理好了") {
				return true
			}
		}
		return false
	})
	if status, out := api("POST", userPath+"/messages", tok["eve"], `{"content":"hi"}`); status != 409 {
		t.Errorf("eve following up alice's user = %d %v, want 409 (the user is alice's)", status, out)
	}
	// A user who never wrote (or wrote more than 48 hours ago): refused.
	status, out = api("POST", "/api/v1/users/"+testAppID+"/o_silent_user/messages", tok["alice"], `{"content":"hi"}`)
	if msg, _ := out["error"].(string); status != 409 || !strings.Contains(msg, "48 hours") {
		t.Errorf("follow-up outside the window = %d %v, want 409 with the reason", status, out)
	}
	if status, _ := api("POST", userPath+"/messages", adminToken, `{"content":"hi"}`); status != 403 {
		t.Errorf("admin follow-up = %d, want 403", status)
	}

	// A VIP-tagged user goes to vic, who has the skill, though alice is free.
	online("vic")
	const vipUser = "o_desk_vip"
	if err := wechat.Interact(testAppID, vipUser, sim.InteractFollow, time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, out := api("PATCH", "/api/v1/users/"+testAppID+"/"+vipUser, adminToken, fmt.Sprintf(`{"tags":[%d]}`, vip)); status != 200 {
		t.Fatalf("tag the VIP = %d %v", status, out)
	}
	say(vipUser, "在吗")
	vipSession := sessionOf("vic", vipUser)
	_, out = api("GET", "/api/v1/agent/sessions", tok["vic"], "")
	for _, s := range out["sessions"].([]any) {
		if m := s.(map[string]any); m["id"] == vipSession && m["skill"] != "vip" {
			t.Errorf("the VIP user's session has skill %v, want vip (from the tag)", m["skill"])
		}
	}

	// Canned replies: admins manage, agents read.
	status, out = api("POST", "/api/v1/canned", adminToken, `{"shortcut":"hi","title":"问候","content":"您好，请问有什么可以帮您？"}`)
	c, _ := out["canned"].(map[string]any)
	if status != 201 || c["id"] == "" {
		t.Fatalf("create canned = %d %v", status, out)
	}
	if status, _ := api("POST", "/api/v1/canned", adminToken, `{"shortcut":"hi","content":"again"}`); status != 409 {
		t.Errorf("duplicate shortcut = %d, want 409", status)
	}
	if status, _ := api("POST", "/api/v1/canned", adminToken, `{"account":"wxnobody","shortcut":"x","content":"y"}`); status != 400 {
		t.Errorf("canned of an unknown account = %d, want 400", status)
	}
	if status, _ := api("POST", "/api/v1/canned", tok["alice"], `{"shortcut":"x","content":"y"}`); status != 403 {
		t.Errorf("agent creating canned = %d, want 403", status)
	}
	status, out = api("GET", "/api/v1/canned", tok["alice"], "")
	if list, _ := out["canned"].([]any); status != 200 || len(list) != 1 {
		t.Errorf("agent lists canned = %d %v", status, out)
	}
	if status, _ := api("PUT", "/api/v1/canned/"+c["id"].(string), adminToken, `{"shortcut":"hello","content":"您好！"}`); status != 200 {
		t.Errorf("update canned = %d", status)
	}
	if status, _ := api("DELETE", "/api/v1/canned/"+c["id"].(string), adminToken, ""); status != 204 {
		t.Errorf("delete canned = %d", status)
	}
	if status, _ := api("DELETE", "/api/v1/canned/"+c["id"].(string), adminToken, ""); status != 404 {
		t.Errorf("delete again = %d, want 404", status)
	}

	// The archive: the user's past sessions with transcripts, and search.
	waitFor(t, "the archive to hold the closed session", func() bool {
		_, out := api("GET", userPath, tok["alice"], "")
		past, _ := out["sessions"].([]any)
		for _, p := range past {
			if m := p.(map[string]any); m["id"] == sid {
				msgs, _ := m["messages"].([]any)
				return len(msgs) > 0
			}
		}
		return false
	})
	search := func(token string, q url.Values) []any {
		t.Helper()
		status, out := api("GET", "/api/v1/search?"+q.Encode(), token, "")
		if status != 200 {
			t.Fatalf("search %v = %d %v", q, status, out)
		}
		msgs, _ := out["messages"].([]any)
		return msgs
	}
	if hits := search(adminToken, url.Values{"q": {"退款申请单号"}, "label": {"refund"}}); len(hits) != 1 ||
		hits[0].(map[string]any)["session_id"] != sid {
		t.Errorf("search by text and label: %v", hits)
	}
	if hits := search(adminToken, url.Values{"q": {"退款申请单号"}, "label": {"other"}}); len(hits) != 0 {
		t.Errorf("search with another label: %v", hits)
	}
	if hits := search(tok["alice"], url.Values{"q": {"申请单号"}}); len(hits) != 1 {
		t.Errorf("alice's search: %v", hits)
	}
	if hits := search(tok["eve"], url.Values{"q": {"申请单号"}}); len(hits) != 0 {
		t.Errorf("eve found alice's user: %v", hits)
	}
	if status, _ := api("GET", "/api/v1/search?q=x&agent=alice", tok["eve"], ""); status != 403 {
		t.Errorf("eve searching alice's sessions = %d, want 403", status)
	}
	if status, _ := api("GET", "/api/v1/search?q=", adminToken, ""); status != 400 {
		t.Errorf("empty search = %d, want 400", status)
	}
}
