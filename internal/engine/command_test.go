package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in      string
		cmd     engine.Command
		text    string
		ok      bool
		errLike string
	}{
		{"你好", engine.Command{}, "你好", false, ""},
		{"##1 is our best seller", engine.Command{}, "#1 is our best seller", false, ""},
		{"#transfer billing", engine.Command{Kind: engine.CmdTransfer, Target: "billing"}, "", true, ""},
		{"#TRANSFER  agent7 ", engine.Command{Kind: engine.CmdTransfer, Target: "agent7"}, "", true, ""},
		{"#close", engine.Command{Kind: engine.CmdClose}, "", true, ""},
		{"#queue", engine.Command{Kind: engine.CmdQueue}, "", true, ""},
		{"#help", engine.Command{Kind: engine.CmdHelp}, "", true, ""},
		{"#transfer", engine.Command{}, "", true, "usage: #transfer"},
		{"#transfer a b", engine.Command{}, "", true, "usage: #transfer"},
		{"#close now", engine.Command{}, "", true, "takes no arguments"},
		{"#", engine.Command{}, "", true, "empty command"},
		{"#frobnicate", engine.Command{}, "", true, "unknown command #frobnicate; commands:"},
	}
	for _, tt := range tests {
		cmd, text, ok, err := engine.ParseCommand(tt.in)
		if tt.errLike != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errLike) || !errors.Is(err, kf.ErrInvalid) {
				t.Errorf("%q: error %v, want an invalid error like %q", tt.in, err, tt.errLike)
			}
			continue
		}
		if err != nil || ok != tt.ok || text != tt.text || !cmp.Equal(cmd, tt.cmd) {
			t.Errorf("%q = %+v %q %v %v", tt.in, cmd, text, ok, err)
		}
	}
}

func TestRunCommands(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e := newEngine(rdb, prefix, routing.LeastLoaded)
	for _, a := range []kf.Agent{
		{ID: "a1", Accounts: []string{"wxprop"}, MaxSessions: 1, Status: kf.AgentOnline},
		{ID: "a2", Accounts: []string{"wxprop"}, MaxSessions: 1, Status: kf.AgentOnline, Skills: []string{"vip"}},
	} {
		if err := e.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	m := &kf.Message{Account: "wxprop", OpenID: "u", Type: kf.MsgText, Content: "hi", MsgID: "1"}
	if err := e.Handle(ctx, m, engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	run := func(agent, line string) (string, error) {
		cmd, _, _, err := engine.ParseCommand(line)
		if err != nil {
			t.Fatal(err)
		}
		return e.RunCommand(ctx, agent, "wxprop", "u", cmd)
	}
	// least_loaded gives the user to a1 or a2; find out which.
	first, other := "a1", "a2"
	if _, err := run("a1", "#queue"); err != nil {
		first, other = "a2", "a1"
	}
	if _, err := run(other, "#close"); !errors.Is(err, kf.ErrForbidden) {
		t.Errorf("#close by another agent: %v, want forbidden", err)
	}
	if got, err := run(first, "#transfer "+other); err != nil || got != "transferred to "+other {
		t.Errorf("#transfer %s = %q, %v", other, got, err)
	}
	// A skill no agent of the account has would strand the user in a
	// queue nobody serves: refused with the reason, the session stays.
	if got, err := run(other, "#transfer nobody-has-this-skill"); !errors.Is(err, kf.ErrNotFound) || !strings.Contains(err.Error(), "no agent of account wxprop has skill") {
		t.Errorf("#transfer to a skill nobody has = %q, %v; want not found", got, err)
	}
	if _, err := run(other, "#transfer "+other); !errors.Is(err, kf.ErrInvalid) {
		t.Errorf("#transfer to oneself: %v, want invalid", err)
	}
	if got, err := run(other, "#queue"); err != nil {
		t.Errorf("the session left %s after refused transfers: %q %v", other, got, err)
	}
	if got, err := e.RunCommand(ctx, other, "wxprop", "u", engine.Command{Kind: engine.CmdHelp}); err != nil || got != engine.Help {
		t.Errorf("#help = %q, %v", got, err)
	}
}
