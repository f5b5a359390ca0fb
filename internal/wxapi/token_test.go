package wxapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
)

// TestStaleTokenRefreshedOnce: another party fetches a classic token, which
// ends ours 5 minutes later (docs/wechat.md, "Access tokens"). The next call gets 40001, re-reads the
// shared token, finds it still the stale one, refreshes once and succeeds;
// a second replica reporting the same stale token fetches nothing.
func TestStaleTokenRefreshedOnce(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	ts1, ts2 := e.tokens(t, TokenClassic), e.tokens(t, TokenClassic)
	c := e.client(t, ts1)
	e.interact(t, "wxapp1", "u")
	stale, err := ts1.Token(ctx, "wxapp1")
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"grant_type": {"client_credential"}, "appid": {"wxapp1"}, "secret": {"secret1"}}
	resp, err := http.Get(e.srv.URL + "/cgi-bin/token?" + q.Encode()) // the rogue fetch
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.clk.Advance(6 * time.Minute)

	if err := c.SendCustom(ctx, "wxapp1", TextMessage("u", "after 40001")); err != nil {
		t.Fatalf("SendCustom with a superseded token: %v", err)
	}
	// Two requests (40001, then the retry), one message delivered.
	if got := e.api.Calls("/cgi-bin/message/custom/send"); got != 2 {
		t.Errorf("%d custom/send requests, want 2", got)
	}
	if got := len(e.api.Received("wxapp1", "u")); got != 1 {
		t.Errorf("user got %d messages, want 1", got)
	}
	if got := e.api.TokenFetches("wxapp1"); got != 3 { // ours, the rogue one, the refresh
		t.Errorf("%d token fetches, want 3", got)
	}
	fresh, err := ts2.Invalidate(ctx, "wxapp1", stale)
	if err != nil || fresh == stale || fresh == "" {
		t.Fatalf("Invalidate of an already replaced token: %q, %v", fresh, err)
	}
	if got := e.api.TokenFetches("wxapp1"); got != 3 {
		t.Errorf("Invalidate of an already replaced token fetched (%d fetches)", got)
	}
	if n, _ := e.rdb.Exists(ctx, e.prefix+"token-lock:wxapp1").Result(); n != 0 {
		t.Error("the fetch lock was left behind")
	}
	v, err := e.rdb.Get(ctx, e.prefix+"token:wxapp1").Result()
	if err != nil || !strings.HasSuffix(v, ":"+fresh) {
		t.Errorf("cache %q, %v; want …:%s", v, err, fresh)
	}
	if ttl := e.rdb.PTTL(ctx, e.prefix+"token:wxapp1").Val(); ttl <= 0 || ttl > 2*time.Hour {
		t.Errorf("cache TTL %v, want the token's life", ttl)
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	ts, err := NewTokens(TokenOptions{Redis: e.rdb, Prefix: e.prefix, Accounts: map[string]string{"wxapp1": "wrong"},
		BaseURL: e.srv.URL, BackupURL: e.srv.URL, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token(ctx, "wxapp1")
	if Code(err) != 40125 || !Permanent(err) {
		t.Errorf("wrong secret: %v, want a permanent 40125", err)
	}
	if _, err := ts.Token(ctx, "nobody"); kf.KindOf(err) != kf.KindNotFound {
		t.Errorf("unknown appid: %v", err)
	}
}

// TestTokenWaitsForLockHolder: with the lock held by a replica that died,
// a caller with an expired token waits and takes over once the lock expires.
func TestTokenWaitsForLockHolder(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	ts, err := NewTokens(TokenOptions{Redis: e.rdb, Prefix: e.prefix, Accounts: testAccounts,
		BaseURL: e.srv.URL, BackupURL: e.srv.URL, Now: e.clk.Now, LockTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.rdb.Set(ctx, e.prefix+"token-lock:wxapp1", "dead replica", 300*time.Millisecond)
	start := time.Now()
	if _, err := ts.Token(ctx, "wxapp1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Token returned after %v, before the dead lock expired", d)
	}
	if got := e.api.TokenFetches("wxapp1"); got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
}

func BenchmarkTokenCached(b *testing.B) {
	e := newEnv(b)
	ctx := ctxT(b)
	ts := e.tokens(b, TokenStable)
	if _, err := ts.Token(ctx, "wxapp1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ts.Token(ctx, "wxapp1"); err != nil {
			b.Fatal(err)
		}
	}
}
