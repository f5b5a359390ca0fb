package intake_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
)

// What redis.min_replicas_ack costs a callback's record: the same primary
// (with one replica in both cases), recording new deliveries from many
// goroutines as the callback endpoint does, without waiting and with
// WAIT 1. Compare the two as a ratio within one run:
//
//	go test -run '^$' -bench RecordReplicas -benchtime 20000x ./internal/intake
func BenchmarkRecordReplicas(b *testing.B) {
	primary := redistest.StartServer(b)
	replica := redistest.StartServer(b, "replicaof "+strings.Replace(primary.Addr, ":", " ", 1))
	redistest.WaitReplicated(b, primary, replica)
	rdb := primary.Client()
	defer rdb.Close()
	var seq atomic.Int64
	for _, bc := range []struct {
		name string
		acks int
	}{{"no_wait", 0}, {"min_replicas_ack_1", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			s := intake.NewStore(rdb, "b:", time.Minute)
			if bc.acks > 0 {
				s.RequireReplicas(bc.acks, time.Second)
			}
			ctx := context.Background()
			record := func() {
				n := seq.Add(1)
				m := &kf.Message{Account: "wxb", Type: kf.MsgText, OpenID: "o" + strconv.FormatInt(n%1000, 10),
					CreateTime: 1, MsgID: strconv.FormatInt(n, 10), Content: "hello"}
				if _, err := s.Record(ctx, intake.Delivery{Message: m}); err != nil {
					b.Fatal(err)
				}
			}
			// One callback at a time: the latency WAIT adds.
			b.Run("one_at_a_time", func(b *testing.B) {
				for b.Loop() {
					record()
				}
			})
			// 16 at once on 2 cores: the throughput it costs.
			b.Run("16_at_once", func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						record()
					}
				})
			})
		})
	}
}
