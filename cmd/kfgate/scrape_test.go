package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/stream"
)

// commandCounter is a go-redis hook counting the commands a client sends,
// pipelined ones included.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

// scrapeRig is every collector of serve that reads Redis, on a client whose
// commands are counted: the engine's counts and the streams' lag
// (engineMetrics, as serve registers them), the outbox backlog, the
// archive backlog and the dead letters.
type scrapeRig struct {
	rdb     *redis.Client
	prefix  string
	eng     *engine.Engine
	store   *intake.Store
	counter *commandCounter
	handler http.Handler
}

func newScrapeRig(t *testing.T, rdb *redis.Client, prefix string) *scrapeRig {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &config.Config{}
	cfg.Redis.Prefix = prefix
	cfg.Engine.Strategy = "least_loaded"
	cfg.Engine.ContextSize = 5
	cfg.Engine.IdleTimeout, cfg.Engine.WarnBefore, cfg.Engine.ReturnWindow = time.Hour, time.Minute, time.Hour
	cfg.Accounts = []config.Account{{AppID: "wxscrape"}}
	eng, err := newEngine(cfg, rdb, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New()
	store := intake.NewStore(rdb, prefix, time.Minute)
	if err := engineMetrics(ctx, reg, cfg, rdb, eng, store.Stream(), log); err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(outbox.Options{Redis: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.NewMetrics(reg.Registry, ob); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.NewDeadLetter(rdb, prefix, reg.Registry); err != nil {
		t.Fatal(err)
	}
	pool, _ := pgtest.New(t)
	if _, err := archive.New(archive.Options{Redis: rdb, Prefix: prefix, DB: pool, Consumer: "c", Logger: log,
		Registerer: reg.Registry}); err != nil {
		t.Fatal(err)
	}
	c := &commandCounter{}
	rdb.AddHook(c)
	return &scrapeRig{rdb: rdb, prefix: prefix, eng: eng, store: store, counter: c,
		handler: promhttp.HandlerFor(reg.Registry, promhttp.HandlerOpts{})}
}

// scrape returns the status of one scrape and the Redis commands it cost.
func (r *scrapeRig) scrape(t *testing.T) (int, int64, string) {
	t.Helper()
	before := r.counter.n.Load()
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Code, r.counter.n.Load() - before, rec.Body.String()
}

// A scrape costs the same number of Redis commands on an empty kfgate as on
// one holding 1,000,000 dedup keys and 10,000 live sessions: the gauges
// read counts the scripts keep, never the keyspace.
func TestScrapeCostIsFlat(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	rig := newScrapeRig(t, rdb, prefix)
	status, empty, _ := rig.scrape(t)
	if status != 200 {
		t.Fatalf("scrape of an empty kfgate = %d", status)
	}

	// 1,000,000 dedup keys, as the intake writes them, and 10,000 users:
	// 4,000 served by 4 agents, 6,000 waiting in the queue.
	const dedupKeys, users = 1_000_000, 10_000
	start := time.Now()
	// Written by a script, 100,000 a call: the test's time goes to the
	// scrape, not to a million round trips.
	fill := redis.NewScript(`for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  redis.call(ARGV[4], ARGV[1] .. i .. ':1700000000', 'success', 'PX', 600000)
end
return 1`)
	unfill := redis.NewScript(`for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  redis.call('UNLINK', ARGV[1] .. i .. ':1700000000')
end
return 1`)
	for i := 0; i < dedupKeys; i += 100_000 {
		if err := fill.Run(ctx, rdb, nil, prefix+"dedup:wxscrape:o", i, i+99_999, "SET").Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // faster than redistest's one DEL per key
		for i := 0; i < dedupKeys; i += 100_000 {
			_ = unfill.Run(ctx, rdb, nil, prefix+"dedup:wxscrape:o", i, i+99_999).Err()
		}
	})
	t.Logf("dedup keys written in %v", time.Since(start))
	start = time.Now()
	for i := range 4 {
		if err := rig.eng.PutAgent(ctx, kf.Agent{ID: fmt.Sprint("a", i), Accounts: []string{"wxscrape"}, MaxSessions: 1000,
			Weight: 1, Status: kf.AgentOnline}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < users; i += 8 {
				m := &kf.Message{Account: "wxscrape", OpenID: "u" + strconv.Itoa(i), Type: kf.MsgText, Content: "hi",
					MsgID: strconv.Itoa(i), CreateTime: int64(i)}
				if err := rig.eng.Handle(ctx, m, engine.Entry{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("sessions opened in %v", time.Since(start))
	// An entry the engine has not read.
	if err := rdb.XGroupCreateMkStream(ctx, rig.store.Stream(), engine.Group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.store.Record(ctx, intake.Delivery{Message: &kf.Message{Account: "wxscrape", OpenID: "late",
		Type: kf.MsgText, Content: "hi", MsgID: "late", CreateTime: 1}}); err != nil {
		t.Fatal(err)
	}

	status, full, body := rig.scrape(t)
	if status != 200 {
		t.Fatalf("scrape = %d: %.300s", status, body)
	}
	for _, want := range []string{`kfgate_sessions{state="serving"} 4000`, `kfgate_sessions{state="waiting"} 6000`,
		`kfgate_queue_length{account="wxscrape"} 6000`, `kfgate_agents{status="online"} 4`, `kfgate_stream_lag{stream="intake"} 1`} {
		if !containsLine(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	keys := rdb.DBSize(ctx).Val()
	t.Logf("Redis commands per scrape: %d on an empty kfgate, %d with %d dedup keys and %d sessions (%d keys in the database)",
		empty, full, dedupKeys, users, keys)
	// The streams' collector may need one more command per stream when it
	// has entries to date (XPENDING or XRANGE after XINFO GROUPS): at most
	// 3 streams more, never a number that grows with the data.
	if full > empty+3 {
		t.Errorf("a scrape cost %d Redis commands with the data, %d without", full, empty)
	}
}

func containsLine(body, prefix string) bool {
	for line := range strings.Lines(body) {
		line = strings.TrimSuffix(line, "\n")
		if line == prefix || strings.HasPrefix(line, prefix+" ") {
			return true
		}
	}
	return false
}

// With Redis gone, a scrape fails (HTTP 500, so Prometheus records up = 0)
// and names the error; it never reports zeros.
func TestScrapeFailsWithRedisDown(t *testing.T) {
	rdb, prefix := redistest.New(t)
	rig := newScrapeRig(t, rdb, prefix)
	if status, _, _ := rig.scrape(t); status != 200 {
		t.Fatalf("scrape with Redis up = %d", status)
	}
	// The same collectors on a client whose Redis went away.
	opts, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	gone := redis.NewClient(opts)
	rig = newScrapeRig(t, gone, prefix)
	_ = gone.Close()
	status, _, body := rig.scrape(t)
	if status != http.StatusInternalServerError {
		t.Fatalf("scrape with Redis down = %d, want 500: %.500s", status, body)
	}
	for _, want := range []string{"kfgate_sessions", "kfgate_stream_lag", "client is closed"} {
		if !strings.Contains(body, want) {
			t.Errorf("the failed scrape does not name %s: %.500s", want, body)
		}
	}
	if containsLine(body, `kfgate_sessions{state="serving"} 0`) {
		t.Error("a scrape with Redis down reported zero sessions")
	}
}
