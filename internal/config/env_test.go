package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/config"
)

// A file with two accounts and no secrets, as production keeps it.
const noSecretsFile = `
listen: ":9090"
accounts:
  - appid: wxsafe0000000001
    token: token1
    aes_key: kfgatedemoEncodingAESKeyForSafeMode00000001
  - appid: wxplain000000002
    token: token2
admin:
  tokens: ["from-the-file-0123456789"]
`

const otherAESKey = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456"

func TestEnvOverrides(t *testing.T) {
	getenv, environ := env(
		"PATH=/usr/bin",                // not ours
		"KFGATE_CONFIG=/etc/x.yaml",    // the caller's, not a key
		"KFGATE_LISTEN=127.0.0.1:7070", // string, over the file's
		"KFGATE_SHUTDOWN_TIMEOUT=1m30s",
		"KFGATE_LOG_LEVEL=warn",
		"KFGATE_LOG_FORMAT=text",
		"KFGATE_REDIS_URL=redis://:pw@redis:6379/1",
		"KFGATE_REDIS_PREFIX=kf2:",
		"KFGATE_POSTGRES_URL=postgres://kfgate:pw@pg:5432/kfgate",
		"KFGATE_WECHAT_API_BASE=http://sim:8081",
		"KFGATE_INTAKE_DEDUP_TTL=10m",
		"KFGATE_INTAKE_TIMEOUT=2s",
		"KFGATE_ACCOUNTS_0_SECRET=secret1",
		"KFGATE_ACCOUNTS_0_TRANSFER_TO_KF=true",
		"KFGATE_ACCOUNTS_1_SECRET=secret2",
		"KFGATE_ACCOUNTS_1_AES_KEY="+otherAESKey,
		"KFGATE_ACCOUNTS_1_NAME=Plain shop",
		// A third account, from the environment alone.
		"KFGATE_ACCOUNTS_2_APPID=wxenv00000000003",
		"KFGATE_ACCOUNTS_2_SECRET=secret3",
		"KFGATE_ACCOUNTS_2_TOKEN=token3",
		"KFGATE_ADMIN_TOKENS= env-token-0123456789 ,env-token-abcdefghij,,",
		"KFGATE_ACCOUNTS_1_TOKEN=", // empty counts as unset: the file's token stays
	)
	got, err := config.Load(writeFile(t, noSecretsFile), getenv, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &config.Config{
		Listen:          "127.0.0.1:7070",
		ShutdownTimeout: 90 * time.Second,
		ShutdownDelay:   5 * time.Second,
		Log:             config.Log{Level: "warn", Format: "text"},
		Redis:           config.Redis{URL: "redis://:pw@redis:6379/1", Prefix: "kf2:", MinReplicasAckTimeout: time.Second},
		Postgres:        config.Postgres{URL: "postgres://kfgate:pw@pg:5432/kfgate"},
		WeChat:          config.WeChat{APIBase: "http://sim:8081"},
		Media:           config.Media{TTL: 7 * 24 * time.Hour},
		Intake:          config.Intake{DedupTTL: 10 * time.Minute, Timeout: 2 * time.Second, MaxClockSkew: 5 * time.Minute},
		Engine:          defaultEngine,
		Scheduler:       config.Scheduler{Every: time.Second, KfPoll: 10 * time.Second},
		Accounts: []config.Account{
			{AppID: "wxsafe0000000001", Name: "wxsafe0000000001", Secret: "secret1", Token: "token1",
				AESKey: demoAESKey, Mode: "safe", TransferToKf: true, Agents: "wechat", KfHandover: "passive", KfMaxSessions: 5},
			{AppID: "wxplain000000002", Name: "Plain shop", Secret: "secret2", Token: "token2", AESKey: otherAESKey, Mode: "safe", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5},
			{AppID: "wxenv00000000003", Name: "wxenv00000000003", Secret: "secret3", Token: "token3", Mode: "plaintext", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5},
		},
		Admin:  config.Admin{Tokens: []string{"env-token-0123456789", "env-token-abcdefghij"}, MaxAuthFailures: 20},
		Server: defaultServer, Outbox: config.Outbox{MaxDeliveries: 5, Rate: 200, Burst: 20, DailyQuota: 500_000, Workers: 16}, Archive: config.Archive{MaxDeliveries: 5, ImportEvery: 5 * time.Minute},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

// Accounts may come from the environment alone, several at once, in any
// order of the variables; and KFGATE_ACCOUNTS_0_TRANSFER_TO_KF=false can
// turn off what the file turned on.
func TestEnvAccountsOnly(t *testing.T) {
	getenv, environ := env(
		"KFGATE_ACCOUNTS_1_TOKEN=token2",
		"KFGATE_ACCOUNTS_1_SECRET=secret2",
		"KFGATE_ACCOUNTS_1_APPID=wx2",
		"KFGATE_ACCOUNTS_0_APPID=wx1",
		"KFGATE_ACCOUNTS_0_SECRET=secret1",
		"KFGATE_ACCOUNTS_0_TOKEN=token1",
		"KFGATE_ACCOUNTS_0_TRANSFER_TO_KF=false",
	)
	got, err := config.Load("", getenv, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []config.Account{
		{AppID: "wx1", Name: "wx1", Secret: "secret1", Token: "token1", Mode: "plaintext", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5},
		{AppID: "wx2", Name: "wx2", Secret: "secret2", Token: "token2", Mode: "plaintext", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5},
	}
	if diff := cmp.Diff(want, got.Accounts); diff != "" {
		t.Errorf("Accounts (-want +got):\n%s", diff)
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		vars []string
		want []string
	}{
		{"misspelt key", []string{"KFGATE_REDIS_ULR=redis://x"},
			[]string{"KFGATE_REDIS_ULR: no such key"}},
		{"a section, not a key", []string{"KFGATE_LOG=debug"},
			[]string{"KFGATE_LOG: no such key"}},
		{"a list of accounts as one", []string{"KFGATE_ACCOUNTS=wx1"},
			[]string{"KFGATE_ACCOUNTS: no such key"}},
		{"account without index", []string{"KFGATE_ACCOUNTS_SECRET=x"},
			[]string{"KFGATE_ACCOUNTS_SECRET: no such key"}},
		{"index with a leading zero", []string{"KFGATE_ACCOUNTS_01_SECRET=x"},
			[]string{"KFGATE_ACCOUNTS_01_SECRET: no such key"}},
		{"unknown account field", []string{"KFGATE_ACCOUNTS_0_PASSWORD=x"},
			[]string{"KFGATE_ACCOUNTS_0_PASSWORD: no such key"}},
		{"unknown even when empty", []string{"KFGATE_LISTN="},
			[]string{"KFGATE_LISTN: no such key"}},
		{"bad duration", []string{"KFGATE_INTAKE_TIMEOUT=3"},
			[]string{`KFGATE_INTAKE_TIMEOUT: must be a duration such as "20s" or "5m" (got "3")`}},
		{"bad bool", []string{"KFGATE_ACCOUNTS_0_TRANSFER_TO_KF=maybe"},
			[]string{`KFGATE_ACCOUNTS_0_TRANSFER_TO_KF: must be true or false (got "maybe")`}},
		{"index skips ahead", []string{"KFGATE_ACCOUNTS_3_SECRET=x"},
			[]string{"KFGATE_ACCOUNTS_3_SECRET: index 3 skips ahead: accounts has 2 so far, so a new one takes index 2"}},
		{"all at once, sorted by name", []string{
			"KFGATE_SHUTDOWN_TIMEOUT=soon",
			"KFGATE_REDIS_ULR=redis://x",
			"KFGATE_ACCOUNTS_0_TRANSFER_TO_KF=maybe",
		}, []string{
			`KFGATE_ACCOUNTS_0_TRANSFER_TO_KF: must be true or false (got "maybe")`,
			"KFGATE_REDIS_ULR: no such key",
			`KFGATE_SHUTDOWN_TIMEOUT: must be a duration such as "20s" or "5m" (got "soon")`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv, environ := env(tt.vars...)
			c, err := config.Load(writeFile(t, noSecretsFile), getenv, environ)
			if c != nil {
				t.Errorf("Load returned a config along with its error")
			}
			if diff := cmp.Diff(tt.want, lines(err)); diff != "" {
				t.Errorf("Load error lines (-want +got):\n%s", diff)
			}
		})
	}
}

// Values are read with the getenv passed in, never from the process.
func TestEnvUsesGetenv(t *testing.T) {
	t.Setenv("KFGATE_LISTEN", ":1111")
	getenv := func(k string) string {
		return map[string]string{
			"KFGATE_LISTEN":            ":2222",
			"KFGATE_ACCOUNTS_0_APPID":  "wx1",
			"KFGATE_ACCOUNTS_0_SECRET": "s",
			"KFGATE_ACCOUNTS_0_TOKEN":  "token1",
		}[k]
	}
	environ := []string{"KFGATE_LISTEN=", "KFGATE_ACCOUNTS_0_APPID=", "KFGATE_ACCOUNTS_0_SECRET=", "KFGATE_ACCOUNTS_0_TOKEN="}
	c, err := config.Load("", getenv, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Listen != ":2222" {
		t.Errorf("Listen = %q, want %q from getenv", c.Listen, ":2222")
	}
}

// envValues gives a valid value for the variable of every key, by the key's
// path; the test below fails when a key is added to Config without one, so
// every key is known to be reachable from the environment.
var envValues = map[string]struct{ name, value string }{
	"listen":                                {"KFGATE_LISTEN", ":7070"},
	"shutdown_timeout":                      {"KFGATE_SHUTDOWN_TIMEOUT", "7s"},
	"shutdown_delay":                        {"KFGATE_SHUTDOWN_DELAY", "3s"},
	"log.level":                             {"KFGATE_LOG_LEVEL", "error"},
	"log.format":                            {"KFGATE_LOG_FORMAT", "text"},
	"redis.url":                             {"KFGATE_REDIS_URL", "redis://localhost:6379/0"},
	"redis.prefix":                          {"KFGATE_REDIS_PREFIX", "p:"},
	"redis.sentinel.master_name":            {"KFGATE_REDIS_SENTINEL_MASTER_NAME", "main7"},
	"redis.sentinel.addresses":              {"KFGATE_REDIS_SENTINEL_ADDRESSES", "s1:26379,s2:26379"},
	"redis.sentinel.username":               {"KFGATE_REDIS_SENTINEL_USERNAME", "user7"},
	"redis.sentinel.password":               {"KFGATE_REDIS_SENTINEL_PASSWORD", "pass7"},
	"redis.sentinel.db":                     {"KFGATE_REDIS_SENTINEL_DB", "7"},
	"redis.sentinel.tls":                    {"KFGATE_REDIS_SENTINEL_TLS", "true"},
	"redis.sentinel.sentinel_password":      {"KFGATE_REDIS_SENTINEL_SENTINEL_PASSWORD", "spass7"},
	"redis.min_replicas_ack":                {"KFGATE_REDIS_MIN_REPLICAS_ACK", "1"},
	"redis.min_replicas_ack_timeout":        {"KFGATE_REDIS_MIN_REPLICAS_ACK_TIMEOUT", "700ms"},
	"debug.listen":                          {"KFGATE_DEBUG_LISTEN", "127.0.0.1:6070"},
	"postgres.url":                          {"KFGATE_POSTGRES_URL", "postgres://localhost/kfgate"},
	"postgres.skip_migrations":              {"KFGATE_POSTGRES_SKIP_MIGRATIONS", "true"},
	"wechat.api_base":                       {"KFGATE_WECHAT_API_BASE", "http://localhost:8081"},
	"media.ffmpeg":                          {"KFGATE_MEDIA_FFMPEG", "/usr/bin/ffmpeg"},
	"media.ttl":                             {"KFGATE_MEDIA_TTL", "7h"},
	"intake.dedup_ttl":                      {"KFGATE_INTAKE_DEDUP_TTL", "7m"},
	"intake.timeout":                        {"KFGATE_INTAKE_TIMEOUT", "1s"},
	"intake.max_clock_skew":                 {"KFGATE_INTAKE_MAX_CLOCK_SKEW", "7m"},
	"accounts[].appid":                      {"KFGATE_ACCOUNTS_0_APPID", "wx7"},
	"accounts[].name":                       {"KFGATE_ACCOUNTS_0_NAME", "Seven"},
	"accounts[].secret":                     {"KFGATE_ACCOUNTS_0_SECRET", "s7"},
	"accounts[].token":                      {"KFGATE_ACCOUNTS_0_TOKEN", "token7"},
	"accounts[].aes_key":                    {"KFGATE_ACCOUNTS_0_AES_KEY", otherAESKey},
	"accounts[].mode":                       {"KFGATE_ACCOUNTS_0_MODE", "compatible"},
	"accounts[].transfer_to_kf":             {"KFGATE_ACCOUNTS_0_TRANSFER_TO_KF", "false"},
	"accounts[].agents":                     {"KFGATE_ACCOUNTS_0_AGENTS", "wechat"},
	"accounts[].kf_handover":                {"KFGATE_ACCOUNTS_0_KF_HANDOVER", "passive"},
	"accounts[].kf_max_sessions":            {"KFGATE_ACCOUNTS_0_KF_MAX_SESSIONS", "7"},
	"accounts[].kf_accounts[].kf_account":   {"KFGATE_ACCOUNTS_0_KF_ACCOUNTS_0_KF_ACCOUNT", "seven@shop7"},
	"accounts[].kf_accounts[].max_sessions": {"KFGATE_ACCOUNTS_0_KF_ACCOUNTS_0_MAX_SESSIONS", "8"},
	"accounts[].kf_accounts[].weight":       {"KFGATE_ACCOUNTS_0_KF_ACCOUNTS_0_WEIGHT", "2"},
	"accounts[].kf_accounts[].skills":       {"KFGATE_ACCOUNTS_0_KF_ACCOUNTS_0_SKILLS", "billing,vip"},
	"admin.tokens":                          {"KFGATE_ADMIN_TOKENS", "admin-token-7777777777"},
	"admin.max_auth_failures":               {"KFGATE_ADMIN_MAX_AUTH_FAILURES", "7"},

	"scheduler.every":             {"KFGATE_SCHEDULER_EVERY", "7s"},
	"scheduler.kf_poll":           {"KFGATE_SCHEDULER_KF_POLL", "17s"},
	"engine.strategy":             {"KFGATE_ENGINE_STRATEGY", "weighted"},
	"engine.intake_only":          {"KFGATE_ENGINE_INTAKE_ONLY", "true"},
	"engine.context_size":         {"KFGATE_ENGINE_CONTEXT_SIZE", "7"},
	"engine.idle_timeout":         {"KFGATE_ENGINE_IDLE_TIMEOUT", "17m"},
	"engine.warn_before":          {"KFGATE_ENGINE_WARN_BEFORE", "7m"},
	"engine.return_window":        {"KFGATE_ENGINE_RETURN_WINDOW", "7h"},
	"engine.offline_after":        {"KFGATE_ENGINE_OFFLINE_AFTER", "77s"},
	"engine.queue_limit":          {"KFGATE_ENGINE_QUEUE_LIMIT", "7"},
	"engine.transfer_after":       {"KFGATE_ENGINE_TRANSFER_AFTER", "70m"},
	"engine.transfer_keywords":    {"KFGATE_ENGINE_TRANSFER_KEYWORDS", "human,agent"},
	"engine.notices.queued":       {"KFGATE_ENGINE_NOTICES_QUEUED", "#{position}"},
	"engine.notices.queue_full":   {"KFGATE_ENGINE_NOTICES_QUEUE_FULL", "full7"},
	"engine.notices.off_hours":    {"KFGATE_ENGINE_NOTICES_OFF_HOURS", "off7"},
	"engine.notices.no_agent":     {"KFGATE_ENGINE_NOTICES_NO_AGENT", "none7"},
	"engine.notices.idle_warning": {"KFGATE_ENGINE_NOTICES_IDLE_WARNING", "warn7"},
	"engine.notices.idle_closed":  {"KFGATE_ENGINE_NOTICES_IDLE_CLOSED", "closed7"},
	"engine.survey.head":          {"KFGATE_ENGINE_SURVEY_HEAD", "head7"},
	"engine.survey.choices":       {"KFGATE_ENGINE_SURVEY_CHOICES", "7=good,8=bad"},
	"engine.survey.tail":          {"KFGATE_ENGINE_SURVEY_TAIL", "tail7"},
	"accounts[].strategy":         {"KFGATE_ACCOUNTS_0_STRATEGY", "round_robin"},
	"accounts[].business_hours":   {"KFGATE_ACCOUNTS_0_BUSINESS_HOURS", "mon-fri 09:00-18:00"},
	"accounts[].time_zone":        {"KFGATE_ACCOUNTS_0_TIME_ZONE", "UTC"},
	"accounts[].menu_skills":      {"KFGATE_ACCOUNTS_0_MENU_SKILLS", "BILLING=billing"},
	"accounts[].keyword_skills":   {"KFGATE_ACCOUNTS_0_KEYWORD_SKILLS", "退款=billing"},
	"accounts[].tag_skills":       {"KFGATE_ACCOUNTS_0_TAG_SKILLS", "101=vip"},
	"agents[].id":                 {"KFGATE_AGENTS_0_ID", "agent7"},
	"agents[].name":               {"KFGATE_AGENTS_0_NAME", "Agent Seven"},
	"agents[].accounts":           {"KFGATE_AGENTS_0_ACCOUNTS", "wx7"},
	"agents[].skills":             {"KFGATE_AGENTS_0_SKILLS", "billing,vip"},
	"agents[].weight":             {"KFGATE_AGENTS_0_WEIGHT", "3"},
	"agents[].max_sessions":       {"KFGATE_AGENTS_0_MAX_SESSIONS", "9"},
	"agents[].role":               {"KFGATE_AGENTS_0_ROLE", "supervisor"},
	"agents[].password":           {"KFGATE_AGENTS_0_PASSWORD", "seven-pass-7"},
	"agents[].kf_account":         {"KFGATE_AGENTS_0_KF_ACCOUNT", "seven@gh_shop"},
	"engine.max_deliveries":       {"KFGATE_ENGINE_MAX_DELIVERIES", "7"},
	"server.trusted_proxies":      {"KFGATE_SERVER_TRUSTED_PROXIES", "10.0.0.0/8,::1/128"},
	"outbox.max_deliveries":       {"KFGATE_OUTBOX_MAX_DELIVERIES", "8"},
	"outbox.rate":                 {"KFGATE_OUTBOX_RATE", "7.5"},
	"outbox.burst":                {"KFGATE_OUTBOX_BURST", "7"},
	"outbox.daily_quota":          {"KFGATE_OUTBOX_DAILY_QUOTA", "-1"},
	"outbox.workers":              {"KFGATE_OUTBOX_WORKERS", "7"},
	"accounts[].send_rate":        {"KFGATE_ACCOUNTS_0_SEND_RATE", "70"},
	"accounts[].daily_quota":      {"KFGATE_ACCOUNTS_0_DAILY_QUOTA", "700000"},
	"archive.max_deliveries":      {"KFGATE_ARCHIVE_MAX_DELIVERIES", "9"},
	"archive.retention":           {"KFGATE_ARCHIVE_RETENTION", "395d"},
	"archive.import_every":        {"KFGATE_ARCHIVE_IMPORT_EVERY", "2m"},

	"engine.notices.queued_next":       {"KFGATE_ENGINE_NOTICES_QUEUED_NEXT", "next7"},
	"engine.notices.queue_update":      {"KFGATE_ENGINE_NOTICES_QUEUE_UPDATE", "now {ahead}"},
	"engine.notices.queue_timeout":     {"KFGATE_ENGINE_NOTICES_QUEUE_TIMEOUT", "timeout7"},
	"engine.notices.leave_message":     {"KFGATE_ENGINE_NOTICES_LEAVE_MESSAGE", "leave7"},
	"engine.retry_after":               {"KFGATE_ENGINE_RETRY_AFTER", "7s"},
	"engine.queue_updates.places":      {"KFGATE_ENGINE_QUEUE_UPDATES_PLACES", "7"},
	"engine.queue_updates.every":       {"KFGATE_ENGINE_QUEUE_UPDATES_EVERY", "7m"},
	"engine.queue_timeout":             {"KFGATE_ENGINE_QUEUE_TIMEOUT", "27m"},
	"engine.leave_message":             {"KFGATE_ENGINE_LEAVE_MESSAGE", "true"},
	"engine.reply_sla.first":           {"KFGATE_ENGINE_REPLY_SLA_FIRST", "17s"},
	"engine.reply_sla.next":            {"KFGATE_ENGINE_REPLY_SLA_NEXT", "27s"},
	"engine.overdue_transfer_after":    {"KFGATE_ENGINE_OVERDUE_TRANSFER_AFTER", "37s"},
	"engine.reassign_after":            {"KFGATE_ENGINE_REASSIGN_AFTER", "47s"},
	"engine.no_agent_every":            {"KFGATE_ENGINE_NO_AGENT_EVERY", "57s"},
	"engine.greeting":                  {"KFGATE_ENGINE_GREETING", "hi {agent}"},
	"engine.min_rating":                {"KFGATE_ENGINE_MIN_RATING", "3.5"},
	"engine.rating_window":             {"KFGATE_ENGINE_RATING_WINDOW", "7"},
	"accounts[].notices.queued":        {"KFGATE_ACCOUNTS_0_NOTICES_QUEUED", "a{ahead}"},
	"accounts[].notices.queued_next":   {"KFGATE_ACCOUNTS_0_NOTICES_QUEUED_NEXT", "anext"},
	"accounts[].notices.queue_update":  {"KFGATE_ACCOUNTS_0_NOTICES_QUEUE_UPDATE", "a{position}"},
	"accounts[].notices.queue_full":    {"KFGATE_ACCOUNTS_0_NOTICES_QUEUE_FULL", "afull"},
	"accounts[].notices.queue_timeout": {"KFGATE_ACCOUNTS_0_NOTICES_QUEUE_TIMEOUT", "atimeout"},
	"accounts[].notices.leave_message": {"KFGATE_ACCOUNTS_0_NOTICES_LEAVE_MESSAGE", "aleave"},
	"accounts[].notices.off_hours":     {"KFGATE_ACCOUNTS_0_NOTICES_OFF_HOURS", "aoff"},
	"accounts[].notices.no_agent":      {"KFGATE_ACCOUNTS_0_NOTICES_NO_AGENT", "anone"},
	"accounts[].notices.idle_warning":  {"KFGATE_ACCOUNTS_0_NOTICES_IDLE_WARNING", "awarn"},
	"accounts[].notices.idle_closed":   {"KFGATE_ACCOUNTS_0_NOTICES_IDLE_CLOSED", "aclosed"},
	"accounts[].greeting":              {"KFGATE_ACCOUNTS_0_GREETING", "ahi {agent}"},
	"accounts[].survey.head":           {"KFGATE_ACCOUNTS_0_SURVEY_HEAD", "ahead7"},
	"accounts[].survey.choices":        {"KFGATE_ACCOUNTS_0_SURVEY_CHOICES", "1=yes,2=no"},
	"accounts[].survey.tail":           {"KFGATE_ACCOUNTS_0_SURVEY_TAIL", "atail7"},
}

func TestEnvEveryKey(t *testing.T) {
	var vars []string
	for _, path := range leafPaths(reflect.TypeFor[config.Config](), "") {
		v, ok := envValues[path]
		if !ok {
			t.Errorf("key %s has no entry in envValues", path)
			continue
		}
		if path == "redis.url" {
			continue // redis.sentinel is set instead; redis.url is checked below
		}
		vars = append(vars, v.name+"="+v.value)
	}
	urlEnv := envValues["redis.url"]
	urlGetenv, urlEnviron := env(urlEnv.name+"="+urlEnv.value, "KFGATE_ACCOUNTS_0_APPID=wx7", "KFGATE_ACCOUNTS_0_SECRET=s7", "KFGATE_ACCOUNTS_0_TOKEN=token7")
	if got, err := config.Load("", urlGetenv, urlEnviron); err != nil {
		t.Errorf("Load(%s): %v", urlEnv.name, err)
	} else if got.Redis.URL != urlEnv.value {
		t.Errorf("Load(%s): redis.url = %q", urlEnv.name, got.Redis.URL)
	}
	getenv, environ := env(vars...)
	got, err := config.Load("", getenv, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &config.Config{
		Listen:          ":7070",
		ShutdownTimeout: 7 * time.Second,
		ShutdownDelay:   3 * time.Second,
		Log:             config.Log{Level: "error", Format: "text"},
		Redis: config.Redis{Prefix: "p:", MinReplicasAck: 1, MinReplicasAckTimeout: 700 * time.Millisecond,
			Sentinel: config.Sentinel{MasterName: "main7", Addresses: []string{"s1:26379", "s2:26379"},
				Username: "user7", Password: "pass7", DB: 7, SentinelPassword: "spass7", TLS: true}},
		Postgres:  config.Postgres{URL: "postgres://localhost/kfgate", SkipMigrations: true},
		WeChat:    config.WeChat{APIBase: "http://localhost:8081"},
		Media:     config.Media{FFmpeg: "/usr/bin/ffmpeg", TTL: 7 * time.Hour},
		Debug:     config.Debug{Listen: "127.0.0.1:6070"},
		Intake:    config.Intake{DedupTTL: 7 * time.Minute, Timeout: time.Second, MaxClockSkew: 7 * time.Minute},
		Scheduler: config.Scheduler{Every: 7 * time.Second, KfPoll: 17 * time.Second},
		Engine: config.Engine{Strategy: "weighted", IntakeOnly: true, MaxDeliveries: 7, ContextSize: 7, IdleTimeout: 17 * time.Minute, WarnBefore: 7 * time.Minute,
			ReturnWindow: 7 * time.Hour, OfflineAfter: 77 * time.Second, QueueLimit: 7, TransferAfter: 70 * time.Minute, TransferKeywords: []string{"human", "agent"},
			Notices: config.Notices{Queued: "#{position}", QueuedNext: "next7", QueueUpdate: "now {ahead}", QueueFull: "full7",
				QueueTimeout: "timeout7", LeaveMessage: "leave7", OffHours: "off7", NoAgent: "none7",
				IdleWarning: "warn7", IdleClosed: "closed7"},
			RetryAfter: 7 * time.Second, QueueUpdates: config.QueueUpdates{Places: 7, Every: 7 * time.Minute},
			QueueTimeout: 27 * time.Minute, LeaveMessage: true, ReplySLA: config.ReplySLA{First: 17 * time.Second, Next: 27 * time.Second},
			OverdueTransferAfter: 37 * time.Second, ReassignAfter: 47 * time.Second, NoAgentEvery: 57 * time.Second,
			Greeting: "hi {agent}", MinRating: 3.5, RatingWindow: 7,
			Survey: config.Survey{Head: "head7", Choices: []string{"7=good", "8=bad"}, Tail: "tail7"}},
		Accounts: []config.Account{{AppID: "wx7", Name: "Seven", Secret: "s7", Token: "token7",
			AESKey: otherAESKey, Mode: "compatible", Agents: "wechat", KfHandover: "passive", KfMaxSessions: 7, SendRate: 70, DailyQuota: 700000,
			KfAccounts: []config.KfAccount{{Account: "seven@shop7", MaxSessions: 8, Weight: 2, Skills: []string{"billing", "vip"}}}, Strategy: "round_robin", BusinessHours: []string{"mon-fri 09:00-18:00"},
			TimeZone: "UTC", MenuSkills: []string{"BILLING=billing"}, KeywordSkills: []string{"退款=billing"}, TagSkills: []string{"101=vip"},
			Notices: config.Notices{Queued: "a{ahead}", QueuedNext: "anext", QueueUpdate: "a{position}", QueueFull: "afull",
				QueueTimeout: "atimeout", LeaveMessage: "aleave", OffHours: "aoff", NoAgent: "anone", IdleWarning: "awarn", IdleClosed: "aclosed"},
			Greeting: "ahi {agent}", Survey: config.Survey{Head: "ahead7", Choices: []string{"1=yes", "2=no"}, Tail: "atail7"}}},
		Agents: []config.Agent{{ID: "agent7", Name: "Agent Seven", Accounts: []string{"wx7"}, Skills: []string{"billing", "vip"},
			Weight: 3, MaxSessions: 9, Role: "supervisor", Password: "seven-pass-7", KfAccount: "seven@gh_shop"}},
		Admin:   config.Admin{Tokens: []string{"admin-token-7777777777"}, MaxAuthFailures: 7},
		Server:  config.Server{TrustedProxies: []string{"10.0.0.0/8", "::1/128"}},
		Outbox:  config.Outbox{MaxDeliveries: 8, Rate: 7.5, Burst: 7, DailyQuota: -1, Workers: 7},
		Archive: config.Archive{MaxDeliveries: 9, ImportEvery: 2 * time.Minute, Retention: config.Period(395 * 24 * time.Hour)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

// leafPaths lists the paths of every key that holds a value, such as
// "intake.dedup_ttl" and "accounts[].aes_key" — written apart from the
// package's own walk, to check it.
func leafPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		path := prefix + key
		switch {
		case f.Type.Kind() == reflect.Struct:
			paths = append(paths, leafPaths(f.Type, path+".")...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			paths = append(paths, leafPaths(f.Type.Elem(), path+"[].")...)
		default:
			paths = append(paths, path)
		}
	}
	return paths
}
