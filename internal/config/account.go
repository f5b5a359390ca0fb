package config

import "fmt"

// Account returns the account whose appid is appid.
func (c *Config) Account(appid string) (Account, bool) {
	for _, a := range c.Accounts {
		if a.AppID == appid {
			return a, true
		}
	}
	return Account{}, false
}

// SafeMode reports whether the account has an EncodingAESKey, so that
// callbacks may come encrypted (safe or compatible mode) and passive replies
// go out encrypted. Without one the account works in plaintext mode only.
func (a Account) SafeMode() bool {
	return a.AESKey != ""
}

// The accounts' modes (accounts[].mode): which callbacks kfgate accepts.
const (
	ModeSafe       = "safe"       // encrypted only (encrypt_type=aes)
	ModeCompatible = "compatible" // encrypted or plaintext
	ModePlaintext  = "plaintext"  // plaintext only
)

// Who answers an account's users (accounts[].agents).
const (
	AgentsKfgate = "kfgate" // kfgate's own agents
	AgentsWeChat = "wechat" // the account's kf accounts, in WeChat's own tool
)

// How a wechat-mode user is handed to a kf account (accounts[].kf_handover).
const (
	HandoverSession = "session" // kfsession/create
	HandoverPassive = "passive" // transfer_customer_service with TransInfo/KfAccount
)

// WeChatAgents reports whether the account's agents work in WeChat's own
// customer-service tool.
func (a Account) WeChatAgents() bool { return a.Agents == AgentsWeChat }

// Deprecations returns one line per deprecated key the configuration uses,
// for the log at start.
func (c *Config) Deprecations() []string {
	var out []string
	for i, a := range c.Accounts {
		if a.TransferToKf {
			out = append(out, fmt.Sprintf("accounts[%d].transfer_to_kf is deprecated and goes in the next release: "+
				"use agents: wechat with kf_handover: passive", i))
		}
	}
	return out
}
