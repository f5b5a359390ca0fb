package callback

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxcrypto"
)

// BenchmarkIntakeDecoder is the whole safe-mode intake of one callback
// (signatures, AES, decoding, the Redis record) with kfgate's decoder and
// with encoding/xml into silenceper's MixMessage, the library's way: what the
// hand-written decoder is worth inside a callback, not alone. Run it with
// -cpu 1 for the CPU cost per callback, since the Redis round trip overlaps
// nothing in a serial loop.
func BenchmarkIntakeDecoder(b *testing.B) {
	decoders := []struct {
		name   string
		decode func([]byte) (kf.Message, error)
	}{
		{"wxmsg", nil},
		{"encoding_xml", decodeStdlib},
	}
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			const appID, token, key = "wxbench00000002", "benchtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
			rdb, prefix := redistest.New(b)
			c, err := wxcrypto.NewCipher(appID, key)
			if err != nil {
				b.Fatal(err)
			}
			h := New([]Account{{AppID: appID, Token: token, Cipher: c}}, intake.NewStore(rdb, prefix, time.Minute), Options{})
			if d.decode != nil {
				h.decode = d.decode
			}
			p, err := sim.NewPoster("", sim.Account{AppID: appID, Token: token, AESKey: key}, true, nil)
			if err != nil {
				b.Fatal(err)
			}
			const prepared = 40000
			reqs := make([]sim.Prepared, prepared)
			for i := range reqs {
				reqs[i] = p.Prepare(sim.TextXML("gh_bench", "o_bench_user", time.Now().Unix(), "你好，我想咨询一下订单", int64(i+1)))
			}
			n := 0
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				pr := reqs[n%prepared]
				n++
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, pr.URL, bytes.NewReader(pr.Body))
				if _, err := h.Serve(w, r, appID); err != nil {
					b.Fatal(err)
				}
			}
			// kfgate's own CPU per callback (user + system time of this
			// process), which the machine's other load does not inflate as
			// it does the wall clock.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// decodeStdlib decodes a push as silenceper/wechat's server does
// (encoding/xml into MixMessage) and keeps what kfgate's engine reads of a
// text message.
func decodeStdlib(raw []byte) (kf.Message, error) {
	var mm message.MixMessage
	if err := xml.Unmarshal(raw, &mm); err != nil {
		return kf.Message{}, kf.Errorf(kf.KindInvalid, "malformed_xml", "malformed XML")
	}
	m := kf.Message{ToUserName: string(mm.ToUserName), OpenID: string(mm.FromUserName), CreateTime: mm.CreateTime,
		Type: kf.MsgType(mm.MsgType), Content: mm.Content, PicURL: mm.PicURL, MediaID: mm.MediaID,
		Event: kf.EventType(mm.Event), EventKey: mm.EventKey}
	if mm.MsgID != 0 {
		m.MsgID = strconv.FormatInt(mm.MsgID, 10)
	}
	return m, nil
}
