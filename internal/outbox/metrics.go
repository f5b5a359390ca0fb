package outbox

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kfgate/kfgate/internal/wxapi"
)

// Metrics are the outbox's Prometheus collectors (README.md, "Metrics":
// outbox backlog, WeChat API calls by API and errcode). A nil *Metrics counts
// nothing.
type Metrics struct {
	// Attempts counts send attempts by account and outcome (errcode): "0",
	// WeChat's errcode (45015: the 48-hour window closed, 45047: the reply
	// quota spent, …), or "transport" for a network error or HTTP 5xx. The
	// calls themselves, by API, are kfgate_wechat_api_calls_total (wxapi's
	// Observer, package metrics).
	Attempts *prometheus.CounterVec
	// Final counts messages reaching a final state, by status.
	Final *prometheus.CounterVec
	// Refused counts messages failed for WeChat's refusal, by account and
	// errcode, whether WeChat answered it or the outbox's own check did
	// without a call (45015: the 48-hour window closed; 45047: the reply
	// quota spent).
	Refused *prometheus.CounterVec
	// Parked counts messages put aside until WeChat's quota for their
	// account is back, by account and errcode (45009: the day's; 45011:
	// the minute's), whether WeChat refused a send or kfgate's own count
	// of the day's sends reached the quota.
	Parked *prometheus.CounterVec
}

// NewMetrics registers the outbox's collectors on reg, with
// kfgate_outbox_backlog read from b's consumer group at each scrape. The
// counters are shared with any registration of them made first.
func NewMetrics(reg prometheus.Registerer, b *Outbox) (*Metrics, error) {
	m := &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_outbox_attempts_total",
			Help: "Outbox send attempts by account and errcode (\"0\": sent; \"transport\": no answer from WeChat).",
		}, []string{"account", "errcode"}),
		Final: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_outbox_messages_total",
			Help: "Outbound messages that reached a final state, by status (sent, failed).",
		}, []string{"status"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_outbox_refusals_total",
			Help: "Outbound messages failed for WeChat's refusal, by account and errcode (45015: 48-hour window closed; 45047: reply quota spent), checked by kfgate or answered by WeChat.",
		}, []string{"account", "errcode"}),
		Parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_outbox_parked_total",
			Help: "Outbound messages put aside until WeChat's send quota for their account is back, by account and errcode (45009: daily; 45011: per minute).",
		}, []string{"account", "errcode"}),
	}
	for _, c := range []*prometheus.CounterVec{m.Attempts, m.Final, m.Refused, m.Parked} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			switch c {
			case m.Attempts:
				m.Attempts = are.ExistingCollector.(*prometheus.CounterVec)
			case m.Final:
				m.Final = are.ExistingCollector.(*prometheus.CounterVec)
			case m.Parked:
				m.Parked = are.ExistingCollector.(*prometheus.CounterVec)
			default:
				m.Refused = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	if err := reg.Register(backlogCollector{b}); err != nil {
		return nil, err
	}
	b.metrics = m
	return m, nil
}

func (m *Metrics) attempt(account string, err error) {
	if m != nil {
		m.Attempts.WithLabelValues(account, wxapi.ErrCode(err)).Inc()
	}
}

func (m *Metrics) refused(account string, errcode int) {
	if m != nil && errcode != 0 {
		m.Refused.WithLabelValues(account, strconv.Itoa(errcode)).Inc()
	}
}

func (m *Metrics) parked(account string, errcode int) {
	if m != nil {
		m.Parked.WithLabelValues(account, strconv.Itoa(errcode)).Inc()
	}
}

func (m *Metrics) final(status string) {
	if m != nil {
		m.Final.WithLabelValues(status).Inc()
	}
}

var backlogDesc = prometheus.NewDesc("kfgate_outbox_backlog",
	"Outbox entries not final yet: pending in the consumer group plus not yet read.", nil, nil)

// backlogCollector reads the backlog from Redis when scraped, so every
// replica reports the cluster's one backlog.
type backlogCollector struct{ b *Outbox }

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := c.b.Backlog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n))
}
