package server_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/web"
)

// browser is an HTTP client with a cookie jar that sends Origin as a
// browser does (its own origin, unless told otherwise).
type browser struct {
	t      *testing.T
	url    string
	client *http.Client
	origin string
}

func newBrowser(t *testing.T, url string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: url, client: &http.Client{Jar: jar}, origin: url}
}

func (b *browser) do(method, path, body string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.url+path, strings.NewReader(body))
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (b *browser) status(method, path, body string) int {
	b.t.Helper()
	resp, _ := b.do(method, path, body)
	return resp.StatusCode
}

func (b *browser) signIn(user, pw string) *http.Response {
	b.t.Helper()
	resp, _ := b.do("POST", "/api/v1/session", `{"username":"`+user+`","password":"`+pw+`"}`)
	return resp
}

// person creates a person with the admin token.
func (f *apiFixture) person(t *testing.T, id, role, pw string) {
	t.Helper()
	if code, out := f.call(t, "POST", "/api/v1/agents", adminToken,
		`{"id":"`+id+`","accounts":["wxapi"],"max_sessions":2,"role":"`+role+`","password":"`+pw+`"}`); code != 201 {
		t.Fatalf("create %s: %d %v", id, code, out)
	}
}

func TestSignIn(t *testing.T) {
	f := newAPI(t)
	f.person(t, "ann", "agent", "ann-password")

	b := newBrowser(t, f.url)
	resp := b.signIn("ann", "wrong-password")
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong password: %d with cookies %v, want 401 and none", resp.StatusCode, resp.Cookies())
	}
	if resp := b.signIn("nobody", "ann-password"); resp.StatusCode != 401 {
		t.Errorf("an unknown name: %d, want 401", resp.StatusCode)
	}
	resp = b.signIn("ann", "ann-password")
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("sign in: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	c := resp.Cookies()[0]
	if c.Name != "kfgate_session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.MaxAge != 3600 {
		t.Errorf("cookie %+v: want kfgate_session, HttpOnly, SameSite=Strict, not Secure over plain HTTP, an hour", c)
	}
	if _, body := b.do("GET", "/api/v1/me", ""); !strings.Contains(body, `"id":"ann"`) || !strings.Contains(body, `"role":"agent"`) {
		t.Errorf("me = %s", body)
	}
	if code := b.status("PUT", "/api/v1/agent/status", `{"status":"online"}`); code != 200 {
		t.Errorf("the agent goes online by cookie: %d", code)
	}

	// Another origin with the same cookie (another port of the same
	// site: the SameSite cookie goes along) is refused for changes, and
	// so is a change without an Origin; reads are fine.
	b.origin = "http://evil.example"
	if code := b.status("PUT", "/api/v1/agent/status", `{"status":"away"}`); code != 403 {
		t.Errorf("cross-origin PUT: %d, want 403", code)
	}
	b.origin = ""
	if code := b.status("POST", "/api/v1/agent/heartbeat", ``); code != 403 {
		t.Errorf("a POST without Origin: %d, want 403", code)
	}
	if code := b.status("GET", "/api/v1/agent/sessions", ``); code != 200 {
		t.Errorf("a GET without Origin: %d, want 200", code)
	}
	b.origin = f.url

	// Password: the old one is needed; the new one works.
	if code := b.status("PUT", "/api/v1/me/password", `{"old_password":"nope-nope","password":"ann-password-2"}`); code != 403 {
		t.Errorf("change with a wrong old password: %d, want 403", code)
	}
	if code := b.status("PUT", "/api/v1/me/password", `{"old_password":"ann-password","password":"short"}`); code != 400 {
		t.Errorf("a short new password: %d, want 400", code)
	}
	if code := b.status("PUT", "/api/v1/me/password", `{"old_password":"ann-password","password":"ann-password-2"}`); code != 204 {
		t.Errorf("change: %d, want 204", code)
	}
	if code := b.status("GET", "/api/v1/me", ""); code != 200 {
		t.Errorf("this browser stays signed in after the change: %d", code)
	}
	other := newBrowser(t, f.url)
	if resp := other.signIn("ann", "ann-password-2"); resp.StatusCode != 200 {
		t.Fatalf("sign in with the new password: %d", resp.StatusCode)
	}

	// Sign out here: this browser is out, the other one is still in.
	if code := b.status("DELETE", "/api/v1/session", ""); code != 204 {
		t.Errorf("sign out: %d", code)
	}
	if code := b.status("GET", "/api/v1/me", ""); code != 401 {
		t.Errorf("after sign-out: %d, want 401", code)
	}
	if code := other.status("GET", "/api/v1/me", ""); code != 200 {
		t.Errorf("the other browser after this one signed out: %d, want 200", code)
	}
	// Sign out everywhere.
	third := newBrowser(t, f.url)
	third.signIn("ann", "ann-password-2")
	if code := other.status("DELETE", "/api/v1/me/sessions", ""); code != 204 {
		t.Errorf("sign out everywhere: %d", code)
	}
	if code := third.status("GET", "/api/v1/me", ""); code != 401 {
		t.Errorf("another browser after sign-out everywhere: %d, want 401", code)
	}
}

func TestRoles(t *testing.T) {
	f := newAPI(t)
	f.person(t, "agent1", "agent", "agent1-password")
	f.person(t, "super", "supervisor", "super-password")
	f.person(t, "boss", "admin", "boss-password")
	as := func(id, pw string) *browser {
		b := newBrowser(t, f.url)
		if resp := b.signIn(id, pw); resp.StatusCode != 200 {
			t.Fatalf("%s signs in: %d", id, resp.StatusCode)
		}
		return b
	}
	agent, super, boss := as("agent1", "agent1-password"), as("super", "super-password"), as("boss", "boss-password")
	for _, c := range []struct {
		who                  *browser
		name                 string
		list, create, status int
	}{
		{agent, "agent", 403, 403, 200},
		{super, "supervisor", 200, 403, 200},
		{boss, "admin", 200, 201, 200},
	} {
		if got := c.who.status("GET", "/api/v1/agents", ""); got != c.list {
			t.Errorf("%s lists agents: %d, want %d", c.name, got, c.list)
		}
		if got := c.who.status("POST", "/api/v1/agents", `{"id":"by-`+c.name+`","accounts":["wxapi"],"max_sessions":1}`); got != c.create {
			t.Errorf("%s creates an agent: %d, want %d", c.name, got, c.create)
		}
		if got := c.who.status("PUT", "/api/v1/agent/status", `{"status":"away"}`); got != c.status {
			t.Errorf("%s sets its status: %d, want %d", c.name, got, c.status)
		}
	}

	// The admin resets a password: the person's sessions end, the new
	// password works. Disabling ends sessions and sign-in.
	if code := boss.status("PUT", "/api/v1/agents/agent1/password", `{"password":"agent1-new-pw"}`); code != 204 {
		t.Fatalf("reset: %d", code)
	}
	if code := agent.status("GET", "/api/v1/me", ""); code != 401 {
		t.Errorf("after a reset the person's session: %d, want 401", code)
	}
	agent = as("agent1", "agent1-new-pw")
	if code := boss.status("PATCH", "/api/v1/agents/agent1", `{"disabled":true}`); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	if code := agent.status("GET", "/api/v1/me", ""); code != 401 {
		t.Errorf("a disabled person's session: %d, want 401", code)
	}
	if resp := newBrowser(t, f.url).signIn("agent1", "agent1-new-pw"); resp.StatusCode != 401 {
		t.Errorf("a disabled person signs in: %d, want 401", resp.StatusCode)
	}
	if code := super.status("PUT", "/api/v1/agents/super/password", `{"password":"whatever-pw"}`); code != 403 {
		t.Errorf("a supervisor resets a password: %d, want 403", code)
	}
	// An agent token is still an agent, and the admin token still admin.
	if code, _ := f.call(t, "GET", "/api/v1/me", adminToken, ""); code != 200 {
		t.Errorf("me with the admin token: %d", code)
	}
}

// The console's page and assets: security headers, gzip, long caching
// under a versioned path, ETags, and the size budget.
func TestConsoleAssets(t *testing.T) {
	f := newAPI(t)
	resp, err := http.Get(f.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h := resp.Header
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-cache" || h.Get("ETag") == "" {
		t.Errorf("page headers %v", h)
	}
	if strings.Contains(string(page), "<script>") || strings.Contains(string(page), "style=") {
		t.Error("the page has an inline script or style")
	}
	m := regexp.MustCompile(`src="(/assets/[0-9a-f]{12}/js/main\.js)"`).FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no versioned main.js in the page:\n%s", page)
	}
	req, _ := http.NewRequest("GET", f.url+m[1], nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("main.js is not gzip-compressed: %v (%v)", err, resp.Header)
	}
	js, _ := io.ReadAll(zr)
	resp.Body.Close()
	if !strings.Contains(string(js), "import") || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("main.js: %v", resp.Header)
	}
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, _ = http.DefaultTransport.RoundTrip(req)
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Errorf("revalidation with the ETag: %d, want 304", resp.StatusCode)
	}
	raw, gz := web.Size()
	t.Logf("console JS+CSS: %d bytes, %d gzip-compressed", raw, gz)
	if raw > 150<<10 {
		t.Errorf("JS+CSS is %d bytes; the budget is 150 KB", raw)
	}
	if resp, _ := http.Get(f.url + "/assets/" + web.Version() + "/nope.js"); resp.StatusCode != 404 {
		t.Errorf("a missing asset: %d", resp.StatusCode)
	}
}

// The WebSocket by cookie: the handshake must come from the console's
// origin; an agent gets its own events, a supervisor asking for
// ?scope=all the admins' socket, an agent asking for it its own still.
func TestSocketByCookie(t *testing.T) {
	f := newAPI(t)
	f.person(t, "ann", "agent", "ann-password")
	f.person(t, "sue", "supervisor", "sue-password")
	ws := func(b *browser, query string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", b.url+"/api/v1/agent/ws"+query, nil)
		req.Header.Set("Upgrade", "websocket")
		if b.origin != "" {
			req.Header.Set("Origin", b.origin)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ann, sue := newBrowser(t, f.url), newBrowser(t, f.url)
	ann.signIn("ann", "ann-password")
	sue.signIn("sue", "sue-password")
	for _, c := range []struct {
		name  string
		b     *browser
		query string
		who   string
	}{
		{"agent", ann, "", `"ann"`},
		{"agent asking for all", ann, "?scope=all", `"ann"`},
		{"supervisor", sue, "", `"sue"`},
		{"supervisor asking for all", sue, "?scope=all", `"(admin)"`},
	} {
		if code, body := ws(c.b, c.query); code != 200 || !strings.Contains(body, c.who) {
			t.Errorf("%s: %d %s, want %s's socket", c.name, code, body, c.who)
		}
	}
	ann.origin = "http://evil.example"
	if code, _ := ws(ann, ""); code != 403 {
		t.Errorf("a handshake from another origin: %d, want 403", code)
	}
	ann.origin = ""
	if code, _ := ws(ann, ""); code != 403 {
		t.Errorf("a handshake without Origin: %d, want 403", code)
	}
	if code, _ := ws(newBrowser(t, f.url), ""); code != 401 {
		t.Errorf("no cookie: %d, want 401", code)
	}
}
