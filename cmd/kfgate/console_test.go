package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kfgate/kfgate/internal/sim"
)

// consoleEnv is a real serve (Redis, PostgreSQL, the simulated WeChat)
// with an admin person declared in the file.
type consoleEnv struct {
	base   string
	wechat *sim.API
	poster *sim.Poster
	msgID  int64
}

const consoleAdminToken = "console-admin-token-00001"

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	setup := newSimulated(t, simulatedOptions{secret: "console-secret", adminToken: consoleAdminToken, postgres: true,
		account: "name: 客服测试号", admin: "max_auth_failures: 1000",
		extra: fmt.Sprintf("agents:\n  - {id: root, name: Root, accounts: [%s], role: admin, password: root-password}", testAppID)})
	wechat := setup.wechat
	base, _, _ := startServe(t, setup.config, nil)
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleEnv{base: base, wechat: wechat, poster: p, msgID: 1000}
}

// say posts a user's message (XML body of kind "text" or "image") as
// WeChat would.
func (e *consoleEnv) say(t *testing.T, openid, xml string) {
	t.Helper()
	if err := e.wechat.Interact(testAppID, openid, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, body, err := e.poster.Post(context.Background(), e.poster.Prepare([]byte(xml))); err != nil || status != 200 {
		t.Fatalf("callback = %d %s %v", status, body, err)
	}
}

func (e *consoleEnv) text(t *testing.T, openid, content string) {
	t.Helper()
	e.msgID++
	e.say(t, openid, string(sim.TextXML("gh_console", openid, time.Now().Unix(), content, e.msgID)))
}

// image sends a picture as a user does: WeChat holds it as temporary
// media, and the push names its media_id.
func (e *consoleEnv) image(t *testing.T, openid string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{R: uint8(x + 60), G: uint8(180 - y), B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	mediaID, err := e.wechat.AddMedia(testAppID, "image", buf.Bytes(), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	e.msgID++
	e.say(t, openid, fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_console]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>`+
		`<CreateTime>%d</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/sim/%s]]></PicUrl>`+
		`<MediaId><![CDATA[%s]]></MediaId><MsgId>%d</MsgId></xml>`, openid, time.Now().Unix(), mediaID, mediaID, e.msgID))
}

// The whole console in a real browser: an admin signs in and creates two
// agents with passwords; each agent signs in in a browser of their own and
// goes online; a user writes and the message shows in the desk; the agent
// answers with Enter, WeChat receives it and the desk shows it sent; the
// user sends an image; the agent transfers to the other agent, who sees the
// context; the admin's board shows the session move; the other agent
// closes it. And: a wrong password says so and sets no cookie; an agent
// cannot open the board; a cross-origin POST with the agent's cookie is
// refused.
func TestConsoleInBrowser(t *testing.T) {
	e := newConsoleEnv(t)
	shots := os.Getenv("KFGATE_SCREENSHOTS")

	// A wrong password: a clear message, no cookie.
	anon := newTab(t, "anon")
	anon.signIn(e.base, "root", "not-the-password")
	anon.waitJS("the refusal", `document.querySelector('[role=alert]').textContent.includes('账号或密码错误')`)
	if c := anon.cookies(e.base); len(c) != 0 {
		t.Errorf("a refused sign-in left cookies %v", c)
	}

	// The admin signs in (Enter in the password field) and creates alice
	// and bob on the people page.
	admin := newTab(t, "admin")
	admin.signIn(e.base, "root", "root-password")
	admin.waitJS("the admin's navigation", `document.querySelector('nav a[href="#/people"]')`)
	if c := admin.cookies(e.base); len(c) != 1 || !c[0].HTTPOnly || c[0].SameSite != "Strict" {
		t.Errorf("sign-in cookie %+v: want one, HttpOnly, SameSite=Strict", c)
	}
	admin.do(chromedp.Navigate(e.base + "/#/people"))
	admin.waitJS("the people page", `document.querySelector('form.create input[name=id]')`)
	for _, id := range []string{"alice", "bob"} {
		admin.do(
			chromedp.SetValue(chromedp.CSS(`form.create input[name=id]`), id),
			chromedp.SetValue(chromedp.CSS(`form.create input[name=new-password]`), id+"-password"),
			chromedp.SetValue(chromedp.CSS(`form.create input[name=accounts]`), testAppID),
			chromedp.Click(chromedp.CSS(`form.create button[type=submit]`)))
		admin.waitJS(id+" in the people table", fmt.Sprintf(`document.querySelector('tr[data-agent=%s]')`, id))
	}

	// Alice signs in in her own browser and goes online.
	alice := newTab(t, "alice")
	alice.signIn(e.base, "alice", "alice-password")
	alice.waitJS("the desk", `document.querySelector('select[name=status]') && document.getElementById('conn').dataset.state === 'open'`)
	alice.goOnline()
	waitFor(t, "alice online", func() bool {
		_, out := apiCall(t, e.base, "GET", "/api/v1/agents/alice", consoleAdminToken, "")
		a, _ := out["agent"].(map[string]any)
		return a != nil && a["status"] == "online"
	})

	// An agent cannot open the board: the page says so and the API refuses.
	alice.do(chromedp.Navigate(e.base + "/#/board"))
	alice.waitJS("the refusal of the board", `document.querySelector('.denied')`)
	if n := eval[int](alice, `document.querySelectorAll('nav a[href="#/board"]').length`); n != 0 {
		t.Error("an agent's navigation offers the board")
	}
	if status := eval[int](alice, `fetch('/api/v1/agents').then(r => r.status)`); status != 403 {
		t.Errorf("an agent's GET /api/v1/agents = %d, want 403", status)
	}
	alice.do(chromedp.Navigate(e.base + "/#/desk"))
	alice.waitJS("the desk again", `document.getElementById('conn').dataset.state === 'open'`)

	// The admin watches the board.
	admin.do(chromedp.Navigate(e.base + "/#/board"))
	admin.waitJS("the board", `document.querySelector('.board [data-agent=alice]')`)

	// A user writes; the message shows in alice's desk.
	const user = "o_console_user"
	e.text(t, user, "你好，我的订单还没到")
	alice.waitJS("the session in the list", fmt.Sprintf(`document.querySelector('button.session[data-openid=%s]')`, user))
	alice.clickJS(fmt.Sprintf(`button.session[data-openid=%s]`, user))
	alice.waitJS("the user's message", `[...document.querySelectorAll('.msg.in')].some(m => m.textContent.includes('我的订单还没到'))`)

	// Alice answers with Enter (Shift+Enter breaks the line); WeChat gets
	// it and the desk shows it sent.
	alice.do(chromedp.SendKeys(chromedp.CSS(`textarea[name=message]`), "您好"))
	alice.enter(true)
	alice.do(chromedp.SendKeys(chromedp.CSS(`textarea[name=message]`), "马上为您查询"))
	alice.enter(false)
	waitFor(t, "WeChat to receive alice's answer", func() bool {
		return slices.ContainsFunc(e.wechat.Received(testAppID, user), func(r sim.Received) bool {
			return strings.Contains(string(r.Body), `您好\n马上为您查询`)
		})
	})
	alice.waitJS("the answer marked sent", `[...document.querySelectorAll('.msg.out')].some(m => m.textContent.includes('马上为您查询') && m.querySelector('.delivery[data-status=sent]'))`)
	if v := eval[string](alice, `document.querySelector('textarea[name=message]').value`); v != "" {
		t.Errorf("the composer kept %q after sending", v)
	}

	// The user sends an image: it shows in the conversation.
	e.image(t, user)
	alice.waitJS("the image, loaded", `[...document.querySelectorAll('.msg.in img')].some(i => i.complete && i.naturalWidth > 0)`)

	// The board shows the session, served by alice, by openid and agent id.
	admin.waitJS("the session on the board, served by alice", fmt.Sprintf(
		`[...document.querySelectorAll('table.live tr')].some(r => r.querySelector('.user')?.textContent === '%s' && r.querySelector('.agent')?.textContent === 'alice')`, user))

	// Bob signs in and goes online; alice transfers the user to him.
	bob := newTab(t, "bob")
	bob.watchSockets()
	bob.signIn(e.base, "bob", "bob-password")
	bob.waitJS("bob's desk", `document.getElementById('conn')?.dataset.state === 'open'`)
	bob.goOnline()
	waitFor(t, "bob online", func() bool {
		_, out := apiCall(t, e.base, "GET", "/api/v1/agents/bob", consoleAdminToken, "")
		a, _ := out["agent"].(map[string]any)
		return a != nil && a["status"] == "online"
	})
	alice.do(chromedp.Click(chromedp.CSS(`.conv-head button:not(.danger):not(.back)`)))
	alice.waitJS("bob in the transfer dialog", `document.querySelector('dialog button[data-agent=bob]:not([disabled])')`)
	alice.do(chromedp.Click(chromedp.CSS(`dialog button[data-agent=bob]`)))
	alice.waitJS("the session gone from alice's list", fmt.Sprintf(`!document.querySelector('button.session[data-openid=%s]')`, user))

	// Bob sees the session with its context.
	bob.waitJS("the session in bob's list", fmt.Sprintf(`document.querySelector('button.session[data-openid=%s]')`, user))
	bob.clickJS(fmt.Sprintf(`button.session[data-openid=%s]`, user))
	bob.waitJS("the context in bob's conversation", `[...document.querySelectorAll('.msg.in')].some(m => m.textContent.includes('我的订单还没到')) && [...document.querySelectorAll('.msg.out')].some(m => m.textContent.includes('马上为您查询'))`)

	// The connection drops: the desk says so, reconnects, resyncs and
	// says that too.
	eval[bool](bob, `(() => { window.__sockets.at(-1).close(); return true; })()`)
	bob.waitJS("the reconnection said", `document.getElementById('toasts')?.textContent.includes('已重新连接')`)
	bob.waitJS("the socket open again", `document.getElementById('conn').dataset.state === 'open' && window.__sockets.length >= 2`)
	bob.waitJS("the session still there", fmt.Sprintf(`document.querySelector('button.session[data-openid=%s]')`, user))

	// The board shows the session moving to bob.
	admin.waitJS("the session on the board, served by bob", fmt.Sprintf(
		`[...document.querySelectorAll('table.live tr')].some(r => r.querySelector('.user')?.textContent === '%s' && r.querySelector('.agent')?.textContent === 'bob')`, user))

	// A cross-origin POST with bob's cookie (a page on another port of
	// the same site, so the SameSite cookie goes along) is refused.
	sid := eval[string](bob, fmt.Sprintf(`document.querySelector('button.session[data-openid=%s]').dataset.session`, user))
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form method=post action="%s/api/v1/sessions/%s/close" enctype="text/plain"><input name=x value=y></form>`, e.base, sid)
	}))
	defer evil.Close()
	evilTab := &tab{t: t, ctx: bob.ctx, name: "bob on another origin"}
	evilTab.do(chromedp.Navigate(evil.URL))
	evilTab.do(chromedp.Submit(chromedp.CSS(`form`)))
	evilTab.waitJS("the refusal", `document.body.textContent.includes('cross-origin request refused')`)
	if status, _ := apiCall(t, e.base, "GET", "/api/v1/sessions/"+sid+"/messages", consoleAdminToken, ""); status != 200 {
		t.Errorf("the session after the cross-origin POST: %d", status)
	}
	bob.do(chromedp.Navigate(e.base + "/#/desk"))
	bob.waitJS("bob's desk again", fmt.Sprintf(`document.querySelector('button.session[data-openid=%s]')`, user))

	// Screenshots, while there is something to see.
	if shots != "" {
		takeScreenshots(t, e, shots, admin, bob, user)
	}

	// Bob closes the session.
	bob.clickJS(fmt.Sprintf(`button.session[data-openid=%s]`, user))
	bob.do(chromedp.Click(chromedp.CSS(`.conv-head button.danger`)),
		chromedp.Click(chromedp.CSS(`dialog button[name=confirm-close]`)))
	bob.waitJS("the session gone from bob's list", fmt.Sprintf(`!document.querySelector('button.session[data-openid=%s]')`, user))
	admin.waitJS("the session gone from the board", fmt.Sprintf(
		`![...document.querySelectorAll('table.live tr')].some(r => r.querySelector('.user')?.textContent === '%s')`, user))
}

// takeScreenshots writes the desk, the board and the statistics at
// 1280×800 and 390×844 to dir.
func takeScreenshots(t *testing.T, e *consoleEnv, dir string, admin, agent *tab, user string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Something to see: a location and a link in the conversation, and
	// more users for the board.
	e.msgID++
	e.say(t, user, fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_console]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>`+
		`<CreateTime>%d</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>31.230416</Location_X><Location_Y>121.473701</Location_Y>`+
		`<Scale>15</Scale><Label><![CDATA[上海市黄浦区人民广场]]></Label><MsgId>%d</MsgId></xml>`, user, time.Now().Unix(), e.msgID))
	e.msgID++
	e.say(t, user, fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_console]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>`+
		`<CreateTime>%d</CreateTime><MsgType><![CDATA[link]]></MsgType><Title><![CDATA[订单 #20261130 物流详情]]></Title>`+
		`<Description><![CDATA[预计明天送达]]></Description><Url><![CDATA[https://example.com/orders/20261130]]></Url><MsgId>%d</MsgId></xml>`, user, time.Now().Unix(), e.msgID))
	for _, u := range []string{"o_demo_wang", "o_demo_li", "o_demo_zhang"} {
		e.text(t, u, "请问营业时间？")
	}
	agent.clickJS(fmt.Sprintf(`button.session[data-openid=%s]`, user))
	agent.waitJS("the link card", `document.querySelector('.msg.in .card')`)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"1280x800", 1280, 800}, {"390x844", 390, 844}} {
		agent.screenshot(filepath.Join(dir, "desk-"+size.name+".png"), size.w, size.h)
		admin.do(chromedp.Navigate(e.base + "/#/board"))
		admin.waitJS("the board", `document.querySelector('table.live')`)
		admin.screenshot(filepath.Join(dir, "board-"+size.name+".png"), size.w, size.h)
		admin.do(chromedp.Navigate(e.base + "/#/stats"))
		admin.waitJS("the charts", `document.querySelector('svg.chart')`)
		admin.screenshot(filepath.Join(dir, "stats-"+size.name+".png"), size.w, size.h)
	}
	agent.do(chromedp.EmulateViewport(1280, 800))
	admin.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(e.base+"/#/board"))
	admin.waitJS("the board", `document.querySelector('table.live')`)
}
