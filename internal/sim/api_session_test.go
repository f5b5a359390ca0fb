package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	sessCreatePath = "/customservice/kfsession/create"
	sessClosePath  = "/customservice/kfsession/close"
	msgListPath    = "/customservice/msgrecord/getmsglist"
)

func sessBody(kf, openid string) string {
	return fmt.Sprintf(`{"kf_account":%q,"openid":%q}`, kf, openid)
}

// TestSessions checks kfsession create/close/getsession/getsessionlist/
// getwaitcase (docs/wechat.md, "Customer-service API") and their codes 65401, 65402, 65413, 65414, 65415, 40003.
func TestSessions(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	for _, kf := range []string{"a@kf", "b@kf", "off@kf", "unbound@kf"} {
		h.post(kfAddPath, tok, kfBody(kf, "n"))
	}
	_ = h.api.SetKfOnline(appA, "a@kf", true)
	_ = h.api.SetKfOnline(appA, "b@kf", true)
	_ = h.api.SetKfOnline(appA, "off@kf", true)
	_ = h.api.SetKfOnline(appA, "off@kf", false) // bound, logged out
	h.interact(appA, "o_1", InteractMessage)
	h.interact(appA, "o_2", InteractMessage)
	h.interact(appA, "o_gone", InteractUnsubscribe)

	steps := []struct {
		name, path, body string
		wait             time.Duration
		want             int
	}{
		{"unknown kf", sessCreatePath, sessBody("x@kf", "o_1"), 0, 65401},
		{"unbound kf", sessCreatePath, sessBody("unbound@kf", "o_1"), 0, 65402},
		{"unknown user", sessCreatePath, sessBody("a@kf", "o_nobody"), 0, 40003},
		{"unsubscribed user", sessCreatePath, sessBody("a@kf", "o_gone"), 0, 40003},
		{"agent offline", sessCreatePath, sessBody("off@kf", "o_1"), 0, 65415},
		{"create", sessCreatePath, sessBody("a@kf", "o_1"), 0, 0},
		{"create again", sessCreatePath, sessBody("a@kf", "o_1"), 0, 0},
		{"served by another", sessCreatePath, sessBody("b@kf", "o_1"), 0, 65414},
		{"second user", sessCreatePath, sessBody("a@kf", "o_2"), time.Second, 0},
		{"close unknown kf", sessClosePath, sessBody("x@kf", "o_1"), 0, 65401},
		{"close unknown user", sessClosePath, sessBody("a@kf", "o_nobody"), 0, 40003},
		{"close another's", sessClosePath, sessBody("b@kf", "o_1"), 0, 65414},
		{"empty body", sessClosePath, "", 0, 44002},
	}
	for _, s := range steps {
		h.clock.Add(s.wait)
		wantCode(t, s.name, h.post(s.path, tok, s.body), s.want)
	}

	got := h.get("/customservice/kfsession/getsession", tok, "openid", "o_1")
	if d := cmp.Diff(answer{"createtime": float64(start.Unix()), "kf_account": "a@kf"}, got); d != "" {
		t.Errorf("getsession (-want +got):\n%s", d)
	}
	wantCode(t, "getsession of an unknown user", h.get("/customservice/kfsession/getsession", tok, "openid", "o_nobody"), 40003)
	list := h.get("/customservice/kfsession/getsessionlist", tok, "kf_account", "a@kf")
	want := answer{"sessionlist": []any{
		map[string]any{"createtime": float64(start.Unix()), "openid": "o_1"},
		map[string]any{"createtime": float64(start.Unix() + 1), "openid": "o_2"},
	}}
	if d := cmp.Diff(want, list); d != "" {
		t.Errorf("getsessionlist (-want +got):\n%s", d)
	}
	wantCode(t, "getsessionlist of an unknown kf", h.get("/customservice/kfsession/getsessionlist", tok, "kf_account", "x@kf"), 65401)

	wantCode(t, "close", h.post(sessClosePath, tok, sessBody("a@kf", "o_1")), 0)
	wantCode(t, "close again", h.post(sessClosePath, tok, sessBody("a@kf", "o_1")), 65413)
	got = h.get("/customservice/kfsession/getsession", tok, "openid", "o_1")
	if d := cmp.Diff(answer{"createtime": float64(0), "kf_account": ""}, got); d != "" {
		t.Errorf("getsession after close (-want +got):\n%s", d)
	}

	// Unsubscribing ends the session; deleting the kf account ends its.
	h.interact(appA, "o_2", InteractUnsubscribe)
	if got := h.get("/customservice/kfsession/getsession", tok, "openid", "o_2"); got.str("kf_account") != "" {
		t.Errorf("session after unsubscribe: %v", got)
	}
	h.interact(appA, "o_1", InteractMessage)
	h.post(sessCreatePath, tok, sessBody("b@kf", "o_1"))
	h.post(kfDelPath, tok, `{"kf_account":"b@kf"}`)
	if got := h.get("/customservice/kfsession/getsession", tok, "openid", "o_1"); got.str("kf_account") != "" {
		t.Errorf("session after deleting its kf: %v", got)
	}
}

// TestWaitCase: transfer_customer_service without an online agent queues
// the user; getwaitcase lists at most 100 in arrival order (docs/wechat.md, "Customer-service API").
func TestWaitCase(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.post(kfAddPath, tok, kfBody("a@kf", "n"))
	for i := range 120 {
		openid := fmt.Sprintf("o_%03d", i)
		h.interact(appA, openid, InteractMessage)
		if err := h.api.Transfer(appA, openid, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(time.Second)
	}
	if err := h.api.Transfer(appA, "o_nobody", "", time.Time{}); err == nil {
		t.Error("Transfer of an unknown user succeeded")
	}
	// Transfer to an offline agent queues too.
	h.interact(appA, "o_late", InteractMessage)
	_ = h.api.Transfer(appA, "o_late", "a@kf", time.Time{})

	a := h.get("/customservice/kfsession/getwaitcase", tok)
	list := a["waitcaselist"].([]any)
	if a.num("count") != 121 || len(list) != 100 {
		t.Fatalf("count %d, %d listed; want 121, 100", a.num("count"), len(list))
	}
	first := list[0].(map[string]any)
	if first["openid"] != "o_000" || int64(first["latest_time"].(float64)) != start.Unix() {
		t.Errorf("first: %v", first)
	}

	// Creating a session takes the user off the queue; Transfer to an
	// online agent starts one directly.
	_ = h.api.SetKfOnline(appA, "a@kf", true)
	wantCode(t, "create", h.post(sessCreatePath, tok, sessBody("a@kf", "o_000")), 0)
	h.interact(appA, "o_direct", InteractMessage)
	_ = h.api.Transfer(appA, "o_direct", "a@kf", time.Time{})
	if got := h.get("/customservice/kfsession/getsession", tok, "openid", "o_direct"); got.str("kf_account") != "a@kf" {
		t.Errorf("after a transfer to an online agent: %v", got)
	}
	a = h.get("/customservice/kfsession/getwaitcase", tok)
	if a.num("count") != 120 || a["waitcaselist"].([]any)[0].(map[string]any)["openid"] != "o_001" {
		t.Errorf("after create: count %d, first %v", a.num("count"), a["waitcaselist"].([]any)[0])
	}
}

// TestMsgRecords checks getmsglist (docs/wechat.md, "Customer-service API"): records of what was sent
// (opercode 2002), at most 24 h per query, paging by msgid.
func TestMsgRecords(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.post(kfAddPath, tok, kfBody("a@kf", "n"))
	h.interact(appA, "o_u", InteractMessage)
	h.sendText(tok, "o_u", "one")
	h.clock.Add(time.Minute)
	h.post(pathSend, tok, `{"touser":"o_u","msgtype":"news","news":{"articles":[{"title":"t"}]},"customservice":{"kf_account":"a@kf"}}`)
	h.clock.Add(time.Minute)
	h.sendText(tok, "o_u", "three")
	h.sendText(tok, "o_nobody", "never sent")

	query := func(from, to int64, msgid, number int) answer {
		return h.post(msgListPath, tok, fmt.Sprintf(`{"starttime":%d,"endtime":%d,"msgid":%d,"number":%d}`, from, to, msgid, number))
	}
	s := start.Unix()
	got := query(s, s+3600, 1, 10000)
	want := answer{
		"recordlist": []any{
			map[string]any{"openid": "o_u", "opercode": float64(2002), "text": "one", "time": float64(s), "worker": ""},
			map[string]any{"openid": "o_u", "opercode": float64(2002), "text": "[news]", "time": float64(s + 60), "worker": "a@kf"},
			map[string]any{"openid": "o_u", "opercode": float64(2002), "text": "three", "time": float64(s + 120), "worker": ""},
		},
		"number": float64(3),
		"msgid":  float64(4),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("getmsglist (-want +got):\n%s", d)
	}

	page := query(s, s+3600, 1, 2)
	if page.num("number") != 2 || page.num("msgid") != 3 {
		t.Errorf("page 1: %v", page)
	}
	page = query(s, s+3600, int(page.num("msgid")), 2)
	if page.num("number") != 1 || page.num("msgid") != 4 || page["recordlist"].([]any)[0].(map[string]any)["text"] != "three" {
		t.Errorf("page 2: %v", page)
	}
	page = query(s, s+3600, 4, 2)
	if page.num("number") != 0 || page.num("msgid") != 4 || len(page["recordlist"].([]any)) != 0 {
		t.Errorf("page 3: %v", page)
	}
	if got := query(s+60, s+60, 0, 10); got.num("number") != 1 {
		t.Errorf("one second's window, msgid 0: %v", got)
	}

	for _, tt := range []struct {
		name          string
		from, to      int64
		msgid, number int
		want          int
	}{
		{"24 h", s, s + 86400, 1, 10, 0},
		{"24 h and 1 s", s, s + 86401, 1, 10, 65417},
		{"end before start", s + 10, s, 1, 10, 65416},
		{"number 0", s, s + 10, 1, 0, 65416},
		{"number 10001", s, s + 10, 1, 10001, 65416},
	} {
		wantCode(t, tt.name, query(tt.from, tt.to, tt.msgid, tt.number), tt.want)
	}
}
