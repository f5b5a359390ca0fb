package sim

import (
	"encoding/json"
	"time"
)

// TokenKind names the endpoint an access_token came from.
type TokenKind string

// The two kinds of access_token (docs/wechat.md, "Access tokens"). Their tokens are isolated from
// each other ("完全隔离，互不影响", docs/wechat.md, "Access tokens") and every API accepts either.
const (
	TokenClassic TokenKind = "token"        // GET /cgi-bin/token (docs/wechat.md, "Access tokens")
	TokenStable  TokenKind = "stable_token" // POST /cgi-bin/stable_token (docs/wechat.md, "Access tokens")
)

// token is one minted access_token.
type token struct {
	value   string
	acct    *account
	kind    TokenKind
	expires time.Time
	// cutoff, when set, ends the token before its expiry: a classic token
	// superseded by a newer one (ClassicOverlap later, docs/wechat.md, "Access tokens") or a stable
	// token replaced by force_refresh (at once, docs/wechat.md, "Access tokens").
	cutoff time.Time
}

// state says whether t is valid at now, and if not, WeChat's code for it:
// 40001 "invalid credential, access_token is invalid or not latest" once cut
// off, 42001 "access_token expired" once expired (docs/wechat.md, "Error codes"). A token cut off before
// it expired stays "not latest" for good.
func (t *token) state(now time.Time) int {
	switch {
	case !t.cutoff.IsZero() && t.cutoff.Before(t.expires) && !now.Before(t.cutoff):
		return 40001
	case !now.Before(t.expires):
		return 42001
	}
	return 0
}

// checkToken finds the account of the access_token of an API call: missing →
// 41001, unknown or no longer the latest → 40001, expired → 42001 (docs/wechat.md, "Error codes" and "Access tokens").
func (a *API) checkToken(s string, now time.Time) (*account, *wxError) {
	if s == "" {
		return nil, errf(41001)
	}
	t := a.tokens[s]
	if t == nil {
		return nil, errf(40001)
	}
	if code := t.state(now); code != 0 {
		return nil, errf(code)
	}
	return t.acct, nil
}

// mint makes a new token of kind for acct, valid TokenTTL from now. Tokens
// are 128 characters of [A-Za-z0-9_-]; WeChat asks clients to store ≥ 512
// (docs/wechat.md, "Access tokens"), so a client that truncates still fails here.
func (a *API) mint(acct *account, kind TokenKind, now time.Time) *token {
	t := &token{value: randomString(96), acct: acct, kind: kind, expires: now.Add(a.opts.TokenTTL)}
	a.tokens[t.value] = t
	return t
}

// tokenBody is the answer of both token endpoints (docs/wechat.md, "Access tokens").
type tokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

func (t *token) body(now time.Time) tokenBody {
	return tokenBody{AccessToken: t.value, ExpiresIn: int(t.expires.Sub(now) / time.Second)}
}

// credentials checks a token request's grant_type, appid and secret: 40002
// bad grant_type, 41002/40013 missing/unknown appid, 41004/40125
// missing/wrong secret (docs/wechat.md, "Error codes" and "Access tokens").
func (a *API) credentials(grantType, appid, secret string) (*account, *wxError) {
	if grantType != "client_credential" {
		return nil, errf(40002)
	}
	if appid == "" {
		return nil, errf(41002)
	}
	acct := a.accounts[appid]
	if acct == nil {
		return nil, errf(40013)
	}
	if secret == "" {
		return nil, errf(41004)
	}
	if secret != acct.secret {
		return nil, errf(40125)
	}
	return acct, nil
}

// classicToken serves GET /cgi-bin/token (docs/wechat.md, "Access tokens"): every call mints a new
// token; the previous one stays valid only ClassicOverlap longer, then
// answers 40001. At most TokenDailyQuota calls a day (45009).
func (a *API) classicToken(c *call) any {
	q := c.r.URL.Query()
	acct, e := a.credentials(q.Get("grant_type"), q.Get("appid"), q.Get("secret"))
	if e != nil {
		return e
	}
	if acct.overQuota(pathToken, a.opts.TokenDailyQuota, c.now) {
		return errf(45009)
	}
	if old := acct.classic; old != nil {
		if end := c.now.Add(a.opts.ClassicOverlap); old.cutoff.IsZero() || end.Before(old.cutoff) {
			old.cutoff = end
		}
	}
	acct.classic = a.mint(acct, TokenClassic, c.now)
	acct.fetches[TokenClassic]++
	return acct.classic.body(c.now)
}

// stableToken serves POST /cgi-bin/stable_token (docs/wechat.md, "Access tokens").
//
// Normal mode returns the same token while it is valid, with expires_in the
// time it has left. From StableRotateBefore before its expiry the next call
// gets a new token, and the old one stays valid until its own expiry, so any
// token handed out has expires_in ≥ StableRotateBefore.
//
// force_refresh=true invalidates the current token at once and returns a new
// one, at most 20 times a day and 30 s apart; otherwise "不会刷新": the call is
// answered as in normal mode.
func (a *API) stableToken(c *call) any {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if len(c.body) == 0 {
		return errf(44002)
	}
	if json.Unmarshal(c.body, &req) != nil {
		return errf(47001)
	}
	acct, e := a.credentials(req.GrantType, req.AppID, req.Secret)
	if e != nil {
		return e
	}
	if acct.overQuota(pathStableToken, stableTokenDailyQuota, c.now) {
		return errf(45009)
	}
	acct.fetches[TokenStable]++
	cur := acct.stable
	live := cur != nil && cur.state(c.now) == 0
	if req.ForceRefresh && a.mayForceRefresh(acct, c.now) {
		if live {
			cur.cutoff = c.now
		}
		acct.stable = a.mint(acct, TokenStable, c.now)
		return acct.stable.body(c.now)
	}
	if live && c.now.Before(cur.expires.Add(-a.opts.StableRotateBefore)) {
		return cur.body(c.now)
	}
	acct.stable = a.mint(acct, TokenStable, c.now)
	return acct.stable.body(c.now)
}

// mayForceRefresh reports whether a force_refresh call may refresh now, and
// if so counts it: ≥ 30 s after the last one and at most 20 a day (docs/wechat.md, "Access tokens").
func (a *API) mayForceRefresh(acct *account, now time.Time) bool {
	if !acct.lastForce.IsZero() && now.Sub(acct.lastForce) < stableForceRefreshGap {
		return false
	}
	if acct.overQuota("stable_token force_refresh", stableForceRefreshPerDay, now) {
		return false
	}
	acct.lastForce = now
	return true
}

// TokenFetches returns how many access_tokens appid fetched successfully
// from both endpoints.
func (a *API) TokenFetches(appid string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil {
		return 0
	}
	return acct.fetches[TokenClassic] + acct.fetches[TokenStable]
}

// TokenFetchesOf returns how many access_tokens appid fetched successfully
// from the endpoint of kind.
func (a *API) TokenFetchesOf(appid string, kind TokenKind) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil {
		return 0
	}
	return acct.fetches[kind]
}
