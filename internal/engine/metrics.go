package engine

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Collector exports the engine's state as Prometheus gauges, read from
// Redis at each scrape (so every replica reports the same, shared state):
// sessions by state, queue length by account, agents by status. The cost
// is one SCAN over the live sessions and queues per scrape, fine for the
// thousands of conversations a team holds at once.
type Collector struct {
	rdb    redis.Cmdable
	prefix string

	sessions, queue, agents *prometheus.Desc
	overdue, flagged        *prometheus.Desc
}

// NewCollector returns the Collector of the state under prefix.
func NewCollector(rdb redis.Cmdable, prefix string) *Collector {
	return &Collector{rdb: rdb, prefix: prefix,
		sessions: prometheus.NewDesc("kfgate_sessions", "Live sessions by state.", []string{"state"}, nil),
		queue:    prometheus.NewDesc("kfgate_queue_length", "Users waiting, by account.", []string{"account"}, nil),
		agents:   prometheus.NewDesc("kfgate_agents", "Agents by status (online, away, offline).", []string{"status"}, nil),
		overdue: prometheus.NewDesc("kfgate_sessions_overdue_total",
			"Sessions whose agent owed the user an answer past engine.reply_sla (counted by the session scripts in Redis).", nil, nil),
		flagged: prometheus.NewDesc("kfgate_sessions_flagged_total",
			"Sessions flagged for supervisors by the survey's lowest answer (counted by the session scripts in Redis).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.queue
	ch <- c.agents
	ch <- c.overdue
	ch <- c.flagged
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	states := map[string]float64{"waiting": 0, "serving": 0, "transferring": 0}
	c.scan(ctx, c.prefix+"sess:*", func(keys []string) {
		cmds := make([]*redis.StringCmd, len(keys))
		_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HGet(ctx, k, "state")
			}
			return nil
		})
		for _, cmd := range cmds {
			if s := cmd.Val(); s != "" {
				states[s]++
			}
		}
	})
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, n, s)
	}
	waiting := map[string]float64{}
	c.scan(ctx, c.prefix+"queue:*", func(keys []string) {
		for _, k := range keys {
			account, _, _ := strings.Cut(strings.TrimPrefix(k, c.prefix+"queue:"), ":")
			waiting[account] += float64(c.rdb.LLen(ctx, k).Val())
		}
	})
	for a, n := range waiting {
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, n, a)
	}
	status := map[string]float64{"online": 0, "away": 0, "offline": 0}
	for _, id := range c.rdb.SMembers(ctx, c.prefix+"agents").Val() {
		if s := c.rdb.HGet(ctx, c.prefix+"agent:"+id, "status").Val(); s != "" {
			status[s]++
		}
	}
	for s, n := range status {
		ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, n, s)
	}
	counts := c.rdb.HMGet(ctx, c.prefix+"counts", "overdue", "flagged").Val()
	for i, d := range []*prometheus.Desc{c.overdue, c.flagged} {
		var n float64
		if i < len(counts) {
			if v, ok := counts[i].(string); ok {
				n, _ = strconv.ParseFloat(v, 64)
			}
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, n)
	}
}

func (c *Collector) scan(ctx context.Context, match string, each func(keys []string)) {
	var cursor uint64
	for {
		keys, next, err := c.rdb.Scan(ctx, cursor, match, 500).Result()
		if err != nil {
			return
		}
		if len(keys) > 0 {
			each(keys)
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}
