package sim

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	kfAddPath    = "/customservice/kfaccount/add"
	kfUpdatePath = "/customservice/kfaccount/update"
	kfDelPath    = "/customservice/kfaccount/del"
	kfInvitePath = "/customservice/kfaccount/inviteworker"
	kfOnlinePath = "/cgi-bin/customservice/getonlinekflist"
)

func kfBody(account, nick string) string {
	return fmt.Sprintf(`{"kf_account":%q,"nickname":%q}`, account, nick)
}

// TestKfAccounts checks add, update and del of docs/wechat.md, "Customer-service API" with their codes.
func TestKfAccounts(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	tests := []struct {
		name, path, body string
		want             int
	}{
		{"add", kfAddPath, kfBody("test1@kftest", "客服1"), 0},
		{"add with a legacy password", kfAddPath, `{"kf_account":"test2@kftest","nickname":"n","password":"md5"}`, 0},
		{"add again", kfAddPath, kfBody("test1@kftest", "other"), 65406},
		{"no @", kfAddPath, kfBody("test3", "n"), 65404},
		{"empty prefix", kfAddPath, kfBody("@kftest", "n"), 65404},
		{"prefix of 11", kfAddPath, kfBody("abcdefghijk@kftest", "n"), 65404},
		{"prefix of 10", kfAddPath, kfBody("abcdefghij@kftest", "n"), 0},
		{"prefix with a dot", kfAddPath, kfBody("a.b@kftest", "n"), 65404},
		{"suffix of 31", kfAddPath, kfBody("a@"+strings.Repeat("s", 31), "n"), 65404},
		{"empty nickname", kfAddPath, kfBody("test4@kftest", ""), 65403},
		{"nickname of 17", kfAddPath, kfBody("test4@kftest", strings.Repeat("客", 17)), 65403},
		{"nickname of 16", kfAddPath, kfBody("test4@kftest", strings.Repeat("客", 16)), 0},
		{"not JSON", kfAddPath, `kf_account=x`, 47001},
		{"empty body", kfAddPath, ``, 44002},
		{"update", kfUpdatePath, kfBody("test1@kftest", "新名字"), 0},
		{"update unknown", kfUpdatePath, kfBody("nobody@kftest", "n"), 65401},
		{"update bad format", kfUpdatePath, kfBody("nobody", "n"), 65404},
		{"update bad nickname", kfUpdatePath, kfBody("test1@kftest", ""), 65403},
		{"del", kfDelPath, `{"kf_account":"test2@kftest"}`, 0},
		{"del again", kfDelPath, `{"kf_account":"test2@kftest"}`, 65401},
		{"del bad format", kfDelPath, `{"kf_account":"x"}`, 65404},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, h.post(tt.path, tok, tt.body), tt.want)
	}
	// Legacy GET del (docs/wechat.md, "Customer-service API").
	wantCode(t, "GET del", h.get(kfDelPath, tok, "kf_account", "test4@kftest"), 0)

	a := h.get(kfListPath, tok)
	want := []any{
		map[string]any{"kf_account": "test1@kftest", "kf_nick": "新名字", "kf_id": float64(1001)},
		map[string]any{"kf_account": "abcdefghij@kftest", "kf_nick": "n", "kf_id": float64(1003)},
	}
	got, _ := a["kf_list"].([]any)
	for _, e := range got {
		m := e.(map[string]any)
		if !strings.HasPrefix(m["kf_headimgurl"].(string), "http://mmbiz.qpic.cn/") {
			t.Errorf("kf_headimgurl %v", m["kf_headimgurl"])
		}
		delete(m, "kf_headimgurl")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("getkflist (-want +got):\n%s", d)
	}
}

func TestKfAccountLimit(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	for i := range 100 {
		wantCode(t, "add", h.post(kfAddPath, tok, kfBody(fmt.Sprintf("kf%d@kftest", i), "n")), 0)
	}
	wantCode(t, "101st", h.post(kfAddPath, tok, kfBody("kf100@kftest", "n")), 65405)
	wantCode(t, "other account", h.post(kfAddPath, h.token(appB, secretB), kfBody("kf100@kftest", "n")), 0)
}

func TestKfHeadImg(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.post(kfAddPath, tok, kfBody("test1@kftest", "n"))
	q := func(kf string) url.Values { return url.Values{"access_token": {tok}, "kf_account": {kf}} }
	const path = "/customservice/kfaccount/uploadheadimg"
	wantCode(t, "unknown account", h.upload(path, q("nobody@kftest"), "media", []byte("jpg")), 65401)
	wantCode(t, "wrong field", h.upload(path, q("test1@kftest"), "img", []byte("jpg")), 41005)
	wantCode(t, "over 5 MB", h.upload(path, q("test1@kftest"), "media", bytes.Repeat([]byte{1}, 5<<20+1)), 40009)
	before := h.get(kfListPath, tok)["kf_list"].([]any)[0].(map[string]any)["kf_headimgurl"]
	wantCode(t, "ok", h.upload(path, q("test1@kftest"), "media", []byte("jpg")), 0)
	after := h.get(kfListPath, tok)["kf_list"].([]any)[0].(map[string]any)["kf_headimgurl"]
	if before == after {
		t.Error("kf_headimgurl did not change")
	}
}

// TestKfInvite checks inviteworker and its codes 65401, 65407–65412.
func TestKfInvite(t *testing.T) {
	accounts := map[string]string{}
	for i := range 6 {
		accounts[fmt.Sprintf("wxacct%d", i)] = "s"
	}
	h := newHarness(t, APIOptions{Accounts: accounts})
	tok := h.token("wxacct0", "s")
	for _, kf := range []string{"a@kf", "b@kf", "c@kf"} {
		h.post(kfAddPath, tok, kfBody(kf, "n"))
	}
	invite := func(tok, kf, wx string) answer {
		return h.post(kfInvitePath, tok, fmt.Sprintf(`{"kf_account":%q,"invite_wx":%q}`, kf, wx))
	}
	wantCode(t, "unknown account", invite(tok, "x@kf", "agent_wx1"), 65401)
	wantCode(t, "bad WeChat ID", invite(tok, "a@kf", "1bad"), 65409)
	wantCode(t, "short WeChat ID", invite(tok, "a@kf", "ab"), 65409)
	wantCode(t, "invite", invite(tok, "a@kf", "agent_wx1"), 0)

	list := h.get(kfListPath, tok)["kf_list"].([]any)
	a0 := list[0].(map[string]any)
	if a0["invite_wx"] != "agent_wx1" || a0["invite_status"] != "waiting" || int64(a0["invite_expire_time"].(float64)) != start.Add(7*24*time.Hour).Unix() {
		t.Errorf("after invite: %v", a0)
	}
	wantCode(t, "pending invitation", invite(tok, "a@kf", "agent_wx2"), 65411)
	wantCode(t, "WeChat ID invited by another kf", invite(tok, "b@kf", "agent_wx1"), 65408)

	if err := h.api.AcceptInvite("wxacct0", "a@kf"); err != nil {
		t.Fatal(err)
	}
	a0 = h.get(kfListPath, tok)["kf_list"].([]any)[0].(map[string]any)
	if a0["kf_wx"] != "agent_wx1" || a0["invite_wx"] != nil || a0["kf_openid"] == nil {
		t.Errorf("after accepting: %v", a0)
	}
	wantCode(t, "already bound", invite(tok, "a@kf", "agent_wx2"), 65412)
	wantCode(t, "already a kf of this account", invite(tok, "b@kf", "agent_wx1"), 65407)
	if err := h.api.AcceptInvite("wxacct0", "b@kf"); err == nil {
		t.Error("AcceptInvite without an invitation succeeded")
	}

	// An invitation expires after 7 days.
	wantCode(t, "invite c", invite(tok, "c@kf", "agent_wx3"), 0)
	h.clock.Add(7 * 24 * time.Hour)
	tok = h.token("wxacct0", "s")
	c := h.get(kfListPath, tok)["kf_list"].([]any)[2].(map[string]any)
	if c["invite_status"] != "expired" {
		t.Errorf("after 7 days: %v", c)
	}
	if err := h.api.AcceptInvite("wxacct0", "c@kf"); err == nil {
		t.Error("AcceptInvite of an expired invitation succeeded")
	}
	wantCode(t, "invite again after expiry", invite(tok, "c@kf", "agent_wx3"), 0)

	// One WeChat ID serves at most 5 official accounts (65410).
	for i := 1; i < 6; i++ {
		appid := fmt.Sprintf("wxacct%d", i)
		tk := h.token(appid, "s")
		h.post(kfAddPath, tk, kfBody("a@kf", "n"))
		want := 0
		if i == 5 {
			want = 65410
		}
		wantCode(t, "binding "+appid, invite(tk, "a@kf", "agent_wx1"), want)
		if want == 0 {
			if err := h.api.AcceptInvite(appid, "a@kf"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestKfOnline(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.post(kfAddPath, tok, kfBody("a@kf", "n"))
	h.post(kfAddPath, tok, kfBody("b@kf", "n"))
	if got := h.get(kfOnlinePath, tok)["kf_online_list"]; len(got.([]any)) != 0 {
		t.Errorf("online before anyone logged in: %v", got)
	}
	if err := h.api.SetKfOnline(appA, "b@kf", true); err != nil {
		t.Fatal(err)
	}
	if err := h.api.SetKfOnline(appA, "nobody@kf", true); err == nil {
		t.Error("SetKfOnline of an unknown account succeeded")
	}
	h.interact(appA, "o_u", InteractMessage)
	wantCode(t, "session", h.post("/customservice/kfsession/create", tok, `{"kf_account":"b@kf","openid":"o_u"}`), 0)
	got := h.get(kfOnlinePath, tok)["kf_online_list"]
	want := []any{map[string]any{"kf_account": "b@kf", "status": float64(1), "kf_id": float64(1002), "accepted_case": float64(1), "kf_openid": "o_kf_kfwx_b"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("getonlinekflist (-want +got):\n%s", d)
	}
	_ = h.api.SetKfOnline(appA, "b@kf", false)
	if got := h.get(kfOnlinePath, tok)["kf_online_list"]; len(got.([]any)) != 0 {
		t.Errorf("online after logging out: %v", got)
	}
}
