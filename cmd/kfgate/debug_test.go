package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/redistest"
)

// debug.listen serves the profiler on its own port: the index of profiles
// and a heap profile there, nothing of it on the public port, and the
// port closed once serve has stopped.
func TestServeDebugListen(t *testing.T) {
	_, prefix := redistest.New(t)
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
debug: {listen: "127.0.0.1:0"}
accounts:
  - {appid: %s, secret: s, token: %s}
`, redistest.URL(), prefix, testAppID, testToken))
	base, stop, logs := startServe(t, cfg, nil)
	debug := ""
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "debug listening" {
			debug = "http://" + line.Addr
		}
	}
	if debug == "" || debug == base {
		t.Fatalf("no debug listener of its own (debug %q, public %q):\n%s", debug, base, logs)
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(debug + "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap") {
		t.Errorf("debug index = %d %.200q, want the list of profiles", code, body)
	}
	if code, body := get(debug + "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("heap profile = %d %.100q", code, body)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
		if code, body := get(base + path); code != http.StatusNotFound {
			t.Errorf("public port %s = %d %.100q, want 404", path, code, body)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c := http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(debug + "/debug/pprof/"); err == nil {
		resp.Body.Close()
		t.Errorf("the debug port still answers after serve stopped: %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), `"component":"debug"`) {
		t.Errorf("no log of the debug server stopping:\n%s", logs)
	}
}
