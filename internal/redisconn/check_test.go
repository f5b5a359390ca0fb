package redisconn_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/redisconn"
	"github.com/kfgate/kfgate/internal/redistest"
)

// Check refuses a server that evicts keys (with CONFIG and, on a managed
// Redis where CONFIG is renamed away, from INFO), refuses one whose version
// it cannot tell, and warns when neither AOF nor a replica keeps the data.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	check := func(p *redistest.Process) ([]string, error) {
		c := p.Client()
		defer c.Close()
		return redisconn.Check(ctx, c)
	}

	t.Run("evicting", func(t *testing.T) {
		_, err := check(redistest.StartServer(t, "maxmemory-policy allkeys-lru"))
		if !errors.Is(err, redisconn.ErrUnfit) || !strings.Contains(err.Error(), "maxmemory-policy is allkeys-lru") {
			t.Errorf("Check = %v, want the eviction policy refused", err)
		}
	})
	t.Run("evicting, CONFIG renamed", func(t *testing.T) {
		_, err := check(redistest.StartServer(t, "maxmemory-policy volatile-ttl", `rename-command CONFIG ""`))
		if !errors.Is(err, redisconn.ErrUnfit) || !strings.Contains(err.Error(), "maxmemory-policy is volatile-ttl") {
			t.Errorf("Check = %v, want the eviction policy refused", err)
		}
	})
	t.Run("unprotected", func(t *testing.T) {
		warnings, err := check(redistest.StartServer(t))
		if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "neither AOF") {
			t.Errorf("Check = %q, %v; want one warning", warnings, err)
		}
	})
	t.Run("AOF", func(t *testing.T) {
		warnings, err := check(redistest.StartServer(t, "appendonly yes"))
		if err != nil || len(warnings) != 0 {
			t.Errorf("Check = %q, %v; want no warning", warnings, err)
		}
	})
	t.Run("replica", func(t *testing.T) {
		primary := redistest.StartServer(t)
		replica := redistest.StartServer(t, "replicaof "+strings.Replace(primary.Addr, ":", " ", 1))
		redistest.WaitReplicated(t, primary, replica)
		warnings, err := check(primary)
		if err != nil || len(warnings) != 0 {
			t.Errorf("Check = %q, %v; want no warning", warnings, err)
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr(), DisableIdentity: true, Protocol: 2})
		defer c.Close()
		if _, err := redisconn.Check(ctx, c); !errors.Is(err, redisconn.ErrUnfit) || !strings.Contains(err.Error(), "needs 7.0 or later") {
			t.Errorf("Check = %v, want the version refused", err)
		}
	})
}

// Open runs the checks: a server that evicts keys is refused at start,
// with the reason.
func TestOpenRefusesUnfit(t *testing.T) {
	p := redistest.StartServer(t, "maxmemory-policy allkeys-random")
	_, err := redisconn.Open(context.Background(), redisconn.Options{URL: "redis://" + p.Addr})
	if !errors.Is(err, redisconn.ErrUnfit) {
		t.Fatalf("Open = %v, want ErrUnfit", err)
	}
	if !strings.Contains(err.Error(), p.Addr) || !strings.Contains(err.Error(), "noeviction") {
		t.Errorf("Open's error does not say where and what to set: %v", err)
	}
}

// With redis.sentinel.tls kfgate speaks TLS to the sentinels: the first
// byte a sentinel gets is a TLS handshake record's (22), not RESP's.
func TestOpenSentinelTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	first := make(chan byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b := make([]byte, 1)
		if _, err := c.Read(b); err == nil {
			first <- b[0]
		}
		_ = c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = redisconn.Open(ctx, redisconn.Options{Sentinel: redisconn.Sentinel{
		MasterName: "kfgate", Addresses: []string{ln.Addr().String()}, TLS: true}})
	if err == nil {
		t.Fatal("Open succeeded against a sentinel that said nothing")
	}
	select {
	case b := <-first:
		if b != 22 {
			t.Fatalf("the sentinel got %q first, want a TLS handshake (22)", b)
		}
	default:
		t.Fatal("the sentinel was never dialed")
	}
}
