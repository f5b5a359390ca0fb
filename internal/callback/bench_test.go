package callback_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxcrypto"
)

// BenchmarkIntake measures the whole intake path of one callback on real
// Redis: signature check, decryption (safe mode), decoding, dedup and the
// durable record — everything but the network between WeChat and kfgate.
// Each iteration is a new message (a new MsgId); past the prepared set the
// rest would be retries, so the set is larger than a 1 s run needs and the
// share of retries is reported.
func BenchmarkIntake(b *testing.B) {
	for _, mode := range []string{"plaintext", "safe"} {
		b.Run(mode, func(b *testing.B) {
			const prepared = 60000
			h, reqs := benchSetup(b, mode == "safe", prepared)
			w := &discard{h: http.Header{}}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				pr := reqs[n%prepared]
				n++
				r := httptest.NewRequest(http.MethodPost, pr.URL, bytes.NewReader(pr.Body))
				result, err := h.Serve(w, r, benchAppID)
				if err != nil || result != callback.ResultOK && n <= prepared {
					b.Fatalf("Serve = %q, %v", result, err)
				}
			}
			b.ReportMetric(float64(max(0, n-prepared))/float64(n), "retries/op")
		})
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark measures
// kfgate rather than a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { clear(d.h); return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkIntakeParallel is BenchmarkIntake with many callbacks in flight
// at once, as under load: Redis round trips overlap, so ns/op approaches
// the CPU cost of a callback rather than its latency.
func BenchmarkIntakeParallel(b *testing.B) {
	const prepared = 200000
	h, reqs := benchSetup(b, true, prepared)
	var next atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discard{h: http.Header{}}
		for pb.Next() {
			pr := reqs[int(next.Add(1)-1)%prepared]
			r := httptest.NewRequest(http.MethodPost, pr.URL, bytes.NewReader(pr.Body))
			if _, err := h.Serve(w, r, benchAppID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(max(0, next.Load()-prepared))/float64(next.Load()), "retries/op")
}

const benchAppID, benchToken, benchKey = "wxbench00000001", "benchtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

// benchSetup returns a handler on real Redis and n distinct callbacks for
// it, prepared (signed, and encrypted when safe) before the clock starts.
func benchSetup(b *testing.B, safe bool, n int) (*callback.Handler, []sim.Prepared) {
	rdb, prefix := redistest.New(b)
	c, err := wxcrypto.NewCipher(benchAppID, benchKey)
	if err != nil {
		b.Fatal(err)
	}
	// Compatible mode, so that one account takes both sub-benchmarks' callbacks.
	h := callback.New([]callback.Account{{AppID: benchAppID, Token: benchToken, Cipher: c, Mode: callback.ModeCompatible}},
		intake.NewStore(rdb, prefix, time.Minute), callback.Options{})
	p, err := sim.NewPoster("", sim.Account{AppID: benchAppID, Token: benchToken, AESKey: benchKey}, safe, nil)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]sim.Prepared, n)
	for i := range reqs {
		reqs[i] = p.Prepare(sim.TextXML("gh_bench", "o_bench_user", 1700000000, "你好，我想咨询一下订单", int64(i+1)))
	}
	return h, reqs
}
