// Package metrics defines kfgate's Prometheus metrics, all prefixed
// kfgate_, on a registry of their own (no global state), served at /metrics.
//
// Two kinds of metric live here. Per-replica ones (counters, histograms,
// this process's pools and connections) count what this replica did: add
// them up across replicas with sum(). Cluster-wide gauges (sessions, queue
// length, agents, stream lag and backlog, dead letters) are read from the
// Redis every replica shares, so every replica exports the same value: take
// max() across replicas, never sum(). Reading them costs a fixed number of
// Redis commands per scrape, whatever the size of the keyspace, and a
// Redis error fails the scrape (HTTP 500, Prometheus's up = 0) instead of
// showing zeros.
//
// The account is the label "account" (its appid) everywhere.
package metrics

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors kfgate exports that are not owned by one
// package; packages with their own register on Registry.
type Metrics struct {
	Registry *prometheus.Registry

	// CallbackRequests counts requests to /wechat/{appid} by account and
	// result: ok, duplicate, verified, or the error code (bad_signature,
	// malformed_xml, too_large, unknown_account, …). Unknown appids are
	// counted under account="unknown" so that a scanner cannot blow up the
	// label set.
	CallbackRequests *prometheus.CounterVec
	// CallbackDuration is the time to answer a callback, by account and result.
	CallbackDuration *prometheus.HistogramVec
	// APIAuthFailures counts refused API credentials by reason: no_token,
	// bad_token, not_admin, blocked (too many failures from one address).
	APIAuthFailures *prometheus.CounterVec
	// WeChatCalls counts every call to WeChat's API, token fetches included,
	// by account, api and errcode (see WeChat); WeChatDuration times them.
	WeChatCalls    *prometheus.CounterVec
	WeChatDuration *prometheus.HistogramVec
	// FirstReply is the time from a session's start to its first agent
	// answer sent to WeChat; Waiting the time a queued user waited for an
	// agent; SessionDuration a session's life, observed when it closes.
	// All by account.
	FirstReply, Waiting, SessionDuration *prometheus.HistogramVec
	// SurveyAnswers counts satisfaction answers by account and choice.
	SurveyAnswers *prometheus.CounterVec
	// ReadinessCheck is 1 while a /readyz check passes, by check: redis,
	// postgres (reported, never making the replica unready), and the
	// replica's components (engine, outbox, archive, …).
	ReadinessCheck *prometheus.GaugeVec
	// Ready is 1 while /readyz answers 200: 0 when a required check fails
	// and while the replica drains after SIGTERM.
	Ready prometheus.Gauge
}

// conversationBuckets span seconds to hours: a queue wait, a first reply
// and a conversation are human times.
var conversationBuckets = []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}

// New returns kfgate's metrics registered on a new registry, with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		CallbackRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_callback_requests_total",
			Help: "WeChat callbacks to /wechat/{appid} by account and result.",
		}, []string{"account", "result"}),
		CallbackDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kfgate_callback_duration_seconds",
			Help:    "Time to answer a WeChat callback, by account and result; WeChat gives up after 5 s.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"account", "result"}),
		APIAuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_api_auth_failures_total",
			Help: "API calls refused for their credentials, by reason.",
		}, []string{"reason"}),
		WeChatCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_wechat_api_calls_total",
			Help: "Calls to WeChat's API, token fetches included, by account, api and errcode (\"transport\": no answer from WeChat).",
		}, []string{"account", "api", "errcode"}),
		WeChatDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kfgate_wechat_api_duration_seconds",
			Help:    "Time of a call to WeChat's API (failover included), by api.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"api"}),
		FirstReply: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kfgate_first_reply_seconds",
			Help:    "Time from a session's start to its first agent answer sent to WeChat, by account.",
			Buckets: conversationBuckets,
		}, []string{"account"}),
		Waiting: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kfgate_waiting_seconds",
			Help:    "Time a queued user waited for an agent, by account.",
			Buckets: conversationBuckets,
		}, []string{"account"}),
		SessionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kfgate_session_duration_seconds",
			Help:    "Life of a session, observed when it closes, by account.",
			Buckets: conversationBuckets,
		}, []string{"account"}),
		SurveyAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_survey_answers_total",
			Help: "Satisfaction survey answers by account and choice id (\"other\": not a configured choice).",
		}, []string{"account", "choice"}),
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
		m.WeChatCalls,
		m.WeChatDuration,
		m.FirstReply,
		m.Waiting,
		m.SessionDuration,
		m.SurveyAnswers,
	)
	return m
}

// WeChat is the wxapi observer that counts and times every call to WeChat
// (a func of wxapi.Observer's type, so this package needs no wxapi).
func (m *Metrics) WeChat() func(account, api, errcode string, d time.Duration) {
	return func(account, api, errcode string, d time.Duration) {
		m.WeChatCalls.WithLabelValues(account, api, errcode).Inc()
		m.WeChatDuration.WithLabelValues(api).Observe(d.Seconds())
	}
}

// BuildInfo registers kfgate_build_info{version,goversion} = 1.
func (m *Metrics) BuildInfo(version string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "kfgate_build_info",
		Help:        "Always 1: the version of kfgate and of Go it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	m.Registry.MustRegister(g)
}
