package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// What the console costs, measured in the browser and logged (run with -v;
// speed is reported, not asserted): the time from a user's callback to the
// message rendered in the desk, p50/p99 over 200 messages; the desk's load
// time and bytes on a cold cache; the render time of a conversation of
// 2,000 messages.
func TestConsoleMeasured(t *testing.T) {
	e := newConsoleEnv(t)
	status, out := apiCall(t, e.base, "POST", "/api/v1/agents", consoleAdminToken,
		`{"id":"meas","accounts":["`+testAppID+`"],"max_sessions":5,"password":"meas-password"}`)
	token, _ := out["token"].(string)
	if status != 201 {
		t.Fatalf("create: %d %v", status, out)
	}
	if status, _ := apiCall(t, e.base, "PUT", "/api/v1/agent/status", token, `{"status":"online"}`); status != 200 {
		t.Fatal("online")
	}

	// The desk, cold: a signed-in browser with an empty cache opens /.
	cookie := signInCookie(t, e.base, "meas", "meas-password")
	desk := newTab(t, "desk")
	u, _ := url.Parse(e.base)
	yes := true
	desk.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: cookie.Name, Value: cookie.Value,
			Domain: u.Hostname(), Path: "/", HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict})
		return err
	}), chromedp.Navigate(e.base+"/#/desk"))
	desk.waitJS("the desk, live", `document.querySelector('.desk') && document.getElementById('conn').dataset.state === 'open'`)
	type load struct {
		Ready, DOMLoaded, Bytes, Encoded, Requests float64
	}
	l := eval[load](desk, `(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		const all = [nav, ...performance.getEntriesByType('resource')];
		return {Ready: performance.now(), DOMLoaded: nav.domContentLoadedEventEnd,
			Bytes: all.reduce((a, e) => a + e.transferSize, 0), Encoded: all.reduce((a, e) => a + e.encodedBodySize, 0), Requests: all.length};
	})()`)
	t.Logf("desk load, cold cache: DOMContentLoaded %.0f ms, desk live (WebSocket open) by %.0f ms; %d requests, %.1f KB transferred (%.1f KB of bodies, compressed)",
		l.DOMLoaded, l.Ready, int(l.Requests), l.Bytes/1024, l.Encoded/1024)

	// Callback → rendered: 200 messages of one user, one at a time.
	const user = "o_measure"
	e.text(t, user, "m#start#")
	desk.waitJS("the session", fmt.Sprintf(`document.querySelector('button.session[data-openid=%s]')`, user))
	desk.clickJS(fmt.Sprintf(`button.session[data-openid=%s]`, user))
	desk.waitJS("the first message, the transcript read", `document.querySelector('.pane .conversation[data-loaded]') && [...document.querySelectorAll('.msg.in')].some(m => m.textContent.includes('m#start#'))`)
	eval[bool](desk, `(() => {
		window.__seen = {};
		new MutationObserver((ms) => {
			const now = performance.timeOrigin + performance.now();
			for (const m of ms) for (const n of m.addedNodes) {
				const k = n.classList && n.classList.contains('in') && n.textContent.match(/m#(\d+)#/);
				if (k) window.__seen[k[1]] = now;
			}
		}).observe(document.querySelector('.messages'), {childList: true});
		return true;
	})()`)
	const n = 200
	sent := make([]float64, n)
	for i := range n {
		sent[i] = float64(time.Now().UnixNano()) / 1e6
		e.text(t, user, fmt.Sprintf("m#%d#", i))
		time.Sleep(10 * time.Millisecond)
	}
	desk.waitJSFor(time.Minute, "all 200 rendered", fmt.Sprintf(`Object.keys(window.__seen).length >= %d`, n))
	seen := eval[map[string]float64](desk, `window.__seen`)
	lat := make([]float64, 0, n)
	for i := range n {
		at, ok := seen[fmt.Sprint(i)]
		if !ok {
			t.Fatalf("message %d never rendered", i)
		}
		lat = append(lat, at-sent[i])
	}
	slices.Sort(lat)
	t.Logf("callback → rendered in the desk, %d messages: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		n, lat[n/2], lat[n*90/100], lat[n*99/100], lat[n-1])

	// A conversation of 2,000 messages rendered at once.
	type render struct{ Median, Min float64 }
	r := eval[render](desk, `(async () => {
		const base = document.querySelector('script[type=module]').src.replace(/main\.js$/, '');
		const {Conversation} = await import(base + 'conversation.js');
		const {norm} = await import(base + 'messages.js');
		const msgs = [];
		for (let i = 0; i < 2000; i++) msgs.push(norm({id: i, direction: i % 3 ? 'in' : 'out', type: 'text', status: 'sent',
			content: '消息 ' + i + ' ' + '内容'.repeat(1 + i % 15), created_at: new Date(Date.now() - (2000 - i) * 60000).toISOString()}));
		const pane = document.querySelector('.pane');
		const times = [];
		for (let k = 0; k < 5; k++) {
			const c = new Conversation({id: 'x', account: 'a', openid: 'o'}, {readOnly: true});
			pane.replaceChildren(c.el);
			const t0 = performance.now();
			c.setAll(msgs);
			void c.list.scrollHeight; // layout
			await new Promise((res) => requestAnimationFrame(() => setTimeout(res)));
			times.push(performance.now() - t0);
		}
		times.sort((a, b) => a - b);
		return {Median: times[2], Min: times[0]};
	})()`)
	if n := eval[int](desk, `document.querySelectorAll('.pane .msg').length`); n != 2000 {
		t.Errorf("the conversation shows %d messages, want 2000", n)
	}
	t.Logf("a conversation of 2,000 messages: rendered and painted in %.0f ms (median of 5; best %.0f ms)", r.Median, r.Min)
}

// signInCookie signs in over HTTP as the console does and returns the
// session cookie.
func signInCookie(t *testing.T, base, user, pw string) *http.Cookie {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	req, _ := http.NewRequest("POST", base+"/api/v1/session", strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
	req.Header.Set("Origin", base)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("sign in: %d %v", resp.StatusCode, resp.Cookies())
	}
	return resp.Cookies()[0]
}
