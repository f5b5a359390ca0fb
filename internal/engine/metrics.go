package engine

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kfgate/kfgate/internal/session"
)

// Collector exports the engine's cluster-wide state: sessions by state,
// queue length by account, agents by status, and the overdue and flagged
// sessions. The session scripts keep these counts as they change things
// (session.Counts), so a scrape costs one HGETALL of a few fields, however
// many sessions, dedup or quota keys Redis holds. Every replica reports the
// same numbers: aggregate them with max(), not sum(). A Redis error fails
// the scrape; it never shows zeros.
type Collector struct {
	store *session.Store

	sessions, queue, agents *prometheus.Desc
	overdue, flagged        *prometheus.Desc
}

// NewCollector returns the Collector of store's counts.
func NewCollector(store *session.Store) *Collector {
	return &Collector{store: store,
		sessions: prometheus.NewDesc("kfgate_sessions", "Live sessions by state (cluster-wide: take max() across replicas).", []string{"state"}, nil),
		queue:    prometheus.NewDesc("kfgate_queue_length", "Users waiting, by account (cluster-wide: max()).", []string{"account"}, nil),
		agents:   prometheus.NewDesc("kfgate_agents", "Agents by status: online, away, offline (cluster-wide: max()).", []string{"status"}, nil),
		overdue: prometheus.NewDesc("kfgate_sessions_overdue_total",
			"Sessions whose agent owed the user an answer past engine.reply_sla (counted by the session scripts in Redis; cluster-wide: max()).", nil, nil),
		flagged: prometheus.NewDesc("kfgate_sessions_flagged_total",
			"Sessions flagged for supervisors by the survey's lowest answer (counted by the session scripts in Redis; cluster-wide: max()).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.queue, c.agents, c.overdue, c.flagged} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := c.store.Counts(ctx)
	if err != nil {
		for _, d := range []*prometheus.Desc{c.sessions, c.queue, c.agents, c.overdue, c.flagged} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	for s, v := range n.Sessions {
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(v), s)
	}
	for a, v := range n.Queue {
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(v), a)
	}
	for s, v := range n.Agents {
		ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(v), s)
	}
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.CounterValue, float64(n.Overdue))
	ch <- prometheus.MustNewConstMetric(c.flagged, prometheus.CounterValue, float64(n.Flagged))
}

// Collector returns the Collector of the engine's state.
func (e *Engine) Collector() *Collector { return NewCollector(e.store) }

// Store returns the engine's session store (for the metrics and the
// first-reply time, which the outbox reports).
func (e *Engine) Store() *session.Store { return e.store }
