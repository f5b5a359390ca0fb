package nginx_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// directive is one nginx directive: its name, arguments and block.
type directive struct {
	name     string
	args     []string
	children []*directive
}

// parse reads nginx's configuration syntax: words, quoted strings, "#"
// comments, ";" ending a directive and "{…}" a block. Enough for the checks
// here; nginx -t is the judge of the rest.
func parse(t *testing.T, text string) []*directive {
	t.Helper()
	var tokens []string
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ';' || c == '{' || c == '}':
			tokens = append(tokens, string(c))
			i++
		case c == '\'' || c == '"':
			j := strings.IndexByte(text[i+1:], c)
			if j < 0 {
				t.Fatal("unterminated quote")
			}
			tokens = append(tokens, text[i+1:i+1+j])
			i += j + 2
		default:
			j := i
			for j < len(text) && !strings.ContainsRune(" \t\r\n;{}", rune(text[j])) {
				j++
			}
			tokens = append(tokens, text[i:j])
			i = j
		}
	}
	var block func() []*directive
	pos := 0
	block = func() []*directive {
		var out []*directive
		var cur *directive
		for pos < len(tokens) {
			tok := tokens[pos]
			pos++
			switch {
			case tok == "}":
				return out
			case tok == ";":
				out, cur = append(out, cur), nil
			case tok == "{":
				cur.children = block()
				out, cur = append(out, cur), nil
			case cur == nil:
				cur = &directive{name: tok}
			default:
				cur.args = append(cur.args, tok)
			}
		}
		return out
	}
	return block()
}

func find(ds []*directive, name string, args ...string) []*directive {
	var out []*directive
	for _, d := range ds {
		if d.name == name && (len(args) == 0 || slices.Equal(d.args, args)) {
			out = append(out, d)
		}
	}
	return out
}

// value is the first argument of the last directive name in ds, or "".
func value(ds []*directive, name string) string {
	f := find(ds, name)
	if len(f) == 0 || len(f[len(f)-1].args) == 0 {
		return ""
	}
	return f[len(f)-1].args[0]
}

// nginxDuration reads nginx's time values: "500ms", "2s", "1m", "3".
func nginxDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	if s == "" {
		t.Fatal("missing time value")
	}
	if strings.Trim(s, "0123456789") == "" {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return d
}

func loadConf(t *testing.T) []*directive {
	t.Helper()
	data, err := os.ReadFile(confFile)
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, string(data))
}

// servers returns the server blocks of a name, with their listen ports.
func servers(top []*directive, name string) []*directive {
	var out []*directive
	for _, s := range find(top, "server") {
		for _, sn := range find(s.children, "server_name") {
			if slices.Contains(sn.args, name) {
				out = append(out, s)
			}
		}
	}
	return out
}

// Nginx gives a callback at most two replicas and answers inside WeChat's
// 5 seconds even when both time out.
func TestCallbackRetryBudget(t *testing.T) {
	top := loadConf(t)
	pub := servers(top, "kf.example.com")
	if len(pub) != 2 {
		t.Fatalf("kf.example.com: %d server blocks, want 2 (ports 80 and 443)", len(pub))
	}
	for _, s := range pub {
		locs := find(s.children, "location", "/wechat/")
		if len(locs) != 1 {
			t.Fatalf("kf.example.com %v: no location /wechat/", find(s.children, "listen")[0].args)
		}
		l := locs[0].children
		perTry := nginxDuration(t, value(l, "proxy_connect_timeout")) + nginxDuration(t, value(l, "proxy_read_timeout"))
		tries := value(l, "proxy_next_upstream_tries")
		window := nginxDuration(t, value(l, "proxy_next_upstream_timeout"))
		if tries != "2" {
			t.Errorf("proxy_next_upstream_tries = %q, want 2", tries)
		}
		// The last try starts within the window and lasts at most perTry.
		if worst := window + perTry; worst >= wechatBudget {
			t.Errorf("worst case %s (window %s + one try %s), want < %s", worst, window, perTry, wechatBudget)
		}
		if window < perTry {
			t.Errorf("proxy_next_upstream_timeout %s shorter than one try (%s): the second replica is never tried after a timeout", window, perTry)
		}
		if next := find(l, "proxy_next_upstream"); len(next) != 1 || !slices.Contains(next[0].args, "non_idempotent") {
			t.Errorf("proxy_next_upstream must retry POST (non_idempotent): %v", next)
		}
	}
}

// No access log line carries a query string on the callback and WebSocket
// paths: signatures and agents' tokens travel there.
func TestAccessLogsWithoutQueryStrings(t *testing.T) {
	top := loadConf(t)
	formats := map[string]string{}
	for _, f := range find(top, "log_format") {
		formats[f.args[0]] = strings.Join(f.args[1:], "")
	}
	for name, f := range formats {
		for _, leak := range []string{"$request ", "$request\"", "$request_uri", "$args", "$query_string", "$arg_", "$http_referer"} {
			if strings.Contains(f+" ", leak) {
				t.Errorf("log_format %s uses %s", name, strings.Trim(leak, " \""))
			}
		}
	}
	check := func(where string, server, loc []*directive) {
		logs := find(loc, "access_log")
		if len(logs) == 0 {
			logs = find(server, "access_log") // inherited
		}
		if len(logs) == 0 {
			t.Errorf("%s: no access_log (the default format logs the query)", where)
		}
		for _, l := range logs {
			if l.args[0] == "off" {
				continue
			}
			if len(l.args) < 2 || formats[l.args[1]] == "" {
				t.Errorf("%s: access_log %v without a format of this file", where, l.args)
			}
		}
	}
	seen := map[string]bool{}
	for _, s := range find(top, "server") {
		for _, l := range find(s.children, "location") {
			if p := l.args[len(l.args)-1]; p == "/wechat/" || p == "/api/v1/agent/ws" {
				check(p, s.children, l.children)
				seen[p] = true
			}
		}
	}
	if !seen["/wechat/"] || !seen["/api/v1/agent/ws"] {
		t.Errorf("locations checked: %v", seen)
	}
}

// Every proxied location keeps connections to the replicas alive: HTTP/1.1
// and no "Connection: close", with a keepalive pool in the upstream.
func TestKeepaliveToUpstreams(t *testing.T) {
	top := loadConf(t)
	up := find(top, "upstream", "kfgate")
	if len(up) != 1 || value(up[0].children, "keepalive") == "" {
		t.Fatal("upstream kfgate has no keepalive pool")
	}
	for _, s := range find(top, "server") {
		for _, l := range find(s.children, "location") {
			if len(find(l.children, "proxy_pass")) == 0 {
				continue
			}
			if value(l.children, "proxy_http_version") != "1.1" {
				t.Errorf("location %v: proxy_http_version is not 1.1", l.args)
			}
			conn := ""
			for _, h := range find(l.children, "proxy_set_header") {
				if h.args[0] == "Connection" {
					conn = h.args[1]
				}
			}
			if conn != "" && conn != "$connection_upgrade" {
				t.Errorf("location %v: Connection %q", l.args, conn)
			}
			if conn == "" && len(find(l.children, "proxy_set_header", "Connection", "")) == 0 {
				t.Errorf("location %v: sets no Connection header (nginx then sends close)", l.args)
			}
		}
	}
}

// The public name proxies /wechat/ and nothing else; the desk's name
// refuses every address outside its allow-list; no server proxies the
// operators' endpoints.
func TestAPIOffThePublicName(t *testing.T) {
	top := loadConf(t)
	for _, s := range servers(top, "kf.example.com") {
		for _, l := range find(s.children, "location") {
			p := l.args[len(l.args)-1]
			if p != "/wechat/" && len(find(l.children, "proxy_pass")) > 0 {
				t.Errorf("kf.example.com proxies %s", p)
			}
		}
	}
	desk := servers(top, "desk.example.com")
	if len(desk) == 0 {
		t.Fatal("no server desk.example.com")
	}
	for _, s := range desk {
		deny := find(s.children, "deny", "all")
		if len(deny) != 1 || len(find(s.children, "allow")) == 0 {
			t.Errorf("desk.example.com: want allow lines and deny all")
		}
		for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
			l := find(s.children, "location", "=", p)
			if len(l) != 1 || len(find(l[0].children, "proxy_pass")) > 0 {
				t.Errorf("desk.example.com: %s is proxied", p)
			}
		}
	}
}
