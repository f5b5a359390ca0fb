package wxmsg

import (
	"encoding/xml"
	"testing"

	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// benchInputs are the pushes a customer-service gateway sees most.
var benchInputs = []string{"text", "event_subscribe"}

func BenchmarkDecode(b *testing.B) {
	files := goldenFiles(b)
	for _, name := range benchInputs {
		raw := files[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodingXML is the comparison: what silenceper/wechat does with
// the same pushes.
func BenchmarkEncodingXML(b *testing.B) {
	files := goldenFiles(b)
	for _, name := range benchInputs {
		raw := files[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				var mm message.MixMessage
				if err := xml.Unmarshal(raw, &mm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEnvelope(b *testing.B) {
	raw := goldenFiles(b)["text_compatible_mode"]
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Envelope(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendTextReply(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTextReply(buf[:0], "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a", 1409735668, "您好，客服稍后回复。")
	}
}
