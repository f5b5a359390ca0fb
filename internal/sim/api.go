package sim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The fake WeChat server API: the customer-service HTTP APIs, their error
// codes, both kinds of access_token and the daily quotas (docs/wechat.md,
// "Customer-service API" to "API quotas"), for every account of one simulator process, with all
// state in memory. The same paths answer on any host, so a client's failover
// from api.weixin.qq.com to api2.weixin.qq.com (docs/wechat.md, "Hosts and failover") is tested by pointing
// both base URLs at one simulator.

// APIOptions configure an API.
type APIOptions struct {
	// Accounts maps each appid to its AppSecret.
	Accounts map[string]string
	// Now is the simulator's clock: token expiry, the 48-hour window and
	// the daily quotas all read it, so tests move time instead of sleeping.
	// Default time.Now.
	Now func() time.Time
	// TokenTTL is the life of an access_token, "目前是7200秒" (docs/wechat.md, "Access tokens"). Default 2h.
	TokenTTL time.Duration
	// ClassicOverlap is how long the previous classic token stays valid
	// after /cgi-bin/token minted a new one: "5分钟内，新老access_token都可用"
	// (docs/wechat.md, "Access tokens"). Default 5m.
	ClassicOverlap time.Duration
	// StableRotateBefore is how long before its expiry the stable token is
	// replaced by a new one on the next normal-mode call (docs/wechat.md, "Access tokens"). Default 5m.
	StableRotateBefore time.Duration
	// DailySendQuota is the number of custom/send calls per account and
	// day, 500 000 for a new account (docs/wechat.md, "API quotas"); over it → 45009. Default 500000.
	DailySendQuota int
	// TokenDailyQuota is the number of /cgi-bin/token calls per account and
	// day, 2000 for a normal account (docs/wechat.md, "Access tokens"); over it → 45009. Default 2000.
	TokenDailyQuota int
	// UnsubscribedCode is the errcode custom/send and typing return for a
	// user who unsubscribed. Default 43004 "require subscribe" (docs/wechat.md, "Error codes").
	// docs/wechat.md, "Customer-service API" and the errmsg of 45015 ("… or subscription is
	// canceled") say real WeChat may answer 45015 instead; set it to 45015
	// to test that variant.
	UnsubscribedCode int
}

// Stable-token and quota constants of docs/wechat.md, "Access tokens" and "API quotas",
const (
	stableForceRefreshPerDay = 20               // force_refresh=true, per day (docs/wechat.md, "Access tokens")
	stableForceRefreshGap    = 30 * time.Second // between two force refreshes (docs/wechat.md, "Access tokens")
	stableTokenDailyQuota    = 500_000          // stable_token calls per day (docs/wechat.md, "Access tokens")
)

// chinaTime is the zone of WeChat's day: the daily quotas of docs/wechat.md, "Access tokens" and "API quotas"
// restart at midnight Beijing time. The docs do not say which midnight; this
// is the simulator's choice.
var chinaTime = time.FixedZone("CST", 8*60*60)

// API is a fake of WeChat's server API (api.weixin.qq.com), an http.Handler
// that is safe for concurrent use. Besides the WeChat paths it serves /sim/
// endpoints to inspect and steer it (api_inspect.go).
type API struct {
	opts APIOptions

	mu       sync.Mutex
	offset   time.Duration // added to opts.Now by Advance
	accounts map[string]*account
	tokens   map[string]*token // every token ever minted, by its string
	calls    map[string]int    // WeChat paths, by path
	sends    map[int]int       // custom/send answers, by errcode
	faults   Faults

	// The kf_* pushes (api_kfevents.go): where to, those not yet posted,
	// one flush at a time so they arrive in order.
	callbacks        map[string]*Poster
	pending          []kfEvent
	postMu           sync.Mutex
	callbackFailures int
}

// account is the state of one official account.
type account struct {
	appid, secret string

	classic *token // the latest /cgi-bin/token token
	stable  *token // the current stable token
	fetches map[TokenKind]int

	lastForce time.Time // the last force_refresh that refreshed
	daily     map[string]*dayCount

	users    map[string]*user
	kfs      []*kfAccount // in the order they were added
	nextKfID int
	sessions map[string]*kfSession // by openid
	waiting  []waitCase            // arrival order
	records  []msgRecord           // msgid = index + 1
	media    map[string]media
	tags     []*tag // tags/create, by id order
	nextTag  int
}

// dayCount counts calls of one kind on one day of chinaTime.
type dayCount struct {
	day string
	n   int
}

// NewAPI returns an API serving the accounts of opts.
func NewAPI(opts APIOptions) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.TokenTTL, 7200*time.Second)
	def(&opts.ClassicOverlap, 5*time.Minute)
	def(&opts.StableRotateBefore, 5*time.Minute)
	if opts.DailySendQuota <= 0 {
		opts.DailySendQuota = 500_000
	}
	if opts.TokenDailyQuota <= 0 {
		opts.TokenDailyQuota = 2000
	}
	if opts.UnsubscribedCode == 0 {
		opts.UnsubscribedCode = 43004
	}
	a := &API{
		opts:      opts,
		accounts:  make(map[string]*account, len(opts.Accounts)),
		tokens:    map[string]*token{},
		calls:     map[string]int{},
		sends:     map[int]int{},
		callbacks: map[string]*Poster{},
	}
	for appid, secret := range opts.Accounts {
		a.accounts[appid] = &account{
			appid: appid, secret: secret,
			fetches:  map[TokenKind]int{},
			daily:    map[string]*dayCount{},
			users:    map[string]*user{},
			nextKfID: 1001,
			sessions: map[string]*kfSession{},
			media:    map[string]media{},
			// WeChat's own tag 2 "星标组" exists on every account.
			tags:    []*tag{{id: 2, name: "星标组"}},
			nextTag: 100,
		}
	}
	return a
}

// now is the simulator's clock; the caller holds a.mu.
func (a *API) now() time.Time { return a.opts.Now().Add(a.offset) }

// Advance moves the simulator's clock forward by d, on top of opts.Now; it
// lets a run of `kfgate sim api` on the wall clock expire tokens and windows.
func (a *API) Advance(d time.Duration) {
	a.mu.Lock()
	a.offset += d
	a.mu.Unlock()
}

// route is one WeChat path.
type route struct {
	post   bool // POST only; any other method → 43002 "require POST method"
	noAuth bool // the token endpoints, which take appid and secret instead
	serve  func(a *API, c *call) any
}

// Paths named in more than one place.
const (
	pathToken       = "/cgi-bin/token"
	pathStableToken = "/cgi-bin/stable_token"
	pathSend        = "/cgi-bin/message/custom/send"
	pathMediaGet    = "/cgi-bin/media/get"
)

// routes are the WeChat paths of docs/wechat.md, "Customer-service API" and "Access tokens", GET endpoints answer
// any method: WeChat's behaviour there is not documented and clients use GET.
var routes = map[string]route{
	pathToken:       {noAuth: true, serve: (*API).classicToken},
	pathStableToken: {post: true, noAuth: true, serve: (*API).stableToken},

	pathSend:                         {post: true, serve: (*API).customSend},
	"/cgi-bin/message/custom/typing": {post: true, serve: (*API).typing},
	"/cgi-bin/media/upload":          {post: true, serve: (*API).uploadMedia},
	pathMediaGet:                     {serve: (*API).getMedia},

	"/cgi-bin/user/info":                   {serve: (*API).userInfo},
	"/cgi-bin/user/info/updateremark":      {post: true, serve: (*API).updateRemark},
	"/cgi-bin/tags/create":                 {post: true, serve: (*API).tagCreate},
	"/cgi-bin/tags/get":                    {serve: (*API).tagList},
	"/cgi-bin/tags/members/batchtagging":   {post: true, serve: (*API).tagUsers},
	"/cgi-bin/tags/members/batchuntagging": {post: true, serve: (*API).untagUsers},

	"/customservice/kfaccount/add":           {post: true, serve: (*API).kfAdd},
	"/customservice/kfaccount/update":        {post: true, serve: (*API).kfUpdate},
	"/customservice/kfaccount/del":           {serve: (*API).kfDelete}, // POST JSON or legacy GET ?kf_account= (docs/wechat.md, "Customer-service API")
	"/customservice/kfaccount/uploadheadimg": {post: true, serve: (*API).kfUploadHeadImg},
	"/customservice/kfaccount/inviteworker":  {post: true, serve: (*API).kfInvite},
	"/cgi-bin/customservice/getkflist":       {serve: (*API).kfList},
	"/cgi-bin/customservice/getonlinekflist": {serve: (*API).kfOnlineList},

	"/customservice/kfsession/create":         {post: true, serve: (*API).sessionCreate},
	"/customservice/kfsession/close":          {post: true, serve: (*API).sessionClose},
	"/customservice/kfsession/getsession":     {serve: (*API).sessionOf},
	"/customservice/kfsession/getsessionlist": {serve: (*API).sessionList},
	"/customservice/kfsession/getwaitcase":    {serve: (*API).waitCases},

	"/customservice/msgrecord/getmsglist": {post: true, serve: (*API).msgList},
}

// call is one request to a WeChat path.
type call struct {
	r    *http.Request
	body []byte
	now  time.Time
	acct *account // whose access_token the call carries; nil on the token endpoints
}

// maxBody bounds a request body: a 10 MB video upload fits (docs/wechat.md, "Customer-service API" avatars are
// ≤ 5 MB).
const maxBody = 20 << 20

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		a.serveSim(w, r)
		return
	}
	a.mu.Lock()
	a.calls[r.URL.Path]++
	f := a.faults
	outage := f.outage(a.now())
	a.mu.Unlock()

	if outage {
		if f.OutageMode == Outage503 {
			http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		dropConnection(w)
		return
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return // the client went away
	}
	status, resp := a.answer(r, body, f)
	a.flush() // the kf_* pushes the call caused
	if file, ok := resp.(mediaFile); ok {
		file.write(w)
		return
	}
	writeJSON(w, status, resp)
}

// answer runs one WeChat call and returns the HTTP status and the body.
func (a *API) answer(r *http.Request, body []byte, f Faults) (int, any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	rt, ok := routes[r.URL.Path]
	if !ok {
		// WeChat's code for a path that is no API is 40066 "invalid url"
		// ("请检查API的URL是否与文档一致", global error codes page). Its HTTP
		// status there is not documented; the simulator answers 404 so a
		// wrong path stands out in a client's logs, with WeChat's body.
		return http.StatusNotFound, a.fail(40066, now)
	}
	if f.injectsError(r.URL.Path) {
		return a.result(r.URL.Path, a.fail(f.code(), now), now)
	}
	if rt.post && r.Method != http.MethodPost {
		return a.result(r.URL.Path, a.fail(43002, now), now)
	}
	if len(body) > maxBody {
		return a.result(r.URL.Path, a.fail(47001, now), now)
	}
	c := &call{r: r, body: body, now: now}
	if !rt.noAuth {
		acct, e := a.checkToken(r.URL.Query().Get("access_token"), now)
		if e != nil {
			return a.result(r.URL.Path, a.fail(e.code, now), now)
		}
		c.acct = acct
	}
	return a.result(r.URL.Path, rt.serve(a, c), now)
}

// result renders a handler's answer and counts custom/send outcomes.
func (a *API) result(path string, v any, now time.Time) (int, any) {
	if path == pathSend {
		code := 0
		switch e := v.(type) {
		case *wxError:
			code = e.code
		case errorBody: // refused before the handler ran: size, token
			code = e.ErrCode
		}
		a.sends[code]++
	}
	if e, ok := v.(*wxError); ok {
		return http.StatusOK, a.fail(e.code, now)
	}
	return http.StatusOK, v
}

// dropConnection ends the request with a network error for the client: the
// connection is hijacked and closed without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream
}

// writeJSON writes v the way WeChat does: Content-Type
// "application/json; encoding=utf-8", UTF-8 text without \u escapes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// overQuota counts one call of kind for acct today and reports whether it is
// over limit; a call over the limit is not counted.
func (acct *account) overQuota(kind string, limit int, now time.Time) bool {
	day := now.In(chinaTime).Format(time.DateOnly)
	dc := acct.daily[kind]
	if dc == nil || dc.day != day {
		dc = &dayCount{day: day}
		acct.daily[kind] = dc
	}
	if dc.n >= limit {
		return true
	}
	dc.n++
	return false
}

// randomString returns n random bytes as unpadded URL-safe base64, the
// alphabet of WeChat's tokens and media ids.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// rid is a request id as WeChat appends it to errmsg, e.g.
// "61725baa-1fa6a669-2d9ad5a6": the Unix time in hex, then two random
// 32-bit words.
func rid(now time.Time) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%08x-%s-%s", uint32(now.Unix()), h[:8], h[8:])
}
