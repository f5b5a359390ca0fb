package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/sim"
)

// A user's image and a video's thumbnail are downloaded from the simulated
// WeChat and served to the session's agent byte for byte, with Range; the
// simulator's media/get fails twice first and the image is stored all the
// same; another agent gets 403; a media_id WeChat no longer has ends as
// failed, with the reason, in the API.
func TestMediaKeptAndServed(t *testing.T) {
	const adminToken = "media-admin-token-00000001"
	ctx := context.Background()
	env := newSimulated(t, simulatedOptions{secret: "media-secret", adminToken: adminToken})
	wechat, cfg := env.wechat, env.config
	base, _, _ := startServe(t, cfg, nil)
	api := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, base, method, path, token, body)
	}
	tokens := map[string]string{}
	for _, id := range []string{"alice", "bob"} {
		_, out := api("POST", "/api/v1/agents", adminToken, `{"id":"`+id+`","accounts":["`+testAppID+`"],"max_sessions":2}`)
		tokens[id], _ = out["token"].(string)
	}
	if status, _ := api("PUT", "/api/v1/agent/status", tokens["alice"], `{"status":"online"}`); status != 200 {
		t.Fatal("alice online")
	}

	// WeChat holds the user's image; media/get fails twice, then works.
	const user = "o_media_user"
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte("0123456789"), 3000)...)
	imgID, _ := wechat.AddMedia(testAppID, "image", jpeg, "")
	if err := wechat.SetFaults(sim.Faults{ErrorRate: 1, ErrCode: -1, ErrPath: "/cgi-bin/media/get"}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for wechat.Calls("/cgi-bin/media/get") < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		_ = wechat.SetFaults(sim.Faults{})
	}()
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	image := fmt.Sprintf("<xml><ToUserName>gh_media</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>image</MsgType><PicUrl>http://mmbiz.qpic.cn/x</PicUrl><MediaId>%s</MediaId><MsgId>201</MsgId></xml>", user, time.Now().Unix(), imgID)
	post := func(xml string) {
		t.Helper()
		if status, _, err := p.Post(ctx, p.Prepare([]byte(xml))); err != nil || status != 200 {
			t.Fatalf("callback = %d %v", status, err)
		}
	}
	post(image)
	imgURL := media.URL(testAppID, imgID)
	info := func(url, token string) map[string]any {
		_, out := api("GET", url+"/info", token, "")
		m, _ := out["media"].(map[string]any)
		return m
	}
	waitFor(t, "the image to be stored", func() bool { return info(imgURL, adminToken)["status"] == "stored" })
	if m := info(imgURL, adminToken); m["attempts"] != 3.0 || m["kind"] != "image" || m["openid"] != user || m["session_id"] == "" {
		t.Errorf("image record = %v, want stored at the third attempt, for the user's session", m)
	}
	if n := wechat.Calls("/cgi-bin/media/get"); n != 3 {
		t.Errorf("media/get called %d times, want 3", n)
	}
	session := info(imgURL, adminToken)["session_id"].(string)

	// A video arrives in the same session, with its thumbnail.
	mp4 := []byte("\x00\x00\x00\x18ftypmp42 the video's bytes")
	thumb := append([]byte{0xff, 0xd8, 0xff, 0xdb}, bytes.Repeat([]byte{0x42}, 2000)...)
	vidID, _ := wechat.AddMedia(testAppID, "video", mp4, "video/mp4")
	thumbID, _ := wechat.AddMedia(testAppID, "thumb", thumb, "")
	post(fmt.Sprintf("<xml><ToUserName>gh_media</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>video</MsgType><MediaId>%s</MediaId><ThumbMediaId>%s</ThumbMediaId><MsgId>202</MsgId></xml>",
		user, time.Now().Unix(), vidID, thumbID))
	thumbURL, vidURL := media.URL(testAppID, thumbID), media.URL(testAppID, vidID)
	waitFor(t, "the video and its thumb", func() bool {
		return info(thumbURL, adminToken)["status"] == "stored" && info(vidURL, adminToken)["status"] == "stored"
	})
	if th := info(thumbURL, adminToken); th["session_id"] != session || th["kind"] != "thumb" {
		t.Errorf("thumb record = %v, want a thumb of session %s", th, session)
	}

	get := func(url, token, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for name, c := range map[string]struct {
		url, ctype string
		want       []byte
	}{
		"image": {imgURL, "image/jpeg", jpeg}, "video thumb": {thumbURL, "image/jpeg", thumb}, "video": {vidURL, "video/mp4", mp4},
	} {
		resp, body := get(c.url, tokens["alice"], "")
		if resp.StatusCode != 200 || !bytes.Equal(body, c.want) || resp.Header.Get("Content-Type") != c.ctype ||
			resp.Header.Get("Content-Length") != fmt.Sprint(len(c.want)) {
			t.Errorf("%s: %d %s %s, %d bytes; want the %d bytes WeChat served", name, resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"), len(body), len(c.want))
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "private, max-age=31536000, immutable" {
			t.Errorf("%s: caching headers %v", name, resp.Header)
		}
		resp, body = get(c.url, tokens["alice"], "bytes=4-13")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, c.want[4:14]) ||
			resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 4-13/%d", len(c.want)) {
			t.Errorf("%s Range: %d %q %q", name, resp.StatusCode, resp.Header.Get("Content-Range"), body)
		}
		etag := resp.Header.Get("ETag")
		req, _ := http.NewRequest("GET", base+c.url, nil)
		req.Header.Set("Authorization", "Bearer "+tokens["alice"])
		req.Header.Set("If-None-Match", etag)
		if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusNotModified {
			t.Errorf("%s If-None-Match: %v %v, want 304", name, r, err)
		} else {
			r.Body.Close()
		}
		if resp, _ := get(c.url, tokens["bob"], ""); resp.StatusCode != 403 {
			t.Errorf("%s to bob = %d, want 403", name, resp.StatusCode)
		}
		if resp, _ := get(c.url, adminToken, ""); resp.StatusCode != 200 {
			t.Errorf("%s to the admin = %d, want 200", name, resp.StatusCode)
		}
	}

	// A voice whose media_id WeChat does not know (expired): failed, with
	// WeChat's reason.
	post(fmt.Sprintf("<xml><ToUserName>gh_media</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime>"+
		"<MsgType>voice</MsgType><MediaId>expired-media-id</MediaId><Format>amr</Format><Recognition>你好</Recognition><MsgId>203</MsgId></xml>",
		user, time.Now().Unix()))
	goneURL := media.URL(testAppID, "expired-media-id")
	waitFor(t, "the expired media to fail", func() bool { return info(goneURL, adminToken)["status"] == "failed" })
	if m := info(goneURL, adminToken); m["attempts"] != 1.0 || !bytes.Contains([]byte(m["error"].(string)), []byte("40007")) {
		t.Errorf("expired media = %v, want failed at once with 40007", m)
	}
	if status, out := api("GET", goneURL, tokens["alice"], ""); status != 409 || out["error"] == "" {
		t.Errorf("GET failed media = %d %v, want 409 with the reason", status, out)
	}
	if status, _ := api("GET", "/api/v1/media/nosuchmedia", adminToken, ""); status != 404 {
		t.Errorf("unknown media = %d, want 404", status)
	}
	if status, out := api("GET", imgURL+"?format=mp3", tokens["alice"], ""); status != 404 || out["error"] == "" {
		t.Errorf("transcoding without media.ffmpeg = %d %v, want 404", status, out)
	}
}
