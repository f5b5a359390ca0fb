package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/kfgate/kfgate/internal/metrics"
)

// Check is one thing /readyz reports.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Optional checks are reported (the JSON, kfgate_readiness_check, a
	// log line when the state changes) but never make the replica unready:
	// PostgreSQL, whose outage the archive rides out in Redis and which no
	// callback touches. Taking every replica out of the load balancer for
	// it would stop the callbacks too.
	Optional bool
}

// checkTimeout bounds each check, so that a dependency that hangs (a
// connection cut without a reset) does not hang /readyz: the load
// balancer's probe has a deadline of its own.
const checkTimeout = time.Second

// readiness answers /readyz.
type readiness struct {
	checks   []Check
	draining func() bool
	metrics  *metrics.Metrics
	log      *slog.Logger

	mu   sync.Mutex
	last map[string]bool // each check's last result, to log changes only
}

func newReadiness(checks []Check, draining func() bool, m *metrics.Metrics, log *slog.Logger) *readiness {
	if draining == nil {
		draining = func() bool { return false }
	}
	return &readiness{checks: checks, draining: draining, metrics: m, log: log, last: map[string]bool{}}
}

// readyz says whether this replica should get traffic: 200 when Redis
// answers and its components run, 503 otherwise or while it drains. The
// body names each check: {"status":"ready","redis":"ok","postgres":
// "unavailable",…}. The checks run in parallel.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.ready
	results := make([]error, len(rd.checks))
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			results[i] = c.Fn(ctx)
		})
	}
	wg.Wait()

	body, ready := map[string]string{}, true
	for i, c := range rd.checks {
		ok := results[i] == nil
		body[c.Name] = "ok"
		if !ok {
			body[c.Name] = "unavailable"
			ready = ready && c.Optional
		}
		rd.record(c, ok, results[i])
	}
	status, code := "ready", http.StatusOK
	switch {
	case rd.draining():
		status, code = "draining", http.StatusServiceUnavailable
	case !ready:
		status, code = "unready", http.StatusServiceUnavailable
	}
	body["status"] = status
	if rd.metrics != nil && rd.metrics.Ready != nil {
		rd.metrics.Ready.Set(boolFloat(code == http.StatusOK))
	}
	writeJSON(w, code, body)
}

// record sets the check's gauge and logs a change of its state.
func (rd *readiness) record(c Check, ok bool, err error) {
	if rd.metrics != nil && rd.metrics.ReadinessCheck != nil {
		rd.metrics.ReadinessCheck.WithLabelValues(c.Name).Set(boolFloat(ok))
	}
	rd.mu.Lock()
	was, seen := rd.last[c.Name]
	rd.last[c.Name] = ok
	rd.mu.Unlock()
	switch {
	case !ok && (was || !seen):
		if c.Optional {
			rd.log.Warn("readiness check failing; the replica stays ready", "check", c.Name, "err", err)
		} else {
			rd.log.Warn("readiness check failing; the replica is not ready", "check", c.Name, "err", err)
		}
	case ok && seen && !was:
		rd.log.Info("readiness check passing again", "check", c.Name)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
