package outbox

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/wxapi"
)

// countingSender counts one replica's successful sends.
type countingSender struct {
	Sender
	sent atomic.Int64
}

func (c *countingSender) SendCustom(ctx context.Context, appid string, msg wxapi.CustomMessage) error {
	err := c.Sender.SendCustom(ctx, appid, msg)
	if err == nil {
		c.sent.Add(1)
	}
	return err
}

// Two replicas, each with its own wxapi client and 8 goroutines, sending as
// fast as they may for 4 s hold the shared limit of 50 messages/s within 5 %.
func TestSharedRateLimit(t *testing.T) {
	t.Parallel()
	const limit, span = 50.0, 4 * time.Second
	e := newEnv(t)
	for u := range 60 {
		openid := fmt.Sprintf("user%02d", u)
		e.open(t, openid, time.Time{})
		for i := range 5 {
			e.enqueue(t, openid, fmt.Sprintf("%s-%d", openid, i))
		}
	}
	var replicas []*countingSender
	var stops []func()
	start := time.Now()
	for r := range 2 {
		cs := &countingSender{Sender: newClient(t, e.rdb, e.prefix, e.srv.URL)}
		replicas = append(replicas, cs)
		o := fast(e, fmt.Sprintf("replica%d", r))
		o.Sender, o.Rate, o.Burst, o.Workers = cs, limit, 2, 8
		stops = append(stops, run(t, o))
	}
	time.Sleep(span)
	a, b := replicas[0].sent.Load(), replicas[1].sent.Load()
	elapsed := time.Since(start)
	for _, stop := range stops {
		stop()
	}
	rate := float64(a+b) / elapsed.Seconds()
	t.Logf("limit %.0f/s: %d + %d sent in %v = %.2f/s (%.1f %% of the limit)",
		limit, a, b, elapsed.Round(time.Millisecond), rate, 100*rate/limit)
	// The limit must hold (a 5 % margin for the run's edges); how close the
	// replicas come to it depends on the machine's load, so the lower bound
	// only says the limiter is not stuck.
	if rate > limit*1.05 || rate < limit*0.5 || a == 0 || b == 0 {
		t.Fatalf("rate %.2f/s, limit %.0f/s (replicas %d, %d)", rate, limit, a, b)
	}
}
