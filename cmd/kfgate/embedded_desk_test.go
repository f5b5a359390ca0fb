package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/sim"
)

// On the embedded default (no Redis server, no PostgreSQL) the media, the
// tools and follow-ups work from Redis alone: a user's picture is kept and
// served, a canned reply, a note and labels are kept, and the agent follows
// up after closing.
func TestDeskEmbedded(t *testing.T) {
	const adminToken = "embedded-admin-token-0001"
	setup := newSimulated(t, simulatedOptions{secret: "emb-secret", adminToken: adminToken, embedded: true, plaintext: true})
	wechat := setup.wechat
	base, _, _ := startServe(t, setup.config, nil)
	api := func(method, path, token, body string, want int) map[string]any {
		t.Helper()
		status, out := apiCall(t, base, method, path, token, body)
		if status != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, status, out, want)
		}
		return out
	}
	out := api("POST", "/api/v1/agents", adminToken, `{"id":"amy","accounts":["`+testAppID+`"],"max_sessions":2}`, 201)
	amy, _ := out["token"].(string)
	api("PUT", "/api/v1/agent/status", amy, `{"status":"online"}`, 200)

	const user = "o_embedded_user"
	png := []byte("\x89PNG\r\n\x1a\n a picture from the embedded test")
	mediaID, _ := wechat.AddMedia(testAppID, "image", png, "")
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, _ := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	xml := fmt.Sprintf("<xml><ToUserName>gh_e</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>image</MsgType><PicUrl>http://x/y</PicUrl><MediaId>%s</MediaId><MsgId>401</MsgId></xml>", user, time.Now().Unix(), mediaID)
	if status, _, err := p.Post(context.Background(), p.Prepare([]byte(xml))); err != nil || status != 200 {
		t.Fatalf("callback = %d %v", status, err)
	}
	m := media.URL(testAppID, mediaID)
	waitFor(t, "the picture to be stored", func() bool {
		_, out := apiCall(t, base, "GET", m+"/info", adminToken, "")
		info, _ := out["media"].(map[string]any)
		return info["status"] == "stored"
	})
	req, _ := http.NewRequest("GET", base+m, nil)
	req.Header.Set("Authorization", "Bearer "+amy)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, png) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("the picture = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	out = api("GET", "/api/v1/agent/sessions", amy, "", 200)
	sid, _ := out["sessions"].([]any)[0].(map[string]any)["id"].(string)
	api("POST", "/api/v1/canned", adminToken, `{"shortcut":"bye","content":"再见"}`, 201)
	if list, _ := api("GET", "/api/v1/canned", amy, "", 200)["canned"].([]any); len(list) != 1 {
		t.Errorf("canned = %v", list)
	}
	api("POST", "/api/v1/sessions/"+sid+"/notes", amy, `{"text":"发了一张截图"}`, 201)
	api("PUT", "/api/v1/sessions/"+sid+"/labels", amy, `{"labels":["截图"]}`, 200)
	api("POST", "/api/v1/sessions/"+sid+"/close", amy, "", 200)
	out = api("POST", "/api/v1/users/"+testAppID+"/"+user+"/messages", amy, `{"content":"问题解决了吗？"}`, 202)
	if s, _ := out["session"].(map[string]any); s["agent"] != "amy" {
		t.Errorf("follow-up session = %v", out)
	}
	out = api("GET", "/api/v1/users/"+testAppID+"/"+user, amy, "", 200)
	if notes, _ := out["notes"].([]any); len(notes) != 1 || !strings.Contains(fmt.Sprint(notes[0]), "截图") {
		t.Errorf("the user's notes after the close: %v", out["notes"])
	}
	// Without an archive a closed session is gone, and with it the way to
	// its labels: 404, with the reason.
	if labels, _ := api("GET", "/api/v1/sessions/"+sid+"/labels", adminToken, "", 404)["error"].(string); labels == "" {
		t.Error("no reason for the closed session without an archive")
	}
}
