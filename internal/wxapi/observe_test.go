package wxapi

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/sim"
)

type observed struct {
	mu    sync.Mutex
	calls []string // account api errcode
}

func (o *observed) observe(account, api, errcode string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, account+" "+api+" "+errcode)
}

// Every call to WeChat is observed with its API and errcode: token fetches
// (40164, the IP whitelist, where a new deployment fails first), sends, and
// calls answered with an error or not at all.
func TestObserverSeesEveryCall(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	var o observed
	ts, err := NewTokens(TokenOptions{Redis: e.rdb, Prefix: e.prefix, Accounts: testAccounts, BaseURL: e.srv.URL,
		BackupURL: e.srv.URL, Now: e.clk.Now, Observe: o.observe})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Tokens: ts, BaseURL: e.srv.URL, BackupURL: e.srv.URL, Observe: o.observe})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.api.SetFaults(sim.Faults{ErrorRate: 1, ErrCode: 40164, ErrPath: "/cgi-bin/stable_token"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(ctx, "wxapp1"); Code(err) != 40164 {
		t.Fatalf("token with the IP not whitelisted: %v", err)
	}
	if err := e.api.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	e.interact(t, "wxapp1", "u1")
	if err := c.SendCustom(ctx, "wxapp1", TextMessage("u1", "hi")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendCustom(ctx, "wxapp1", TextMessage("nobody", "hi")); Code(err) != 40003 {
		t.Fatalf("send to an unknown user: %v", err)
	}
	down := &Client{tokens: ts, observe: o.observe}
	if down.hosts, err = newHosts(closedURL(t), closedURL(t), nil); err != nil {
		t.Fatal(err)
	}
	var te *TransportError
	if err := down.Typing(ctx, "wxapp1", "u1", true); !errors.As(err, &te) {
		t.Fatalf("typing with WeChat unreachable: %v", err)
	}
	want := []string{
		"wxapp1 stable_token 40164",
		"wxapp1 stable_token 0",
		"wxapp1 message/custom/send 0",
		"wxapp1 message/custom/send 40003",
		"wxapp1 message/custom/typing transport",
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.calls) != len(want) {
		t.Fatalf("observed %q, want %q", o.calls, want)
	}
	for i := range want {
		if o.calls[i] != want[i] {
			t.Errorf("call %d observed as %q, want %q", i, o.calls[i], want[i])
		}
	}
}
