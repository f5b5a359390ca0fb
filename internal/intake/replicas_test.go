package intake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
)

// With RequireReplicas, Record says a delivery is recorded only once a
// replica holds it. Without the replica it is an error (503 for WeChat),
// and so is WeChat's retry of it: the dedup key the first attempt left on
// the primary must not turn the retry into a false "success". Once a
// replica is back and has the record, the retry is the duplicate it is,
// with the first answer.
func TestRecordWaitsForReplicas(t *testing.T) {
	ctx := context.Background()
	primary := redistest.StartServer(t)
	replicaOf := "replicaof " + strings.Replace(primary.Addr, ":", " ", 1)
	replica := redistest.StartServer(t, replicaOf)
	redistest.WaitReplicated(t, primary, replica)
	pc, rc := primary.Client(), replica.Client()
	defer pc.Close()
	defer rc.Close()

	s := intake.NewStore(pc, "t:", time.Minute)
	s.RequireReplicas(1, 300*time.Millisecond)
	msg := func(id string) intake.Delivery {
		return intake.Delivery{Message: &kf.Message{Account: "wxa", Type: kf.MsgText, OpenID: "o", CreateTime: 1, MsgID: id}, Answer: []byte("first-" + id)}
	}

	// The script is not loaded yet on this new server: EVALSHA, then EVAL.
	if res, err := s.Record(ctx, msg("1")); err != nil || res.Duplicate {
		t.Fatalf("Record with the replica up = %+v, %v", res, err)
	}
	if n := rc.XLen(ctx, "t:intake").Val(); n != 1 {
		t.Errorf("the replica holds %d entries when Record returned, want 1", n)
	}

	replica.Kill()
	_, err := s.Record(ctx, msg("2"))
	if e, ok := errors.AsType[*kf.Error](err); !ok || e.Kind != kf.KindUnavailable || e.Code != "not_replicated" {
		t.Fatalf("Record without the replica = %v, want unavailable (not_replicated)", err)
	}
	if n := pc.XLen(ctx, "t:intake").Val(); n != 2 {
		t.Errorf("the primary holds %d entries, want 2 (the engine handles the unreplicated one too)", n)
	}
	if _, err := s.Record(ctx, msg("2")); err == nil {
		t.Fatal("WeChat's retry, with still no replica, was answered success")
	}

	replica.Start()
	redistest.WaitReplicated(t, primary, replica)
	// While replicas were missing, most records did not wait; one every
	// 100 ms does, and finds them back. WeChat retries a few times.
	var res intake.Result
	for range 5 {
		if res, err = s.Record(ctx, msg("2")); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || !res.Duplicate || string(res.Answer) != "first-2" {
		t.Fatalf("the retry once the replica is back = %+v, %v; want the duplicate with the first answer", res, err)
	}
	if n := rc.XLen(ctx, "t:intake").Val(); n != 2 {
		t.Errorf("the replica holds %d entries, want 2", n)
	}
}
