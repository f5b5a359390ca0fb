package wxapi

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestMethods calls every Client method against the simulator: the happy
// path and one WeChat error each.
func TestMethods(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	c := e.client(t, e.tokens(t, TokenStable))
	const app, kfa = "wxapp1", "alice@gh_test"
	wantCode := func(name string, err error, code int) {
		t.Helper()
		if Code(err) != code {
			t.Errorf("%s: got %v, want errcode %d", name, err, code)
		}
	}
	ok := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// Media.
	upload := func(kind MediaKind) string {
		id, err := c.UploadMedia(ctx, app, kind, "f.bin", strings.NewReader("data"))
		ok("UploadMedia "+string(kind), err)
		if id == "" {
			t.Fatalf("UploadMedia %s: empty media_id", kind)
		}
		return id
	}
	img, voice, video, thumb := upload(MediaImage), upload(MediaVoice), upload(MediaVideo), upload(MediaThumb)
	_, err := c.UploadMedia(ctx, app, "pdf", "f.pdf", strings.NewReader("x"))
	wantCode("UploadMedia pdf", err, 40004)

	// Kf accounts.
	ok("AddKf", c.AddKf(ctx, app, kfa, "客服甲"))
	wantCode("AddKf again", c.AddKf(ctx, app, kfa, "客服甲"), 65406)
	ok("UpdateKf", c.UpdateKf(ctx, app, kfa, "客服乙"))
	wantCode("UpdateKf unknown", c.UpdateKf(ctx, app, "bob@gh_test", "x"), 65401)
	ok("UploadKfHeadImg", c.UploadKfHeadImg(ctx, app, kfa, "a.jpg", bytes.NewReader([]byte{0xff, 0xd8, 0xff})))
	wantCode("UploadKfHeadImg unknown", c.UploadKfHeadImg(ctx, app, "bob@gh_test", "a.jpg", strings.NewReader("x")), 65401)
	ok("InviteKfWorker", c.InviteKfWorker(ctx, app, kfa, "alice_wx"))
	wantCode("InviteKfWorker bad id", c.InviteKfWorker(ctx, app, kfa, "1"), 65409)
	list, err := c.KfList(ctx, app)
	ok("KfList", err)
	if len(list) != 1 || list[0].Account != kfa || list[0].Nick != "客服乙" || list[0].InviteWx != "alice_wx" || list[0].InviteExpiry().IsZero() {
		t.Errorf("KfList = %+v", list)
	}
	ok("AcceptInvite", e.api.AcceptInvite(app, kfa))
	ok("SetKfOnline", e.api.SetKfOnline(app, kfa, true))
	online, err := c.KfOnlineList(ctx, app)
	ok("KfOnlineList", err)
	if len(online) != 1 || online[0].Account != kfa || online[0].Status == 0 {
		t.Errorf("KfOnlineList = %+v", online)
	}

	// Every message type, the last ones as the kf account.
	msgs := []CustomMessage{
		TextMessage("u1", `<a href="http://www.qq.com" data-miniprogram-appid="appid" data-miniprogram-path="pages/index">点我</a> & more`+"\u2028"),
		ImageMessage("u1", img),
		{MsgType: MsgVoice, Voice: &MediaRef{MediaID: voice}},
		{MsgType: MsgVideo, Video: &Video{MediaID: video, ThumbMediaID: thumb, Title: "t"}},
		{MsgType: MsgMusic, Music: &Music{MusicURL: "http://m", HQMusicURL: "http://hq", ThumbMediaID: thumb}},
		{MsgType: MsgNews, News: &News{Articles: []Article{{Title: "Happy Day", URL: "http://x?a=1&b=2"}}}},
		{MsgType: MsgMPNews, MPNews: &MediaRef{MediaID: "permanent"}},
		{MsgType: MsgMPNewsArticle, MPNewsArticle: &MPNewsArticle{ArticleID: "art"}},
		{MsgType: MsgMsgMenu, MsgMenu: &MsgMenu{HeadContent: "您对本次服务是否满意呢?", List: []MenuItem{{"101", "满意"}, {"102", "不满意"}}}},
		{MsgType: MsgWxCard, WxCard: &WxCard{CardID: "card"}, CustomService: &CustomService{KfAccount: kfa}},
		{MsgType: MsgMiniProgramPage, MiniProgramPage: &MiniProgramPage{Title: "t", AppID: "wxmini", PagePath: "pages/a", ThumbMediaID: thumb}},
	}
	for i, m := range msgs {
		m.ToUser = "u1"
		if i%5 == 0 {
			e.interact(t, app, "u1") // a fresh quota of 5
		}
		ok("SendCustom "+string(m.MsgType), c.SendCustom(ctx, app, m))
	}
	got := e.api.Received(app, "u1")
	if len(got) != len(msgs) {
		t.Fatalf("user received %d messages, want %d", len(got), len(msgs))
	}
	if b := string(got[0].Body); !strings.Contains(b, `<a href=\"http://www.qq.com\"`) || !strings.Contains(b, "点我") || strings.Contains(b, `\u`) {
		t.Errorf("text sent as %s", b)
	}
	if got[9].KfAccount != kfa {
		t.Errorf("wxcard sent as %q, want %s", got[9].KfAccount, kfa)
	}
	e.interact(t, app, "u1")
	wantCode("SendCustom news with 2 articles", c.SendCustom(ctx, app, CustomMessage{ToUser: "u1", MsgType: MsgNews,
		News: &News{Articles: []Article{{Title: "a", URL: "u"}, {Title: "b", URL: "u"}}}}), 45008)
	wantCode("SendCustom empty text", c.SendCustom(ctx, app, TextMessage("u1", "")), 44004)

	// Typing.
	ok("Typing on", c.Typing(ctx, app, "u1", true))
	wantCode("Typing on again", c.Typing(ctx, app, "u1", true), 45081)
	ok("Typing off", c.Typing(ctx, app, "u1", false))
	wantCode("Typing unknown user", c.Typing(ctx, app, "nobody", true), 40003)

	// Sessions.
	ok("CreateSession", c.CreateSession(ctx, app, kfa, "u1"))
	wantCode("CreateSession unknown kf", c.CreateSession(ctx, app, "bob@gh_test", "u1"), 65401)
	s, err := c.Session(ctx, app, "u1")
	ok("Session", err)
	if s.KfAccount != kfa || s.Created.IsZero() {
		t.Errorf("Session = %+v", s)
	}
	_, err = c.Session(ctx, app, "nobody")
	wantCode("Session unknown user", err, 40003)
	sl, err := c.SessionList(ctx, app, kfa)
	ok("SessionList", err)
	if len(sl) != 1 || sl[0].OpenID != "u1" {
		t.Errorf("SessionList = %+v", sl)
	}
	_, err = c.SessionList(ctx, app, "bob@gh_test")
	wantCode("SessionList unknown kf", err, 65401)
	e.interact(t, app, "u2")
	ok("Transfer", e.api.Transfer(app, "u2", "", time.Time{}))
	n, wl, err := c.WaitCase(ctx, app)
	ok("WaitCase", err)
	if n != 1 || len(wl) != 1 || wl[0].OpenID != "u2" {
		t.Errorf("WaitCase = %d %+v", n, wl)
	}
	ok("CloseSession", c.CloseSession(ctx, app, kfa, "u1"))
	wantCode("CloseSession again", c.CloseSession(ctx, app, kfa, "u1"), 65413)

	// Chat records.
	now := e.clk.Now()
	page, err := c.MsgRecords(ctx, app, RecordQuery{Start: now.Add(-time.Hour), End: now.Add(time.Minute), Number: 100})
	ok("MsgRecords", err)
	if len(page.Records) != len(msgs) || page.Records[1].Text != "[image]" || page.NextMsgID <= 1 {
		t.Errorf("MsgRecords = %d records, next %d: %+v", len(page.Records), page.NextMsgID, page.Records)
	}
	_, err = c.MsgRecords(ctx, app, RecordQuery{Start: now.Add(-48 * time.Hour), End: now, Number: 10})
	wantCode("MsgRecords over 24 h", err, 65417)

	// Deleting the kf account.
	ok("DeleteKf", c.DeleteKf(ctx, app, kfa))
	wantCode("DeleteKf again", c.DeleteKf(ctx, app, kfa), 65401)

	// The simulator never saw a \u escape.
	if code := e.api.Stats().Sends[40033]; code != 0 {
		t.Errorf("%d sends answered 40033", code)
	}
}

func TestEncodeJSONNoUnicodeEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<b>&</b>", `"<b>&</b>"`},
		{"a\u2028b\u2029c", "\"a\u2028b\u2029c\""},
		{"bad\xffutf8", "\"bad\uFFFDutf8\""},
		{"ctl\x01\x1f", `"ctl"`},
		{"tab\tnl\n", `"tab\tnl\n"`},
		{`back\u0041slash`, `"back\\u0041slash"`},
		{"中文", `"中文"`},
	} {
		b, err := encodeJSON(tc.in)
		if err != nil || string(b) != tc.want {
			t.Errorf("encodeJSON(%q) = %s, %v; want %s", tc.in, b, err, tc.want)
		}
	}
}
