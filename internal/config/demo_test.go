package config_test

import (
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/config"
)

// The example's secrets are refused key by key; the same configuration with
// values of its own passes; the built-in example loads for --demo.
func TestRefuseDemo(t *testing.T) {
	getenv, environ := noEnv()
	demo, err := config.Load(exampleFile, getenv, environ)
	if err != nil {
		t.Fatal(err)
	}
	err = demo.RefuseDemo()
	if err == nil {
		t.Fatal("the example's demo values are accepted")
	}
	want := []string{
		"accounts[0].secret: ", "accounts[0].token: ", "accounts[0].aes_key: ",
		"accounts[1].secret: ", "accounts[1].token: ", "admin.tokens[0]: ",
		"agents[0].password: ", "agents[1].password: ",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("RefuseDemo:\n%v\nwant %d lines", err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) || !strings.Contains(lines[i], "--demo") {
			t.Errorf("line %d = %q, want %q… naming --demo", i, lines[i], w)
		}
	}
	for _, secret := range []string{"demo-admin-token-change-me", "kfgatedemo", "demo-secret-not-real"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the secret %q", secret)
		}
	}

	// One demo value is enough to be refused, even from the environment.
	getenv, environ = env("KFGATE_ADMIN_TOKENS=demo-admin-token-change-me")
	c, err := config.Load(writeFile(t, `
redis: {url: "redis://127.0.0.1:6379/0"}
accounts:
  - {appid: wxown0000000001, secret: own-secret, token: owntoken, aes_key: abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG}
`), getenv, environ)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RefuseDemo(); err == nil || !strings.HasPrefix(err.Error(), "admin.tokens[0]: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("RefuseDemo = %v, want the admin token alone", err)
	}
	c.Admin.Tokens = []string{"an-own-admin-token-000001"}
	if err := c.RefuseDemo(); err != nil {
		t.Errorf("own values refused: %v", err)
	}

	builtIn, err := config.LoadDemo(noEnv())
	if err != nil {
		t.Fatalf("LoadDemo: %v", err)
	}
	if len(builtIn.Accounts) != 2 || builtIn.Admin.Tokens[0] != demo.Admin.Tokens[0] {
		t.Errorf("the built-in example differs from %s", exampleFile)
	}
	getenv, environ = env("KFGATE_LISTEN=127.0.0.1:0")
	if c, err := config.LoadDemo(getenv, environ); err != nil || c.Listen != "127.0.0.1:0" {
		t.Errorf("LoadDemo with KFGATE_LISTEN: %v, %v", c, err)
	}
}
