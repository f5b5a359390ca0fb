package sim

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/wxcrypto"
	"github.com/kfgate/kfgate/internal/wxmsg"
)

// pushes is a stand-in for kfgate's callback URL: it checks each push's
// signature and keeps the kf_* events, as "event kf_account from to".
type pushes struct {
	mu     sync.Mutex
	events []string
}

func (p *pushes) serve(t *testing.T, token string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !wxcrypto.Verify(q.Get("signature"), token, q.Get("timestamp"), q.Get("nonce")) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		m, err := wxmsg.Decode(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.events = append(p.events, fmt.Sprintf("%s %s %s %s→%s", m.OpenID, m.Event, m.KfAccount, m.FromKfAccount, m.ToKfAccount))
		p.mu.Unlock()
		_, _ = io.WriteString(w, "success")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (p *pushes) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.events...)
}

// Sessions created, closed and switched — through the API, by a passive
// transfer, or by a kf account in WeChat's tool — are pushed to the
// account's callback URL as signed kf_* events, in order; an account
// without a callback URL pushes nothing.
func TestKfEventsPushed(t *testing.T) {
	h := newHarness(t, APIOptions{})
	var got pushes
	srv := got.serve(t, "tok123")
	if err := h.api.CallbackTo(srv.URL, Account{AppID: appA, Token: "tok123"}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.api.CallbackTo(srv.URL, Account{AppID: "wxnobody", Token: "tok123"}, false); err == nil {
		t.Error("CallbackTo an unknown account succeeded")
	}
	tok := h.token(appA, secretA)
	for _, kf := range []string{"a@kf", "b@kf"} {
		if err := h.api.AddKf(appA, kf, "n"); err != nil {
			t.Fatal(err)
		}
		if err := h.api.SetKfOnline(appA, kf, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.api.AddKf(appA, "a@kf", "n"); err == nil {
		t.Error("AddKf of an existing kf account succeeded")
	}
	for _, u := range []string{"o_1", "o_2"} {
		h.interact(appA, u, InteractMessage)
	}
	wantCode(t, "create", h.post(sessCreatePath, tok, sessBody("a@kf", "o_1")), 0)
	wantCode(t, "create again", h.post(sessCreatePath, tok, sessBody("a@kf", "o_1")), 0) // exists: no push
	wantCode(t, "refused", h.post(sessCreatePath, tok, sessBody("b@kf", "o_1")), 65414)  // no push
	if err := h.api.SwitchAsKf(appA, "o_1", "b@kf"); err != nil {
		t.Fatal(err)
	}
	if err := h.api.SwitchAsKf(appA, "o_2", "b@kf"); err == nil {
		t.Error("SwitchAsKf of a user with no session succeeded")
	}
	if err := h.api.CloseAsKf(appA, "o_1"); err != nil {
		t.Fatal(err)
	}
	if err := h.api.CloseAsKf(appA, "o_1"); err == nil {
		t.Error("CloseAsKf of a closed session succeeded")
	}
	if err := h.api.Transfer(appA, "o_2", "a@kf", time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"o_1 kf_create_session a@kf →",
		"o_1 kf_switch_session  a@kf→b@kf",
		"o_1 kf_close_session b@kf →",
		"o_2 kf_create_session a@kf →",
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(got.list()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	wantCode(t, "close through the API", h.post(sessClosePath, tok, sessBody("a@kf", "o_2")), 0)
	want = append(want, "o_2 kf_close_session a@kf →")
	if diff := cmp.Diff(want, got.list()); diff != "" {
		t.Errorf("pushes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{}, h.api.KfSessions(appA)); diff != "" {
		t.Errorf("sessions left (-want +got):\n%s", diff)
	}
	if n := h.api.CallbackFailures(); n != 0 {
		t.Errorf("%d pushes failed", n)
	}
	// Nobody listens: the push counts as failed.
	srv.Close()
	wantCode(t, "create, nobody listening", h.post(sessCreatePath, tok, sessBody("a@kf", "o_1")), 0)
	if n := h.api.CallbackFailures(); n != 1 {
		t.Errorf("CallbackFailures = %d, want 1", n)
	}
}

// The /sim/ endpoints steer the same: callback, kf/close, kf/switch,
// kf/sessions; bad input is a 400 with a reason.
func TestKfEventsEndpoints(t *testing.T) {
	h := newHarness(t, APIOptions{})
	var got pushes
	srv := got.serve(t, "tok123")
	if c := h.simCall("POST", "/sim/callback", fmt.Sprintf(`{"appid":%q,"base":%q,"token":"tok123"}`, appA, srv.URL), nil); c != 200 {
		t.Fatalf("/sim/callback = %d", c)
	}
	_ = h.api.AddKf(appA, "a@kf", "n")
	_ = h.api.AddKf(appA, "b@kf", "n")
	_ = h.api.SetKfOnline(appA, "a@kf", true)
	_ = h.api.SetKfOnline(appA, "b@kf", true)
	h.interact(appA, "o_1", InteractMessage)
	tok := h.token(appA, secretA)
	wantCode(t, "create", h.post(sessCreatePath, tok, sessBody("a@kf", "o_1")), 0)
	var sessions map[string]string
	if c := h.simCall("GET", "/sim/kf/sessions?appid="+appA, "", &sessions); c != 200 || sessions["o_1"] != "a@kf" {
		t.Errorf("/sim/kf/sessions = %d %v", c, sessions)
	}
	if c := h.simCall("POST", "/sim/kf/switch", fmt.Sprintf(`{"appid":%q,"openid":"o_1","kf_account":"b@kf"}`, appA), nil); c != 200 {
		t.Errorf("/sim/kf/switch = %d", c)
	}
	if c := h.simCall("POST", "/sim/kf/close", fmt.Sprintf(`{"appid":%q,"openid":"o_1"}`, appA), nil); c != 200 {
		t.Errorf("/sim/kf/close = %d", c)
	}
	if c := h.simCall("POST", "/sim/kf/close", fmt.Sprintf(`{"appid":%q,"openid":"o_1"}`, appA), nil); c != 400 {
		t.Errorf("/sim/kf/close of no session = %d, want 400", c)
	}
	want := []string{"o_1 kf_create_session a@kf →", "o_1 kf_switch_session  a@kf→b@kf", "o_1 kf_close_session b@kf →"}
	if diff := cmp.Diff(want, got.list()); diff != "" {
		t.Errorf("pushes (-want +got):\n%s", diff)
	}
}
