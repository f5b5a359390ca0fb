// Package redisconn opens kfgate's Redis: the configured server, the
// primary that Redis Sentinel names (followed across failovers), or, with
// neither, an embedded Redis-protocol server (miniredis) in the process, so
// that all go through the same go-redis client and the same Lua scripts.
package redisconn

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Options say which Redis to open: Sentinel when its MasterName is set,
// else URL, else the embedded server.
type Options struct {
	URL      string // "redis://…" or "rediss://…"
	Sentinel Sentinel
}

// Sentinel names a primary that Redis Sentinel watches.
type Sentinel struct {
	MasterName string
	Addresses  []string // host:port of the sentinels
	Username   string   // of the primary and its replicas
	Password   string
	DB         int
	// SentinelPassword logs in to the sentinels themselves.
	SentinelPassword string
	// TLS: to the sentinels and the servers they name, each verified
	// against the host name dialed (crypto/tls takes it from the address).
	TLS bool
}

// Conn is an open Redis client and whatever must be closed with it.
type Conn struct {
	*redis.Client
	Embedded bool // true when the server is miniredis in this process
	// Warnings are what the startup checks found worth telling the
	// operator without refusing to start (Check).
	Warnings []string
	embedded *miniredis.Miniredis
}

// Open connects as o says, checks the server answers and, unless it is
// the embedded one, that it is fit for kfgate (Check): an unfit server is
// an error that says why.
func Open(ctx context.Context, o Options) (*Conn, error) {
	c := &Conn{}
	where := ""
	switch {
	case o.Sentinel.MasterName != "":
		s := o.Sentinel
		var tlsConfig *tls.Config
		if s.TLS {
			tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.Client = redis.NewFailoverClient(&redis.FailoverOptions{
			TLSConfig:  tlsConfig,
			MasterName: s.MasterName, SentinelAddrs: s.Addresses, SentinelPassword: s.SentinelPassword,
			Username: s.Username, Password: s.Password, DB: s.DB,
			// As below: plain RESP2, no CLIENT SETINFO, pipelines as many.
			DisableIdentity: true, Protocol: 2, PipelinePoolSize: poolSize(),
		})
		where = fmt.Sprintf("the primary %q of the sentinels %v", s.MasterName, s.Addresses)
	case o.URL == "":
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		c.Embedded, c.embedded = true, m
		c.Client = newClient(&redis.Options{Addr: m.Addr()})
		where = m.Addr()
	default:
		opts, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		c.Client = newClient(opts)
		where = opts.Addr
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", where, err)
	}
	// The embedded server is miniredis: it has no INFO fields, no
	// eviction and no persistence to check, and the log already says it
	// keeps nothing across restarts.
	if c.Embedded {
		return c, nil
	}
	warnings, err := Check(pctx, c.Client)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis at %s: %w", where, err)
	}
	c.Warnings = warnings
	return c, nil
}

// newClient opens a client of one server. kfgate speaks plain RESP2
// commands and scripts; it skips the handshake extras (CLIENT SETINFO)
// that older servers and miniredis refuse.
//
// Pipelines get as many connections as the rest (go-redis gives them 10 of
// their own): with redis.min_replicas_ack every callback is a pipeline (its
// record and WAIT), and the callbacks of a busy replica must not queue for
// ten connections.
func newClient(opts *redis.Options) *redis.Client {
	opts.DisableIdentity = true
	opts.Protocol = 2
	opts.PipelinePoolSize = cmp.Or(opts.PoolSize, poolSize())
	return redis.NewClient(opts)
}

// poolSize is go-redis's default pool size.
func poolSize() int { return 10 * runtime.GOMAXPROCS(0) }

// Close closes the client and stops the embedded server, if any.
func (c *Conn) Close() error {
	err := c.Client.Close()
	if c.embedded != nil {
		c.embedded.Close()
	}
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}

// Log sends go-redis's own messages (a failed dial during a failover, a
// sentinel that does not answer) to log, at warn, with kfgate's other
// lines, instead of go-redis's unstructured lines on stderr; before Log,
// to slog's default logger. go-redis's logger is process-wide: it is set
// once, here, before anything runs, and Log only swaps where it writes.
func Log(log *slog.Logger) { logTo.Store(log) }

var logTo atomic.Pointer[slog.Logger]

func init() { redis.SetLogger(printer{}) }

type printer struct{}

func (printer) Printf(ctx context.Context, format string, v ...any) {
	log := logTo.Load()
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "redis client", "component", "go-redis", "detail", fmt.Sprintf(format, v...))
}
