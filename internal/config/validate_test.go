package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/config"
)

const (
	demoAESKey  = "kfgatedemoEncodingAESKeyForSafeMode00000001" // 43 letters and digits
	adminToken1 = "admin-token-0123456789"
	adminToken2 = "admin-token-abcdefghij"
)

// valid returns a Config that passes Validate; each case breaks one thing.
func valid() config.Config {
	c := config.Config{
		Redis:    config.Redis{URL: "redis://:redispw@127.0.0.1:6379/2"},
		Postgres: config.Postgres{URL: "postgres://kfgate:pgpw@127.0.0.1:5432/kfgate?sslmode=disable"},
		Accounts: []config.Account{
			{AppID: "wxsafe0000000001", Secret: "secret1", Token: "token1", AESKey: demoAESKey},
			{AppID: "wxplain000000002", Secret: "secret2", Token: "token2"},
		},
		Admin: config.Admin{Tokens: []string{adminToken1, adminToken2}},
	}
	c.SetDefaults()
	return c
}

// lines splits an error's text into its lines; nil for no error.
func lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestValidateValid(t *testing.T) {
	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	// Edge values that are allowed.
	c.Listen = "127.0.0.1:0"
	c.Redis.URL = ""
	c.Postgres.URL = "postgresql://localhost/kfgate"
	c.WeChat.APIBase = "http://127.0.0.1:8081"
	c.Intake.DedupTTL = 60 * time.Second
	c.Intake.Timeout = 4999 * time.Millisecond
	c.Accounts[0].Token = "abc"
	c.Accounts[1].Token = strings.Repeat("Z9", 16)
	c.Accounts[1].AppID = strings.Repeat("a", 63) + "_"
	c.Admin.Tokens = nil
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *config.Config)
		want   string
	}{
		{"listen without port", func(c *config.Config) { c.Listen = "localhost" },
			`listen: must be host:port, such as ":8080" or "127.0.0.1:8080" (got "localhost")`},
		{"listen port out of range", func(c *config.Config) { c.Listen = ":65536" },
			`listen: port must be a number from 0 to 65535 (got "65536")`},
		{"listen port named", func(c *config.Config) { c.Listen = ":http" },
			`listen: port must be a number from 0 to 65535 (got "http")`},
		{"shutdown_timeout negative", func(c *config.Config) { c.ShutdownTimeout = -time.Second },
			"shutdown_timeout: must be more than 0 (got -1s)"},
		{"log.level", func(c *config.Config) { c.Log.Level = "verbose" },
			`log.level: must be debug, info, warn or error (got "verbose")`},
		{"log.format", func(c *config.Config) { c.Log.Format = "xml" },
			`log.format: must be json or text (got "xml")`},
		{"redis.url scheme", func(c *config.Config) { c.Redis.URL = "http://127.0.0.1:6379" },
			"redis.url: invalid URL scheme: http"},
		{"redis.url database", func(c *config.Config) { c.Redis.URL = "redis://127.0.0.1:6379/x" },
			`redis.url: invalid database number: "x"`},
		{"redis.url unparsable", func(c *config.Config) { c.Redis.URL = "redis://127.0.0.1:port" },
			`redis.url: not a valid URL: invalid port ":port" after host (want redis://[user:password@]host:port/db or rediss://…)`},
		{"redis.prefix empty", func(c *config.Config) { c.Redis.Prefix = "" },
			"redis.prefix: must not be empty"},
		{"redis.prefix space", func(c *config.Config) { c.Redis.Prefix = "kf gate:" },
			"redis.prefix: must not contain spaces"},
		{"postgres.url keyword form", func(c *config.Config) { c.Postgres.URL = "host=localhost dbname=kfgate" },
			"postgres.url: must be a postgres:// or postgresql:// URL"},
		{"postgres.url sslmode", func(c *config.Config) { c.Postgres.URL = "postgres://localhost/kfgate?sslmode=sometimes" },
			"postgres.url: failed to configure TLS (sslmode is invalid)"},
		{"wechat.api_base relative", func(c *config.Config) { c.WeChat.APIBase = "/cgi-bin" },
			"wechat.api_base: must be an absolute http:// or https:// URL"},
		{"wechat.api_base scheme", func(c *config.Config) { c.WeChat.APIBase = "ftp://api.weixin.qq.com" },
			"wechat.api_base: must be an absolute http:// or https:// URL"},
		{"intake.dedup_ttl", func(c *config.Config) { c.Intake.DedupTTL = 30 * time.Second },
			"intake.dedup_ttl: must be at least 60s, since WeChat redelivers for about 20s (got 30s)"},
		{"intake.timeout too long", func(c *config.Config) { c.Intake.Timeout = 5 * time.Second },
			"intake.timeout: must be more than 0 and less than 5s, WeChat's wait for an answer (got 5s)"},
		{"intake.timeout negative", func(c *config.Config) { c.Intake.Timeout = -time.Second },
			"intake.timeout: must be more than 0 and less than 5s, WeChat's wait for an answer (got -1s)"},
		{"redis.sentinel beside redis.url", func(c *config.Config) {
			c.Redis.Sentinel = config.Sentinel{MasterName: "m", Addresses: []string{"s1:26379"}}
		}, "redis.sentinel: set redis.url or redis.sentinel, not both"},
		{"redis.sentinel without master_name", func(c *config.Config) {
			c.Redis.URL, c.Redis.Sentinel = "", config.Sentinel{Addresses: []string{"s1:26379"}}
		}, "redis.sentinel.master_name: required when redis.sentinel is set: the name the sentinels monitor"},
		{"redis.sentinel without addresses", func(c *config.Config) {
			c.Redis.URL, c.Redis.Sentinel = "", config.Sentinel{MasterName: "m"}
		}, "redis.sentinel.addresses: at least one sentinel host:port is required"},
		{"redis.sentinel address without port", func(c *config.Config) {
			c.Redis.URL, c.Redis.Sentinel = "", config.Sentinel{MasterName: "m", Addresses: []string{"s1:26379", "s2"}}
		}, `redis.sentinel.addresses[1]: must be host:port, such as "sentinel-1:26379" (got "s2")`},
		{"redis.sentinel address port 0", func(c *config.Config) {
			c.Redis.URL, c.Redis.Sentinel = "", config.Sentinel{MasterName: "m", Addresses: []string{"s1:0"}}
		}, `redis.sentinel.addresses[0]: port must be a number from 1 to 65535 (got "0")`},
		{"redis.min_replicas_ack negative", func(c *config.Config) { c.Redis.MinReplicasAck = -1 },
			"redis.min_replicas_ack: must be from 0 (off) to 16 (got -1)"},
		{"redis.min_replicas_ack on the embedded server", func(c *config.Config) { c.Redis.URL, c.Redis.MinReplicasAck = "", 1 },
			"redis.min_replicas_ack: needs a Redis server with replicas (redis.url or redis.sentinel); the embedded server has none"},
		{"redis.min_replicas_ack_timeout past intake.timeout", func(c *config.Config) {
			c.Redis.MinReplicasAck, c.Redis.MinReplicasAckTimeout, c.Intake.Timeout = 1, 2*time.Second, time.Second
		}, "redis.min_replicas_ack_timeout: must be more than 0, at most 2s and less than intake.timeout (1s), so the callback is answered in time (got 2s)"},
		{"debug.listen on the public port", func(c *config.Config) { c.Listen, c.Debug.Listen = ":8080", "127.0.0.1:8080" },
			"debug.listen: must not use the port of listen (:8080): the profiler is never served on the public port"},
		{"debug.listen not host:port", func(c *config.Config) { c.Debug.Listen = "6060" },
			`debug.listen: must be host:port, such as "127.0.0.1:6060" (got "6060")`},
		{"intake.max_clock_skew too short", func(c *config.Config) { c.Intake.MaxClockSkew = time.Second },
			"intake.max_clock_skew: must be from 30s to 1h: WeChat's clock and ours differ by seconds, and a callback may be replayed within it (got 1s)"},
		{"shutdown_delay too long", func(c *config.Config) { c.ShutdownDelay = 2 * time.Minute },
			"shutdown_delay: must be more than 0 and at most 1m: long enough for the load balancer to see /readyz fail (got 2m0s)"},
		{"mode unknown", func(c *config.Config) { c.Accounts[0].Mode = "secure" },
			`accounts[0].mode: must be safe, compatible or plaintext, as set in WeChat's console (got "secure")`},
		{"safe mode without a key", func(c *config.Config) { c.Accounts[1].Mode = "safe" },
			"accounts[1].mode: safe needs the account's aes_key (set it here or in KFGATE_ACCOUNTS_1_AES_KEY)"},
		{"compatible mode without a key", func(c *config.Config) { c.Accounts[1].Mode = "compatible" },
			"accounts[1].mode: compatible needs the account's aes_key (set it here or in KFGATE_ACCOUNTS_1_AES_KEY)"},
		{"no accounts", func(c *config.Config) { c.Accounts = nil },
			"accounts: at least one account is required (in the file or as KFGATE_ACCOUNTS_0_APPID and the rest)"},
		{"appid required", func(c *config.Config) { c.Accounts[1].AppID = "" },
			"accounts[1].appid: required"},
		{"appid characters", func(c *config.Config) { c.Accounts[1].AppID = "wx/../admin" },
			"accounts[1].appid: must be 1 to 64 letters, digits, '_' or '-'"},
		{"appid too long", func(c *config.Config) { c.Accounts[0].AppID = strings.Repeat("a", 65) },
			"accounts[0].appid: must be 1 to 64 letters, digits, '_' or '-'"},
		{"appid duplicate", func(c *config.Config) {
			c.Accounts = append(c.Accounts, c.Accounts[0])
		}, "accounts[2].appid: duplicate of accounts[0]"},
		{"secret required", func(c *config.Config) { c.Accounts[0].Secret = "" },
			"accounts[0].secret: required (set it here or in KFGATE_ACCOUNTS_0_SECRET)"},
		{"token required", func(c *config.Config) { c.Accounts[1].Token = "" },
			"accounts[1].token: required (set it here or in KFGATE_ACCOUNTS_1_TOKEN)"},
		{"token too short", func(c *config.Config) { c.Accounts[0].Token = "ab" },
			"accounts[0].token: must be 3 to 32 letters or digits"},
		{"token too long", func(c *config.Config) { c.Accounts[0].Token = strings.Repeat("a", 33) },
			"accounts[0].token: must be 3 to 32 letters or digits"},
		{"token characters", func(c *config.Config) { c.Accounts[0].Token = "tok-en" },
			"accounts[0].token: must be 3 to 32 letters or digits"},
		{"aes_key length", func(c *config.Config) { c.Accounts[1].AESKey = demoAESKey[:42] },
			"accounts[1].aes_key: must be 43 characters"},
		{"aes_key characters", func(c *config.Config) { c.Accounts[1].AESKey = demoAESKey[:42] + "+" },
			"accounts[1].aes_key: must be letters and digits only"},
		{"engine.strategy", func(c *config.Config) { c.Engine.Strategy = "random" },
			`engine.strategy: must be one of consistent_hash, least_loaded, round_robin, weighted (got "random")`},
		{"engine.context_size", func(c *config.Config) { c.Engine.ContextSize = 0 },
			"engine.context_size: must be 1 to 1000 (got 0)"},
		{"engine.idle_timeout under warn_before", func(c *config.Config) { c.Engine.IdleTimeout = 5 * time.Minute },
			"engine.idle_timeout: must be more than engine.warn_before, which must be more than 0 (got 5m0s and 5m0s)"},
		{"engine.offline_after", func(c *config.Config) { c.Engine.OfflineAfter = time.Second },
			"engine.offline_after: must be at least 10s: agents heartbeat every 30s (got 1s)"},
		{"engine.queue_limit", func(c *config.Config) { c.Engine.QueueLimit = -1 },
			"engine.queue_limit: must not be negative (0 = no limit)"},
		{"engine.notices.queued", func(c *config.Config) { c.Engine.Notices.Queued = "please wait" },
			"engine.notices.queued: should say the user's place with {ahead} or {position}"},
		{"account strategy", func(c *config.Config) { c.Accounts[1].Strategy = "fastest" },
			`accounts[1].strategy: must be empty or one of consistent_hash, least_loaded, round_robin, weighted (got "fastest")`},
		{"business hours", func(c *config.Config) { c.Accounts[0].BusinessHours = []string{"weekdays 9-5"} },
			`accounts[0].business_hours: "weekdays 9-5": days must be like mon-fri or sat,sun`},
		{"time zone", func(c *config.Config) { c.Accounts[0].TimeZone = "Mars/Olympus" },
			`accounts[0].business_hours: unknown time zone "Mars/Olympus"`},
		{"menu skill", func(c *config.Config) { c.Accounts[0].MenuSkills = []string{"BILLING"} },
			`accounts[0].menu_skills[0]: must be "KEY=skill" (got "BILLING")`},
		{"keyword skill", func(c *config.Config) { c.Accounts[0].KeywordSkills = []string{"=billing"} },
			`accounts[0].keyword_skills[0]: must be "word=skill" (got "=billing")`},
		{"agent id", func(c *config.Config) {
			c.Agents = []config.Agent{{Accounts: []string{"wxsafe0000000001"}, Weight: 1, MaxSessions: 1}}
		},
			"agents[0].id: required"},
		{"agent unknown account", func(c *config.Config) {
			c.Agents = []config.Agent{{ID: "a", Accounts: []string{"wxnobody"}, Weight: 1, MaxSessions: 1}}
		}, `agents[0].accounts: "wxnobody" is not a configured account`},
		{"agent capacity", func(c *config.Config) {
			c.Agents = []config.Agent{{ID: "a", Accounts: []string{"wxsafe0000000001"}, Weight: 1, MaxSessions: 0}}
		}, "agents[0].max_sessions: must be at least 1"},
		{"agent duplicate", func(c *config.Config) {
			c.Agents = []config.Agent{{ID: "a", Accounts: []string{"wxsafe0000000001"}, Weight: 1, MaxSessions: 1},
				{ID: "a", Accounts: []string{"wxsafe0000000001"}, Weight: 1, MaxSessions: 1}}
		}, "agents[1].id: duplicate of agents[0]"},
		{"agent limits", func(c *config.Config) {
			c.Agents = []config.Agent{{ID: "a", Accounts: []string{"wxsafe0000000001"}, Weight: 1, MaxSessions: 1001}}
		}, "agents[0].max_sessions: must be at most 1000"},
		{"agent skill", func(c *config.Config) {
			c.Agents = []config.Agent{{ID: "a", Accounts: []string{"wxsafe0000000001"}, Skills: []string{"a,b"}, Weight: 1, MaxSessions: 1}}
		}, `agents[0].skills: "a,b" has a comma, a space or an invisible character`},
		{"notice with a NUL", func(c *config.Config) { c.Engine.Notices.NoAgent = "none\x00" },
			"engine.notices.no_agent: contains a NUL character"},
		{"max deliveries", func(c *config.Config) { c.Archive.MaxDeliveries = 0 },
			"archive.max_deliveries: must be 1 to 1000 (got 0)"},
		{"archive.retention negative", func(c *config.Config) { c.Archive.Retention = config.Period(-24 * time.Hour) },
			"archive.retention: must be 0 (keep everything) or at least 31d, a month's partition being the least it drops (got -1d)"},
		{"archive.retention too short", func(c *config.Config) { c.Archive.Retention = config.Period(30 * 24 * time.Hour) },
			"archive.retention: must be 0 (keep everything) or at least 31d, a month's partition being the least it drops (got 30d)"},
		{"trusted proxy", func(c *config.Config) { c.Server.TrustedProxies = []string{"10.0.0.1"} },
			`server.trusted_proxies[0]: must be a CIDR such as 10.0.0.0/8 or ::1/128 (got "10.0.0.1")`},
		{"admin token short", func(c *config.Config) { c.Admin.Tokens[1] = "short" },
			"admin.tokens[1]: must be at least 16 characters"},
		{"admin token space", func(c *config.Config) { c.Admin.Tokens[0] = "admin token 0123456789" },
			"admin.tokens[0]: must not contain spaces"},
		{"admin token duplicate", func(c *config.Config) {
			c.Admin.Tokens = append(c.Admin.Tokens, adminToken1)
		}, "admin.tokens[2]: duplicate of admin.tokens[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			if diff := cmp.Diff([]string{tt.want}, lines(c.Validate())); diff != "" {
				t.Errorf("Validate() lines (-want +got):\n%s", diff)
			}
		})
	}
}

// Every problem is reported at once, one line each, in the order of the keys.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := valid()
	c.Admin.Tokens = []string{"short"}   // 5
	c.Accounts[1].AESKey = "tooshort"    // 4
	c.Accounts[0].Secret = ""            // 3
	c.Intake.DedupTTL = 20 * time.Second // 2
	c.Log.Level = "loud"                 // 1
	want := []string{
		`log.level: must be debug, info, warn or error (got "loud")`,
		"intake.dedup_ttl: must be at least 60s, since WeChat redelivers for about 20s (got 20s)",
		"accounts[0].secret: required (set it here or in KFGATE_ACCOUNTS_0_SECRET)",
		"accounts[1].aes_key: must be 43 characters",
		"admin.tokens[0]: must be at least 16 characters",
	}
	if diff := cmp.Diff(want, lines(c.Validate())); diff != "" {
		t.Errorf("Validate() lines (-want +got):\n%s", diff)
	}
}

// A Config with nothing set fails on what has no default.
func TestValidateZero(t *testing.T) {
	var c config.Config
	c.SetDefaults()
	want := []string{"accounts: at least one account is required (in the file or as KFGATE_ACCOUNTS_0_APPID and the rest)"}
	if diff := cmp.Diff(want, lines(c.Validate())); diff != "" {
		t.Errorf("Validate() lines (-want +got):\n%s", diff)
	}
}
