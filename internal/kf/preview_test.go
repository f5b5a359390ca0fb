package kf

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A stored preview reads back as it was when it fits, and is cut at a
// character, with "…", to StoredPreviewBytes when it does not.
func TestStoredPreview(t *testing.T) {
	short := Preview{Direction: "out", Author: "agent", Agent: "a-7", Type: "text", Text: "ok | done", At: 1764000000123}
	if got, ok := ParseStoredPreview(short.Stored()); !ok || got != short {
		t.Fatalf("round trip: %+v, %v; want %+v", got, ok, short)
	}
	long := Preview{Direction: "in", Author: "user", Type: "text", Text: strings.Repeat("在吗？我的订单还没发货", 8), At: 1764000000123}
	s := long.Stored()
	got, ok := ParseStoredPreview(s)
	if !ok || len(s) > StoredPreviewBytes || !strings.HasSuffix(got.Text, "…") || !strings.HasPrefix(long.Text, strings.TrimSuffix(got.Text, "…")) {
		t.Fatalf("%q (%d bytes) read as %+v, %v", s, len(s), got, ok)
	}
	if got.Direction != "in" || got.Author != "user" || got.At != long.At {
		t.Fatalf("the head of a cut preview: %+v", got)
	}
	// What an earlier version stored: the JSON.
	if got, ok := ParseStoredPreview(`{"direction":"in","author":"user","type":"text","text":"hi","at":5}`); !ok || got.Text != "hi" || got.At != 5 {
		t.Fatalf("JSON preview: %+v, %v", got, ok)
	}
}

func FuzzStoredPreview(f *testing.F) {
	f.Add("in", "user", "", "text", "在吗？", int64(1764000000123))
	f.Add("out", "agent", "a1", "image", "[image] | x", int64(0))
	f.Fuzz(func(t *testing.T, dir, author, agent, typ, text string, at int64) {
		if strings.Contains(dir+author+agent+typ, "|") || !utf8.ValidString(text) || at < 0 {
			return // agent ids and types never hold "|"; times are positive
		}
		p := Preview{Direction: dir, Author: author, Agent: agent, Type: typ, Text: text, At: at}
		s := p.Stored()
		got, ok := ParseStoredPreview(s)
		if !ok {
			if strings.HasPrefix(s, "{") {
				return // a direction starting with "{" reads as JSON: never one of ours
			}
			t.Fatalf("%q does not read back", s)
		}
		if got.Agent != agent || got.Type != typ || got.At != at || !utf8.ValidString(got.Text) {
			t.Fatalf("%+v read back as %+v", p, got)
		}
		if got.Text != text && len(s) > StoredPreviewBytes && len(s)-len(got.Text) < StoredPreviewBytes-len("…") {
			t.Fatalf("%q: %d bytes", s, len(s))
		}
	})
}
