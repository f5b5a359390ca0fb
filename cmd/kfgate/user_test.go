package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

// The first admin: `kfgate user add --role admin NAME` with the password on
// standard input; serve then lets them sign in as an admin.
func TestUserAdd(t *testing.T) {
	_, prefix := redistest.New(t)
	_, pgURL := pgtest.New(t)
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
postgres: {url: %q}
accounts:
  - {appid: %s, secret: s, token: %s}
`, redistest.URL(), prefix, pgURL, testAppID, testToken))
	add := func(pw string, args ...string) (string, error) {
		t.Helper()
		stdin = strings.NewReader(pw)
		defer func() { stdin = os.Stdin }()
		var out strings.Builder
		err := run(context.Background(), append([]string{"user", "add"}, args...), func(string) string { return "" }, nil, &out, io.Discard)
		return out.String(), err
	}
	if out, err := add("first-admin-pw\n", "--role", "admin", "--config", cfg, "boss"); err != nil || !strings.Contains(out, "added boss (admin)") {
		t.Fatalf("user add = %q, %v", out, err)
	}
	if _, err := add("short\n", "--config", cfg, "tiny"); err == nil || !strings.Contains(err.Error(), "8 to 256") {
		t.Errorf("a short password: %v", err)
	}
	if _, err := add("good-password\n", "--role", "king", "--config", cfg, "k"); err == nil {
		t.Error("an unknown role was accepted")
	}
	if _, err := add("good-password\n", "--config", cfg, "boss"); err == nil {
		t.Error("a second boss was accepted")
	}

	base, _, _ := startServe(t, cfg, nil)
	req, _ := http.NewRequest("POST", base+"/api/v1/session", strings.NewReader(`{"username":"boss","password":"first-admin-pw"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"role":"admin"`) || len(resp.Cookies()) != 1 {
		t.Errorf("boss signs in: %d %s", resp.StatusCode, body)
	}
}
