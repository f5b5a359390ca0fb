package intake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
)

// A (timestamp, nonce) pair is bound to the first body's hash for its TTL:
// another body is refused (and recorded nothing), the same body is a retry,
// and once the pair has expired it is free again. An empty pair skips the
// check.
func TestRecordReplayedPair(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := intake.NewStore(rdb, prefix, time.Minute)
	ctx := context.Background()
	msg := func(id string) *kf.Message {
		return &kf.Message{Account: "wxr", Type: kf.MsgText, OpenID: "o", CreateTime: 1, MsgID: id, Content: "hi " + id}
	}
	pair := func(m *kf.Message, hash string, ttl time.Duration) intake.Delivery {
		return intake.Delivery{Message: m, Pair: "1700000000:42", BodyHash: []byte(hash), PairTTL: ttl}
	}
	tests := []struct {
		name      string
		d         intake.Delivery
		replayed  bool
		duplicate bool
	}{
		{"first", pair(msg("1"), "hash-A", 300*time.Millisecond), false, false},
		{"the same body: a retry", pair(msg("1"), "hash-A", 300*time.Millisecond), false, true},
		{"another body", pair(msg("2"), "hash-B", 300*time.Millisecond), true, false},
		{"no pair", intake.Delivery{Message: msg("3")}, false, false},
	}
	for _, tt := range tests {
		r, err := s.Record(ctx, tt.d)
		var e *kf.Error
		switch {
		case tt.replayed && (!errors.As(err, &e) || e.Kind != kf.KindForbidden || e.Code != "replayed_nonce"):
			t.Errorf("%s: Record = %v, want 403 replayed_nonce", tt.name, err)
		case !tt.replayed && err != nil:
			t.Errorf("%s: Record = %v", tt.name, err)
		case !tt.replayed && r.Duplicate != tt.duplicate:
			t.Errorf("%s: duplicate = %v, want %v", tt.name, r.Duplicate, tt.duplicate)
		}
	}
	if n := rdb.XLen(ctx, s.Stream()).Val(); n != 2 {
		t.Errorf("%d records, want 2 (first, no pair)", n)
	}
	ttl := rdb.PTTL(ctx, prefix+"nonce:wxr:1700000000:42").Val()
	if ttl <= 0 || ttl > 300*time.Millisecond {
		t.Errorf("the pair's TTL = %s, want ≤ 300ms", ttl)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := s.Record(ctx, pair(msg("4"), "hash-C", time.Second)); err != nil {
		t.Errorf("after the pair expired: %v", err)
	}
}
