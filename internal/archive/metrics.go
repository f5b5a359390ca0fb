package archive

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var backlogDesc = prometheus.NewDesc("kfgate_archive_backlog",
	"Events not archived in PostgreSQL yet: pending in the archive's consumer group plus not yet read.", nil, nil)

// registerMetrics registers kfgate_archive_backlog (read from Redis at each
// scrape, so every replica reports the one backlog) and
// kfgate_archive_rows_total (shared if already registered).
func registerMetrics(reg prometheus.Registerer, w *Writer) (*prometheus.CounterVec, error) {
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kfgate_archive_rows_total",
		Help: "Rows the archive wrote (inserted or changed) in PostgreSQL, by table.",
	}, []string{"table"})
	if err := reg.Register(rows); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		rows = are.ExistingCollector.(*prometheus.CounterVec)
	}
	if err := reg.Register(backlogCollector{w}); err != nil {
		return nil, err
	}
	return rows, nil
}

type backlogCollector struct{ w *Writer }

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := c.w.Backlog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n))
}
