package intake_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
)

func TestDedupKey(t *testing.T) {
	tests := []struct {
		name string
		m    kf.Message
		want string
	}{
		{"message by MsgId", kf.Message{Type: kf.MsgText, OpenID: "o", CreateTime: 1, MsgID: "6054768590064713728"}, "m:6054768590064713728"},
		{"event by sender, time, event and key", kf.Message{Type: kf.MsgEvent, OpenID: "o", CreateTime: 7, Event: kf.EventClick, EventKey: "MENU_1"}, "e:o:7:CLICK:MENU_1:"},
		{"job-finish event keeps its MsgID", kf.Message{Type: kf.MsgEvent, OpenID: "o", CreateTime: 7, Event: kf.EventTemplateSendJobFinish, MsgID: "200163836"}, "e:o:7:TEMPLATESENDJOBFINISH::200163836"},
		{"no MsgId, not an event", kf.Message{Type: "file", OpenID: "o", CreateTime: 9}, "t:o:9:file"},
		{"kf switch names both kf accounts", kf.Message{Type: kf.MsgEvent, OpenID: "o", CreateTime: 7, Event: kf.EventKfSwitchSession,
			FromKfAccount: "a@gh", ToKfAccount: "b@gh"}, "e:o:7:kf_switch_session::::a@gh:b@gh"},
		{"kf close names its kf account", kf.Message{Type: kf.MsgEvent, OpenID: "o", CreateTime: 7, Event: kf.EventKfCloseSession,
			KfAccount: "a@gh"}, "e:o:7:kf_close_session:::a@gh::"},
	}
	for _, tt := range tests {
		if got := intake.DedupKey(&tt.m); got != tt.want {
			t.Errorf("%s: DedupKey = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Record keeps the first answer for retries and records once, even when
// many callers race on one delivery; the dedup key expires with its TTL.
func TestRecord(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := intake.NewStore(rdb, prefix, time.Second)
	ctx := context.Background()
	m := &kf.Message{Account: "wxa", Type: kf.MsgText, OpenID: "o", CreateTime: 1, MsgID: "1", Raw: []byte("<xml/>")}

	var wg sync.WaitGroup
	results := make([]intake.Result, 20)
	for i := range results {
		wg.Go(func() {
			r, err := s.Record(ctx, intake.Delivery{Message: m, Answer: []byte{byte('a' + i)}})
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	wg.Wait()
	fresh := 0
	var first string
	for _, r := range results {
		if !r.Duplicate {
			fresh++
			first = string(r.Answer)
		}
	}
	if fresh != 1 {
		t.Fatalf("%d callers recorded the delivery, want 1", fresh)
	}
	for i, r := range results {
		if string(r.Answer) != first {
			t.Errorf("caller %d got answer %q, the first was %q", i, r.Answer, first)
		}
	}
	entries, err := rdb.XRange(ctx, s.Stream(), "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("stream holds %d entries (%v), want 1", len(entries), err)
	}
	e, err := intake.Decode(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	want := *m
	want.Raw = nil
	if e.ID != entries[0].ID || e.Key != "m:1" || e.Received.IsZero() || !reflect.DeepEqual(e.Message, want) ||
		intake.OpenID(entries[0]) != "o" {
		t.Errorf("entry = %+v, want the message %+v", e, want)
	}
	ttl, err := rdb.PTTL(ctx, prefix+"dedup:wxa:m:1").Result()
	if err != nil || ttl <= 0 || ttl > time.Second {
		t.Errorf("dedup key TTL = %v (%v), want within 1s", ttl, err)
	}
}

// Decode refuses an entry Record did not write, rather than handing the
// engine an empty message.
func TestDecodeRefusesForeignEntries(t *testing.T) {
	for _, v := range []map[string]any{
		{},
		{"account": "wxa", "xml": "<xml/>"},
		{"account": "wxa", "msg": "{not json"},
	} {
		if e, err := intake.Decode(redis.XMessage{ID: "1-0", Values: v}); err == nil {
			t.Errorf("Decode(%v) = %+v, want an error", v, e)
		}
	}
	// An entry of an earlier version (its XML), pending during a rolling
	// upgrade, still reads.
	e, err := intake.Decode(redis.XMessage{ID: "1-0", Values: map[string]any{"account": "wxa", "key": "m:9",
		"xml": string(sim.TextXML("gh_a", "o_old", 1700000000, "升级前", 9)), "received": "1700000000000"}})
	if err != nil || e.Message.Account != "wxa" || e.Message.OpenID != "o_old" || e.Message.Content != "升级前" || e.Message.Raw != nil {
		t.Errorf("a legacy entry decodes to %+v, %v", e, err)
	}
}

// BenchmarkDecode is what the engine pays to read one entry of the stream
// (the callback paid for the XML once; this is JSON).
func BenchmarkDecode(b *testing.B) {
	m := &kf.Message{Account: "wxa", ToUserName: "gh_a", OpenID: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", CreateTime: 1700000000,
		Type: kf.MsgText, MsgID: "24321987654321099", Content: "在吗？我的订单还没发货"}
	body, _ := json.Marshal(m)
	x := redis.XMessage{ID: "1-0", Values: map[string]any{"account": "wxa", "key": "m:1", "openid": m.OpenID,
		"msg": string(body), "received": "1700000000000"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := intake.Decode(x); err != nil {
			b.Fatal(err)
		}
	}
}
