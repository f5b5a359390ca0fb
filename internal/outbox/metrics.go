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
	// Calls counts WeChat API calls by api ("message/custom/send") and
	// errcode: "0", WeChat's errcode, or "transport" for a network error or
	// HTTP 5xx (no answer from WeChat).
	Calls *prometheus.CounterVec
	// Final counts messages reaching a final state, by status.
	Final *prometheus.CounterVec
}

// NewMetrics registers the outbox's collectors on reg, with
// kfgate_outbox_backlog read from b's consumer group at each scrape.
// kfgate_wechat_api_calls_total is shared with any other package that
// registered it first.
func NewMetrics(reg prometheus.Registerer, b *Outbox) (*Metrics, error) {
	m := &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_wechat_api_calls_total",
			Help: "WeChat API calls by API and errcode (\"transport\": no answer from WeChat).",
		}, []string{"api", "errcode"}),
		Final: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_outbox_messages_total",
			Help: "Outbound messages that reached a final state, by status (sent, failed).",
		}, []string{"status"}),
	}
	for _, c := range []*prometheus.CounterVec{m.Calls, m.Final} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			if c == m.Calls {
				m.Calls = are.ExistingCollector.(*prometheus.CounterVec)
			} else {
				m.Final = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	if err := reg.Register(backlogCollector{b}); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) call(api string, err error) {
	if m == nil {
		return
	}
	code := "0"
	switch {
	case err == nil:
	case wxapi.Code(err) != 0:
		code = strconv.Itoa(wxapi.Code(err))
	default:
		code = "transport"
	}
	m.Calls.WithLabelValues(api, code).Inc()
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
