package server

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kfgate/kfgate/internal/kf"
)

func TestInputError(t *testing.T) {
	tests := []struct {
		target string
		want   string // "" for accepted, else the error's code
	}{
		{"/api/v1/sessions/abc/messages?limit=10&before=5", ""},
		{"/api/v1/agents/%E4%BD%A0%E5%A5%BD", ""},
		{"/api/v1/agents/a%00b", "bad_path"},
		{"/api/v1/agents/a%FFb", "bad_path"},
		{"/api/v1/agents/a%07b", "bad_path"},
		{"/api/v1/agents/" + strings.Repeat("a", 129), "bad_path"},
		{"/api/v1/sessions?state=a%00", "bad_query"},
		{"/api/v1/sessions?state=%C3%28", "bad_query"},
		{"/api/v1/sessions?state=" + strings.Repeat("s", 257), "bad_query"},
		{"/api/v1/sessions?state=%zz", "bad_query"},
		{"/api/v1/sessions?a%00=1", "bad_query"},
		{"/api/v1/sessions?state=a&state=b", "bad_query"},
		{"/api/v1/sessions?state=" + strings.Repeat("s", 256), ""},
	}
	for _, tt := range tests {
		err := inputError(httptest.NewRequest("GET", tt.target, nil))
		got := ""
		if e, ok := err.(*kf.Error); ok {
			got = e.Code
		} else if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%.60s: %q, want %q", tt.target, got, tt.want)
		}
	}
}

// decode refuses, in one line, a body that is not UTF-8 or holds a string
// that breaks the text rule, at any depth.
func TestDecodeTextRule(t *testing.T) {
	type body struct {
		Name  string              `json:"name"`
		List  []string            `json:"list"`
		Inner *struct{ X string } `json:"inner"`
		Map   map[string]string   `json:"map"`
	}
	tests := []struct{ in, want string }{
		{`{"name":"ok","list":["a"],"inner":{"X":"b"},"map":{"k":"v"}}`, ""},
		{`{"name":"a\u0000"}`, "name contains a NUL character"},
		{`{"list":["ok","b\u0001"]}`, "list[1] contains a control character"},
		{`{"inner":{"X":"\u0000"}}`, "inner.X contains a NUL character"},
		{`{"map":{"k":"\u0007"}}`, "map.k contains a control character"},
		{"{\"name\":\"\xff\"}", "the body is not valid UTF-8"},
	}
	for _, tt := range tests {
		var b body
		err := decode(httptest.NewRequest("POST", "/", strings.NewReader(tt.in)), &b)
		got := ""
		if err != nil {
			got = err.(*kf.Error).Msg
		}
		if got != tt.want {
			t.Errorf("decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Any URL: inputError never panics, and what it accepts keeps the text
// rule and the limits.
func FuzzInputError(f *testing.F) {
	f.Add("/api/v1/agents/x", "limit=1&before=2")
	f.Add("/api/v1/a%00", "a=%zz")
	f.Add("/", "%C3%28=1")
	f.Fuzz(func(t *testing.T, path, query string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path, r.URL.RawQuery = path, query
		if inputError(r) != nil {
			return
		}
		if kf.CheckText(path) != "" {
			t.Fatalf("accepted path %q", path)
		}
		q, err := parseQuery(query)
		if err != nil {
			t.Fatalf("accepted query %q: %v", query, err)
		}
		for k, vs := range q {
			for _, v := range vs {
				if !utf8.ValidString(k) || kf.CheckText(v) != "" || len(v) > maxQueryValue {
					t.Fatalf("accepted %q=%q", k, v)
				}
			}
		}
	})
}

// Any body: decode never panics, and what it accepts keeps the text rule.
func FuzzDecode(f *testing.F) {
	f.Add(`{"name":"a","list":["b"]}`)
	f.Add(`{"name":"\u0000"}`)
	f.Fuzz(func(t *testing.T, in string) {
		var b struct {
			Name string   `json:"name"`
			List []string `json:"list"`
		}
		if decode(httptest.NewRequest("POST", "/", strings.NewReader(in)), &b) != nil {
			return
		}
		for _, s := range append(b.List, b.Name) {
			if kf.CheckText(s) != "" {
				t.Fatalf("decode(%q) accepted %q", in, s)
			}
		}
	})
}
