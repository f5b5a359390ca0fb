package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/config"
)

// accounts[].agents and its keys: bad values are named one line each.
func TestValidateWeChatAgents(t *testing.T) {
	c := valid()
	a := &c.Accounts[0]
	a.Agents, a.KfHandover, a.KfMaxSessions = "tencent", "push", 1001
	a.KfAccounts = []config.KfAccount{{Account: "anna@shop", MaxSessions: -1}, {Account: "anna@shop", Weight: 2000}, {Account: "no-at-sign"}}
	want := []string{
		`accounts[0].agents: must be kfgate or wechat (got "tencent")`,
		`accounts[0].kf_handover: must be session or passive (got "push")`,
		`accounts[0].kf_max_sessions: must be 1 to 1000 (got 1001)`,
		`accounts[0].kf_accounts[0].max_sessions: must be 0 (the account's kf_max_sessions) to 1000 (got -1)`,
		`accounts[0].kf_accounts[1].kf_account: duplicate "anna@shop"`,
		`accounts[0].kf_accounts[1].weight: must be 0 (1) to 1000 (got 2000)`,
		`accounts[0].kf_accounts[2].kf_account: must be prefix@wechat-id: up to 10 letters, digits or '_', '@', up to 30 more (got "no-at-sign")`,
	}
	if diff := cmp.Diff(want, lines(c.Validate())); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}

	c = valid()
	c.Accounts[1].Agents, c.Accounts[1].TransferToKf = "kfgate", true
	want = []string{"accounts[1].transfer_to_kf: is deprecated and means agents: wechat; it cannot go with agents: kfgate"}
	if diff := cmp.Diff(want, lines(c.Validate())); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
}

// transfer_to_kf still works for one release: it becomes agents: wechat
// with the passive hand-over, and Deprecations names it for the log.
func TestTransferToKfDeprecated(t *testing.T) {
	getenv, environ := env(
		"KFGATE_ACCOUNTS_0_APPID=wx1", "KFGATE_ACCOUNTS_0_SECRET=s", "KFGATE_ACCOUNTS_0_TOKEN=token1",
		"KFGATE_ACCOUNTS_0_TRANSFER_TO_KF=true",
		"KFGATE_ACCOUNTS_1_APPID=wx2", "KFGATE_ACCOUNTS_1_SECRET=s", "KFGATE_ACCOUNTS_1_TOKEN=token2",
		"KFGATE_ACCOUNTS_1_AGENTS=wechat",
	)
	c, err := config.Load("", getenv, environ)
	if err != nil {
		t.Fatal(err)
	}
	got := [][2]string{{c.Accounts[0].Agents, c.Accounts[0].KfHandover}, {c.Accounts[1].Agents, c.Accounts[1].KfHandover}}
	if diff := cmp.Diff([][2]string{{"wechat", "passive"}, {"wechat", "session"}}, got); diff != "" {
		t.Errorf("agents, kf_handover (-want +got):\n%s", diff)
	}
	if !c.Accounts[0].WeChatAgents() || !c.Accounts[1].WeChatAgents() {
		t.Error("WeChatAgents() is false for a wechat-mode account")
	}
	want := []string{"accounts[0].transfer_to_kf is deprecated and goes in the next release: use agents: wechat with kf_handover: passive"}
	if diff := cmp.Diff(want, c.Deprecations()); diff != "" {
		t.Errorf("Deprecations (-want +got):\n%s", diff)
	}
}
