package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// simCall calls a /sim/ endpoint and decodes its JSON into v (if not nil).
func (h *harness) simCall(method, path, body string, v any) int {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			h.t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// TestSimEndpoints drives a conversation through the /sim/ endpoints only,
// as a simulated user in another process would.
func TestSimEndpoints(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.stable(appA, secretA, false)

	// Before the user writes, sending fails; /sim/interact opens the window.
	if c := h.sendText(tok, "o_u", "too early"); c != 40003 {
		t.Errorf("send before any interaction: %d", c)
	}
	if st := h.simCall("POST", "/sim/interact", `{"appid":"`+appA+`","openid":"o_u","kind":"message"}`, nil); st != 200 {
		t.Fatalf("/sim/interact: %d", st)
	}
	if c := h.sendText(tok, "o_u", "你好 <b>"); c != 0 {
		t.Errorf("send after /sim/interact: %d", c)
	}

	var received []Received
	h.simCall("GET", "/sim/received?appid="+appA+"&openid=o_u", "", &received)
	if len(received) != 1 || received[0].MsgType != "text" || !received[0].Time.Equal(start) ||
		string(received[0].Body) != `{"touser":"o_u","msgtype":"text","text":{"content":"你好 <b>"}}` {
		t.Errorf("/sim/received: %+v", received)
	}
	var empty []Received
	h.simCall("GET", "/sim/received?appid="+appA+"&openid=o_nobody", "", &empty)
	if empty == nil || len(empty) != 0 {
		t.Errorf("/sim/received of nobody: %v, want []", empty)
	}

	// A click an hour later, with an explicit time.
	later := start.Add(time.Hour)
	h.clock.Set(later)
	h.simCall("POST", "/sim/interact", `{"appid":"`+appA+`","openid":"o_c","kind":"click","time":`+jsonInt(later.Unix())+`}`, nil)
	for range 3 {
		h.sendText(tok, "o_c", "x")
	}
	if c := h.sendText(tok, "o_c", "x"); c != 45047 {
		t.Errorf("4th send after a click: %d", c)
	}

	var st Stats
	h.simCall("GET", "/sim/stats", "", &st)
	want := Stats{
		TokenFetches: map[string]map[TokenKind]int{appA: {TokenClassic: 1, TokenStable: 1}, appB: {TokenClassic: 0, TokenStable: 0}},
		Calls:        map[string]int{"/cgi-bin/token": 1, "/cgi-bin/stable_token": 1, pathSend: 6},
		Sends:        map[int]int{0: 4, 40003: 1, 45047: 1},
	}
	if d := cmp.Diff(want, st); d != "" {
		t.Errorf("/sim/stats (-want +got):\n%s", d)
	}

	// kf accounts, transfer and the clock over HTTP.
	h.post(kfAddPath, tok, kfBody("a@kf", "n"))
	if s := h.simCall("POST", "/sim/kf/online", `{"appid":"`+appA+`","kf_account":"a@kf","online":true}`, nil); s != 200 {
		t.Errorf("/sim/kf/online: %d", s)
	}
	if s := h.simCall("POST", "/sim/transfer", `{"appid":"`+appA+`","openid":"o_u","kf_account":"a@kf"}`, nil); s != 200 {
		t.Errorf("/sim/transfer: %d", s)
	}
	if got := h.get("/customservice/kfsession/getsession", tok, "openid", "o_u"); got.str("kf_account") != "a@kf" {
		t.Errorf("session after /sim/transfer: %v", got)
	}
	var adv map[string]time.Time
	h.simCall("POST", "/sim/advance", `{"by":"2h"}`, &adv)
	if !adv["now"].Equal(later.Add(2 * time.Hour)) {
		t.Errorf("/sim/advance: %v", adv)
	}
	wantCode(t, "token after /sim/advance", h.get(kfListPath, tok), 42001)

	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/sim/interact", `{"appid":"wxnobody","openid":"o","kind":"message"}`, 400},
		{"POST", "/sim/interact", `{"appid":"` + appA + `","openid":"o","kind":"dance"}`, 400},
		{"POST", "/sim/interact", `{"appid":"` + appA + `","openid":"","kind":"message"}`, 400},
		{"GET", "/sim/interact", ``, 405},
		{"POST", "/sim/kf/online", `{"appid":"` + appA + `","kf_account":"x@kf","online":true}`, 400},
		{"POST", "/sim/kf/accept", `{"appid":"` + appA + `","kf_account":"a@kf"}`, 400},
		{"POST", "/sim/transfer", `{"appid":"` + appA + `","openid":"o_nobody"}`, 400},
		{"POST", "/sim/advance", `{"by":"-1h"}`, 400},
		{"GET", "/sim/nothing", ``, 404},
	} {
		var e map[string]string
		if got := h.simCall(tt.method, tt.path, tt.body, &e); got != tt.want || e["error"] == "" {
			t.Errorf("%s %s %s: %d %v, want %d and an error", tt.method, tt.path, tt.body, got, e, tt.want)
		}
	}
	if got := h.api.Calls("/sim/interact"); got != 0 {
		t.Errorf("/sim/ calls are counted: %d", got)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A send refused for its token is counted under its errcode, not as sent.
func TestStatsCountTokenRefusals(t *testing.T) {
	api := NewAPI(APIOptions{Accounts: map[string]string{"wxs": "secret"}})
	srv := httptest.NewServer(api)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/cgi-bin/message/custom/send?access_token=bogus", "application/json",
		strings.NewReader(`{"touser":"u","msgtype":"text","text":{"content":"hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := api.Stats(); s.Sends[40001] != 1 || s.Sends[0] != 0 {
		t.Errorf("sends = %v, want one 40001 and none sent", s.Sends)
	}
}
