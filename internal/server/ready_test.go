package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/server"
)

// /readyz: Redis and the components decide; PostgreSQL is reported in the
// body and the metric but leaves the replica ready; draining is 503
// whatever the checks say; a check that hangs is cut at a second.
func TestReadyz(t *testing.T) {
	down := errors.New("connection refused")
	// Each check's answer, swapped whole between rows.
	type box struct{ err error }
	var redisErr, pgErr, engineErr atomic.Pointer[box]
	var draining, pgHangs atomic.Bool
	fn := func(v *atomic.Pointer[box]) func(context.Context) error {
		return func(context.Context) error { return v.Load().err }
	}
	m := metrics.New()
	h := server.New(server.Options{
		Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Checks: []server.Check{
			{Name: "redis", Fn: fn(&redisErr)},
			{Name: "postgres", Optional: true, Fn: func(ctx context.Context) error {
				if pgHangs.Load() {
					<-ctx.Done()
					return ctx.Err()
				}
				return fn(&pgErr)(ctx)
			}},
			{Name: "engine", Fn: fn(&engineErr)},
		},
		Draining: draining.Load,
	})
	tests := []struct {
		name                string
		redis, pg, engine   error
		pgHangs, drain      bool
		code                int
		status, pgState     string
		readyGauge, pgGauge float64
	}{
		{"all well", nil, nil, nil, false, false, 200, "ready", "ok", 1, 1},
		{"postgres down", nil, down, nil, false, false, 200, "ready", "unavailable", 1, 0},
		{"postgres hangs", nil, nil, nil, true, false, 200, "ready", "unavailable", 1, 0},
		{"redis down", down, nil, nil, false, false, 503, "unready", "ok", 0, 1},
		{"a component stopped", nil, nil, errors.New("engine stopped"), false, false, 503, "unready", "ok", 0, 1},
		{"draining", nil, nil, nil, false, true, 503, "draining", "ok", 0, 1},
		{"draining, postgres down", nil, down, nil, false, true, 503, "draining", "unavailable", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redisErr.Store(&box{tt.redis})
			pgErr.Store(&box{tt.pg})
			engineErr.Store(&box{tt.engine})
			pgHangs.Store(tt.pgHangs)
			draining.Store(tt.drain)
			start := time.Now()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("readyz took %s", d)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.code || body["status"] != tt.status || body["postgres"] != tt.pgState {
				t.Errorf("readyz = %d %v, want %d status %s postgres %s", rec.Code, body, tt.code, tt.status, tt.pgState)
			}
			if got := testutil.ToFloat64(m.Ready); got != tt.readyGauge {
				t.Errorf("kfgate_ready = %v, want %v", got, tt.readyGauge)
			}
			if got := testutil.ToFloat64(m.ReadinessCheck.WithLabelValues("postgres")); got != tt.pgGauge {
				t.Errorf(`kfgate_readiness_check{check="postgres"} = %v, want %v`, got, tt.pgGauge)
			}
		})
	}
}
