// Package config loads kfgate's configuration: one YAML file (path from
// --config or KFGATE_CONFIG) overridden by KFGATE_… environment variables,
// validated as a whole so that every problem is reported, one line each.
package config

import "time"

// Config is the whole configuration. The yaml tags are the contract of
// DESIGN.md; configs/kfgate.example.yaml documents every key.
type Config struct {
	Listen string `yaml:"listen"` // host:port of the HTTP server, default ":8080"

	// ShutdownTimeout bounds graceful shutdown: in-flight callbacks get this
	// long to finish after SIGTERM. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	Log      Log       `yaml:"log"`
	Redis    Redis     `yaml:"redis"`
	Postgres Postgres  `yaml:"postgres"`
	WeChat   WeChat    `yaml:"wechat"`
	Intake   Intake    `yaml:"intake"`
	Accounts []Account `yaml:"accounts"`
	Admin    Admin     `yaml:"admin"`
}

// Log configures the process log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // json (default) or text
}

// Redis is where all shared state lives.
type Redis struct {
	// URL is redis://[user:pass@]host:port/db or rediss://…; empty starts
	// an embedded Redis-protocol server in the process (one replica, nothing
	// kept across restarts).
	URL string `yaml:"url"`
	// Prefix starts every key kfgate writes, default "kfgate:". Two kfgate
	// deployments can share one Redis with different prefixes.
	Prefix string `yaml:"prefix"`
}

// Postgres is the archive. Empty URL: archive off.
type Postgres struct {
	URL string `yaml:"url"`
}

// WeChat configures calls to WeChat's API.
type WeChat struct {
	APIBase string `yaml:"api_base"` // default https://api.weixin.qq.com
}

// Intake configures the callback endpoint /wechat/{appid}.
type Intake struct {
	// DedupTTL is how long a delivery is remembered to drop WeChat's
	// retries (up to 4 deliveries over ≈20 s). Default 5m, at least 60s.
	DedupTTL time.Duration `yaml:"dedup_ttl"`
	// Timeout bounds the work for one callback (Redis included), well
	// inside WeChat's 5-second budget. Default 3s.
	Timeout time.Duration `yaml:"timeout"`
}

// Account is one official account (公众号) whose server URL points at kfgate.
type Account struct {
	AppID  string `yaml:"appid"`
	Name   string `yaml:"name"`    // shown to agents and in logs; default the appid
	Secret string `yaml:"secret"`  // AppSecret, for access tokens
	Token  string `yaml:"token"`   // the server-config Token: 3–32 letters or digits
	AESKey string `yaml:"aes_key"` // EncodingAESKey, 43 characters; empty = plaintext mode only

	// TransferToKf answers every user message with a passive
	// transfer_customer_service reply, so the account's agents who work in
	// WeChat's own customer-service tool receive it. kfgate still records it.
	TransferToKf bool `yaml:"transfer_to_kf"`
}

// Admin configures the admin API.
type Admin struct {
	Tokens []string `yaml:"tokens"` // bearer tokens for /api/v1 admin calls
}
