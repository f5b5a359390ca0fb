package intake_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
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
	e := entries[0].Values
	if e[intake.FieldAccount] != "wxa" || e[intake.FieldKey] != "m:1" || e[intake.FieldXML] != "<xml/>" || e[intake.FieldReceived] == "" {
		t.Errorf("entry = %v", e)
	}
	ttl, err := rdb.PTTL(ctx, prefix+"dedup:wxa:m:1").Result()
	if err != nil || ttl <= 0 || ttl > time.Second {
		t.Errorf("dedup key TTL = %v (%v), want within 1s", ttl, err)
	}
}
