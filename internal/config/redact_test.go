package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/config"
)

// Recognizable secrets: none may appear in any error line or rendering.
const (
	markSecret = "S3cretMarker"
	markToken  = "Tok3nMarker"
	markAES    = "AesKeyMarker"
	markAdmin  = "AdminMarker"
	markRedis  = "RedisPwMarker"
	markPG     = "PgPwMarker"
	markSSL    = "SslPwMarker"
)

var marks = []string{markSecret, markToken, markAES, markAdmin, markRedis, markPG, markSSL}

func assertNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, m := range marks {
		if strings.Contains(text, m) {
			t.Errorf("%s shows the secret %q:\n%s", what, m, text)
		}
	}
}

// Each config gets every secret-bearing key wrong in its own way; the
// libraries that parse URLs may quote them whole, passwords included.
func TestErrorsShowNoSecrets(t *testing.T) {
	configs := map[string]func(c *config.Config){
		"malformed": func(c *config.Config) {
			c.Accounts[0].Token = markToken + "-!"                    // bad characters
			c.Accounts[1].Token = markToken + strings.Repeat("x", 30) // too long
			c.Accounts[0].AESKey = markAES                            // too short
			c.Accounts[1].AESKey = markAES + strings.Repeat("+", 43-len(markAES))
			c.Accounts[0].AppID = markSecret + "/" // a secret pasted into the wrong key is not shown either
			c.Admin.Tokens = []string{markAdmin, markAdmin + "-0123456789", markAdmin + "-0123456789", markAdmin + " 0123456789"}
			c.Redis.URL = "redis://user:" + markRedis + "@localhost:6379/x"
			c.Postgres.URL = "postgres://kfgate:" + markPG + "@localhost:99999/kfgate"
		},
		"unparsable URLs": func(c *config.Config) {
			c.Redis.URL = "redis://user:" + markRedis + "%zz@localhost:6379/0"
			c.Postgres.URL = "postgres://kfgate:" + markPG + "@[::1/kfgate"
		},
		"URL query passwords": func(c *config.Config) {
			c.Redis.URL = "redis://:" + markRedis + "@localhost:6379/0?dial_timeout=soon"
			c.Postgres.URL = "postgres://kfgate@localhost/kfgate?sslpassword=" + markSSL + "&password=" + markPG +
				"&sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"
		},
		"URL passwords escaped": func(c *config.Config) {
			c.Redis.URL = "redis://:" + markRedis + "%21@localhost:6379/x"
			c.Postgres.URL = "postgres://kfgate:" + markPG + "%40@localhost/kfgate?connect_timeout=soon"
		},
	}
	for name, modify := range configs {
		t.Run(name, func(t *testing.T) {
			c := valid()
			modify(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want errors")
			}
			assertNoSecrets(t, "Validate's error", err.Error())
		})
	}
}

func TestFileErrorsShowNoSecrets(t *testing.T) {
	path := writeFile(t, `
accounts:
  - appid: wx1
    secret: [`+markSecret+`]
    token: {t: `+markToken+`}
    aes_key: [`+markAES+`]
admin:
  tokens: `+markAdmin+`-0123456789
redis:
  url: [redis://:`+markRedis+`@localhost]
`)
	getenv, environ := noEnv()
	_, err := config.Load(path, getenv, environ)
	if err == nil {
		t.Fatal("Load = nil error, want errors")
	}
	if n := len(lines(err)); n != 5 {
		t.Errorf("Load error has %d lines, want 5:\n%v", n, err)
	}
	assertNoSecrets(t, "Load's error", err.Error())
}

func secretConfig() config.Config {
	c := valid()
	c.Redis.URL = "rediss://kfgate:" + markRedis + "@redis:6380/1"
	c.Postgres.URL = "postgres://kfgate:" + markPG + "@pg:5432/kfgate?sslpassword=" + markSSL + "&sslmode=require"
	c.Accounts[0].Secret, c.Accounts[0].Token = markSecret+"0", markToken+"0"
	c.Accounts[1].Secret, c.Accounts[1].Token = markSecret+"1", markToken+"1"
	c.Accounts[1].AESKey = markAES + strings.Repeat("0", 43-len(markAES))
	c.Admin.Tokens = []string{markAdmin + "-0123456789", markAdmin + "-abcdefghij"}
	return c
}

func TestRedacted(t *testing.T) {
	c := secretConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got := c.Redacted()
	want := c
	want.Redis.URL = "rediss://kfgate:***@redis:6380/1"
	want.Postgres.URL = "postgres://kfgate:***@pg:5432/kfgate?sslpassword=***&sslmode=require"
	want.Accounts = []config.Account{
		{AppID: "wxsafe0000000001", Name: "wxsafe0000000001", Secret: "***", Token: "***", AESKey: "***", Mode: "safe", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5},
		{AppID: "wxplain000000002", Name: "wxplain000000002", Secret: "***", Token: "***", AESKey: "***", Mode: "plaintext", Agents: "kfgate", KfHandover: "session", KfMaxSessions: 5},
	}
	want.Admin.Tokens = []string{"***", "***"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Redacted (-want +got):\n%s", diff)
	}
	// The original is untouched.
	if c.Accounts[0].Secret != markSecret+"0" || c.Admin.Tokens[0] != markAdmin+"-0123456789" {
		t.Errorf("Redacted changed the original: %+v", c.Accounts[0])
	}
	// An empty value stays empty: it shows what is unset.
	c.Accounts[1].AESKey, c.Redis.URL = "", ""
	if r := c.Redacted(); r.Accounts[1].AESKey != "" || r.Redis.URL != "" {
		t.Errorf("Redacted masked empty values: aes_key %q, redis.url %q", r.Accounts[1].AESKey, r.Redis.URL)
	}
}

// Every way of printing or logging a Config or an Account hides its secrets.
func TestRenderingsShowNoSecrets(t *testing.T) {
	c := secretConfig()
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("config", "config", c, "ptr", &c, "account", c.Accounts[1])
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("config", "config", c, "account", c.Accounts[1])
	renderings := map[string]string{
		"String":         c.String(),
		"%v":             fmt.Sprintf("%v", c),
		"%+v pointer":    fmt.Sprintf("%+v", &c),
		"account %+v":    fmt.Sprintf("%+v", c.Accounts[1]),
		"accounts %v":    fmt.Sprintf("%v", c.Accounts),
		"JSON log":       jsonLog.String(),
		"text log":       textLog.String(),
		"Redacted %#v":   fmt.Sprintf("%#v", c.Redacted()),
		"Redacted value": fmt.Sprint(c.Redacted()),
	}
	for name, text := range renderings {
		assertNoSecrets(t, name, text)
	}
	for _, want := range []string{"appid: wxsafe0000000001", "secret: '***'", "url: rediss://kfgate:***@redis:6380/1", "dedup_ttl: 5m0s"} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, c.String())
		}
	}
	for _, want := range []string{`"listen":":8080"`, `"accounts":["wxsafe0000000001","wxplain000000002"]`, `"admin_tokens":2`, `"safe_mode":true`} {
		if !strings.Contains(jsonLog.String(), want) {
			t.Errorf("JSON log lacks %s:\n%s", want, jsonLog.String())
		}
	}
}

// The sentinel's passwords (the primary's and the sentinels' own) are
// masked like the URL's.
func TestRedactedSentinel(t *testing.T) {
	c := valid()
	c.Redis.URL = ""
	c.Redis.Sentinel = config.Sentinel{MasterName: "kfgate", Addresses: []string{"s1:26379"},
		Password: markRedis + "-primary", SentinelPassword: markRedis + "-sentinel"}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	r := c.Redacted()
	if r.Redis.Sentinel.Password != config.Mask || r.Redis.Sentinel.SentinelPassword != config.Mask || r.Redis.Sentinel.MasterName != "kfgate" {
		t.Errorf("Redacted sentinel = %+v", r.Redis.Sentinel)
	}
	assertNoSecrets(t, "String", c.String())
	assertNoSecrets(t, "%+v", fmt.Sprintf("%+v", c))
}
