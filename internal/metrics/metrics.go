// Package metrics defines kfgate's Prometheus metrics, all prefixed
// kfgate_, on a registry of their own (no global state), served at /metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector kfgate exports.
type Metrics struct {
	Registry *prometheus.Registry

	// CallbackRequests counts requests to /wechat/{appid} by account and
	// result: ok, duplicate, verified, or the error code (bad_signature,
	// malformed_xml, too_large, unknown_account, …). Unknown appids are
	// counted under appid="unknown" so that a scanner cannot blow up the
	// label set.
	CallbackRequests *prometheus.CounterVec
	// CallbackDuration is the time to answer a callback, by account and result.
	CallbackDuration *prometheus.HistogramVec
	// APIAuthFailures counts refused API credentials by reason: no_token,
	// bad_token, not_admin, blocked (too many failures from one address).
	APIAuthFailures *prometheus.CounterVec
	// ReadinessCheck is 1 while a /readyz check passes, by check: redis,
	// postgres (reported, never making the replica unready), and the
	// replica's components (engine, outbox, archive, …).
	ReadinessCheck *prometheus.GaugeVec
	// Ready is 1 while /readyz answers 200: 0 when a required check fails
	// and while the replica drains after SIGTERM.
	Ready prometheus.Gauge
}

// New returns kfgate's metrics registered on a new registry, with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		CallbackRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_callback_requests_total",
			Help: "WeChat callbacks to /wechat/{appid} by account and result.",
		}, []string{"appid", "result"}),
		CallbackDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kfgate_callback_duration_seconds",
			Help:    "Time to answer a WeChat callback, by account and result; WeChat gives up after 5 s.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"appid", "result"}),
		APIAuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_api_auth_failures_total",
			Help: "API calls refused for their credentials, by reason.",
		}, []string{"reason"}),
		ReadinessCheck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kfgate_readiness_check",
			Help: "1 while a /readyz check passes, by check (postgres is reported but never makes the replica unready).",
		}, []string{"check"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kfgate_ready",
			Help: "1 while /readyz answers 200; 0 when a required check fails or the replica drains.",
		}),
	}
	m.Registry.MustRegister(
		m.APIAuthFailures,
		m.ReadinessCheck,
		m.Ready,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.CallbackRequests,
		m.CallbackDuration,
	)
	return m
}
