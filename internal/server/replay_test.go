package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/wxcrypto"
)

// Through the real router, handler and intake on real Redis: each account
// takes the pushes of its mode only, a timestamp outside the clock skew is
// refused, a (timestamp, nonce) pair seen with another body is refused —
// also on the other replica — and WeChat's genuine retries (the same pair,
// the same body) still get the first answer, recorded once. Each refusal
// is 403 with its own metric label.
func TestCallbackModesAndReplays(t *testing.T) {
	const (
		token = "replaytoken"
		key   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		safe  = "wxreplaysafe0001"
		compa = "wxreplaycompat01"
		plain = "wxreplayplain001"
	)
	rdb, prefix := redistest.New(t)
	accounts := []callback.Account{
		account(t, safe, token, key, false), // mode left empty: safe, as it has a key
		account(t, compa, token, key, false),
		account(t, plain, token, "", false),
	}
	accounts[1].Mode = callback.ModeCompatible
	g1, g2 := newGateway(t, rdb, prefix, accounts...), newGateway(t, rdb, prefix, accounts...)

	now := time.Now().Unix()
	msgSeq := 0
	text := func(content string) string {
		msgSeq++
		return `<xml><ToUserName><![CDATA[gh_r]]></ToUserName><FromUserName><![CDATA[o_r]]></FromUserName><CreateTime>` +
			strconv.FormatInt(now, 10) + `</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[` + content +
			`]]></Content><MsgId>` + strconv.Itoa(7000+msgSeq) + `</MsgId></xml>`
	}
	// push signs msg as WeChat does for appid at timestamp ts with nonce;
	// encrypted, as in safe and compatible mode, or plaintext.
	type push struct {
		path string
		body []byte
	}
	sign := func(appid string, encrypted bool, ts int64, nonce, msg string) push {
		tss := strconv.FormatInt(ts, 10)
		q := []string{"timestamp", tss, "nonce", nonce, "signature", wxcrypto.Signature(token, tss, nonce)}
		body := []byte(msg)
		if encrypted {
			c, err := wxcrypto.NewCipher(appid, key)
			if err != nil {
				t.Fatal(err)
			}
			enc := c.Encrypt([]byte(msg))
			q = append(q, "encrypt_type", "aes", "msg_signature", wxcrypto.Signature(token, tss, nonce, enc))
			body = []byte("<xml><ToUserName><![CDATA[gh_r]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
		}
		return push{"/wechat/" + appid + query(q...), body}
	}
	replayed := sign(plain, false, now, "n-replay", text("原文"))
	forged := push{replayed.path, []byte(text("伪造的消息"))} // the same URL, another body
	compatReplayed := sign(compa, false, now, "n-creplay", text("原文"))

	tests := []struct {
		name   string
		g      *gateway
		p      push
		status int
		label  string // the metric's result label
	}{
		{"plaintext push to a safe account", g1, sign(safe, false, now, "n1", text("hi")), 403, "mode_refused"},
		{"encrypted push to a safe account", g1, sign(safe, true, now, "n2", text("hi")), 200, "ok"},
		{"compatible account, plaintext push", g1, sign(compa, false, now, "n3", text("hi")), 200, "ok"},
		{"compatible account, encrypted push", g2, sign(compa, true, now, "n4", text("hi")), 200, "ok"},
		{"encrypted push to a plaintext account", g1, sign(plain, true, now, "n5", text("hi")), 403, "mode_refused"},
		{"plaintext push to a plaintext account", g1, sign(plain, false, now, "n6", text("hi")), 200, "ok"},
		{"timestamp 6 minutes old", g1, sign(plain, false, now-360, "n7", text("hi")), 403, "stale_timestamp"},
		{"timestamp 6 minutes ahead", g1, sign(safe, true, now+360, "n8", text("hi")), 403, "stale_timestamp"},
		{"timestamp 4 minutes old", g1, sign(plain, false, now-240, "n9", text("hi")), 200, "ok"},
		{"a pair, first seen", g1, replayed, 200, "ok"},
		{"the same pair, another body", g1, forged, 403, "replayed_nonce"},
		{"the same pair, another body, other replica", g2, forged, 403, "replayed_nonce"},
		{"the same pair and body: WeChat's retry", g2, replayed, 200, "duplicate"},
		{"compatible account, a pair first seen", g1, compatReplayed, 200, "ok"},
		{"compatible account, the same pair, another body", g2, push{compatReplayed.path, []byte(text("伪造"))}, 403, "replayed_nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			appid, _, _ := strings.Cut(strings.TrimPrefix(tt.p.path, "/wechat/"), "?")
			counter := tt.g.metrics.CallbackRequests.WithLabelValues(appid, tt.label)
			before := testutil.ToFloat64(counter)
			status, body, _ := do(t, http.MethodPost, tt.g.URL+tt.p.path, tt.p.body)
			if status != tt.status {
				t.Fatalf("status = %d %q, want %d", status, body, tt.status)
			}
			if status == 403 {
				jsonError(t, body)
			} else if body != "success" {
				t.Errorf("body = %q, want success", body)
			}
			if got := testutil.ToFloat64(counter) - before; got != 1 {
				t.Errorf("counter {appid=%q,result=%q} rose by %v, want 1", appid, tt.label, got)
			}
		})
	}
	// What was answered "ok" is recorded, nothing else: a refused push
	// leaves no trace in the intake.
	wantRecords := 0
	for _, tt := range tests {
		if tt.label == "ok" {
			wantRecords++
		}
	}
	if n := len(entries(t, rdb, g1)); n != wantRecords {
		t.Errorf("%d records, want %d", n, wantRecords)
	}

	// The same callback four times, at once, to both replicas: one record,
	// four identical answers.
	before := len(entries(t, rdb, g1))
	same := sign(compa, true, now, "n-four", text("四次"))
	answers := make([]string, 4)
	var wg sync.WaitGroup
	for i := range answers {
		g := []*gateway{g1, g2}[i%2]
		wg.Go(func() {
			status, body, _ := do(t, http.MethodPost, g.URL+same.path, same.body)
			if status != 200 {
				t.Errorf("delivery %d: %d %s", i, status, body)
			}
			answers[i] = body
		})
	}
	wg.Wait()
	if n := len(entries(t, rdb, g1)) - before; n != 1 {
		t.Errorf("four deliveries made %d records, want 1", n)
	}
	for i := range answers {
		if answers[i] != answers[0] || answers[i] != "success" {
			t.Errorf("answer %d = %q, answer 0 = %q", i, answers[i], answers[0])
		}
	}
}
