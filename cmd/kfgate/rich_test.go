package main

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/sim"
)

// A user writes while no agent is online, then the agent comes online: the
// agent's session.assigned carries what the user wrote while waiting. The
// user then sends an image, a voice with WeChat's recognition, a video, a
// location and a link: the agent's message.received events and the
// archive's transcript (GET /api/v1/sessions/{id}/messages) hold every
// field WeChat sent, and media_url where kfgate serves the media.
func TestRichMessagesEndToEnd(t *testing.T) {
	const adminToken = "rich-admin-token-000000001"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := newSimulated(t, simulatedOptions{secret: "rich-secret", adminToken: adminToken, postgres: true})
	wechat, cfg := env.wechat, env.config
	base, _, _ := startServe(t, cfg, nil)
	status, out := apiCall(t, base, "POST", "/api/v1/agents", adminToken, `{"id":"rita","accounts":["`+testAppID+`"],"max_sessions":2}`)
	token, _ := out["token"].(string)
	if status != 201 {
		t.Fatalf("create agent = %d %v", status, out)
	}
	ws, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/api/v1/agent/ws?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	next := func(want string) map[string]any {
		t.Helper()
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			var ev map[string]any
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatalf("frame %s: %v", data, err)
			}
			if ev["type"] == want {
				return ev
			}
		}
	}

	const user = "o_rich_user"
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	post := func(xml string) {
		t.Helper()
		if status, body, err := p.Post(ctx, p.Prepare([]byte(xml))); err != nil || status != 200 {
			t.Fatalf("callback = %d %s %v", status, body, err)
		}
	}
	now := time.Now().Unix()
	head := fmt.Sprintf("<xml><ToUserName><![CDATA[gh_rich]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime>", user, now)

	// Nobody online: the user waits, and writes twice meanwhile.
	post(string(sim.TextXML("gh_rich", user, now, "有人吗", 1001)))
	post(string(sim.TextXML("gh_rich", user, now, "我的快递丢了", 1002)))
	waitFor(t, "the user to wait with two messages", func() bool {
		_, out := apiCall(t, base, "GET", "/api/v1/sessions?state=waiting", adminToken, "")
		list, _ := out["sessions"].([]any)
		return len(list) == 1 && list[0].(map[string]any)["unread"] == float64(2)
	})
	if status, _ := apiCall(t, base, "PUT", "/api/v1/agent/status", token, `{"status":"online"}`); status != 200 {
		t.Fatal("online")
	}
	assigned := next("session.assigned")
	sid, _ := assigned["session"].(string)
	var wrote []string
	ctxList, _ := assigned["context"].([]any)
	for _, m := range ctxList {
		if m := m.(map[string]any); m["author"] == "user" {
			wrote = append(wrote, fmt.Sprint(m["content"]))
		}
	}
	if fmt.Sprint(wrote) != "[有人吗 我的快递丢了]" {
		t.Fatalf("session.assigned's context = %v, want what the user wrote while waiting", assigned["context"])
	}

	// The rich messages, as WeChat pushes them, and what the agent must see.
	mediaURL := func(id string) string { return media.URL(testAppID, id) }
	cases := []struct {
		name, xml string
		want      map[string]any
	}{
		{"image", head + `<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/rich/0]]></PicUrl>` +
			`<MediaId><![CDATA[IMG_MEDIA_1]]></MediaId><MsgId>1003</MsgId></xml>`,
			map[string]any{"type": "image", "id": "1003", "pic_url": "http://mmbiz.qpic.cn/mmbiz_jpg/rich/0", "media_id": "IMG_MEDIA_1",
				"media_url": mediaURL("IMG_MEDIA_1")}},
		{"voice", head + `<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[VOICE_MEDIA_1]]></MediaId>` +
			`<Format><![CDATA[amr]]></Format><Recognition><![CDATA[我要退货]]></Recognition><MsgId>1004</MsgId></xml>`,
			map[string]any{"type": "voice", "id": "1004", "media_id": "VOICE_MEDIA_1", "format": "amr", "recognition": "我要退货",
				"media_url": mediaURL("VOICE_MEDIA_1")}},
		{"video", head + `<MsgType><![CDATA[video]]></MsgType><MediaId><![CDATA[VIDEO_MEDIA_1]]></MediaId>` +
			`<ThumbMediaId><![CDATA[VIDEO_THUMB_1]]></ThumbMediaId><MsgId>1005</MsgId></xml>`,
			map[string]any{"type": "video", "id": "1005", "media_id": "VIDEO_MEDIA_1", "thumb_media_id": "VIDEO_THUMB_1",
				"media_url": mediaURL("VIDEO_MEDIA_1"), "thumb_media_url": mediaURL("VIDEO_THUMB_1")}},
		{"location", head + `<MsgType><![CDATA[location]]></MsgType><Location_X>39.9042</Location_X><Location_Y>116.4074</Location_Y>` +
			`<Scale>16</Scale><Label><![CDATA[北京市东城区]]></Label><MsgId>1006</MsgId></xml>`,
			map[string]any{"type": "location", "id": "1006",
				"location": map[string]any{"latitude": 39.9042, "longitude": 116.4074, "scale": float64(16), "label": "北京市东城区"}}},
		{"link", head + `<MsgType><![CDATA[link]]></MsgType><Title><![CDATA[退货政策]]></Title>` +
			`<Description><![CDATA[七天无理由]]></Description><Url><![CDATA[https://example.com/returns]]></Url><MsgId>1007</MsgId></xml>`,
			map[string]any{"type": "link", "id": "1007", "title": "退货政策", "description": "七天无理由", "url": "https://example.com/returns"}},
	}
	for _, c := range cases {
		post(c.xml)
		got := next("message.received")
		msg, _ := got["message"].(map[string]any)
		if got["session"] != sid {
			t.Errorf("%s: event of session %v, want %s", c.name, got["session"], sid)
		}
		for k, v := range c.want {
			if !reflect.DeepEqual(msg[k], v) {
				t.Errorf("%s: the agent's event has %s = %v, want %v (message %v)", c.name, k, msg[k], v, msg)
			}
		}
		if msg["direction"] != "in" || msg["author"] != "user" || msg["create_time"] != float64(now) || msg["at"] == nil {
			t.Errorf("%s: message %v", c.name, msg)
		}
	}

	// The archive's transcript holds the same fields.
	var archived map[string]map[string]any
	waitFor(t, "the archive to hold the rich messages", func() bool {
		_, out := apiCall(t, base, "GET", "/api/v1/sessions/"+sid+"/messages", adminToken, "")
		list, _ := out["messages"].([]any)
		archived = map[string]map[string]any{}
		for _, m := range list {
			m := m.(map[string]any)
			if id, _ := m["msg_id"].(string); id != "" {
				archived[id] = m
			}
		}
		return len(archived) == 7
	})
	for _, c := range cases {
		m := archived[c.want["id"].(string)]
		for k, v := range c.want {
			if k == "id" {
				continue // the archive's id is its row's; msg_id is WeChat's
			}
			if !reflect.DeepEqual(m[k], v) {
				t.Errorf("%s: the archive has %s = %v, want %v (message %v)", c.name, k, m[k], v, m)
			}
		}
		if m["direction"] != "in" || m["author"] != "user" || m["status"] != "received" {
			t.Errorf("%s: archived %v", c.name, m)
		}
	}
}
