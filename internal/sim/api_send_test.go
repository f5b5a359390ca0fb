package sim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// step is one thing that happens in a window test: a user interaction, time
// passing, or a custom/send with the errcode it must get.
type step struct {
	do   Interaction   // an interaction of the user, or
	wait time.Duration // the clock moving, or
	send int           // a send and its expected errcode (with do and wait empty)
}

func sends(code, n int) []step {
	s := make([]step, n)
	for i := range s {
		s[i] = step{send: code}
	}
	return s
}

func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		case Interaction:
			out = append(out, step{do: p})
		case time.Duration:
			out = append(out, step{wait: p})
		}
	}
	return out
}

// TestSendWindow checks the customer-service window of docs/wechat.md, "The 48-hour window and reply quota": 5
// sends within 48 h after a user message, 3 within 1 min after a click,
// follow or scan; 45015 outside every window, 45047 when the count is used
// up; a new trigger restarts its count (the simulator's reading of an
// UNCONFIRMED point); 43004 after unsubscribing.
func TestSendWindow(t *testing.T) {
	ok := step{send: 0}
	tests := []struct {
		name  string
		steps []step
	}{
		{"follow: window closed after 1 min", steps(InteractFollow, time.Minute, step{send: 45015})},
		{"message: 5 sends, then 45047", steps(InteractMessage, sends(0, 5), step{send: 45047})},
		{"message: window open 48h", steps(InteractMessage, 48*time.Hour-time.Second, ok, time.Second, step{send: 45015})},
		{"message: count spent stays 45047 while open", steps(InteractMessage, sends(0, 5), 47*time.Hour, step{send: 45047}, time.Hour, step{send: 45015})},
		{"click: 3 sends, then 45047", steps(InteractClick, sends(0, 3), step{send: 45047})},
		{"follow: 3 sends, then 45047", steps(InteractFollow, sends(0, 3), step{send: 45047})},
		{"scan: 3 sends, then 45047", steps(InteractScan, sends(0, 3), step{send: 45047})},
		{"click: window 1 min", steps(InteractClick, time.Minute-time.Second, ok, time.Second, step{send: 45015})},
		{"new message resets the count to 5", steps(InteractMessage, sends(0, 4), InteractMessage, sends(0, 5), step{send: 45047})},
		{"new message restarts the 48 h", steps(InteractMessage, 47*time.Hour, InteractMessage, 47*time.Hour, ok)},
		{"new click resets the count to 3", steps(InteractClick, sends(0, 3), InteractClick, sends(0, 3), step{send: 45047})},
		{"click inside a message window: both quotas", steps(InteractMessage, InteractClick, sends(0, 8), step{send: 45047})},
		{"click quota is spent first", steps(InteractMessage, InteractClick, sends(0, 3), time.Minute, sends(0, 5), step{send: 45047})},
		{"the window closing first pays", steps(InteractMessage, 48*time.Hour-30*time.Second, InteractClick, sends(0, 3), 30*time.Second, sends(0, 3), step{send: 45047})},
		{"click after the message quota is spent", steps(InteractMessage, sends(0, 5), step{send: 45047}, InteractClick, sends(0, 3), step{send: 45047})},
		{"message after a click adds its 5", steps(InteractClick, sends(0, 3), InteractMessage, sends(0, 5), step{send: 45047})},
		{"unsubscribe: 43004", steps(InteractMessage, ok, InteractUnsubscribe, step{send: 43004})},
		{"follow again after unsubscribing", steps(InteractMessage, InteractUnsubscribe, InteractFollow, sends(0, 3), step{send: 45047})},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, APIOptions{})
			tok := h.stable(appA, secretA, false).str("access_token")
			openid := fmt.Sprintf("o_window_%d", i)
			for j, s := range tt.steps {
				switch {
				case s.do != "":
					h.interact(appA, openid, s.do)
				case s.wait != 0:
					h.clock.Add(s.wait)
					// keep the token fresh across long waits
					tok = h.stable(appA, secretA, false).str("access_token")
				default:
					a := h.post(pathSend, tok, fmt.Sprintf(`{"touser":%q,"msgtype":"text","text":{"content":"step %d"}}`, openid, j))
					wantCode(t, fmt.Sprintf("step %d", j), a, s.send)
				}
			}
		})
	}
}

func TestSendUsers(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.interact(appB, "o_of_b", InteractMessage)
	wantCode(t, "a user the account never saw", h.post(pathSend, tok, `{"touser":"o_nobody","msgtype":"text","text":{"content":"x"}}`), 40003)
	wantCode(t, "another account's user", h.post(pathSend, tok, `{"touser":"o_of_b","msgtype":"text","text":{"content":"x"}}`), 40003)
	wantCode(t, "no touser", h.post(pathSend, tok, `{"msgtype":"text","text":{"content":"x"}}`), 40003)
	h.interact(appA, "o_gone", InteractUnsubscribe)
	wantCode(t, "a user who unsubscribed", h.post(pathSend, tok, `{"touser":"o_gone","msgtype":"text","text":{"content":"x"}}`), 43004)

	h2 := newHarness(t, APIOptions{UnsubscribedCode: 45015})
	tok2 := h2.token(appA, secretA)
	h2.interact(appA, "o_gone", InteractMessage)
	h2.interact(appA, "o_gone", InteractUnsubscribe)
	wantCode(t, "unsubscribed with UnsubscribedCode 45015", h2.post(pathSend, tok2, `{"touser":"o_gone","msgtype":"text","text":{"content":"x"}}`), 45015)
}

// TestSendMessages checks the request bodies of docs/wechat.md, "Customer-service API" and the simulator's
// checks on them.
func TestSendMessages(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	image := h.upload("/cgi-bin/media/upload", url.Values{"access_token": {tok}, "type": {"image"}}, "media", []byte("jpg")).str("media_id")
	voice := h.upload("/cgi-bin/media/upload", url.Values{"access_token": {tok}, "type": {"voice"}}, "media", []byte("amr")).str("media_id")
	video := h.upload("/cgi-bin/media/upload", url.Values{"access_token": {tok}, "type": {"video"}}, "media", []byte("mp4")).str("media_id")
	h.post("/customservice/kfaccount/add", tok, `{"kf_account":"test1@kftest","nickname":"客服1"}`)

	tests := []struct {
		name, body string // body: %s is the touser
		want       int
	}{
		{"text", `{"touser":%q,"msgtype":"text","text":{"content":"Hello World"}}`, 0},
		{"text with a mini-program link", `{"touser":%q,"msgtype":"text","text":{"content":"<a href=\"http://www.qq.com\" data-miniprogram-appid=\"appid\" data-miniprogram-path=\"pages/index/index\">点击跳小程序</a>"}}`, 0},
		{"text of 2048 bytes", `{"touser":%q,"msgtype":"text","text":{"content":"` + strings.Repeat("字", 682) + `xx"}}`, 0},
		{"text of 2049 bytes", `{"touser":%q,"msgtype":"text","text":{"content":"` + strings.Repeat("字", 683) + `"}}`, 45002},
		{"empty text", `{"touser":%q,"msgtype":"text","text":{"content":""}}`, 44004},
		{"text without text", `{"touser":%q,"msgtype":"text"}`, 44004},
		{"\\u escape", `{"touser":%q,"msgtype":"text","text":{"content":"\u003ca\u003e"}}`, 40033},
		{"image", `{"touser":%q,"msgtype":"image","image":{"media_id":"` + image + `"}}`, 0},
		{"image with a voice media_id", `{"touser":%q,"msgtype":"image","image":{"media_id":"` + voice + `"}}`, 40007},
		{"image never uploaded", `{"touser":%q,"msgtype":"image","image":{"media_id":"MEDIA_ID"}}`, 40007},
		{"voice", `{"touser":%q,"msgtype":"voice","voice":{"media_id":"` + voice + `"}}`, 0},
		{"video", `{"touser":%q,"msgtype":"video","video":{"media_id":"` + video + `","thumb_media_id":"T","title":"TITLE","description":"D"}}`, 0},
		{"music", `{"touser":%q,"msgtype":"music","music":{"title":"T","description":"D","musicurl":"http://m","hqmusicurl":"http://hq","thumb_media_id":"T"}}`, 0},
		{"music without musicurl", `{"touser":%q,"msgtype":"music","music":{"thumb_media_id":"T"}}`, 47001},
		{"news", `{"touser":%q,"msgtype":"news","news":{"articles":[{"title":"Happy Day","description":"Is Really A Happy Day","url":"URL","picurl":"PIC_URL"}]}}`, 0},
		{"news of 2 articles", `{"touser":%q,"msgtype":"news","news":{"articles":[{"title":"a"},{"title":"b"}]}}`, 45008},
		{"news of no article", `{"touser":%q,"msgtype":"news","news":{"articles":[]}}`, 44003},
		{"mpnews", `{"touser":%q,"msgtype":"mpnews","mpnews":{"media_id":"MEDIA_ID"}}`, 0},
		{"mpnewsarticle", `{"touser":%q,"msgtype":"mpnewsarticle","mpnewsarticle":{"article_id":"ARTICLE_ID"}}`, 0},
		{"msgmenu", `{"touser":%q,"msgtype":"msgmenu","msgmenu":{"head_content":"您对本次服务是否满意呢? ","list":[{"id":"101","content":"满意"},{"id":"102","content":"不满意"}],"tail_content":"欢迎再次光临"}}`, 0},
		{"msgmenu without items", `{"touser":%q,"msgtype":"msgmenu","msgmenu":{"list":[]}}`, 47001},
		{"wxcard", `{"touser":%q,"msgtype":"wxcard","wxcard":{"card_id":"CARD_ID"}}`, 0},
		{"miniprogrampage", `{"touser":%q,"msgtype":"miniprogrampage","miniprogrampage":{"title":"title","appid":"appid","pagepath":"pagepath","thumb_media_id":"thumb_media_id"}}`, 0},
		{"as a kf account", `{"touser":%q,"msgtype":"text","text":{"content":"hi"},"customservice":{"kf_account":"test1@kftest"}}`, 0},
		{"as an unknown kf account", `{"touser":%q,"msgtype":"text","text":{"content":"hi"},"customservice":{"kf_account":"nobody@kftest"}}`, 65401},
		{"unknown msgtype", `{"touser":%q,"msgtype":"sticker","sticker":{}}`, 40008},
		{"no msgtype", `{"touser":%q}`, 40008},
		{"malformed JSON", `{"touser":%q,"msgtype":"text",`, 47001},
		{"wrong JSON types", `{"touser":%q,"msgtype":"text","text":{"content":5}}`, 47001},
	}
	for i, tt := range tests {
		openid := fmt.Sprintf("o_msg_%02d", i)
		h.interact(appA, openid, InteractMessage)
		body := fmt.Sprintf(tt.body, openid)
		wantCode(t, tt.name, h.post(pathSend, tok, body), tt.want)

		got := h.api.Received(appA, openid)
		if tt.want != 0 {
			if len(got) != 0 {
				t.Errorf("%s: a failed send was received: %v", tt.name, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: received %d messages, want 1", tt.name, len(got))
			continue
		}
		var sent struct {
			MsgType string `json:"msgtype"`
			CS      struct {
				KfAccount string `json:"kf_account"`
			} `json:"customservice"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		if got[0].MsgType != sent.MsgType || got[0].KfAccount != sent.CS.KfAccount || !got[0].Time.Equal(start) {
			t.Errorf("%s: received %+v", tt.name, got[0])
		}
		var a, b any
		_ = json.Unmarshal([]byte(body), &a)
		if err := json.Unmarshal(got[0].Body, &b); err != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: received body %s, want %s", tt.name, got[0].Body, body)
		}
	}

	// Temporary media lasts 3 days.
	h.interact(appA, "o_late", InteractMessage)
	h.clock.Add(72 * time.Hour)
	h.interact(appA, "o_late", InteractMessage)
	tok = h.token(appA, secretA)
	wantCode(t, "image after 3 days", h.post(pathSend, tok, `{"touser":"o_late","msgtype":"image","image":{"media_id":"`+image+`"}}`), 40007)
}

func TestReceivedOrder(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.interact(appA, "o_u", InteractMessage)
	for i := range 3 {
		if c := h.sendText(tok, "o_u", fmt.Sprint("m", i)); c != 0 {
			t.Fatalf("send %d: %d", i, c)
		}
		h.clock.Add(time.Second)
	}
	got := h.api.Received(appA, "o_u")
	if len(got) != 3 {
		t.Fatalf("received %d", len(got))
	}
	for i, r := range got {
		want := fmt.Sprintf(`{"touser":"o_u","msgtype":"text","text":{"content":"m%d"}}`, i)
		if string(r.Body) != want || !r.Time.Equal(start.Add(time.Duration(i)*time.Second)) {
			t.Errorf("#%d: %s at %v, want %s", i, r.Body, r.Time, want)
		}
	}
	if h.api.Received(appA, "o_nobody") != nil || h.api.Received("wxnobody", "o_u") != nil {
		t.Error("Received of an unknown user or account is not nil")
	}
}

// TestDailySendQuota: over the account's daily custom/send quota → 45009
// (docs/wechat.md, "API quotas"), until midnight Beijing time.
func TestDailySendQuota(t *testing.T) {
	h := newHarness(t, APIOptions{DailySendQuota: 3})
	tok := h.stable(appA, secretA, false).str("access_token")
	h.interact(appA, "o_u", InteractMessage)
	h.interact(appB, "o_u", InteractMessage)
	for i, want := range []int{0, 0, 40003, 45009} {
		openid := "o_u"
		if i == 2 {
			openid = "o_nobody" // failed calls count too
		}
		if got := h.sendText(tok, openid, "x"); got != want {
			t.Errorf("send %d: %d, want %d", i, got, want)
		}
	}
	if got := h.sendText(h.token(appB, secretB), "o_u", "x"); got != 0 {
		t.Errorf("the other account: %d, want 0", got)
	}
	h.clock.Add(14 * time.Hour) // 00:00 the next day in Beijing
	tok = h.stable(appA, secretA, false).str("access_token")
	if got := h.sendText(tok, "o_u", "x"); got != 0 {
		t.Errorf("next day: %d, want 0", got)
	}
	st := h.api.Stats()
	if st.Sends[0] != 4 || st.Sends[45009] != 1 || st.Sends[40003] != 1 {
		t.Errorf("sends by errcode %v", st.Sends)
	}
}

// TestTyping checks custom/typing (docs/wechat.md, "Customer-service API").
func TestTyping(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.stable(appA, secretA, false).str("access_token")
	typing := func(openid, cmd string) int {
		return h.post("/cgi-bin/message/custom/typing", tok, fmt.Sprintf(`{"touser":%q,"command":%q}`, openid, cmd)).code()
	}
	h.interact(appA, "o_gone", InteractMessage)
	h.interact(appA, "o_gone", InteractUnsubscribe)
	h.interact(appA, "o_u", InteractMessage)

	type op struct {
		wait    time.Duration
		send    bool // a custom/send instead of a typing command
		openid  string
		command string
		want    int
	}
	ops := []op{
		{openid: "o_u", command: "typing", want: 45072},
		{openid: "o_u", command: "", want: 45072},
		{openid: "o_nobody", command: "Typing", want: 40003},
		{openid: "o_gone", command: "Typing", want: 43004},
		{openid: "o_u", command: "Typing", want: 0},
		{wait: 14 * time.Second, openid: "o_u", command: "Typing", want: 45081},
		{wait: time.Second, openid: "o_u", command: "Typing", want: 0}, // 15 s later it ended; 15 s after the message
		{openid: "o_u", command: "CancelTyping", want: 0},
		{openid: "o_u", command: "Typing", want: 0},                             // cancelled, may type again
		{wait: 15 * time.Second, openid: "o_u", command: "Typing", want: 45080}, // 30 s after the message
		{send: true, openid: "o_u", want: 0},
		{openid: "o_u", command: "Typing", want: 0}, // the send was an exchange
		{send: true, openid: "o_u", want: 0},        // and cancels typing
		{openid: "o_u", command: "Typing", want: 0},
		{openid: "o_u", command: "CancelTyping", want: 0},
		{openid: "o_u", command: "CancelTyping", want: 0},
		{wait: 48 * time.Hour, openid: "o_u", command: "CancelTyping", want: 45015},
	}
	for i, o := range ops {
		h.clock.Add(o.wait)
		if o.wait > time.Hour {
			tok = h.stable(appA, secretA, false).str("access_token")
		}
		var got int
		if o.send {
			got = h.sendText(tok, o.openid, "x")
		} else {
			got = typing(o.openid, o.command)
		}
		if got != o.want {
			t.Errorf("#%d %+v: errcode %d", i, o, got)
		}
		if i == 4 && !h.api.Typing(appA, "o_u") {
			t.Error("Typing() false after Typing")
		}
	}
}

func TestMediaUpload(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	for _, typ := range []string{"image", "voice", "video", "thumb"} {
		a := h.upload("/cgi-bin/media/upload", url.Values{"access_token": {tok}, "type": {typ}}, "media", []byte("data"))
		if a.str("type") != typ || len(a.str("media_id")) < 32 || a.num("created_at") != start.Unix() {
			t.Errorf("upload %s: %v", typ, a)
		}
		if _, has := a["thumb_media_id"]; has != (typ == "thumb") {
			t.Errorf("upload %s: thumb_media_id present %v", typ, has)
		}
	}
	wantCode(t, "bad type", h.upload("/cgi-bin/media/upload", url.Values{"access_token": {tok}, "type": {"gif"}}, "media", []byte("x")), 40004)
	wantCode(t, "no type", h.upload("/cgi-bin/media/upload", url.Values{"access_token": {tok}}, "media", []byte("x")), 40004)
	wantCode(t, "wrong field", h.upload("/cgi-bin/media/upload", url.Values{"access_token": {tok}, "type": {"image"}}, "file", []byte("x")), 41005)
	_, a := h.do("POST", "/cgi-bin/media/upload", url.Values{"access_token": {tok}, "type": {"image"}}, "application/json", []byte(`{}`))
	wantCode(t, "not multipart", a, 41005)
}
