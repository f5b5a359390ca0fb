package main

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/openapitest"
	"github.com/kfgate/kfgate/internal/sim"
)

// Every operation of docs/openapi.yaml, called on the real serve (Redis,
// PostgreSQL, the simulated WeChat) until it answers with success, and a
// client error of each kind: each response is validated against the
// document's schema for its status (apiCall sends through openapitest's
// client), and at the end every operation must have had a success
// validated. The WebSocket's 101 is the one exception.
func TestAPIResponsesMatchOpenAPI(t *testing.T) {
	const adminToken = "oas-admin-token-0000000001"
	setup := newSimulated(t, simulatedOptions{secret: "oas-secret", adminToken: adminToken, postgres: true, plaintext: true,
		admin: "max_auth_failures: 1000"})
	rdb, prefix, wechat := setup.rdb, setup.prefix, setup.wechat
	base, _, _ := startServe(t, setup.config, nil)
	doc := openapitest.Load(t)
	api := func(method, path, token, body string, want int) map[string]any {
		t.Helper()
		status, out := apiCall(t, base, method, path, token, body)
		if status != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, status, out, want)
		}
		return out
	}

	// Agents, as the admin.
	out := api("POST", "/api/v1/agents", adminToken, `{"id":"ann","name":"Ann","accounts":["`+testAppID+`"],"skills":["billing"],"max_sessions":2}`, 201)
	ann, _ := out["token"].(string)
	api("POST", "/api/v1/agents", adminToken, `{"id":"ann","accounts":["`+testAppID+`"],"max_sessions":1}`, 409)
	api("POST", "/api/v1/agents", adminToken, `{"id":`, 400)
	api("POST", "/api/v1/agents", "", `{}`, 401)
	api("GET", "/api/v1/agents", adminToken, "", 200)
	api("GET", "/api/v1/agents/ann", adminToken, "", 200)
	api("GET", "/api/v1/agents/nobody", adminToken, "", 404)
	api("PATCH", "/api/v1/agents/ann", adminToken, `{"weight":2}`, 200)
	out = api("POST", "/api/v1/agents", adminToken, `{"id":"ben","accounts":["`+testAppID+`"],"max_sessions":2}`, 201)
	ben, _ := out["token"].(string)
	out = api("POST", "/api/v1/agents/ben/token", adminToken, "", 201)
	if tok, _ := out["token"].(string); tok != "" {
		ben = tok
	}
	api("GET", "/api/v1/accounts", adminToken, "", 200)
	api("GET", "/api/v1/queue?account="+testAppID, adminToken, "", 200)
	api("GET", "/api/v1/queue", adminToken, "", 400)
	api("GET", "/api/v1/agents", ann, "", 403)

	// The agent's own calls.
	api("PUT", "/api/v1/agent/status", ann, `{"status":"online"}`, 200)
	api("PUT", "/api/v1/agent/status", ann, `{"status":"asleep"}`, 400)
	api("POST", "/api/v1/agent/heartbeat", ann, "", 200)
	api("PUT", "/api/v1/agent/status", ben, `{"status":"online"}`, 200)

	// A user writes; one of the two agents serves the session.
	user := "o_oas_user"
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, _ := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	if status, body, err := p.Post(context.Background(), p.Prepare(sim.TextXML("gh_oas", user, time.Now().Unix(), "你好", 901))); err != nil || status != 200 {
		t.Fatalf("callback = %d %s %v", status, body, err)
	}
	var sid, owner, other string
	waitFor(t, "an agent to get the session", func() bool {
		for _, tok := range []string{ann, ben} {
			_, out := apiCall(t, base, "GET", "/api/v1/agent/sessions", tok, "")
			if list, _ := out["sessions"].([]any); len(list) == 1 {
				sid, _ = list[0].(map[string]any)["id"].(string)
				owner = tok
			}
		}
		return sid != ""
	})
	other = ben
	if owner == ben {
		other = ann
	}
	s := "/api/v1/sessions/" + sid
	api("POST", s+"/messages", owner, `{"type":"text","content":"您好"}`, 202)
	api("POST", s+"/messages", owner, `{"content":"#help"}`, 200)
	api("POST", s+"/messages", other, `{"content":"hi"}`, 403)
	api("POST", "/api/v1/sessions/no-such-session/messages", owner, `{"content":"hi"}`, 404)
	api("POST", s+"/typing", owner, `{"typing":true}`, 200)
	api("GET", s+"/messages", owner, "", 200)

	// The customer and the tools, on the live session.
	u := "/api/v1/users/" + testAppID + "/" + user
	api("GET", u, owner, "", 200)
	api("GET", u, other, "", 403)
	api("PATCH", u, owner, `{"remark":"老客户","tags":[2]}`, 200)
	api("PATCH", u, owner, `{}`, 400)
	api("GET", "/api/v1/users/wxnobody/"+user, adminToken, "", 404)
	api("POST", s+"/notes", owner, `{"text":"优先处理"}`, 201)
	api("POST", s+"/notes", owner, `{"text":""}`, 400)
	api("GET", s+"/notes", adminToken, "", 200)
	api("PUT", s+"/labels", owner, `{"labels":["refund"]}`, 200)
	api("GET", s+"/labels", owner, "", 200)
	api("GET", s+"/labels", other, "", 403)
	out = api("POST", "/api/v1/canned", adminToken, `{"shortcut":"hi","content":"您好"}`, 201)
	cannedID, _ := out["canned"].(map[string]any)["id"].(string)
	api("POST", "/api/v1/canned", adminToken, `{"shortcut":"hi","content":"again"}`, 409)
	api("POST", "/api/v1/canned", owner, `{"shortcut":"x","content":"y"}`, 403)
	api("GET", "/api/v1/canned", owner, "", 200)
	api("PUT", "/api/v1/canned/"+cannedID, adminToken, `{"shortcut":"hello","content":"您好！"}`, 200)
	api("DELETE", "/api/v1/canned/"+cannedID, adminToken, "", 204)
	api("DELETE", "/api/v1/canned/"+cannedID, adminToken, "", 404)

	// The user sends a picture: downloaded, then served to the agent.
	mediaID, _ := wechat.AddMedia(testAppID, "image", []byte("\xff\xd8\xff\xe0 a picture"), "")
	image := fmt.Sprintf("<xml><ToUserName>gh_oas</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>image</MsgType><PicUrl>http://x/y</PicUrl><MediaId>%s</MediaId><MsgId>902</MsgId></xml>", user, time.Now().Unix(), mediaID)
	if status, body, err := p.Post(context.Background(), p.Prepare([]byte(image))); err != nil || status != 200 {
		t.Fatalf("image callback = %d %s %v", status, body, err)
	}
	m := media.URL(testAppID, mediaID)
	waitFor(t, "the picture to be stored", func() bool {
		_, out := apiCall(t, base, "GET", m+"/info", adminToken, "")
		info, _ := out["media"].(map[string]any)
		return info["status"] == "stored"
	})
	for _, rng := range []string{"", "bytes=0-3"} {
		req, _ := http.NewRequest("GET", base+m, nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := doc.Client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	api("GET", m, other, "", 403)
	api("GET", "/api/v1/media/nosuchmedia", adminToken, "", 404)

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	part, _ := mw.CreateFormFile("image", "a.png")
	part.Write([]byte("\x89PNG\r\n\x1a\n fake image bytes"))
	mw.Close()
	req, _ := http.NewRequest("POST", base+s+"/images", &form)
	req.Header.Set("Authorization", "Bearer "+owner)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := doc.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("image = %d", resp.StatusCode)
	}

	otherID := "ann"
	if other == ben {
		otherID = "ben"
	}
	api("POST", s+"/transfer", owner, `{"to_agent":"`+otherID+`"}`, 200)
	api("POST", s+"/close", adminToken, "", 200)

	// The archive: the session, its transitions, its transcript, the figures.
	waitFor(t, "the archive to have the closed session", func() bool {
		status, out := apiCall(t, base, "GET", s, adminToken, "")
		sess, _ := out["session"].(map[string]any)
		return status == 200 && sess["state"] == "closed"
	})
	api("GET", "/api/v1/sessions?account="+testAppID, adminToken, "", 200)
	api("GET", "/api/v1/sessions?limit=0", adminToken, "", 400)
	api("GET", s+"/messages?limit=10", adminToken, "", 200)
	api("GET", "/api/v1/stats?account="+testAppID, adminToken, "", 200)
	api("GET", "/api/v1/stats?from=yesterday", adminToken, "", 400)
	api("GET", "/api/v1/sessions/no-such-session", adminToken, "", 404)
	api("GET", "/api/v1/search?q=你好&label=refund", adminToken, "", 200)
	api("GET", "/api/v1/search?q=", adminToken, "", 400)
	api("POST", "/api/v1/users/"+testAppID+"/"+user+"/messages", owner, `{"content":"您好，还有问题吗？"}`, 202)
	api("POST", "/api/v1/users/"+testAppID+"/o_never_wrote/messages", owner, `{"content":"hi"}`, 409)

	api("DELETE", "/api/v1/agents/ben/token", adminToken, "", 204)
	api("DELETE", "/api/v1/agents/ben", adminToken, "", 204)
	api("DELETE", "/api/v1/agents/ben", adminToken, "", 404)

	// People and the console's sign-in, with a browser's cookie.
	browser := doc.Client(t)
	browser.Jar, _ = cookiejar.New(nil)
	call := func(method, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Origin", base)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s by cookie = %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	api("POST", "/api/v1/agents", adminToken, `{"id":"cat","accounts":["`+testAppID+`"],"max_sessions":1,"role":"supervisor","password":"cat-password-1"}`, 201)
	api("PUT", "/api/v1/agents/cat/password", adminToken, `{"password":"cat-password-2"}`, 204)
	api("PUT", "/api/v1/agents/cat/password", adminToken, `{"password":"short"}`, 400)
	call("POST", "/api/v1/session", `{"username":"cat","password":"cat-password-1"}`, 401)
	call("POST", "/api/v1/session", `{"username":"cat","password":"cat-password-2"}`, 200)
	call("GET", "/api/v1/me", "", 200)
	call("GET", "/api/v1/agent/team", "", 200)
	call("PUT", "/api/v1/me/password", `{"old_password":"cat-password-2","password":"cat-password-3"}`, 204)
	call("DELETE", "/api/v1/session", "", 204)
	call("GET", "/api/v1/me", "", 401)
	call("POST", "/api/v1/session", `{"username":"cat","password":"cat-password-3"}`, 200)
	call("DELETE", "/api/v1/me/sessions", "", 204)
	api("GET", "/api/v1/me", adminToken, "", 200)
	// The dead-letter stream: an event the archive cannot parse lands there.
	rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: prefix + "events", Values: map[string]any{"type": "message.in", "payload": "{"}})
	var deadID string
	waitFor(t, "the archive to dead-letter the bad event", func() bool {
		_, out := apiCall(t, base, "GET", "/api/v1/deadletters?limit=10", adminToken, "")
		if list, _ := out["deadletters"].([]any); len(list) == 1 {
			deadID, _ = list[0].(map[string]any)["id"].(string)
		}
		return deadID != ""
	})
	api("GET", "/api/v1/deadletters?after=x", adminToken, "", 400)
	api("POST", "/api/v1/deadletters/"+deadID+"/retry", adminToken, "", 202)
	api("POST", "/api/v1/deadletters/"+deadID+"/retry", adminToken, "", 404)
	waitFor(t, "the retried event to be dead again", func() bool {
		_, out := apiCall(t, base, "GET", "/api/v1/deadletters", adminToken, "")
		if list, _ := out["deadletters"].([]any); len(list) == 1 {
			deadID, _ = list[0].(map[string]any)["id"].(string)
			return true
		}
		return false
	})
	api("DELETE", "/api/v1/deadletters/"+deadID, adminToken, "", 204)
	api("DELETE", "/api/v1/deadletters/"+deadID, adminToken, "", 404)

	// A user's data, and the audit log that records its export and erasure.
	api("GET", "/api/v1/users/"+testAppID+"/"+user+"/export", adminToken, "", 200)
	api("GET", "/api/v1/users/wxnobody/"+user+"/export", adminToken, "", 404)
	api("DELETE", "/api/v1/users/"+testAppID+"/o_never_wrote", adminToken, "", 200)
	api("GET", "/api/v1/users/"+testAppID+"/"+user+"/export", owner, "", 403)
	api("GET", "/api/v1/audit?limit=5", adminToken, "", 200)
	api("GET", "/api/v1/audit?limit=0", adminToken, "", 400)
	api("GET", "/api/v1/audit?action=DELETE+/api/v1/users/{account}/{openid}&from=2020-01-01T00:00:00Z&limit=1", adminToken, "", 200)
	api("GET", "/api/v1/audit?from=yesterday", adminToken, "", 400)
	api("GET", "/api/v1/audit?before=1700000000000-0", adminToken, "", 400) // a Redis id, the log being in PostgreSQL

	// The account's WeChat kf accounts, linked to agents.
	k := "/api/v1/accounts/" + testAppID + "/kf"
	api("POST", k, adminToken, `{"kf_account":"ann@gh_oas","nickname":"Ann"}`, 201)
	api("POST", k, adminToken, `{"kf_account":"ann@gh_oas","nickname":"Ann"}`, 409)
	api("POST", k, adminToken, `{"kf_account":"no at sign","nickname":"Ann"}`, 400)
	api("POST", k, owner, `{"kf_account":"x@gh_oas","nickname":"X"}`, 403)
	api("GET", "/api/v1/accounts/wxnobody/kf", adminToken, "", 404)
	api("PATCH", "/api/v1/agents/ann", adminToken, `{"kf_account":"ann@gh_oas"}`, 200)
	api("PATCH", "/api/v1/agents/cat", adminToken, `{"kf_account":"ann@gh_oas"}`, 409)
	api("GET", k, adminToken, "", 200)
	api("GET", "/api/v1/accounts/"+testAppID+"/kf-sync", adminToken, "", 200)
	api("PATCH", k+"/ann@gh_oas", adminToken, `{"nickname":"Ann L."}`, 200)
	api("PATCH", k+"/nobody@gh_oas", adminToken, `{"nickname":"N"}`, 404)
	var avatar bytes.Buffer
	mw = multipart.NewWriter(&avatar)
	part, _ = mw.CreateFormFile("avatar", "ann.jpg")
	part.Write([]byte("\xff\xd8\xff\xe0 a face"))
	mw.Close()
	req, _ = http.NewRequest("PUT", base+k+"/ann@gh_oas/avatar", &avatar)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err = doc.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("avatar = %d", resp.StatusCode)
	}
	api("POST", k+"/ann@gh_oas/invite", adminToken, `{"invite_wx":"ann_wechat_1"}`, 202)
	api("POST", k+"/ann@gh_oas/invite", adminToken, `{"invite_wx":""}`, 400)
	api("DELETE", k+"/ann@gh_oas", adminToken, "", 204)
	api("DELETE", k+"/ann@gh_oas", adminToken, "", 404)

	success := map[string][]int{}
	for _, op := range doc.Operations() {
		success[op] = []int{200}
	}
	for _, op := range []string{"createAgent", "issueAgentToken"} {
		success[op] = []int{201}
	}
	for _, op := range []string{"deleteAgent", "revokeAgentToken", "deleteDeadLetter", "signOut", "signOutEverywhere", "resetPassword", "changePassword"} {
		success[op] = []int{204}
	}
	success["sendMessage"] = []int{200, 202}
	success["sendImage"] = []int{202}
	success["retryDeadLetter"] = []int{202}
	success["createCanned"] = []int{201}
	success["addNote"] = []int{201}
	success["deleteCanned"] = []int{204}
	success["followUp"] = []int{202}
	success["getMedia"] = []int{200, 206}
	success["addKfAccount"] = []int{201}
	success["deleteKfAccount"] = []int{204}
	success["setKfAvatar"] = []int{204}
	success["inviteKfWorker"] = []int{202}
	delete(success, "myEvents") // 101, a WebSocket: agentws's tests
	for op, statuses := range success {
		for _, st := range statuses {
			if doc.Checked(op, st) == 0 {
				t.Errorf("%s: no %d response was validated", op, st)
			}
		}
	}
	ops := make([]string, 0, len(success))
	for op := range success {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	t.Logf("validated the successes of %d operations: %s", len(ops), strings.Join(ops, " "))
	for _, st := range []int{400, 401, 403, 404, 409} {
		n := 0
		for op := range success {
			n += doc.Checked(op, st)
		}
		if n == 0 {
			t.Errorf("no %d response was validated", st)
		}
	}
}
