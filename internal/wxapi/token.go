package wxapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// TokenMode is the endpoint Tokens fetches access_tokens from.
type TokenMode int

const (
	// TokenStable uses POST /cgi-bin/stable_token with force_refresh=false
	// (docs/wechat.md, "Access tokens"): a fetch returns the same token while it is valid, so
	// a fetch never invalidates a token another replica holds.
	TokenStable TokenMode = iota
	// TokenClassic uses GET /cgi-bin/token (docs/wechat.md, "Access tokens"): every fetch mints a new
	// token and ends the previous one 5 minutes later, so fetches must be
	// rare and coordinated (中控服务器).
	TokenClassic
)

// TokenOptions configure Tokens.
type TokenOptions struct {
	// Redis holds the shared cache and the fetch lock.
	Redis redis.UniversalClient
	// Prefix starts every key: <Prefix>token:<appid> holds the token,
	// <Prefix>token-lock:<appid> the fetch lock.
	Prefix string
	// Accounts maps each appid to its AppSecret.
	Accounts map[string]string
	// Mode is the token endpoint. Default TokenStable.
	Mode TokenMode
	// BaseURL and BackupURL are WeChat's API hosts (DefaultBaseURL,
	// DefaultBackupURL when empty); HTTPClient sends the fetches.
	BaseURL, BackupURL string
	HTTPClient         *http.Client
	// Observe, if set, is told of every token fetch (see Observer).
	Observe Observer
	// Margin is how long before its expiry a token is refreshed. Default
	// 5 minutes: a stable token is rotated by WeChat 5 minutes before its
	// expiry, so an earlier fetch would only return the same token.
	Margin time.Duration
	// LockTTL bounds how long one replica may hold the fetch lock; a
	// replica that dies while fetching blocks the others this long at most.
	// Default 10 s.
	LockTTL time.Duration
	// Wait bounds how long a caller waits for another replica's fetch of an
	// expired token. Default LockTTL + 5 s.
	Wait time.Duration
	// Poll is how often a waiting caller re-reads the cache. Default 10 ms.
	Poll time.Duration
	// Now is the clock expiries are measured on. Default time.Now.
	Now func() time.Time
}

// Tokens gives the access_token of each account, shared by every replica
// through Redis. Safe for concurrent use.
//
// The cache entry <prefix>token:<appid> is "expiresMs:refreshMs:token"
// (Unix milliseconds on the Now clock), with a Redis expiry of the token's
// life. Token returns the cached token until refreshMs (expiry − Margin,
// but at least half the token's life after the fetch). Then one caller in
// the whole cluster fetches: it takes <prefix>token-lock:<appid> with SET NX
// PX and a random value, re-reads the cache (another replica may have just
// refreshed), fetches, writes the cache and deletes the lock only if it
// still holds its value (a Lua compare-and-delete). Everyone else keeps
// using the old token while it is valid, or, once it expired, polls the
// cache until the new one appears.
type Tokens struct {
	rdb      redis.UniversalClient
	prefix   string
	accounts map[string]string
	mode     TokenMode
	hosts    *hosts
	margin   time.Duration
	lockTTL  time.Duration
	wait     time.Duration
	poll     time.Duration
	now      func() time.Time
	local    map[string]chan struct{} // per appid: one refresher per process
	observe  Observer
}

// NewTokens returns the Tokens of o's accounts.
func NewTokens(o TokenOptions) (*Tokens, error) {
	if o.Redis == nil {
		return nil, errors.New("wxapi: TokenOptions.Redis is nil")
	}
	h, err := newHosts(o.BaseURL, o.BackupURL, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	t := &Tokens{
		rdb: o.Redis, prefix: o.Prefix, accounts: o.Accounts, mode: o.Mode, hosts: h,
		margin: o.Margin, lockTTL: o.LockTTL, wait: o.Wait, poll: o.Poll, now: o.Now,
		local: make(map[string]chan struct{}, len(o.Accounts)), observe: o.Observe,
	}
	if t.margin <= 0 {
		t.margin = 5 * time.Minute
	}
	if t.lockTTL <= 0 {
		t.lockTTL = 10 * time.Second
	}
	if t.wait <= 0 {
		t.wait = t.lockTTL + 5*time.Second
	}
	if t.poll <= 0 {
		t.poll = 10 * time.Millisecond
	}
	if t.now == nil {
		t.now = time.Now
	}
	for appid := range o.Accounts {
		t.local[appid] = make(chan struct{}, 1)
	}
	return t, nil
}

// entry is a cached token.
type entry struct {
	token     string
	expires   int64 // Unix ms
	refreshAt int64 // Unix ms
}

func (e entry) valid(now int64) bool { return e.token != "" && now < e.expires }

// fresh reports whether e is the token to hand out at now: valid, not due
// for a refresh, and not the token a caller reported stale.
func (e entry) fresh(now int64, stale string) bool {
	if stale != "" {
		return e.valid(now) && e.token != stale
	}
	return e.valid(now) && now < e.refreshAt
}

func (t *Tokens) key(appid string) string     { return t.prefix + "token:" + appid }
func (t *Tokens) lockKey(appid string) string { return t.prefix + "token-lock:" + appid }

// Token returns appid's access_token.
func (t *Tokens) Token(ctx context.Context, appid string) (string, error) {
	e, err := t.load(ctx, appid)
	if err != nil {
		return "", err
	}
	if e.fresh(t.now().UnixMilli(), "") {
		return e.token, nil
	}
	return t.refresh(ctx, appid, "", e)
}

// Invalidate is the reaction to a call answered 40001, 42001 or 40014 with
// the token stale: it returns the shared token if another caller already
// replaced stale, and otherwise fetches once, under the lock, a new one.
// It never asks for force_refresh (docs/wechat.md, "Access tokens"); in stable mode WeChat may thus
// answer with the same token, which is then returned.
func (t *Tokens) Invalidate(ctx context.Context, appid, stale string) (string, error) {
	e, err := t.load(ctx, appid)
	if err != nil {
		return "", err
	}
	if e.fresh(t.now().UnixMilli(), stale) {
		return e.token, nil
	}
	return t.refresh(ctx, appid, stale, e)
}

// refresh gets a token to replace e (and stale, when set), fetching it
// under the cluster lock or waiting for the replica that holds it.
func (t *Tokens) refresh(ctx context.Context, appid, stale string, e entry) (string, error) {
	sem, ok := t.local[appid]
	if !ok {
		return "", kf.Errorf(kf.KindNotFound, "unknown_appid", "wxapi: no AppSecret for appid %q", appid)
	}
	// A token that is only due (inside the margin), not expired, is still
	// good: while someone else refreshes, hand it out instead of waiting.
	usable := stale == "" && e.valid(t.now().UnixMilli())
	if usable {
		select {
		case sem <- struct{}{}:
		default:
			return e.token, nil
		}
	} else {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return "", fmt.Errorf("wxapi: token of %s: %w: %w", appid, errCanceled, ctx.Err())
		}
	}
	defer func() { <-sem }()

	wctx, cancel := context.WithTimeout(ctx, t.wait)
	defer cancel()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if e, err := t.load(wctx, appid); err == nil && e.fresh(t.now().UnixMilli(), stale) {
			return e.token, nil
		}
		owner, err := t.lock(wctx, appid)
		if err != nil {
			return "", err
		}
		if owner != "" {
			return t.fetchLocked(wctx, appid, stale, owner)
		}
		if e, err := t.load(wctx, appid); err == nil && usable && e.valid(t.now().UnixMilli()) {
			return e.token, nil
		}
		timer.Reset(t.poll)
		select {
		case <-timer.C:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return "", fmt.Errorf("wxapi: token of %s: %w: %w", appid, errCanceled, ctx.Err())
			}
			return "", kf.Errorf(kf.KindUnavailable, "token_wait", "wxapi: token of %s: no replica fetched one within %v", appid, t.wait)
		}
	}
}

// unlock deletes the lock only if it still holds the caller's value: a
// lock that expired and was taken by another replica is not theirs to free.
var unlock = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// lock tries to take appid's fetch lock; it returns the lock's value, or ""
// if another replica holds it.
func (t *Tokens) lock(ctx context.Context, appid string) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	v := hex.EncodeToString(b[:])
	ok, err := t.rdb.SetNX(ctx, t.lockKey(appid), v, t.lockTTL).Result()
	if err != nil {
		return "", kf.Wrap(kf.KindUnavailable, "redis", err, "wxapi: token lock of "+appid)
	}
	if !ok {
		return "", nil
	}
	return v, nil
}

// fetchLocked runs with the lock held: unless the cache got a fresh token
// meanwhile, it fetches one from WeChat and caches it.
func (t *Tokens) fetchLocked(ctx context.Context, appid, stale, owner string) (string, error) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = unlock.Run(rctx, t.rdb, []string{t.lockKey(appid)}, owner).Err()
	}()
	e, err := t.load(ctx, appid)
	if err != nil {
		return "", err
	}
	if e.fresh(t.now().UnixMilli(), stale) {
		return e.token, nil
	}
	// Finish well inside the lock's life so no second replica starts.
	fctx, cancel := context.WithTimeout(ctx, t.lockTTL*3/4)
	defer cancel()
	fetched := t.now()
	tok, life, err := t.fetch(fctx, appid)
	if err != nil {
		return "", err
	}
	refresh := max(life-t.margin, life/2)
	val := strconv.FormatInt(fetched.Add(life).UnixMilli(), 10) + ":" +
		strconv.FormatInt(fetched.Add(refresh).UnixMilli(), 10) + ":" + tok
	if err := t.rdb.Set(ctx, t.key(appid), val, life).Err(); err != nil {
		return "", kf.Wrap(kf.KindUnavailable, "redis", err, "wxapi: caching the token of "+appid)
	}
	return tok, nil
}

// load reads appid's cache entry; a missing or unreadable one is the zero
// entry.
func (t *Tokens) load(ctx context.Context, appid string) (entry, error) {
	s, err := t.rdb.Get(ctx, t.key(appid)).Result()
	if errors.Is(err, redis.Nil) {
		return entry{}, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return entry{}, fmt.Errorf("wxapi: token of %s: %w: %w", appid, errCanceled, ctx.Err())
		}
		return entry{}, kf.Wrap(kf.KindUnavailable, "redis", err, "wxapi: reading the token of "+appid)
	}
	exp, rest, ok1 := strings.Cut(s, ":")
	ref, tok, ok2 := strings.Cut(rest, ":")
	e := entry{token: tok}
	var err1, err2 error
	e.expires, err1 = strconv.ParseInt(exp, 10, 64)
	e.refreshAt, err2 = strconv.ParseInt(ref, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return entry{}, nil
	}
	return e, nil
}

// tokenAnswer is the answer of both token endpoints, or an error.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
}

// fetch asks WeChat for appid's token and returns it with its life.
func (t *Tokens) fetch(ctx context.Context, appid string) (string, time.Duration, error) {
	secret := t.accounts[appid]
	var req request
	switch t.mode {
	case TokenClassic:
		req = request{method: http.MethodGet, path: "/cgi-bin/token", query: url.Values{
			"grant_type": {"client_credential"}, "appid": {appid}, "secret": {secret}}}
	default:
		body, err := encodeJSON(struct {
			GrantType    string `json:"grant_type"`
			AppID        string `json:"appid"`
			Secret       string `json:"secret"`
			ForceRefresh bool   `json:"force_refresh"`
		}{"client_credential", appid, secret, false})
		if err != nil {
			return "", 0, err
		}
		req = request{method: http.MethodPost, path: "/cgi-bin/stable_token", ctype: "application/json", body: body}
	}
	start := time.Now()
	raw, err := t.hosts.do(ctx, req)
	if err != nil {
		t.observe.call(appid, req.path, start, err)
		return "", 0, fmt.Errorf("wxapi: fetching the token of %s: %w", appid, err)
	}
	var a tokenAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		err = &TransportError{Path: req.path, Status: 200, Err: err}
		t.observe.call(appid, req.path, start, err)
		return "", 0, fmt.Errorf("wxapi: fetching the token of %s: %w", appid, err)
	}
	t.observe.code(appid, req.path, start, a.ErrCode)
	if a.ErrCode != 0 {
		return "", 0, fmt.Errorf("wxapi: fetching the token of %s: %w", appid, &Error{Code: a.ErrCode, Msg: a.ErrMsg})
	}
	if a.AccessToken == "" || a.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("wxapi: fetching the token of %s: %w", appid, &TransportError{Path: req.path, Status: 200, Err: errors.New("no access_token in the answer")})
	}
	return a.AccessToken, time.Duration(a.ExpiresIn) * time.Second, nil
}

// Health is the state of an account's shared token, without fetching one.
type Health struct {
	Cached    bool      `json:"cached"`              // a valid token is in the shared cache
	ExpiresAt time.Time `json:"expires_at,omitzero"` // when it expires
	RefreshAt time.Time `json:"refresh_at,omitzero"` // when a call will refresh it
}

// Health reports appid's token as the replicas share it.
func (t *Tokens) Health(ctx context.Context, appid string) (Health, error) {
	e, err := t.load(ctx, appid)
	if err != nil {
		return Health{}, err
	}
	if !e.valid(t.now().UnixMilli()) {
		return Health{}, nil
	}
	return Health{Cached: true, ExpiresAt: time.UnixMilli(e.expires), RefreshAt: time.UnixMilli(e.refreshAt)}, nil
}
