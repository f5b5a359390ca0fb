package kf

import (
	"testing"
	"unicode/utf8"
)

func TestTextRule(t *testing.T) {
	tests := []struct {
		in, check, safe string
		blank           bool
	}{
		{"你好 hello\n\tok", "", "你好 hello\n\tok", false},
		{"a\x00b", "contains a NUL character", "a\uFFFDb", false},
		{"a\xffb", "is not valid UTF-8", "a\uFFFDb", false},
		{"\xe4\xbd", "is not valid UTF-8", "\uFFFD", false},
		{"bell\x07", "contains a control character", "bell\uFFFD", false},
		{"del\x7f", "contains a control character", "del\uFFFD", false},
		{"", "", "", true},
		{" \u200b\u200c\u200d\ufeff\u2060\u3000\n", "", " \u200b\u200c\u200d\ufeff\u2060\u3000\n", true},
		{"\u200bx", "", "\u200bx", false},
	}
	for _, tt := range tests {
		if got := CheckText(tt.in); got != tt.check {
			t.Errorf("CheckText(%q) = %q, want %q", tt.in, got, tt.check)
		}
		if got := SafeText(tt.in); got != tt.safe {
			t.Errorf("SafeText(%q) = %q, want %q", tt.in, got, tt.safe)
		}
		if got := Blank(tt.in); got != tt.blank {
			t.Errorf("Blank(%q) = %v", tt.in, got)
		}
	}
}

// SafeText always yields text CheckText accepts, and leaves clean text alone.
func FuzzSafeText(f *testing.F) {
	for _, s := range []string{"", "hello", "a\x00b", "\xff\xfe", "你好\x01", "\xe4\xbd\xa0\xe5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		safe := SafeText(s)
		if CheckText(safe) != "" || !utf8.ValidString(safe) {
			t.Fatalf("SafeText(%q) = %q breaks the rule: %s", s, safe, CheckText(safe))
		}
		if CheckText(s) == "" && safe != s {
			t.Fatalf("SafeText changed clean text %q to %q", s, safe)
		}
		if CleanBytes([]byte(s)) != (CheckText(s) == "") {
			t.Fatalf("CleanBytes and CheckText disagree on %q", s)
		}
		Blank(s)
	})
}

// The check every callback pays: a typical plaintext push of ~300 bytes.
func BenchmarkCleanBytes(b *testing.B) {
	push := []byte("<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oLVPpjqs9BhvzwPj5A-vTYAX3GLc]]></FromUserName>" +
		"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，我的订单还没有发货，请帮我查一下]]></Content><MsgId>24324345345345</MsgId></xml>")
	b.SetBytes(int64(len(push)))
	for b.Loop() {
		if !CleanBytes(push) {
			b.Fatal("clean push refused")
		}
	}
}
