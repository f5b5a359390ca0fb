package sim

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// What a kf account writes in WeChat's own tool (the test hook, through
// /sim/kf/chat) reaches the user and the chat records, with the kf account
// as worker; the user's side is opercode 2003; kfgate's own send is there
// too. The hook refuses an unknown kf account, a user who does not follow
// and an empty text.
func TestKfChatRecords(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.post(kfAddPath, tok, kfBody("ann@kf", "Ann"))
	h.interact(appA, "o_u", InteractMessage)

	s := start.Unix()
	chat := func(body string) int {
		return h.simCall("POST", "/sim/kf/chat", body, nil)
	}
	if code := chat(fmt.Sprintf(`{"appid":%q,"openid":"o_u","kf_account":"ann@kf","text":"我想退款","from_user":true,"time":%d}`, appA, s+10)); code != 200 {
		t.Fatalf("user's message: %d", code)
	}
	if code := chat(fmt.Sprintf(`{"appid":%q,"openid":"o_u","kf_account":"ann@kf","text":"好的，马上处理","time":%d}`, appA, s+20)); code != 200 {
		t.Fatalf("kf's message: %d", code)
	}
	for _, bad := range []string{
		`{"appid":"` + appA + `","openid":"o_u","kf_account":"nobody@kf","text":"x"}`,
		`{"appid":"` + appA + `","openid":"o_stranger","kf_account":"ann@kf","text":"x"}`,
		`{"appid":"` + appA + `","openid":"o_u","kf_account":"ann@kf","text":""}`,
	} {
		if code := chat(bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}

	got := h.post(msgListPath, tok, fmt.Sprintf(`{"starttime":%d,"endtime":%d,"msgid":1,"number":10}`, s, s+3600))
	want := []any{
		map[string]any{"openid": "o_u", "opercode": float64(2003), "text": "我想退款", "time": float64(s + 10), "worker": "ann@kf"},
		map[string]any{"openid": "o_u", "opercode": float64(2002), "text": "好的，马上处理", "time": float64(s + 20), "worker": "ann@kf"},
	}
	if d := cmp.Diff(want, got["recordlist"]); d != "" {
		t.Errorf("records (-want +got):\n%s", d)
	}
	received := h.api.Received(appA, "o_u")
	if len(received) != 1 || received[0].KfAccount != "ann@kf" || received[0].MsgType != "text" {
		t.Errorf("the user got %+v, want one text from ann@kf", received)
	}
}
