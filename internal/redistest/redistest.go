// Package redistest gives tests a real Redis: the server at
// KFGATE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0), with a key
// prefix of the test's own that is cleaned up afterwards. A missing server
// fails the test: in CI that is a failure, never a skip. Tests that kill
// a server or fail one over start redis-server and redis-sentinel
// processes of their own (Process).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the Redis the tests use.
func URL() string {
	if u := os.Getenv("KFGATE_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// New returns a client of the test Redis and a fresh key prefix that ends
// with ":". Keys under the prefix are deleted when the test ends.
func New(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatalf("KFGATE_TEST_REDIS_URL: %v", err)
	}
	opts.DisableIdentity = true
	opts.Protocol = 2
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("the tests need Redis at %s (start it as the README's Test section says): %v", URL(), err)
	}
	prefix := Prefix()
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// Prefix returns a key prefix no other test uses.
func Prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "kfgate-test-" + hex.EncodeToString(b) + ":"
}
