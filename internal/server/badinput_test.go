package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxcrypto"
)

// Every row of the bad-input list, through the router: the status,
// a one-line JSON error, the metric label — and nothing recorded.
func TestBadInput(t *testing.T) {
	const (
		appid, token = "wxbad00000000001", "badtoken"
		key          = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		plainID      = "wxbadplain000001"
	)
	rdb, prefix := redistest.New(t)
	// The clock stands at the pushes' timestamp, 1: only the input is bad.
	g := newGatewayAt(t, rdb, prefix, at(1), account(t, appid, token, key, false), account(t, plainID, token, "", false))

	text := `<xml><ToUserName><![CDATA[gh_b]]></ToUserName><FromUserName><![CDATA[o_b]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1</MsgId></xml>`
	sig := wxcrypto.Signature(token, "1", "2")
	plainQ := query("timestamp", "1", "nonce", "2", "signature", sig)
	safe := func(encrypt string) (string, []byte) {
		return query("timestamp", "1", "nonce", "2", "signature", sig, "encrypt_type", "aes",
				"msg_signature", wxcrypto.Signature(token, "1", "2", encrypt)),
			[]byte("<xml><ToUserName><![CDATA[gh_b]]></ToUserName><Encrypt><![CDATA[" + encrypt + "]]></Encrypt></xml>")
	}
	other, _ := wxcrypto.NewCipher("wxsomeoneelse", key)
	own, _ := wxcrypto.NewCipher(appid, key)
	wrongAppQ, wrongAppBody := safe(other.Encrypt([]byte(text)))
	notB64Q, notB64Body := safe("@@@@")
	shortQ, shortBody := safe("AAAA")
	badXMLQ, badXMLBody := safe(own.Encrypt([]byte("<xml><MsgType>text</xml>")))
	goodQ, goodBody := safe(own.Encrypt([]byte(text)))
	_, tamperedBody := safe(own.Encrypt([]byte(strings.Replace(text, "hi", "ho", 1))))

	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
		label  string
		appid  string // metric label
	}{
		{"bad signature", "POST", "/wechat/" + plainID + query("timestamp", "1", "nonce", "2", "signature", strings.Repeat("0", 40)), []byte(text), 403, "bad_signature", plainID},
		{"missing signature", "POST", "/wechat/" + plainID + query("timestamp", "1", "nonce", "2"), []byte(text), 403, "bad_signature", plainID},
		{"signature for another token", "POST", "/wechat/" + plainID + query("timestamp", "1", "nonce", "2", "signature", wxcrypto.Signature("other", "1", "2")), []byte(text), 403, "bad_signature", plainID},
		{"bad signature on GET", "GET", "/wechat/" + plainID + query("timestamp", "1", "nonce", "2", "signature", "x", "echostr", "e"), nil, 403, "bad_signature", plainID},
		{"missing msg_signature", "POST", "/wechat/" + appid + query("timestamp", "1", "nonce", "2", "signature", sig, "encrypt_type", "aes"), goodBody, 403, "bad_signature", appid},
		{"msg_signature of another body", "POST", "/wechat/" + appid + goodQ, tamperedBody, 403, "bad_signature", appid},
		{"malformed xml", "POST", "/wechat/" + plainID + plainQ, []byte("<xml><Content>unclosed</xml>"), 400, "malformed_xml", plainID},
		{"not xml at all", "POST", "/wechat/" + plainID + plainQ, []byte(`{"json": true}`), 400, "malformed_xml", plainID},
		{"empty body", "POST", "/wechat/" + plainID + plainQ, nil, 400, "malformed_xml", plainID},
		{"xxe doctype", "POST", "/wechat/" + plainID + plainQ, []byte(`<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>`), 400, "malformed_xml", plainID},
		{"missing required field", "POST", "/wechat/" + plainID + plainQ, []byte("<xml><MsgType>text</MsgType></xml>"), 400, "malformed_xml", plainID},
		{"malformed envelope", "POST", "/wechat/" + appid + goodQ, []byte("<xml><Encrypt>"), 400, "malformed_xml", appid},
		{"ciphertext not base64", "POST", "/wechat/" + appid + notB64Q, notB64Body, 400, "malformed_ciphertext", appid},
		{"ciphertext too short", "POST", "/wechat/" + appid + shortQ, shortBody, 400, "malformed_ciphertext", appid},
		{"xml inside ciphertext malformed", "POST", "/wechat/" + appid + badXMLQ, badXMLBody, 400, "malformed_xml", appid},
		{"wrong appid inside ciphertext", "POST", "/wechat/" + appid + wrongAppQ, wrongAppBody, 403, "wrong_appid", appid},
		{"encrypted push to a plaintext account", "POST", "/wechat/" + plainID + goodQ, goodBody, 403, "mode_refused", plainID},
		{"unsupported encrypt_type", "POST", "/wechat/" + plainID + query("encrypt_type", "des"), []byte(text), 400, "bad_encrypt_type", plainID},
		{"missing echostr", "GET", "/wechat/" + plainID + plainQ, nil, 400, "missing_echostr", plainID},
		{"body over 64 KiB", "POST", "/wechat/" + plainID + plainQ, bytes.Repeat([]byte("x"), 64<<10+1), 413, "too_large", plainID},
		{"unknown appid", "POST", "/wechat/wxnobody" + plainQ, []byte(text), 404, "unknown_account", "unknown"},
		{"unknown appid, GET", "GET", "/wechat/wxnobody" + plainQ, nil, 404, "unknown_account", "unknown"},
		{"openid over 64 bytes", "POST", "/wechat/" + plainID + plainQ, []byte(strings.Replace(text, "o_b", strings.Repeat("o", 65), 1)), 400, "bad_openid", plainID},
		{"openid with a space", "POST", "/wechat/" + plainID + plainQ, []byte(strings.Replace(text, "o_b", "o b", 1)), 400, "bad_openid", plainID},
		{"openid with a NUL", "POST", "/wechat/" + plainID + plainQ, []byte(strings.Replace(text, "o_b", "o\x00b", 1)), 400, "bad_openid", plainID},
		{"PUT", "PUT", "/wechat/" + plainID + plainQ, []byte(text), 405, "method_not_allowed", plainID},
		{"DELETE", "DELETE", "/wechat/" + plainID + plainQ, nil, 405, "method_not_allowed", plainID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counter := g.metrics.CallbackRequests.WithLabelValues(tt.appid, tt.label)
			before := testutil.ToFloat64(counter)
			status, body, hdr := do(t, tt.method, g.URL+tt.path, tt.body)
			if status != tt.status {
				t.Errorf("status = %d (%s), want %d", status, body, tt.status)
			}
			if msg := jsonError(t, body); strings.Contains(msg, "\n") || len(msg) > 200 {
				t.Errorf("error %q is not one short line", msg)
			}
			if status == 405 && hdr.Get("Allow") != "GET, POST" {
				t.Errorf("Allow = %q", hdr.Get("Allow"))
			}
			if got := testutil.ToFloat64(counter) - before; got != 1 {
				t.Errorf("counter {appid=%q,result=%q} rose by %v, want 1", tt.appid, tt.label, got)
			}
		})
	}
	if n := len(entries(t, rdb, g)); n != 0 {
		t.Errorf("%d records after bad input only, want 0", n)
	}

	// A body sent without Content-Length is cut at the limit too.
	t.Run("chunked body over 64 KiB", func(t *testing.T) {
		req, _ := http.NewRequest("POST", g.URL+"/wechat/"+plainID+plainQ, struct{ *bytes.Reader }{bytes.NewReader(bytes.Repeat([]byte("x"), 100<<10))})
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("status = %d, want 413", resp.StatusCode)
		}
	})
}

// With Redis down nothing can be recorded: 503, so WeChat retries later —
// never a 500, never "success" for a message that was not kept.
func TestRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	const appid, token = "wxdown0000000001", "downtoken"
	m := metrics.New()
	h := server.New(server.Options{
		Logger:   slog.New(slog.DiscardHandler),
		Metrics:  m,
		Callback: callback.New([]callback.Account{{AppID: appid, Token: token}}, intake.NewStore(rdb, "x:", time.Minute), callback.Options{Timeout: time.Second}),
		Checks:   []server.Check{{Name: "redis", Fn: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}},
	})
	p, err := sim.NewPoster("", sim.Account{AppID: appid, Token: token}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := p.Prepare(sim.TextXML("gh_d", "o_d", 1700000000, "hi", 1))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", pr.URL, bytes.NewReader(pr.Body)))
	if rec.Code != 503 || strings.Contains(rec.Body.String(), "127.0.0.1") {
		t.Errorf("callback with Redis down = %d %q, want 503 without internals", rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(m.CallbackRequests.WithLabelValues(appid, "unavailable")); got != 1 {
		t.Errorf("unavailable counter = %v", got)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"redis":"unavailable"`) {
		t.Errorf("readyz = %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("healthz = %d", rec.Code)
	}
}

// A signed callback whose text holds a raw NUL, or bytes that are not
// UTF-8, is a real user's message: it is accepted (200 success, so WeChat
// does not retry) and recorded with U+FFFD in place of what PostgreSQL and
// the rest of kfgate cannot hold — in plaintext and in safe mode alike.
func TestCallbackTextMadeSafe(t *testing.T) {
	const (
		appid, token = "wxsafetext000001", "safetoken"
		key          = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		plainID      = "wxsafeplain00001"
	)
	rdb, prefix := redistest.New(t)
	g := newGateway(t, rdb, prefix, account(t, appid, token, key, false), account(t, plainID, token, "", false))
	tests := []struct {
		name, appid, content, want string
		encrypt                    bool
	}{
		{"raw NUL, plaintext", plainID, "a\x00b", "a\uFFFDb", false},
		{"invalid UTF-8, plaintext", plainID, "a\xff\xfeb", "a\uFFFDb", false},
		{"raw NUL, safe mode", appid, "x\x00y", "x\uFFFDy", true},
		{"invalid UTF-8, safe mode", appid, "\xe4\xbd好", "\uFFFD好", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sim.NewPoster(g.URL, sim.Account{AppID: tt.appid, Token: token, AESKey: map[bool]string{true: key}[tt.encrypt]}, tt.encrypt, nil)
			if err != nil {
				t.Fatal(err)
			}
			pr := p.Prepare(sim.TextXML("gh_s", "o_safe", 1700000000, tt.content, int64(100+i)))
			status, body, _ := do(t, "POST", pr.URL, pr.Body)
			if status != 200 {
				t.Fatalf("status %d %s, want 200", status, body)
			}
			all := entries(t, rdb, g)
			e, err := intake.Decode(all[len(all)-1])
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Message.Content; got != tt.want || !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
				t.Errorf("recorded %q, want %q", got, tt.want)
			}
		})
	}
}
