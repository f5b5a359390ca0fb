package wxmsg

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// replyXML is a passive reply as encoding/xml reads it.
type replyXML struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string
	FromUserName string
	CreateTime   int64
	MsgType      string
	Content      *string
	TransInfo    *struct{ KfAccount string }
}

func parseReply(t *testing.T, b []byte) replyXML {
	t.Helper()
	var r replyXML
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("encoding/xml cannot read the reply: %v\n%s", err, b)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

func TestAppendTextReply(t *testing.T) {
	tests := []struct{ name, content string }{
		{"plain", "你好"},
		{"line breaks", "line 1\nline 2"},
		{"markup-like", `<a href="x">&amp;</a>`},
		{"cdata end", "a]]>b"},
		{"cdata ends everywhere", "]]>]]]]>>x]]>"},
		{"brackets that are not an end", "]] > ]>]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("kept:")
			b := AppendTextReply(prefix, "o_user", "gh_account", 1399197672, tt.content)
			if !strings.HasPrefix(string(b), "kept:") {
				t.Fatalf("dst prefix lost: %q", b)
			}
			got := parseReply(t, b[len(prefix):])
			want := replyXML{XMLName: xml.Name{Local: "xml"}, ToUserName: "o_user", FromUserName: "gh_account",
				CreateTime: 1399197672, MsgType: "text", Content: ptr(tt.content)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reply mismatch (-want +got):\n%s", diff)
			}
			// And Decode, which WeChat's own pushes go through, agrees.
			m, err := Decode(b[len(prefix):])
			if err != nil {
				t.Fatal(err)
			}
			if m.Content != tt.content {
				t.Errorf("Decode(reply).Content = %q, want %q", m.Content, tt.content)
			}
		})
	}
}

func TestAppendTextReplyExact(t *testing.T) {
	got := string(AppendTextReply(nil, "toUser", "fromUser", 12345678, "a]]>b"))
	want := "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>" +
		"<CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType>" +
		"<Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>"
	if got != want {
		t.Errorf("AppendTextReply =\n%s\nwant\n%s", got, want)
	}
}

func TestAppendTextReplyEmpty(t *testing.T) {
	dst := []byte("prefix")
	if got := AppendTextReply(dst, "o", "gh", 1, ""); string(got) != "prefix" {
		t.Errorf("AppendTextReply with empty content = %q, want dst unchanged", got)
	}
}

func TestAppendTextReplyInvalidCharacters(t *testing.T) {
	b := AppendTextReply(nil, "o\x00", "gh", 1, "a\x01b\xffc\tok\uFFFE")
	got := parseReply(t, b)
	if want := "a\uFFFDb\uFFFDc\tok\uFFFD"; *got.Content != want {
		t.Errorf("Content = %q, want %q", *got.Content, want)
	}
	if got.ToUserName != "o\uFFFD" {
		t.Errorf("ToUserName = %q", got.ToUserName)
	}
}

func TestAppendTransferReply(t *testing.T) {
	t.Run("any agent", func(t *testing.T) {
		b := AppendTransferReply(nil, "touser", "fromuser", 1399197672, "")
		want := "<xml><ToUserName><![CDATA[touser]]></ToUserName><FromUserName><![CDATA[fromuser]]></FromUserName>" +
			"<CreateTime>1399197672</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>"
		if string(b) != want {
			t.Errorf("AppendTransferReply =\n%s\nwant\n%s", b, want)
		}
		if got := parseReply(t, b); got.TransInfo != nil || got.MsgType != "transfer_customer_service" {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("designated agent", func(t *testing.T) {
		b := AppendTransferReply([]byte{}, "touser", "fromuser", 1399197672, "test1@test")
		got := parseReply(t, b)
		want := replyXML{XMLName: xml.Name{Local: "xml"}, ToUserName: "touser", FromUserName: "fromuser",
			CreateTime: 1399197672, MsgType: "transfer_customer_service",
			TransInfo: &struct{ KfAccount string }{"test1@test"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reply mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestAppendEncryptedReply(t *testing.T) {
	b := AppendEncryptedReply(nil, "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==",
		"82c962d39941aa48552f90ef55aa323dc620cc10", 1409304348, "xxxxxx")
	want := "<xml>\n" +
		"<Encrypt><![CDATA[jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==]]></Encrypt>\n" +
		"<MsgSignature><![CDATA[82c962d39941aa48552f90ef55aa323dc620cc10]]></MsgSignature>\n" +
		"<TimeStamp>1409304348</TimeStamp>\n" +
		"<Nonce><![CDATA[xxxxxx]]></Nonce>\n" +
		"</xml>"
	if string(b) != want {
		t.Errorf("AppendEncryptedReply =\n%s\nwant\n%s", b, want)
	}
	var got struct {
		XMLName      xml.Name `xml:"xml"`
		Encrypt      string
		MsgSignature string
		TimeStamp    int64
		Nonce        string
	}
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Encrypt[:8] != "jn1L23DB" || got.MsgSignature != "82c962d39941aa48552f90ef55aa323dc620cc10" ||
		got.TimeStamp != 1409304348 || got.Nonce != "xxxxxx" {
		t.Errorf("parsed %+v", got)
	}
	// The envelope of a reply reads back with Envelope.
	if _, enc, err := Envelope(b); err != nil || enc != got.Encrypt {
		t.Errorf("Envelope(reply) = %q, %v", enc, err)
	}
}

func TestAppendRepliesDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendTextReply(buf[:0], "o_user", "gh_account", 1399197672, "您好，客服稍后回复。")
		b = AppendTransferReply(b[:0], "o_user", "gh_account", 1399197672, "kf2001@gh_account")
		_ = AppendEncryptedReply(b[:0], "Zm9v", "sig", 1409304348, "nonce")
	})
	if allocs != 0 {
		t.Errorf("appending replies to a large enough buffer allocates %v times", allocs)
	}
}
