package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/openapitest"
	"github.com/kfgate/kfgate/internal/sim"
)

// A conversation through the real serve and the simulated WeChat: a user
// writes and waits; an agent comes online and gets the user; the agent
// answers over REST and the user receives it through WeChat's API; the
// agent transfers the user to a colleague; the colleague closes. Another
// agent cannot touch the session.
func TestConversationFlow(t *testing.T) {
	const adminToken = "flow-admin-token-000000001"
	setup := newSimulated(t, simulatedOptions{secret: "flow-secret", adminToken: adminToken})
	rdb, prefix, wechat := setup.rdb, setup.prefix, setup.wechat
	base, _, _ := startServe(t, setup.config, nil)

	api := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, base, method, path, token, body)
	}
	newAgent := func(id string) string {
		status, out := api("POST", "/api/v1/agents", adminToken, `{"id":"`+id+`","accounts":["`+testAppID+`"],"max_sessions":2}`)
		token, _ := out["token"].(string)
		if status != 201 || token == "" {
			t.Fatalf("create %s = %d %v", id, status, out)
		}
		return token
	}
	alice, bob, eve := newAgent("alice"), newAgent("bob"), newAgent("eve")

	// The user writes; nobody is online: the no_agent notice reaches the user.
	ctx := context.Background()
	user := "o_flow_user"
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := p.Post(ctx, p.Prepare(sim.TextXML("gh_flow", user, time.Now().Unix(), "在吗", 101))); err != nil || status != 200 {
		t.Fatalf("callback = %d %s %v", status, body, err)
	}
	received := func(n int) []sim.Received {
		t.Helper()
		waitFor(t, fmt.Sprintf("the user to receive %d messages", n), func() bool { return len(wechat.Received(testAppID, user)) >= n })
		return wechat.Received(testAppID, user)
	}
	if got := received(1); !strings.Contains(string(got[0].Body), "当前无客服在线") {
		t.Errorf("first message to the user: %s", got[0].Body)
	}

	// Alice comes online and gets the user.
	if status, out := api("PUT", "/api/v1/agent/status", alice, `{"status":"online"}`); status != 200 {
		t.Fatalf("alice online = %d %v", status, out)
	}
	var sessionID string
	waitFor(t, "alice to get the session", func() bool {
		_, out := api("GET", "/api/v1/agent/sessions", alice, "")
		list, _ := out["sessions"].([]any)
		if len(list) == 1 {
			sessionID, _ = list[0].(map[string]any)["id"].(string)
		}
		return sessionID != ""
	})

	// Alice answers; the user receives it through WeChat's API.
	status, out := api("POST", "/api/v1/sessions/"+sessionID+"/messages", alice, `{"type":"text","content":"您好，我是 Alice"}`)
	if msg, _ := out["message"].(map[string]any); status != 202 || msg["status"] != "queued" || msg["id"] == "" {
		t.Fatalf("answer = %d %v", status, out)
	}
	if got := received(2); !strings.Contains(string(got[1].Body), "您好，我是 Alice") {
		t.Errorf("the user got %s", got[1].Body)
	}
	// Alice sends a picture: uploaded to WeChat, then sent as an image.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	part, _ := mw.CreateFormFile("image", "receipt.png")
	part.Write([]byte("\x89PNG\r\n\x1a\n fake image bytes"))
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/api/v1/sessions/"+sessionID+"/images", &form)
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := openapitest.Load(t).Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("image = %d", resp.StatusCode)
	}
	if got := received(3); !strings.Contains(string(got[2].Body), `"msgtype":"image"`) || !strings.Contains(string(got[2].Body), "media_id") {
		t.Errorf("the user got %s, want the image", got[2].Body)
	}

	// WeChat's refusals are the client's 4xx with WeChat's reason, not a
	// 500: typing refused (45015), an image WeChat will not take (40005).
	for _, c := range []struct {
		path string
		code int
		call func() (int, map[string]any)
	}{
		{"/cgi-bin/message/custom/typing", 45015, func() (int, map[string]any) {
			return api("POST", "/api/v1/sessions/"+sessionID+"/typing", alice, `{"typing":true}`)
		}},
		{"/cgi-bin/media/upload", 40005, func() (int, map[string]any) {
			var form bytes.Buffer
			mw := multipart.NewWriter(&form)
			part, _ := mw.CreateFormFile("image", "x.png")
			part.Write([]byte("\x89PNG\r\n\x1a\n"))
			mw.Close()
			req, _ := http.NewRequest("POST", base+"/api/v1/sessions/"+sessionID+"/images", &form)
			req.Header.Set("Authorization", "Bearer "+alice)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}},
	} {
		if err := wechat.SetFaults(sim.Faults{ErrorRate: 1, ErrCode: c.code, ErrPath: c.path}); err != nil {
			t.Fatal(err)
		}
		status, out := c.call()
		if msg, _ := out["error"].(string); status != 400 || !strings.Contains(msg, fmt.Sprint(c.code)) {
			t.Errorf("%s refused with %d: kfgate answered %d %v, want 400 with the errcode", c.path, c.code, status, out)
		}
	}
	if err := wechat.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	// A plain GET on the WebSocket endpoint: 426, not a 500.
	if status, out := api("GET", "/api/v1/agent/ws", alice, ""); status != http.StatusUpgradeRequired || out["error"] == "" {
		t.Errorf("GET /api/v1/agent/ws without Upgrade = %d %v, want 426", status, out)
	}

	// Eve may not read, write, transfer or close it; the admin may not write.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/messages", ""}, {"POST", "/messages", `{"content":"hi"}`},
		{"POST", "/transfer", `{"to_agent":"eve"}`}, {"POST", "/close", ""},
	} {
		if status, out := api(c.method, "/api/v1/sessions/"+sessionID+c.path, eve, c.body); status != 403 {
			t.Errorf("eve %s %s = %d %v, want 403", c.method, c.path, status, out)
		}
	}
	if status, _ := api("POST", "/api/v1/sessions/"+sessionID+"/messages", adminToken, `{"content":"hi"}`); status != 403 {
		t.Errorf("admin writing to the user = %d, want 403", status)
	}

	// Bob comes online; Alice transfers the user with a command.
	if status, _ := api("PUT", "/api/v1/agent/status", bob, `{"status":"online"}`); status != 200 {
		t.Fatal("bob online")
	}
	status, out = api("POST", "/api/v1/sessions/"+sessionID+"/messages", alice, `{"content":"#transfer bob"}`)
	if cmd, _ := out["command"].(map[string]any); status != 200 || cmd["result"] != "transferred to bob" {
		t.Fatalf("#transfer bob = %d %v", status, out)
	}
	// Bob reads the context: both sides, in order, with their authors —
	// the user's message, the queue notice, Alice's text and her image.
	status, out = api("GET", "/api/v1/sessions/"+sessionID+"/messages", bob, "")
	var who []string
	msgs, _ := out["messages"].([]any)
	for _, m := range msgs {
		m, _ := m.(map[string]any)
		who = append(who, fmt.Sprint(m["direction"], " ", m["author"], " ", m["agent"], " ", m["type"]))
	}
	if want := "[in user <nil> text out system <nil> text out agent alice text out agent alice image]"; status != 200 || fmt.Sprint(who) != want {
		t.Errorf("bob reads the context: %d %v\ngot  %v\nwant %s", status, out, who, want)
	}
	if status, out := api("POST", "/api/v1/sessions/"+sessionID+"/close", bob, ""); status != 200 || out["state"] != "closed" {
		t.Fatalf("close = %d %v", status, out)
	}
	if status, _ := api("POST", "/api/v1/sessions/"+sessionID+"/close", bob, ""); status != 404 {
		t.Errorf("closing again = %d, want 404", status)
	}

	// The user gets the survey and taps 满意: the answer is recorded
	// against the session, and no new session opens.
	got := received(4)
	var survey struct {
		MsgType string `json:"msgtype"`
		Menu    struct {
			List []struct{ ID, Content string } `json:"list"`
		} `json:"msgmenu"`
	}
	if err := json.Unmarshal(got[3].Body, &survey); err != nil || survey.MsgType != "msgmenu" || len(survey.Menu.List) != 3 || survey.Menu.List[0].Content != "满意" {
		t.Fatalf("fourth message to the user: %s (%v)", got[3].Body, err)
	}
	click := fmt.Sprintf("<xml><ToUserName>gh_flow</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>text</MsgType><Content>满意</Content><MsgId>102</MsgId><bizmsgmenuid>%s</bizmsgmenuid></xml>", user, time.Now().Unix(), survey.Menu.List[0].ID)
	if status, _, err := p.Post(ctx, p.Prepare([]byte(click))); err != nil || status != 200 {
		t.Fatalf("survey click = %d %v", status, err)
	}
	waitFor(t, "the survey answer", func() bool {
		for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
			if x.Values["type"] == "survey.answered" && x.Values["session"] == sessionID &&
				strings.Contains(x.Values["event"].(string), `"choice":"101"`) {
				return true
			}
		}
		return false
	})
	if n := rdb.Exists(ctx, prefix+"sess:"+testAppID+":"+user).Val(); n != 0 {
		t.Error("the survey click opened a new session")
	}
}
