package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/sim"
)

// Agents mapped to WeChat kf accounts, through the real serve, PostgreSQL
// and the simulated WeChat: the admin adds a kf account and an agent with
// it; the agent's answer goes out as the kf account (the simulator records
// customservice.kf_account on the send); what the kf account wrote inside
// WeChat's own tool is imported into the archive by the scheduled import,
// and is there once after two runs.
func TestKfAccountAgentAndTranscripts(t *testing.T) {
	const adminToken = "kfacct-admin-token-00000001"
	s := newSimulated(t, simulatedOptions{secret: "kfacct-secret", adminToken: adminToken, postgres: true,
		extra: "archive: {import_every: 10s}"})
	base, _, _ := startServe(t, s.config, nil)
	wechat := s.wechat
	api := func(method, path, token, body string, want int) map[string]any {
		t.Helper()
		status, out := apiCall(t, base, method, path, token, body)
		if status != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, status, out, want)
		}
		return out
	}

	api("POST", "/api/v1/accounts/"+testAppID+"/kf", adminToken, `{"kf_account":"ann@gh_e2e","nickname":"客服小安"}`, 201)
	out := api("POST", "/api/v1/agents", adminToken,
		`{"id":"ann","name":"客服小安","accounts":["`+testAppID+`"],"max_sessions":2,"kf_account":"ann@gh_e2e"}`, 201)
	ann, _ := out["token"].(string)
	out = api("GET", "/api/v1/accounts/"+testAppID+"/kf", adminToken, "", 200)
	if list, _ := out["kf_accounts"].([]any); len(list) != 1 || list[0].(map[string]any)["agent"] != "ann" {
		t.Fatalf("kf accounts = %v, want ann@gh_e2e linked to ann", out)
	}
	api("PUT", "/api/v1/agent/status", ann, `{"status":"online"}`, 200)
	// The admin's kf account calls are audited like the others.
	out = api("GET", "/api/v1/audit", adminToken, "", 200)
	audited := false
	for _, e := range out["entries"].([]any) {
		m := e.(map[string]any)
		audited = audited || m["action"] == "POST /api/v1/accounts/{account}/kf" && m["target"] == "account="+testAppID && m["status"] == float64(201)
	}
	if !audited {
		t.Errorf("the kf account's creation is not in the audit log: %v", out)
	}

	// A user writes; ann gets the session and answers.
	user := "o_kf_user"
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := p.Post(context.Background(), p.Prepare(sim.TextXML("gh_e2e", user, time.Now().Unix(), "在吗", 301))); err != nil || status != 200 {
		t.Fatalf("callback = %d %s %v", status, body, err)
	}
	var sid string
	waitFor(t, "ann to get the session", func() bool {
		_, out := apiCall(t, base, "GET", "/api/v1/agent/sessions", ann, "")
		if list, _ := out["sessions"].([]any); len(list) == 1 {
			sid, _ = list[0].(map[string]any)["id"].(string)
		}
		return sid != ""
	})
	api("POST", "/api/v1/sessions/"+sid+"/messages", ann, `{"type":"text","content":"您好，我是小安"}`, 202)
	var got sim.Received
	waitFor(t, "the answer to reach the user", func() bool {
		for _, r := range wechat.Received(testAppID, user) {
			if strings.Contains(string(r.Body), "您好，我是小安") {
				got = r
				return true
			}
		}
		return false
	})
	if got.KfAccount != "ann@gh_e2e" || !strings.Contains(string(got.Body), `"customservice":{"kf_account":"ann@gh_e2e"}`) {
		t.Errorf("the simulator recorded kf_account %q on %s, want ann@gh_e2e", got.KfAccount, got.Body)
	}

	// What ann wrote in WeChat's own tool a few minutes ago (older than
	// the import's lag), then two import runs.
	const inWeChat = "您的退款已在微信里处理"
	if err := wechat.KfSent(testAppID, user, "ann@gh_e2e", inWeChat, time.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	calls := wechat.Calls("/customservice/msgrecord/getmsglist")
	waitFor30 := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor30("two import runs", func() bool { return wechat.Calls("/customservice/msgrecord/getmsglist") >= calls+2 })

	out = api("GET", "/api/v1/search?q="+inWeChat, adminToken, "", 200)
	hits, _ := out["messages"].([]any)
	if len(hits) != 1 {
		t.Fatalf("search for the message written in WeChat found %d, want 1: %v", len(hits), out)
	}
	hit := hits[0].(map[string]any)
	if hit["imported"] != true || hit["kf_account"] != "ann@gh_e2e" || hit["agent"] != "ann" || hit["direction"] != "out" {
		t.Errorf("the imported message = %v", hit)
	}
	out = api("GET", fmt.Sprintf("/api/v1/sessions/%s/messages", hit["session_id"]), adminToken, "", 200)
	n := 0
	for _, m := range out["messages"].([]any) {
		if m.(map[string]any)["content"] == inWeChat {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the transcript holds the message %d times, want once: %v", n, out)
	}
}
