package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/wxcrypto"
	"github.com/kfgate/kfgate/internal/wxmsg"
)

// gateway is one kfgate replica: the real router, callback handler and
// intake store on the test's Redis.
type gateway struct {
	*httptest.Server
	metrics *metrics.Metrics
	store   *intake.Store
}

func newGateway(t *testing.T, rdb redis.Cmdable, prefix string, accounts ...callback.Account) *gateway {
	return newGatewayAt(t, rdb, prefix, time.Now, accounts...)
}

// newGatewayAt is newGateway on a clock of the test's: recorded vectors
// carry the timestamps of their day.
func newGatewayAt(t *testing.T, rdb redis.Cmdable, prefix string, now func() time.Time, accounts ...callback.Account) *gateway {
	t.Helper()
	m := metrics.New()
	store := intake.NewStore(rdb, prefix, time.Minute)
	h := server.New(server.Options{
		Logger:   slog.New(slog.DiscardHandler),
		Metrics:  m,
		Callback: callback.New(accounts, store, callback.Options{Now: now}),
		Checks:   []server.Check{{Name: "redis", Fn: func(ctx context.Context) error { return nil }}},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &gateway{Server: srv, metrics: m, store: store}
}

func account(t *testing.T, appid, token, aesKey string, transfer bool) callback.Account {
	t.Helper()
	a := callback.Account{AppID: appid, Token: token, TransferToKf: transfer}
	if aesKey != "" {
		c, err := wxcrypto.NewCipher(appid, aesKey)
		if err != nil {
			t.Fatal(err)
		}
		a.Cipher = c
	}
	return a
}

func do(t *testing.T, method, u string, body []byte) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return "?" + q.Encode()
}

// entries returns the intake stream's records.
func entries(t *testing.T, rdb *redis.Client, g *gateway) []redis.XMessage {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), g.store.Stream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// at returns a clock stopped at Unix time ts.
func at(ts int64) func() time.Time { return func() time.Time { return time.Unix(ts, 0) } }

// The official URL-verification example (docs/wechat.md, "URL
// verification") through the router.
func TestURLVerificationExample(t *testing.T) {
	rdb, prefix := redistest.New(t)
	g := newGateway(t, rdb, prefix, account(t, "wxverify", "AAAAA", "", false))
	status, body, _ := do(t, http.MethodGet, g.URL+"/wechat/wxverify"+query(
		"signature", "f464b24fc39322e44b38aa78f5edd27bd1441696", "timestamp", "1714036504",
		"nonce", "1514711492", "echostr", "4375120948345356249"), nil)
	if status != 200 || body != "4375120948345356249" {
		t.Fatalf("GET = %d %q, want 200 with echostr verbatim", status, body)
	}
	if got := testutil.ToFloat64(g.metrics.CallbackRequests.WithLabelValues("wxverify", "verified")); got != 1 {
		t.Errorf("verified counter = %v", got)
	}
}

// The Java sample's vector (docs/wechat.md, "Test vectors"): its
// ciphertext, posted in safe mode with its computed msg_signature, is
// recorded decrypted.
func TestVectorRowA(t *testing.T) {
	rdb, prefix := redistest.New(t)
	g := newGatewayAt(t, rdb, prefix, at(1409304348), account(t, "wxb11529c136998cb6", "pamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", false))
	body := "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt><![CDATA[" + a2Encrypt + "]]></Encrypt></xml>"
	status, resp, _ := do(t, http.MethodPost, g.URL+"/wechat/wxb11529c136998cb6"+query(
		"timestamp", "1409304348", "nonce", "xxxxxx", "encrypt_type", "aes",
		"msg_signature", "ea88b765074e41eb8c7a75b449db34fa2fd560d5",
		"signature", "76480565cbe296026c53aaacd1ad523a1ddba24f"), []byte(body))
	if status != 200 || resp != "success" {
		t.Fatalf("POST = %d %q, want 200 success", status, resp)
	}
	got := entries(t, rdb, g)
	if len(got) != 1 {
		t.Fatalf("%d stream entries, want 1", len(got))
	}
	if e := recorded(t, got[0]); !sameMessage(t, e.Message, a2Plain) || e.Message.Account != "wxb11529c136998cb6" {
		t.Errorf("recorded %v", got[0].Values)
	}
}

// The official Python sample's compatible-mode body (plaintext fields and
// Encrypt), with only the msg_signature it publishes (docs/wechat.md, "Test
// vectors").
func TestVectorRowC(t *testing.T) {
	rdb, prefix := redistest.New(t)
	g := newGatewayAt(t, rdb, prefix, at(1409735669), account(t, "wx2c2769f8efd9abc2", "spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", false))
	status, resp, _ := do(t, http.MethodPost, g.URL+"/wechat/wx2c2769f8efd9abc2"+query(
		"timestamp", "1409735669", "nonce", "1320562132", "encrypt_type", "aes",
		"msg_signature", "5d197aaffba7e9b25a30732f161a50dee96bd5fa"), []byte(rowCBody))
	if status != 200 || resp != "success" {
		t.Fatalf("POST = %d %q, want 200 success", status, resp)
	}
	got := entries(t, rdb, g)
	if len(got) != 1 || !sameMessage(t, recorded(t, got[0]).Message, rowCPlain) || recorded(t, got[0]).Key != "m:6054768590064713728" {
		t.Fatalf("recorded %v", got)
	}
	if m := recorded(t, got[0]).Message; m.Content != "abcdteT" || m.OpenID != "oyORnuP8q7ou2gfYjqLzSIWZf0rs" {
		t.Errorf("decoded %+v", m)
	}
}

// A second implementation, silenceper's util, encrypts a push; kfgate
// decrypts it, and silenceper decrypts kfgate's encrypted passive reply.
func TestSecondImplementation(t *testing.T) {
	const appid, token, key = "wxsecond0000001", "second", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	rdb, prefix := redistest.New(t)
	g := newGatewayAt(t, rdb, prefix, at(1700000001), account(t, appid, token, key, true))
	msg := `<xml><ToUserName><![CDATA[gh_second]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[转人工]]></Content><MsgId>42</MsgId></xml>`
	enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(msg), appid, key)
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := "1700000001", "77"
	status, resp, _ := do(t, http.MethodPost, g.URL+"/wechat/"+appid+query(
		"timestamp", ts, "nonce", nonce, "encrypt_type", "aes",
		"signature", util.Signature(token, ts, nonce),
		"msg_signature", util.Signature(token, ts, nonce, string(enc))),
		[]byte("<xml><ToUserName><![CDATA[gh_second]]></ToUserName><Encrypt><![CDATA["+string(enc)+"]]></Encrypt></xml>"))
	if status != 200 {
		t.Fatalf("POST = %d %q", status, resp)
	}
	if got := entries(t, rdb, g); len(got) != 1 || !sameMessage(t, recorded(t, got[0]).Message, msg) {
		t.Fatalf("recorded %v", got)
	}
	// The reply: an encrypted envelope whose signature and plaintext
	// silenceper checks and opens.
	var env struct {
		Encrypt      string `xml:"Encrypt"`
		MsgSignature string `xml:"MsgSignature"`
		TimeStamp    string `xml:"TimeStamp"`
		Nonce        string `xml:"Nonce"`
	}
	if err := xmlUnmarshal(resp, &env); err != nil {
		t.Fatalf("reply %q: %v", resp, err)
	}
	if env.Nonce != nonce || env.MsgSignature != util.Signature(token, env.TimeStamp, env.Nonce, env.Encrypt) {
		t.Errorf("reply envelope %+v: nonce or signature wrong", env)
	}
	_, plain, err := util.DecryptMsg(appid, env.Encrypt, key)
	if err != nil {
		t.Fatalf("silenceper cannot decrypt kfgate's reply: %v", err)
	}
	var reply struct {
		ToUserName, FromUserName, MsgType string
	}
	if err := xmlUnmarshal(string(plain), &reply); err != nil {
		t.Fatal(err)
	}
	if reply.MsgType != "transfer_customer_service" || reply.ToUserName != "o_user" || reply.FromUserName != "gh_second" {
		t.Errorf("reply = %+v", reply)
	}
}

// Two replicas on one Redis get the same delivery four times at once, as
// WeChat's retries can arrive: one record, four identical answers.
func TestRetriesAcrossReplicas(t *testing.T) {
	for _, transfer := range []bool{false, true} {
		t.Run(fmt.Sprintf("transfer_to_kf=%v", transfer), func(t *testing.T) {
			const appid, token = "wxretry0000001", "retrytoken"
			rdb, prefix := redistest.New(t)
			a := account(t, appid, token, "", transfer)
			g1, g2 := newGateway(t, rdb, prefix, a), newGateway(t, rdb, prefix, a)
			msg := `<xml><ToUserName><![CDATA[gh_r]]></ToUserName><FromUserName><![CDATA[o_r]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>9000000000000000001</MsgId></xml>`
			var wg sync.WaitGroup
			answers := make([]string, 4)
			for i := range answers {
				base := g1.URL
				if i%2 == 1 {
					base = g2.URL
				}
				// Each retry is signed anew: same body, different URL.
				ts, nonce := strconv.FormatInt(time.Now().Unix()+int64(i), 10), strconv.Itoa(100+i)
				u := base + "/wechat/" + appid + query("timestamp", ts, "nonce", nonce, "signature", wxcrypto.Signature(token, ts, nonce))
				wg.Go(func() {
					status, body, _ := do(t, http.MethodPost, u, []byte(msg))
					if status != 200 {
						t.Errorf("delivery %d: %d %s", i, status, body)
					}
					answers[i] = body
				})
			}
			wg.Wait()
			if n := len(entries(t, rdb, g1)); n != 1 {
				t.Errorf("%d records in the hand-off stream, want 1", n)
			}
			for i := range answers {
				if answers[i] != answers[0] {
					t.Errorf("answer %d = %q, answer 0 = %q", i, answers[i], answers[0])
				}
			}
			if transfer != strings.Contains(answers[0], "transfer_customer_service") {
				t.Errorf("answer %q for transfer_to_kf=%v", answers[0], transfer)
			}
			dups := testutil.ToFloat64(g1.metrics.CallbackRequests.WithLabelValues(appid, "duplicate")) +
				testutil.ToFloat64(g2.metrics.CallbackRequests.WithLabelValues(appid, "duplicate"))
			if dups != 3 {
				t.Errorf("%v deliveries counted as duplicates, want 3", dups)
			}
		})
	}
}

// Two events of one user in the same second are two deliveries, not a retry.
func TestEventsInOneSecond(t *testing.T) {
	const appid, token = "wxevents000001", "eventtoken"
	rdb, prefix := redistest.New(t)
	g := newGateway(t, rdb, prefix, account(t, appid, token, "", false))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	// The same URL for the three: in plaintext mode that is a replay of one
	// (timestamp, nonce) with other bodies, so each gets its own nonce.
	nonce := 0
	for _, ev := range []string{
		`<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_1]]></EventKey>`,
		`<Event><![CDATA[LOCATION]]></Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>119</Precision>`,
		`<Event><![CDATA[LOCATION]]></Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>119</Precision>`,
	} {
		body := `<xml><ToUserName><![CDATA[gh_e]]></ToUserName><FromUserName><![CDATA[o_e]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>` + ev + `</xml>`
		nonce++
		n := strconv.Itoa(nonce)
		u := g.URL + "/wechat/" + appid + query("timestamp", ts, "nonce", n, "signature", wxcrypto.Signature(token, ts, n))
		if status, resp, _ := do(t, http.MethodPost, u, []byte(body)); status != 200 || resp != "success" {
			t.Fatalf("%d %q", status, resp)
		}
	}
	if n := len(entries(t, rdb, g)); n != 2 {
		t.Errorf("%d records, want 2 (subscribe and one LOCATION)", n)
	}
}

func xmlUnmarshal(s string, v any) error { return xmlDecode([]byte(s), v) }

func jsonError(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || strings.Contains(body[:len(body)-1], "\n") {
		t.Errorf("body %q is not one JSON {\"error\": …} line", body)
	}
	return e.Error
}

// recorded reads an intake stream entry as the engine does.
func recorded(t *testing.T, x redis.XMessage) intake.Entry {
	t.Helper()
	e, err := intake.Decode(x)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sameMessage reports whether m is what the XML xml decodes to (the
// account aside, which the URL gives).
func sameMessage(t *testing.T, m kf.Message, xml string) bool {
	t.Helper()
	want, err := wxmsg.Decode([]byte(xml))
	if err != nil {
		t.Fatal(err)
	}
	want.Raw, want.Account = nil, m.Account
	return reflect.DeepEqual(m, want)
}
