package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The container's layout: the binary at /usr/local/bin/kfgate,
// KFGATE_CONFIG=/etc/kfgate/kfgate.yaml and nothing mounted there (here
// under a directory of the test's). The binary is built with the test's
// own flags, so that Go's cache has its packages (the Dockerfile's flags
// change nothing serve does). `kfgate serve` exits
// non-zero with one line that says how to mount a configuration; with no
// KFGATE_CONFIG at all it says the same; `serve --demo` runs the example
// built into the binary, and the health check finds it.
func TestImageLayoutWithoutConfig(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "usr/local/bin/kfgate")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	conf := filepath.Join(root, "etc/kfgate/kfgate.yaml") // the Dockerfile's KFGATE_CONFIG; not mounted
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"KFGATE_CONFIG names no file", []string{"KFGATE_CONFIG=" + conf}, "no configuration file at " + conf + ": mount yours there"},
		{"nothing names a file", nil, "no configuration: pass --config FILE or set KFGATE_CONFIG (in the container, mount a file at /etc/kfgate/kfgate.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "serve")
			cmd.Env = tc.env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("serve without a configuration: %v", err)
			}
			out := stderr.String()
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "kfgate: "+tc.want) || !strings.Contains(out, "--demo") {
				t.Errorf("stderr = %q, want one line starting %q and naming --demo", out, "kfgate: "+tc.want)
			}
		})
	}

	t.Run("serve --demo", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "serve", "--demo")
		cmd.Env = []string{"KFGATE_CONFIG=", "KFGATE_LISTEN=127.0.0.1:0", "KFGATE_SHUTDOWN_DELAY=1ms"}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
		addr := ""
		var sawDemo bool
		sc := bufio.NewScanner(stderr)
		deadline := time.AfterFunc(15*time.Second, cancel)
		for addr == "" && sc.Scan() {
			var line struct{ Msg, Addr string }
			_ = json.Unmarshal(sc.Bytes(), &line)
			sawDemo = sawDemo || strings.HasPrefix(line.Msg, "--demo")
			if line.Msg == "listening" {
				addr = line.Addr
			}
		}
		deadline.Stop()
		go func() { _, _ = io.Copy(io.Discard, stderr) }()
		if addr == "" || !sawDemo {
			t.Fatalf("serve --demo did not start with its warning (addr %q)", addr)
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("readyz = %d", resp.StatusCode)
		}
		_, port, _ := strings.Cut(addr, ":")
		hc := exec.Command(bin, "healthcheck")
		hc.Env = []string{"KFGATE_CONFIG=" + conf, "KFGATE_LISTEN=127.0.0.1:" + port}
		if out, err := hc.CombinedOutput(); err != nil {
			t.Errorf("healthcheck of the demo: %v %s", err, out)
		}
	})
}

// Without --demo, serve refuses the example's public secrets, naming each
// key; with it, the same file runs.
func TestServeRefusesDemoSecrets(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"KFGATE_LISTEN": "127.0.0.1:0", "KFGATE_SHUTDOWN_DELAY": "1ms"}[k]
	}
	environ := []string{"KFGATE_LISTEN=127.0.0.1:0", "KFGATE_SHUTDOWN_DELAY=1ms"}
	err := run(context.Background(), []string{"serve", "--config", "../../configs/kfgate.example.yaml"}, getenv, environ, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve accepted the example's demo secrets")
	}
	for _, key := range []string{"accounts[0].token", "accounts[0].aes_key", "accounts[1].secret", "admin.tokens[0]"} {
		if !strings.Contains(err.Error(), key+": is the public demo value") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	if strings.Contains(err.Error(), "demo-admin-token-change-me") {
		t.Error("the error shows the token")
	}
	base, stop, _ := startServe(t, "../../configs/kfgate.example.yaml", nil, "--demo")
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
