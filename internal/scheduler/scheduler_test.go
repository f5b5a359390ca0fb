package scheduler_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kfgate/kfgate/internal/scheduler"
)

// Each job runs on its own period whatever the others do; failures are
// counted and the job runs again; Run returns once ctx ends.
func TestRunsEachJobOnItsPeriod(t *testing.T) {
	var fast, failing atomic.Int64
	reg := prometheus.NewRegistry()
	s, err := scheduler.New([]scheduler.Job{
		{Name: "fast", Every: 10 * time.Millisecond, Run: func(context.Context) (int, error) { fast.Add(1); return 2, nil }},
		{Name: "failing", Every: 10 * time.Millisecond, Run: func(context.Context) (int, error) {
			failing.Add(1)
			return 0, errors.New("redis down")
		}},
		{Name: "stuck", Every: 10 * time.Millisecond, Run: func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }},
	}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); fast.Load() < 5 || failing.Load() < 5; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fast ran %d times, failing %d: a stuck job must not hold the others", fast.Load(), failing.Load())
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the context ended")
	}
	runs := map[string]float64{}
	items := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetValue() + "/"
			}
			switch f.GetName() {
			case "kfgate_scheduler_runs_total":
				runs[labels] = m.GetCounter().GetValue()
			case "kfgate_scheduler_items_total":
				items[labels] = m.GetCounter().GetValue()
			}
		}
	}
	if runs["fast/ok/"] < 5 || runs["failing/error/"] < 5 || runs["fast/error/"] != 0 {
		t.Errorf("runs = %v", runs)
	}
	if items["fast/"] != 2*runs["fast/ok/"] {
		t.Errorf("items = %v, want 2 per fast run (%v)", items, runs["fast/ok/"])
	}
}

func TestNewRefusesBadJobs(t *testing.T) {
	for _, j := range []scheduler.Job{{Every: time.Second, Run: func(context.Context) (int, error) { return 0, nil }},
		{Name: "x", Run: func(context.Context) (int, error) { return 0, nil }}, {Name: "x", Every: time.Second}} {
		if _, err := scheduler.New([]scheduler.Job{j}, nil, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("New accepted %+v", j)
		}
	}
}
