package sim

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// kfList is an API call that needs nothing but a valid token.
const kfListPath = "/cgi-bin/customservice/getkflist"

func TestClassicTokenErrors(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tests := []struct {
		name                 string
		grant, appid, secret string
		want                 int
		wantMsgPrefix        string
	}{
		{"ok", "client_credential", appA, secretA, 0, ""},
		{"bad grant_type", "password", appA, secretA, 40002, "invalid grant_type"},
		{"no grant_type", "", appA, secretA, 40002, "invalid grant_type"},
		{"no appid", "client_credential", "", secretA, 41002, "appid missing"},
		{"unknown appid", "client_credential", "wxnobody", secretA, 40013, "invalid appid"},
		{"no secret", "client_credential", appA, "", 41004, "appsecret missing"},
		{"wrong secret", "client_credential", appA, secretB, 40125, "invalid appsecret rid: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, a := h.do("GET", "/cgi-bin/token", url.Values{"grant_type": {tt.grant}, "appid": {tt.appid}, "secret": {tt.secret}}, "", nil)
			wantCode(t, tt.name, a, tt.want)
			if !strings.HasPrefix(a.str("errmsg"), tt.wantMsgPrefix) {
				t.Errorf("errmsg %q, want prefix %q", a.str("errmsg"), tt.wantMsgPrefix)
			}
			if tt.want == 0 {
				if len(a.str("access_token")) < 100 || a.num("expires_in") != 7200 {
					t.Errorf("answer %v: want a long access_token and expires_in 7200", a)
				}
				if _, has := a["errcode"]; has {
					t.Errorf("a token answer carries errcode: %v", a)
				}
			}
		})
	}
	if got := h.api.TokenFetches(appA); got != 1 {
		t.Errorf("TokenFetches = %d, want 1 (failed fetches do not count)", got)
	}
	if got := h.api.Calls("/cgi-bin/token"); got != len(tests) {
		t.Errorf("Calls = %d, want %d", got, len(tests))
	}
}

// TestClassicTokenOverlap: every /cgi-bin/token call mints a new token; the
// previous one stays valid 5 minutes, then answers 40001 (docs/wechat.md, "Access tokens").
func TestClassicTokenOverlap(t *testing.T) {
	h := newHarness(t, APIOptions{})
	t1 := h.token(appA, secretA)
	h.clock.Add(time.Hour)
	t2 := h.token(appA, secretA)
	if t1 == t2 {
		t.Fatal("a second /cgi-bin/token call returned the same token")
	}
	h.clock.Add(5*time.Minute - time.Second)
	wantCode(t, "old token 4m59s after the new one", h.get(kfListPath, t1), 0)
	h.clock.Add(time.Second)
	a := h.get(kfListPath, t1)
	wantCode(t, "old token 5m after the new one", a, 40001)
	if !strings.HasPrefix(a.str("errmsg"), "invalid credential, access_token is invalid or not latest rid: ") {
		t.Errorf("errmsg %q", a.str("errmsg"))
	}
	wantCode(t, "new token", h.get(kfListPath, t2), 0)
	h.clock.Add(2*time.Hour - 5*time.Minute - time.Second)
	wantCode(t, "new token 1 s before its expiry", h.get(kfListPath, t2), 0)
	h.clock.Add(time.Second)
	a = h.get(kfListPath, t2)
	wantCode(t, "new token at its expiry", a, 42001)
	if !strings.HasPrefix(a.str("errmsg"), "access_token expired rid: ") {
		t.Errorf("errmsg %q", a.str("errmsg"))
	}
	wantCode(t, "old token later still", h.get(kfListPath, t1), 40001)

	// A token that expires inside its overlap answers 42001, not 40001.
	t3 := h.token(appA, secretA)
	h.clock.Add(2*time.Hour - time.Minute)
	h.token(appA, secretA)
	h.clock.Add(time.Minute)
	wantCode(t, "superseded token past its expiry", h.get(kfListPath, t3), 42001)
}

func TestTokenChecks(t *testing.T) {
	h := newHarness(t, APIOptions{})
	good := h.token(appA, secretA)
	tests := []struct {
		name, token string
		want        int
		msg         string
	}{
		{"missing", "", 41001, "access_token missing rid: "},
		{"unknown", "not-a-token", 40001, "invalid credential, access_token is invalid or not latest rid: "},
		{"valid", good, 0, "ok"},
	}
	for _, tt := range tests {
		for _, path := range []string{kfListPath, pathSend, "/customservice/kfsession/getwaitcase", "/cgi-bin/media/upload"} {
			q := url.Values{}
			if tt.token != "" {
				q.Set("access_token", tt.token)
			}
			_, a := h.do("POST", path, q, "application/json", []byte(`{}`))
			if tt.want != 0 {
				wantCode(t, tt.name+" "+path, a, tt.want)
				if !strings.HasPrefix(a.str("errmsg"), tt.msg) {
					t.Errorf("%s %s: errmsg %q, want prefix %q", tt.name, path, a.str("errmsg"), tt.msg)
				}
			} else if c := a.code(); c == 40001 || c == 41001 || c == 42001 {
				t.Errorf("%s %s: errcode %d", tt.name, path, c)
			}
		}
	}
	h.clock.Add(2 * time.Hour)
	wantCode(t, "expired", h.get(kfListPath, good), 42001)
}

// TestStableToken: normal mode returns the same token while valid; from 5
// minutes before expiry a call gets a new one and the old stays valid until
// its own expiry (docs/wechat.md, "Access tokens").
func TestStableToken(t *testing.T) {
	h := newHarness(t, APIOptions{})
	a := h.stable(appA, secretA, false)
	s1 := a.str("access_token")
	if s1 == "" || a.num("expires_in") != 7200 {
		t.Fatalf("first stable_token: %v", a)
	}
	h.clock.Add(time.Hour)
	a = h.stable(appA, secretA, false)
	if a.str("access_token") != s1 || a.num("expires_in") != 3600 {
		t.Errorf("after 1h: %v, want the same token with expires_in 3600", a)
	}
	h.clock.Add(time.Hour - 5*time.Minute - time.Second) // 5m01s left
	if a = h.stable(appA, secretA, false); a.str("access_token") != s1 || a.num("expires_in") != 301 {
		t.Errorf("5m01s before expiry: %v, want the same token with expires_in 301", a)
	}
	h.clock.Add(time.Second) // 5m left: rotation
	a = h.stable(appA, secretA, false)
	s2 := a.str("access_token")
	if s2 == s1 || a.num("expires_in") != 7200 {
		t.Errorf("5m before expiry: %v, want a new token with expires_in 7200", a)
	}
	if a = h.stable(appA, secretA, false); a.str("access_token") != s2 {
		t.Errorf("after the rotation the same token again, got %v", a)
	}
	wantCode(t, "old stable token during the handover", h.get(kfListPath, s1), 0)
	wantCode(t, "new stable token", h.get(kfListPath, s2), 0)
	h.clock.Add(5 * time.Minute)
	wantCode(t, "old stable token at its expiry", h.get(kfListPath, s1), 42001)
	wantCode(t, "new stable token", h.get(kfListPath, s2), 0)
	if got := h.api.TokenFetchesOf(appA, TokenStable); got != 5 {
		t.Errorf("stable fetches %d, want 5", got)
	}

	for _, tt := range []struct {
		name, body string
		want       int
	}{
		{"empty body", ``, 44002},
		{"not JSON", `grant_type=client_credential`, 47001},
		{"bad grant_type", `{"grant_type":"x","appid":"` + appA + `","secret":"` + secretA + `"}`, 40002},
		{"unknown appid", `{"grant_type":"client_credential","appid":"wxnobody","secret":"s"}`, 40013},
		{"wrong secret", `{"grant_type":"client_credential","appid":"` + appA + `","secret":"nope"}`, 40125},
	} {
		_, a := h.do("POST", "/cgi-bin/stable_token", nil, "application/json", []byte(tt.body))
		wantCode(t, tt.name, a, tt.want)
	}
	_, a = h.do("GET", "/cgi-bin/stable_token", nil, "", nil)
	wantCode(t, "GET stable_token", a, 43002)
}

// TestStableForceRefresh: force_refresh invalidates the previous token at
// once; at most 20 a day, 30 s apart, else the current token comes back
// unchanged (docs/wechat.md, "Access tokens").
func TestStableForceRefresh(t *testing.T) {
	h := newHarness(t, APIOptions{})
	s1 := h.stable(appA, secretA, false).str("access_token")
	h.clock.Add(time.Minute)
	s2 := h.stable(appA, secretA, true).str("access_token")
	if s2 == s1 {
		t.Fatal("force_refresh returned the same token")
	}
	wantCode(t, "token replaced by force_refresh", h.get(kfListPath, s1), 40001)
	wantCode(t, "forced token", h.get(kfListPath, s2), 0)

	h.clock.Add(29 * time.Second)
	if got := h.stable(appA, secretA, true).str("access_token"); got != s2 {
		t.Error("force_refresh 29 s after the last one refreshed")
	}
	wantCode(t, "token after a refused force_refresh", h.get(kfListPath, s2), 0)
	h.clock.Add(time.Second)
	s3 := h.stable(appA, secretA, true).str("access_token")
	if s3 == s2 {
		t.Error("force_refresh 30 s after the last one did not refresh")
	}

	// 2 forced so far today; 18 more refresh, the 21st does not.
	last := s3
	for i := 3; i <= 21; i++ {
		h.clock.Add(31 * time.Second)
		got := h.stable(appA, secretA, true).str("access_token")
		if refreshed := got != last; refreshed != (i <= 20) {
			t.Fatalf("force_refresh #%d today: refreshed %v", i, refreshed)
		}
		last = got
	}
	// The day ends at midnight Beijing time.
	now := h.clock.Now().In(chinaTime)
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, chinaTime)
	h.clock.Add(midnight.Sub(now))
	if got := h.stable(appA, secretA, true).str("access_token"); got == last {
		t.Error("force_refresh on the next day did not refresh")
	}
}

// TestTokensIsolated: classic and stable tokens do not affect each other
// and every API accepts both (docs/wechat.md, "Access tokens").
func TestTokensIsolated(t *testing.T) {
	h := newHarness(t, APIOptions{})
	s := h.stable(appA, secretA, false).str("access_token")
	c1 := h.token(appA, secretA)
	h.token(appA, secretA)
	h.stable(appA, secretA, true)
	h.clock.Add(6 * time.Minute)
	wantCode(t, "stable token after classic fetches", h.get(kfListPath, s), 40001) // by force_refresh only
	s2 := h.stable(appA, secretA, false).str("access_token")
	h.token(appA, secretA)
	wantCode(t, "stable token after a classic fetch", h.get(kfListPath, s2), 0)
	wantCode(t, "superseded classic token", h.get(kfListPath, c1), 40001)
	c3 := h.token(appA, secretA)
	h.stable(appA, secretA, false)
	h.clock.Add(time.Minute)
	h.stable(appA, secretA, true)
	wantCode(t, "classic token after a stable force_refresh", h.get(kfListPath, c3), 0)

	// A token is its own account's.
	b := h.token(appB, secretB)
	h.interact(appA, "o_a", InteractMessage)
	wantCode(t, "appB's token for appA's user", h.post(pathSend, b, `{"touser":"o_a","msgtype":"text","text":{"content":"x"}}`), 40003)
	if got := h.api.TokenFetchesOf(appA, TokenClassic); got != 4 {
		t.Errorf("classic fetches %d, want 4", got)
	}
	if got := h.api.TokenFetches(appA); got != 4+5 {
		t.Errorf("all fetches %d, want 9", got)
	}
}

func TestTokenDailyQuota(t *testing.T) {
	h := newHarness(t, APIOptions{TokenDailyQuota: 3})
	for range 3 {
		h.token(appA, secretA)
	}
	_, a := h.do("GET", "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appA}, "secret": {secretA}}, "", nil)
	wantCode(t, "4th token of the day", a, 45009)
	h.token(appB, secretB) // per account
	h.clock.Add(24 * time.Hour)
	h.token(appA, secretA)
}
