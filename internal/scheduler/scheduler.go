// Package scheduler runs kfgate's timed work — idle warnings and closes,
// the presence sweep, the transfer-after rule — on a clock of its own,
// independent of traffic. Every replica runs it, intake-only ones too:
// each job claims what is due atomically in Redis (a due entry is taken
// by exactly one replica), so running it everywhere is safe and a replica
// going away leaves nothing undone.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Job is one kind of timed work. Run does what is due now and returns how
// many items it handled.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) (int, error)
}

// Scheduler runs jobs, each on its own period.
type Scheduler struct {
	jobs []Job
	log  *slog.Logger

	runs     *prometheus.CounterVec
	items    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a Scheduler of jobs; reg, if not nil, gets its metrics:
// kfgate_scheduler_runs_total{job,result}, kfgate_scheduler_items_total{job}
// and kfgate_scheduler_duration_seconds{job}.
func New(jobs []Job, reg prometheus.Registerer, log *slog.Logger) (*Scheduler, error) {
	for _, j := range jobs {
		if j.Name == "" || j.Every <= 0 || j.Run == nil {
			return nil, errors.New("scheduler: every job needs a name, a positive period and a Run")
		}
	}
	s := &Scheduler{jobs: jobs, log: log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_scheduler_runs_total",
			Help: "Runs of the scheduler's jobs on this replica, by job and result (ok, error).",
		}, []string{"job", "result"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_scheduler_items_total",
			Help: "Items the scheduler's jobs handled on this replica (sessions warned or closed, agents swept, sessions moved).",
		}, []string{"job"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kfgate_scheduler_duration_seconds",
			Help:    "Time one run of a scheduler job took.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"job"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{s.runs, s.items, s.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Run runs every job on its period until ctx ends, then returns once the
// runs in progress have finished. A failed run is logged and counted; the
// job runs again a period later.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		wg.Go(func() { s.loop(ctx, j) })
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, j Job) {
	t := time.NewTicker(j.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.RunOnce(ctx, j)
	}
}

// RunOnce runs j once, with its metrics and log.
func (s *Scheduler) RunOnce(ctx context.Context, j Job) {
	start := time.Now()
	n, err := j.Run(ctx)
	s.duration.WithLabelValues(j.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("scheduled job failed", "job", j.Name, "err", err)
		}
		s.runs.WithLabelValues(j.Name, "error").Inc()
		return
	}
	s.runs.WithLabelValues(j.Name, "ok").Inc()
	if n > 0 {
		s.items.WithLabelValues(j.Name).Add(float64(n))
	}
}
