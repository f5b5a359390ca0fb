package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RedisPool is what the Redis pool metrics read (*redis.Client has it).
type RedisPool interface{ PoolStats() *redis.PoolStats }

// PostgresPool is what the PostgreSQL pool metrics read (*pgxpool.Pool).
type PostgresPool interface{ Stat() *pgxpool.Stat }

var (
	redisConns    = prometheus.NewDesc("kfgate_redis_pool_connections", "This replica's Redis connections, by state (total, idle).", []string{"state"}, nil)
	redisTimeouts = prometheus.NewDesc("kfgate_redis_pool_timeouts_total", "Waits for a Redis connection that timed out.", nil, nil)
	redisMisses   = prometheus.NewDesc("kfgate_redis_pool_misses_total", "Commands that found no idle Redis connection.", nil, nil)
	pgConns       = prometheus.NewDesc("kfgate_postgres_pool_connections", "This replica's PostgreSQL connections, by state (acquired, idle, total, max).", []string{"state"}, nil)
	pgAcquires    = prometheus.NewDesc("kfgate_postgres_pool_acquires_total", "Connections taken from the PostgreSQL pool.", nil, nil)
	pgEmpty       = prometheus.NewDesc("kfgate_postgres_pool_empty_acquires_total", "Acquires that had to wait: the pool had no idle connection.", nil, nil)
	pgWait        = prometheus.NewDesc("kfgate_postgres_pool_acquire_seconds_total", "Time spent acquiring PostgreSQL connections.", nil, nil)
)

// RegisterRedisPool exports p's pool statistics (read in memory, no command).
func (m *Metrics) RegisterRedisPool(p RedisPool) { m.Registry.MustRegister(redisPool{p}) }

// RegisterPostgresPool exports p's pool statistics (read in memory).
func (m *Metrics) RegisterPostgresPool(p PostgresPool) { m.Registry.MustRegister(pgPool{p}) }

type redisPool struct{ p RedisPool }

func (c redisPool) Describe(ch chan<- *prometheus.Desc) {
	ch <- redisConns
	ch <- redisTimeouts
	ch <- redisMisses
}

func (c redisPool) Collect(ch chan<- prometheus.Metric) {
	s := c.p.PoolStats()
	ch <- prometheus.MustNewConstMetric(redisConns, prometheus.GaugeValue, float64(s.TotalConns), "total")
	ch <- prometheus.MustNewConstMetric(redisConns, prometheus.GaugeValue, float64(s.IdleConns), "idle")
	ch <- prometheus.MustNewConstMetric(redisTimeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(redisMisses, prometheus.CounterValue, float64(s.Misses))
}

type pgPool struct{ p PostgresPool }

func (c pgPool) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pgConns, pgAcquires, pgEmpty, pgWait} {
		ch <- d
	}
}

func (c pgPool) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stat()
	for state, n := range map[string]int32{"acquired": s.AcquiredConns(), "idle": s.IdleConns(), "total": s.TotalConns(), "max": s.MaxConns()} {
		ch <- prometheus.MustNewConstMetric(pgConns, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(pgAcquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(pgEmpty, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(pgWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
