package redisconn_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/redisconn"
	"github.com/kfgate/kfgate/internal/redistest"
)

// Scripts run through a Batcher by many callers at once each get their
// own answer, in each caller's order. (A script Redis has not loaded yet,
// NOSCRIPT, is its caller's to handle: session.Store's inbound, tested
// there.)
func TestBatcherRunsConcurrentScripts(t *testing.T) {
	rdb, prefix := redistest.New(t)
	ctx := context.Background()
	// Appends ARGV[2] to the list ARGV[1] and returns its length.
	const script = `return redis.call('RPUSH', ARGV[1], ARGV[2])`
	b := redisconn.NewBatcher(rdb, 1, 16)
	defer b.Close()
	before := redistest.CommandCalls(t, rdb)
	const callers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			key := prefix + "list:" + strconv.Itoa(c)
			for i := range each {
				n, err := run(ctx, b, script, key, i).Int()
				if err != nil {
					errs <- err
					return
				}
				if n != i+1 {
					errs <- &orderError{key, i, n}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for c := range callers {
		got, err := rdb.LRange(ctx, prefix+"list:"+strconv.Itoa(c), 0, -1).Result()
		if err != nil || len(got) != each {
			t.Fatalf("caller %d: %v, %v", c, got, err)
		}
		for i, v := range got {
			if v != strconv.Itoa(i) {
				t.Fatalf("caller %d: item %d is %s: out of order", c, i, v)
			}
		}
	}
	after := redistest.CommandCalls(t, rdb)
	if runs := after["eval"] - before["eval"]; runs < callers*each {
		t.Fatalf("%d script runs for %d calls", runs, callers*each)
	}
}

// run sends script with args through b (EVAL: no script to load).
func run(ctx context.Context, b *redisconn.Batcher, script string, args ...any) *redis.Cmd {
	return b.Do(ctx, func(ctx context.Context, c redis.Cmdable) *redis.Cmd { return c.Eval(ctx, script, nil, args...) })
}

type orderError struct {
	key  string
	i, n int
}

func (e *orderError) Error() string {
	return e.key + ": call " + strconv.Itoa(e.i) + " answered length " + strconv.Itoa(e.n)
}

// A caller that gives up gets its context's error; the others are not
// held up.
func TestBatcherCallerGivesUp(t *testing.T) {
	rdb, prefix := redistest.New(t)
	b := redisconn.NewBatcher(rdb, 1, 4)
	defer b.Close()
	const slow = `local t = redis.call('TIME') local u = t[1] * 1000000 + t[2]
		repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - u > 200000 return 1`
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := run(ctx, b, slow).Err(); err == nil {
		t.Fatal("a call past its deadline answered no error")
	}
	const quick = `return redis.call('INCR', ARGV[1])`
	if n, err := run(context.Background(), b, quick, prefix+"n").Int(); err != nil || n != 1 {
		t.Fatalf("the next call: %d, %v", n, err)
	}
}
