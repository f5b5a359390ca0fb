package wxapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/sim"
)

func TestSendErrorsPermanent(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	c := e.client(t, e.tokens(t, TokenStable))
	const app = "wxapp1"

	// 45047: the sixth message of a 5-message window.
	e.interact(t, app, "quota")
	for range 5 {
		if err := c.SendCustom(ctx, app, TextMessage("quota", "hi")); err != nil {
			t.Fatal(err)
		}
	}
	err45047 := c.SendCustom(ctx, app, TextMessage("quota", "one too many"))
	// 45015: the window closed 48 h after the user's message.
	e.interact(t, app, "late")
	e.clk.Advance(49 * time.Hour)
	err45015 := c.SendCustom(ctx, app, TextMessage("late", "too late"))
	// 43004: the user unsubscribed.
	e.interact(t, app, "gone")
	if err := e.api.Interact(app, "gone", sim.InteractUnsubscribe, time.Time{}); err != nil {
		t.Fatal(err)
	}
	err43004 := c.SendCustom(ctx, app, TextMessage("gone", "hello?"))

	for code, err := range map[int]error{45047: err45047, 45015: err45015, 43004: err43004} {
		var we *Error
		if !errors.As(err, &we) || we.Code != code {
			t.Errorf("want errcode %d, got %v", code, err)
			continue
		}
		if !Permanent(err) || Retryable(err) || !we.Permanent() {
			t.Errorf("%d: Permanent %v Retryable %v, want permanent", code, Permanent(err), Retryable(err))
		}
	}
	if !errors.Is(err45047, kf.ErrRateLimited) {
		t.Errorf("45047 is not kf.ErrRateLimited: %v", err45047)
	}
}

func TestSendErrorsRetryable(t *testing.T) {
	for _, code := range []int{-1, 45011} {
		e := newEnv(t)
		ctx := ctxT(t)
		c := e.client(t, e.tokens(t, TokenStable))
		e.interact(t, "wxapp1", "u")
		if err := e.api.SetFaults(sim.Faults{ErrorRate: 1, ErrCode: code, ErrPath: "/cgi-bin/message/custom/send"}); err != nil {
			t.Fatal(err)
		}
		err := c.SendCustom(ctx, "wxapp1", TextMessage("u", "hi"))
		if Code(err) != code || !Retryable(err) || Permanent(err) {
			t.Errorf("errcode %d: got %v (Retryable %v, Permanent %v)", code, err, Retryable(err), Permanent(err))
		}
		_ = e.api.SetFaults(sim.Faults{})
		if err := c.SendCustom(ctx, "wxapp1", TextMessage("u", "hi")); err != nil {
			t.Errorf("after the fault: %v", err)
		}
	}
}

// counting wraps a handler and counts its requests.
type counting struct {
	h http.Handler
	n atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.n.Add(1); c.h.ServeHTTP(w, r) }

func TestFailover(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	backup := &counting{h: e.api}
	bsrv := httptest.NewServer(backup)
	defer bsrv.Close()
	down := closedURL(t)
	e.interact(t, "wxapp1", "u")

	t.Run("unreachable primary", func(t *testing.T) {
		ts, err := NewTokens(TokenOptions{Redis: e.rdb, Prefix: e.prefix, Accounts: testAccounts,
			BaseURL: down, BackupURL: bsrv.URL, Now: e.clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(Options{Tokens: ts, BaseURL: down, BackupURL: bsrv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendCustom(ctx, "wxapp1", TextMessage("u", "via api2")); err != nil {
			t.Fatalf("SendCustom with the primary down: %v", err)
		}
		if got := len(e.api.Received("wxapp1", "u")); got != 1 {
			t.Errorf("user received %d messages, want 1", got)
		}
		if backup.n.Load() != 2 { // stable_token + custom/send
			t.Errorf("backup served %d requests, want 2", backup.n.Load())
		}
	})

	t.Run("primary 503", func(t *testing.T) {
		var primary counting
		primary.h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		})
		psrv := httptest.NewServer(&primary)
		defer psrv.Close()
		c, err := New(Options{Tokens: e.tokens(t, TokenStable), BaseURL: psrv.URL, BackupURL: bsrv.URL})
		if err != nil {
			t.Fatal(err)
		}
		before := backup.n.Load()
		if err := c.Typing(ctx, "wxapp1", "u", true); err != nil {
			t.Fatalf("Typing with the primary answering 503: %v", err)
		}
		if primary.n.Load() != 1 || backup.n.Load() != before+1 {
			t.Errorf("primary %d, backup %d requests; want 1 and 1", primary.n.Load(), backup.n.Load()-before)
		}
	})

	t.Run("errcode does not fail over", func(t *testing.T) {
		primary := &counting{h: e.api}
		psrv := httptest.NewServer(primary)
		defer psrv.Close()
		c, err := New(Options{Tokens: e.tokens(t, TokenStable), BaseURL: psrv.URL, BackupURL: bsrv.URL})
		if err != nil {
			t.Fatal(err)
		}
		_ = e.api.SetFaults(sim.Faults{ErrorRate: 1, ErrCode: -1, ErrPath: "/cgi-bin/message/custom/send"})
		defer func() { _ = e.api.SetFaults(sim.Faults{}) }()
		before := backup.n.Load()
		err = c.SendCustom(ctx, "wxapp1", TextMessage("u", "x"))
		if Code(err) != -1 {
			t.Fatalf("got %v, want errcode -1", err)
		}
		if backup.n.Load() != before {
			t.Errorf("an errcode made the client fail over (%d backup requests)", backup.n.Load()-before)
		}
	})

	t.Run("both down", func(t *testing.T) {
		c, err := New(Options{Tokens: e.tokens(t, TokenStable), BaseURL: down, BackupURL: closedURL(t)})
		if err != nil {
			t.Fatal(err)
		}
		err = c.SendCustom(ctx, "wxapp1", TextMessage("u", "x"))
		var te *TransportError
		if !errors.As(err, &te) || !Retryable(err) || !errors.Is(err, kf.ErrUnavailable) {
			t.Fatalf("got %v, want a retryable TransportError", err)
		}
		if s := err.Error(); containsAny(s, "access_token", "secret") {
			t.Errorf("the error shows the query: %s", s)
		}
	})
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}
