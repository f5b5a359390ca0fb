package outbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kfgate/kfgate/internal/sim"
)

// WeChat unreachable for 30 s (3 s with -short) under a steady 10 messages/s:
// every message is delivered once, and the backlog metric rises and falls
// back to 0.
func TestOutage(t *testing.T) {
	t.Parallel()
	outage := 30 * time.Second
	if testing.Short() {
		outage = 3 * time.Second
	}
	const perSecond = 10
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, e.box)
	if err != nil {
		t.Fatal(err)
	}
	o := fast(e, "w1")
	o.Metrics, o.Rate, o.Workers = m, 50, 8
	// Retries cover the outage: backoff doubles from 50 ms to 1 s (the
	// production cap is a minute), 60 retries ≈ 1 min.
	o.Backoff, o.MaxBackoff, o.Retries, o.ClaimIdle = 50*time.Millisecond, time.Second, 60, 5*time.Second
	run(t, o)

	// Sample the backlog gauge as Prometheus would scrape it.
	var peak, during atomic.Int64
	var down atomic.Bool
	sampling, stopSampling := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for sleep(sampling, 100*time.Millisecond) {
			n := gaugeValue(t, reg, "kfgate_outbox_backlog")
			peak.Store(max(peak.Load(), n))
			if down.Load() {
				during.Store(max(during.Load(), n))
			}
		}
	})
	defer func() { stopSampling(); wg.Wait() }()

	before, after := 2*time.Second, 2*time.Second
	total := int((before + outage + after) / (time.Second / perSecond))
	users := map[int]string{}
	start := time.Now()
	time.AfterFunc(before, func() {
		down.Store(true)
		_ = e.api.SetFaults(sim.Faults{Outage: true, OutageMode: sim.OutageClose})
	})
	time.AfterFunc(before+outage, func() {
		_ = e.api.SetFaults(sim.Faults{})
		down.Store(false)
	})
	tick := time.NewTicker(time.Second / perSecond)
	for n := range total {
		u := n / 5 // WeChat allows 5 sends per user message
		if users[u] == "" {
			users[u] = fmt.Sprintf("user%03d", u)
			e.open(t, users[u], time.Time{})
		}
		e.enqueue(t, users[u], fmt.Sprintf("m-%04d", n))
		<-tick.C
	}
	tick.Stop()
	produced := time.Since(start)

	waitFor(t, 60*time.Second, func() bool { return gaugeValue(t, reg, "kfgate_outbox_backlog") == 0 })
	drained := time.Since(start)
	seen := map[string]int{}
	for _, openid := range users {
		for _, c := range e.contents(openid) {
			seen[c]++
		}
	}
	dups := 0
	for n := range total {
		switch c := seen[fmt.Sprintf("m-%04d", n)]; {
		case c == 0:
			t.Errorf("m-%04d never delivered", n)
		case c > 1:
			dups++
		}
	}
	transport := counterValue(t, reg, "kfgate_outbox_attempts_total", "transport")
	t.Logf("outage %v: %d messages over %v, all final after %v; %d delivered, %d duplicates; backlog peak %d (%d during the outage), now 0; %.0f calls failed in transport",
		outage, total, produced.Round(time.Millisecond), drained.Round(time.Millisecond), len(seen), dups, peak.Load(), during.Load(), transport)
	if dups > 0 || len(seen) != total {
		t.Fatalf("%d distinct delivered of %d, %d duplicates", len(seen), total, dups)
	}
	if during.Load() < int64(outage/time.Second*perSecond)/2 || transport == 0 {
		t.Fatalf("backlog during the outage peaked at %d; transport failures %v", during.Load(), transport)
	}
}

func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) int64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Error(err)
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return int64(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return -1
}

func counterValue(t testing.TB, reg *prometheus.Registry, name, errcode string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "errcode" && l.GetValue() == errcode {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
