package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for APIOptions.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start is a Monday 10:00 in Beijing, far from the daily quotas' midnight.
var start = time.Date(2026, 3, 2, 10, 0, 0, 0, chinaTime)

const (
	appA, secretA = "wxsimA0000000001", "secretA"
	appB, secretB = "wxsimB0000000002", "secretB"
)

// harness is a simulator behind an httptest server, on a settable clock.
type harness struct {
	t     *testing.T
	api   *API
	clock *clock
	srv   *httptest.Server
}

func newHarness(t *testing.T, opts APIOptions) *harness {
	t.Helper()
	c := &clock{t: start}
	if opts.Accounts == nil {
		opts.Accounts = map[string]string{appA: secretA, appB: secretB}
	}
	opts.Now = c.Now
	h := &harness{t: t, api: NewAPI(opts), clock: c}
	h.srv = httptest.NewServer(h.api)
	t.Cleanup(h.srv.Close)
	return h
}

// answer is a decoded WeChat answer.
type answer map[string]any

func (a answer) code() int {
	if v, ok := a["errcode"].(float64); ok {
		return int(v)
	}
	return 0
}

func (a answer) str(k string) string { s, _ := a[k].(string); return s }

func (a answer) num(k string) int64 { f, _ := a[k].(float64); return int64(f) }

// do sends a request to the simulator and decodes its JSON answer.
func (h *harness) do(method, path string, q url.Values, contentType string, body []byte) (int, answer) {
	h.t.Helper()
	u := h.srv.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		h.t.Fatalf("%s %s: answer %q is no JSON object: %v", method, path, b, err)
	}
	return resp.StatusCode, a
}

// post sends a JSON body to a token-checked API.
func (h *harness) post(path, token, body string) answer {
	h.t.Helper()
	_, a := h.do("POST", path, url.Values{"access_token": {token}}, "application/json", []byte(body))
	return a
}

// get calls a token-checked GET API with extra query parameters.
func (h *harness) get(path, token string, kv ...string) answer {
	h.t.Helper()
	q := url.Values{"access_token": {token}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	_, a := h.do("GET", path, q, "", nil)
	return a
}

// token fetches a classic access_token for appid.
func (h *harness) token(appid, secret string) string {
	h.t.Helper()
	_, a := h.do("GET", "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appid}, "secret": {secret}}, "", nil)
	if a.str("access_token") == "" {
		h.t.Fatalf("no token: %v", a)
	}
	return a.str("access_token")
}

// stable calls /cgi-bin/stable_token.
func (h *harness) stable(appid, secret string, force bool) answer {
	h.t.Helper()
	body := fmt.Sprintf(`{"grant_type":"client_credential","appid":%q,"secret":%q,"force_refresh":%t}`, appid, secret, force)
	_, a := h.do("POST", "/cgi-bin/stable_token", nil, "application/json", []byte(body))
	return a
}

func (h *harness) interact(appid, openid string, kind Interaction) {
	h.t.Helper()
	if err := h.api.Interact(appid, openid, kind, time.Time{}); err != nil {
		h.t.Fatal(err)
	}
}

// sendText sends a text message with custom/send and returns the errcode.
func (h *harness) sendText(token, openid, text string) int {
	h.t.Helper()
	return h.post(pathSend, token, fmt.Sprintf(`{"touser":%q,"msgtype":"text","text":{"content":%q}}`, openid, text)).code()
}

// upload posts a multipart file to path.
func (h *harness) upload(path string, q url.Values, field string, content []byte) answer {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, "file.jpg")
	if err != nil {
		h.t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	_, a := h.do("POST", path, q, mw.FormDataContentType(), buf.Bytes())
	return a
}

// ridRe is the tail WeChat appends to every errmsg.
var ridRe = regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// wantCode fails the test unless a has errcode want, and an errmsg that
// ends with a rid for an error.
func wantCode(t *testing.T, what string, a answer, want int) {
	t.Helper()
	if got := a.code(); got != want {
		t.Errorf("%s: errcode %d (%s), want %d", what, got, a.str("errmsg"), want)
		return
	}
	if want != 0 && !ridRe.MatchString(a.str("errmsg")) {
		t.Errorf("%s: errmsg %q does not end with a rid", what, a.str("errmsg"))
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)

	status, a := h.do("GET", "/cgi-bin/no/such/api", url.Values{"access_token": {tok}}, "", nil)
	if status != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", status)
	}
	wantCode(t, "unknown path", a, 40066)
	if !strings.HasPrefix(a.str("errmsg"), "invalid url rid: ") {
		t.Errorf("unknown path: errmsg %q", a.str("errmsg"))
	}

	status, a = h.do("GET", pathSend, url.Values{"access_token": {tok}}, "", nil)
	if status != http.StatusOK {
		t.Errorf("GET custom/send: status %d, want 200", status)
	}
	wantCode(t, "GET custom/send", a, 43002)
}

func TestContentType(t *testing.T) {
	h := newHarness(t, APIOptions{})
	resp, err := h.srv.Client().Get(h.srv.URL + "/cgi-bin/token?grant_type=client_credential&appid=" + appA + "&secret=" + secretA)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; encoding=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestConcurrentUse runs token fetches, sends and inspections at once, for
// the race detector.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	var wg sync.WaitGroup
	for i := range 8 {
		openid := fmt.Sprintf("o_user_%d", i)
		wg.Go(func() {
			for range 10 {
				if err := h.api.Interact(appA, openid, InteractMessage, time.Time{}); err != nil {
					t.Error(err)
				}
				req, _ := http.NewRequest("POST", h.srv.URL+pathSend+"?access_token="+tok,
					strings.NewReader(`{"touser":"`+openid+`","msgtype":"text","text":{"content":"hi"}}`))
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				_ = h.api.Received(appA, openid)
				_ = h.api.Stats()
				h.stable(appA, secretA, false)
			}
		})
	}
	wg.Wait()
	if got := h.api.Stats().Sends[0]; got != 80 {
		t.Errorf("%d sends succeeded, want 80", got)
	}
	if got := h.api.Calls(pathSend); got != 80 {
		t.Errorf("Calls(custom/send) = %d, want 80", got)
	}
}

func TestHasUnicodeEscape(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":"b"}`:         false,
		`{"a":"\u003c"}`:    true,
		`{"a":"\\u003c"}`:   false, // an escaped backslash, then "u003c"
		`{"a":"\\\u003c"}`:  true,
		`{"a":"你好\n"}`:      false,
		`{"a":"x\"u"}`:      false,
		`{"a":"trailing \\`: false,
	} {
		if got := hasUnicodeEscape([]byte(in)); got != want {
			t.Errorf("hasUnicodeEscape(%s) = %v, want %v", in, got, want)
		}
	}
}
