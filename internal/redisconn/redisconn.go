// Package redisconn opens kfgate's Redis: the configured server, or, with no
// URL, an embedded Redis-protocol server (miniredis) in the process, so that
// both go through the same go-redis client and the same Lua scripts.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Conn is an open Redis client and whatever must be closed with it.
type Conn struct {
	*redis.Client
	Embedded bool // true when the server is miniredis in this process
	embedded *miniredis.Miniredis
}

// Open connects to url ("redis://…" or "rediss://…") and checks the server
// answers; an empty url starts the embedded server on a loopback port.
func Open(ctx context.Context, url string) (*Conn, error) {
	c := &Conn{}
	var opts *redis.Options
	if url == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		c.Embedded, c.embedded = true, m
		opts = &redis.Options{Addr: m.Addr()}
	} else {
		var err error
		if opts, err = redis.ParseURL(url); err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
	}
	// kfgate speaks plain RESP2 commands and scripts; skip the handshake
	// extras (CLIENT SETINFO) that older servers and miniredis refuse.
	opts.DisableIdentity = true
	opts.Protocol = 2
	c.Client = redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", opts.Addr, err)
	}
	return c, nil
}

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
