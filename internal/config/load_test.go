package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/config"
)

// env returns a getenv and an environ holding exactly vars ("NAME=value").
func env(vars ...string) (func(string) string, []string) {
	m := make(map[string]string, len(vars))
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }, vars
}

// noEnv is an empty environment.
func noEnv() (func(string) string, []string) { return env() }

// writeFile writes content to a file in a fresh directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kfgate.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fullFile = `
listen: "127.0.0.1:9090"
shutdown_timeout: 45s
log:
  level: debug
  format: text
redis:
  url: "redis://:redispw@127.0.0.1:6379/3"
  prefix: "kf-test:"
postgres:
  url: "postgres://kfgate:pgpw@127.0.0.1:5432/kfgate?sslmode=disable"
wechat:
  api_base: "http://127.0.0.1:8081/"
intake:
  dedup_ttl: 10m
  timeout: 2500ms
accounts:
  - appid: wxsafe0000000001
    name: Safe shop
    secret: secret1
    token: token1
    aes_key: kfgatedemoEncodingAESKeyForSafeMode00000001
    transfer_to_kf: true
  - appid: wxplain000000002
    secret: secret2
    token: 12345
admin:
  tokens: ["admin-token-0123456789", "admin-token-abcdefghij"]
`

func TestLoadFullFile(t *testing.T) {
	getenv, environ := noEnv()
	got, err := config.Load(writeFile(t, fullFile), getenv, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &config.Config{
		Listen:          "127.0.0.1:9090",
		ShutdownTimeout: 45 * time.Second,
		ShutdownDelay:   5 * time.Second,
		Log:             config.Log{Level: "debug", Format: "text"},
		Redis:           config.Redis{URL: "redis://:redispw@127.0.0.1:6379/3", Prefix: "kf-test:", MinReplicasAckTimeout: time.Second},
		Postgres:        config.Postgres{URL: "postgres://kfgate:pgpw@127.0.0.1:5432/kfgate?sslmode=disable"},
		WeChat:          config.WeChat{APIBase: "http://127.0.0.1:8081"}, // trailing "/" dropped
		Media:           config.Media{TTL: 7 * 24 * time.Hour},
		Intake:          config.Intake{DedupTTL: 10 * time.Minute, Timeout: 2500 * time.Millisecond, MaxClockSkew: 5 * time.Minute},
		Engine:          defaultEngine,
		Scheduler:       config.Scheduler{Every: time.Second, KfPoll: 10 * time.Second},
		Accounts: []config.Account{
			{AppID: "wxsafe0000000001", Name: "Safe shop", Secret: "secret1", Token: "token1",
				AESKey: demoAESKey, Mode: "safe", TransferToKf: true, Agents: "wechat", KfHandover: "passive", KfMaxSessions: 5},
			{AppID: "wxplain000000002", Name: "wxplain000000002", Secret: "secret2", Token: "12345", Mode: "plaintext", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5},
		},
		Admin:  config.Admin{Tokens: []string{adminToken1, adminToken2}, MaxAuthFailures: 20},
		Server: defaultServer, Outbox: config.Outbox{MaxDeliveries: 5, Rate: 200, Burst: 20, DailyQuota: 500_000, Workers: 16}, Archive: config.Archive{MaxDeliveries: 5, ImportEvery: 5 * time.Minute},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

// defaultServer trusts the loopback proxies only.
var defaultServer = config.Server{TrustedProxies: []string{"127.0.0.0/8", "::1/128"}}

// defaultEngine is the engine section when neither the file nor the
// environment sets any of it.
var defaultEngine = config.Engine{
	Strategy: "consistent_hash", MaxDeliveries: 5, ContextSize: 20, IdleTimeout: 30 * time.Minute, WarnBefore: 5 * time.Minute,
	ReturnWindow: 24 * time.Hour, OfflineAfter: 90 * time.Second, TransferKeywords: []string{"转人工", "人工"},
	RetryAfter: 30 * time.Second, QueueUpdates: config.QueueUpdates{Places: 5, Every: 10 * time.Minute},
	ReassignAfter: 2 * time.Minute, NoAgentEvery: 10 * time.Minute, RatingWindow: 20,
	Notices: config.Notices{
		Queued:       "客服繁忙，您前面还有 {ahead} 位用户，请稍候。",
		QueuedNext:   "客服繁忙，您是下一位，请稍候。",
		QueueUpdate:  "您前面还有 {ahead} 位用户，请继续稍候。",
		QueueFull:    "当前咨询人数较多，请稍后再试。",
		QueueTimeout: "抱歉，您已等待 {minutes} 分钟仍无客服接入，请稍后再试。",
		LeaveMessage: "抱歉，您已等待 {minutes} 分钟仍无客服接入。请留言，客服接入后会第一时间回复您。",
		OffHours:     "现在是非工作时间，我们上班后会尽快回复您。",
		NoAgent:      "当前无客服在线，您已进入排队，客服上线后会第一时间回复您。",
		IdleWarning:  "您已经有一段时间没有回复，会话将在 {minutes} 分钟后结束。",
		IdleClosed:   "会话已结束，感谢您的咨询。",
	},
	Survey: config.Survey{Head: "您对本次服务满意吗？", Choices: []string{"101=满意", "102=一般", "103=不满意"}, Tail: "感谢您的评价。"},
}

func TestLoadDefaults(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"no file", ""},
		{"empty file", "# nothing but a comment\n"},
		{"only an account", "accounts:\n  - appid: wxdemo0000000001\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			getenv, environ := env(
				"KFGATE_ACCOUNTS_0_APPID=wxdemo0000000001",
				"KFGATE_ACCOUNTS_0_SECRET=secret",
				"KFGATE_ACCOUNTS_0_TOKEN=token",
			)
			got, err := config.Load(path, getenv, environ)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := &config.Config{
				Listen:          ":8080",
				ShutdownTimeout: 20 * time.Second,
				ShutdownDelay:   5 * time.Second,
				Log:             config.Log{Level: "info", Format: "json"},
				Redis:           config.Redis{Prefix: "kfgate:", MinReplicasAckTimeout: time.Second},
				WeChat:          config.WeChat{APIBase: "https://api.weixin.qq.com"},
				Media:           config.Media{TTL: 7 * 24 * time.Hour},
				Intake:          config.Intake{DedupTTL: 5 * time.Minute, Timeout: 3 * time.Second, MaxClockSkew: 5 * time.Minute},
				Engine:          defaultEngine,
				Scheduler:       config.Scheduler{Every: time.Second, KfPoll: 10 * time.Second},
				Accounts: []config.Account{{AppID: "wxdemo0000000001", Name: "wxdemo0000000001",
					Secret: "secret", Token: "token", Mode: "plaintext", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5}},
				Admin:   config.Admin{MaxAuthFailures: 20},
				Server:  defaultServer,
				Outbox:  config.Outbox{MaxDeliveries: 5, Rate: 200, Burst: 20, DailyQuota: 500_000, Workers: 16},
				Archive: config.Archive{MaxDeliveries: 5, ImportEvery: 5 * time.Minute},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
		})
	}
}

// A file's problems name the file and the line, one line each.
func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string // without the "<path>: " that starts each
	}{
		{"unknown key", "listen: \":8080\"\nlisen: \":9090\"\n",
			[]string{`line 2: unknown key "lisen" (did you mean "listen"?)`}},
		{"unknown nested key", "intake:\n  dedup_ttl: 5m\n  ttl: 5m\n",
			[]string{`line 3: unknown key "ttl" in intake`}},
		{"unknown account key", "accounts:\n  - appid: wx1\n    aeskey: x\n",
			[]string{`line 3: unknown key "aeskey" in accounts[0] (did you mean "aes_key"?)`}},
		{"duration without unit", "intake:\n  dedup_ttl: 300\n",
			[]string{`line 2: intake.dedup_ttl: must be a duration such as "20s" or "5m" (got "300")`}},
		{"bad duration", "shutdown_timeout: 5x\n",
			[]string{`line 1: shutdown_timeout: must be a duration such as "20s" or "5m" (got "5x")`}},
		{"bad bool", "accounts:\n  - appid: wx1\n    transfer_to_kf: maybe\n",
			[]string{`line 3: accounts[0].transfer_to_kf: must be true or false (got "maybe")`}},
		{"list given a scalar", "admin:\n  tokens: just-one-token-0123456789\n",
			[]string{`line 2: admin.tokens: must be a list`}},
		{"mapping given a scalar", "redis: redis://localhost\n",
			[]string{`line 1: redis: must be a mapping of keys to values`}},
		{"string given a mapping", "listen:\n  port: 8080\n",
			[]string{`line 2: listen: must be a single value (text)`}},
		{"not a mapping", "just text\n",
			[]string{`line 1: the file must be a mapping of keys to values, such as listen: ":8080"`}},
		{"key twice", "listen: \":1\"\nlisten: \":2\"\n",
			[]string{`line 2: key "listen" given twice (first at line 1)`}},
		{"several at once", "lisen: x\nlog:\n  levle: debug\nintake:\n  timeout: 3\n",
			[]string{
				`line 1: unknown key "lisen" (did you mean "listen"?)`,
				`line 3: unknown key "levle" in log (did you mean "level"?)`,
				`line 5: intake.timeout: must be a duration such as "20s" or "5m" (got "3")`,
			}},
		{"syntax", "listen: \":8080\"\n  redis: x\n",
			[]string{"line 1: did not find expected key"}},
		{"tab indent", "log:\n\tlevel: debug\n",
			[]string{"line 2: found character that cannot start any token"}},
		{"two documents", "listen: \":8080\"\n---\nlisten: \":9090\"\n",
			[]string{"line 3: a second YAML document; the file must hold one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			getenv, environ := noEnv()
			c, err := config.Load(path, getenv, environ)
			if c != nil {
				t.Errorf("Load returned a config along with its error")
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = path + ": " + w
			}
			if diff := cmp.Diff(want, lines(err)); diff != "" {
				t.Errorf("Load error lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	getenv, environ := noEnv()
	_, err := config.Load(path, getenv, environ)
	if !os.IsNotExist(err) {
		t.Fatalf("Load(%q) error = %v, want a not-exist error", path, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

// The file's problems are reported before validation, whose lines they
// would otherwise multiply.
func TestLoadFileErrorsBeforeValidation(t *testing.T) {
	path := writeFile(t, "accounts:\n  - app_id: wx1\n")
	getenv, environ := noEnv()
	_, err := config.Load(path, getenv, environ)
	want := []string{path + `: line 2: unknown key "app_id" in accounts[0] (did you mean "appid"?)`}
	if diff := cmp.Diff(want, lines(err)); diff != "" {
		t.Errorf("Load error lines (-want +got):\n%s", diff)
	}
}

// The file's problems and the environment's come back together.
func TestLoadFileAndEnvErrors(t *testing.T) {
	path := writeFile(t, "lisen: \":8080\"\n")
	getenv, environ := env("KFGATE_LISTN=:8080", "KFGATE_LISTEN=:8080")
	_, err := config.Load(path, getenv, environ)
	want := []string{
		path + `: line 1: unknown key "lisen" (did you mean "listen"?)`,
		"KFGATE_LISTN: no such key",
	}
	if diff := cmp.Diff(want, lines(err)); diff != "" {
		t.Errorf("Load error lines (-want +got):\n%s", diff)
	}
}

// Validation problems come back from Load, all of them.
func TestLoadValidates(t *testing.T) {
	path := writeFile(t, "listen: nowhere\naccounts:\n  - appid: wx1\n    token: t\n")
	getenv, environ := noEnv()
	_, err := config.Load(path, getenv, environ)
	want := []string{
		`listen: must be host:port, such as ":8080" or "127.0.0.1:8080" (got "nowhere")`,
		"accounts[0].secret: required (set it here or in KFGATE_ACCOUNTS_0_SECRET)",
		"accounts[0].token: must be 3 to 32 letters or digits",
	}
	if diff := cmp.Diff(want, lines(err)); diff != "" {
		t.Errorf("Load error lines (-want +got):\n%s", diff)
	}
}

func TestAccount(t *testing.T) {
	c := valid()
	got, ok := c.Account("wxplain000000002")
	if !ok || got.AppID != "wxplain000000002" || got.Secret != "secret2" || got.SafeMode() {
		t.Errorf("Account(wxplain000000002) = %+v, %v", got, ok)
	}
	if got, ok := c.Account("wxsafe0000000001"); !ok || !got.SafeMode() {
		t.Errorf("Account(wxsafe0000000001) = %+v, %v; want a safe-mode account", got, ok)
	}
	if got, ok := c.Account("wxnone"); ok {
		t.Errorf("Account(wxnone) = %+v, true; want false", got)
	}
}

func TestLoadRetention(t *testing.T) {
	getenv, environ := noEnv()
	for _, c := range []struct {
		yaml string
		want time.Duration
		err  string
	}{
		{"395d", 395 * 24 * time.Hour, ""},
		{"2000h", 2000 * time.Hour, ""},
		{"0", 0, ""},
		{"a year", 0, `archive.retention: must be days such as "395d", or a duration such as "72h" (got "a year")`},
		{"1.5d", 0, `archive.retention: must be days such as "395d", or a duration such as "72h" (got "1.5d")`},
		{"[1]", 0, `archive.retention: must be days such as "395d", or a duration such as "72h"`},
	} {
		path := filepath.Join(t.TempDir(), "kfgate.yaml")
		if err := os.WriteFile(path, []byte("accounts:\n  - {appid: wx1, secret: s, token: token1}\narchive:\n  retention: "+c.yaml+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := config.Load(path, getenv, environ)
		switch {
		case c.err == "" && (err != nil || got.Archive.Retention.Duration() != c.want):
			t.Errorf("retention %s: %v, %v; want %v", c.yaml, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("retention %s: error %v, want %q", c.yaml, err, c.err)
		}
	}
}
