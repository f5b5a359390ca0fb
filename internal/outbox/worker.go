package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/stream"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// Sender sends one customer-service message; *wxapi.Client is one.
type Sender interface {
	SendCustom(ctx context.Context, appid string, msg wxapi.CustomMessage) error
}

var _ Sender = (*wxapi.Client)(nil)

// WorkerOptions configure a Worker. Durations are the production defaults;
// tests scale them down.
type WorkerOptions struct {
	Outbox *Outbox // required
	Sender Sender  // required
	// Consumer names this worker set in the consumer group; unique per
	// replica. Default host-pid-random.
	Consumer string
	// Workers is the number of goroutines sending. Default 4.
	Workers int
	// Limits are the accounts' sending limits, shared by every replica;
	// an account not in it has DefaultLimit's.
	Limits map[string]Limit
	// Rate, Burst and DailyQuota are the default Limit's fields (see
	// Limit). Defaults: 200, 20 and 500,000.
	Rate       float64
	Burst      int
	DailyQuota int
	// Retries is how many times a retryable failure is retried. Default 8.
	Retries int
	// Backoff is the first retry's delay, doubled per attempt up to
	// MaxBackoff, each with jitter (a random half of it). Default 500ms, 1m.
	Backoff, MaxBackoff time.Duration
	// ClaimIdle is how long an entry stays pending with no attempt before
	// another worker claims it (XAUTOCLAIM): its worker is taken for dead.
	// Keep it above SendTimeout. Default 60s.
	ClaimIdle time.Duration
	// SendTimeout bounds one custom/send call. Default 15s.
	SendTimeout time.Duration
	// Poll is how long a read blocks; it bounds how late a due retry
	// starts when no new message arrives. Default 1s.
	Poll    time.Duration
	Metrics *Metrics // optional
	// Sent, if set, is told of every agent answer WeChat accepted (for the
	// first-reply time); it must be quick.
	Sent   func(ctx context.Context, m Message)
	Logger *slog.Logger // default slog.Default()
	// MaxDeliveries is how many more times an entry is taken up after its
	// last retry before it goes to the dead-letter stream: an entry whose
	// final state cannot be recorded (finish fails for it every time)
	// would otherwise be claimed for ever. Default 5.
	MaxDeliveries int
	// DeadLetter receives such entries; default <prefix>deadletter without
	// metrics.
	DeadLetter *stream.DeadLetter
}

// Limit is how fast and how much one account may send.
//
// WeChat publishes a daily quota for custom/send (500,000 calls for a new
// account, more with followers, 45009 once spent) and a minute-level
// limit whose threshold it does not publish (45011); docs/wechat.md, "API
// quotas". Both refusals park the account's messages until the quota is
// back (the next day in China time, the next minute) instead of failing
// them or retrying into the same refusal.
type Limit struct {
	// Rate is the sends per second, Burst how many may go back to back.
	// WeChat sets no per-second figure; 200/s drains a surge's 100,000
	// queue notices in under 10 minutes while keeping a day's quota from
	// going in less than 40. With a burst of 1 (GCRA with no tolerance)
	// every send that comes a Redis round trip after its slot loses that
	// time for good; a burst lets the next sends catch up.
	Rate  float64
	Burst int
	// DailyQuota is the account's custom/send quota per day (China time):
	// kfgate counts its sends and parks the account once they reach it,
	// without spending calls on 45009. Negative: not counted (WeChat's
	// 45009 still parks).
	DailyQuota int
}

// DefaultLimit is the Limit of an account the configuration does not
// name: WeChat's quota for a new account.
var DefaultLimit = Limit{Rate: 200, Burst: 20, DailyQuota: 500_000}

// limit returns account's Limit.
func (w *Worker) limit(account string) Limit {
	if l, ok := w.o.Limits[account]; ok {
		if l.Rate <= 0 {
			l.Rate = w.o.Rate
		}
		if l.Burst <= 0 {
			l.Burst = w.o.Burst
		}
		if l.DailyQuota == 0 {
			l.DailyQuota = w.o.DailyQuota
		}
		return l
	}
	return Limit{Rate: w.o.Rate, Burst: w.o.Burst, DailyQuota: w.o.DailyQuota}
}

// Worker sends the outbox's messages; run one on every replica.
type Worker struct {
	o        WorkerOptions
	b        *Outbox
	group    *stream.Group
	claimed  chan redis.XMessage
	mu       sync.Mutex
	inflight map[string]bool // entries one of this worker's goroutines holds
}

// NewWorker returns a Worker.
func NewWorker(o WorkerOptions) (*Worker, error) {
	if o.Outbox == nil || o.Sender == nil {
		return nil, errors.New("outbox: WorkerOptions.Outbox and Sender are required")
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		o.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Backoff, 500*time.Millisecond)
	def(&o.MaxBackoff, time.Minute)
	def(&o.ClaimIdle, time.Minute)
	def(&o.SendTimeout, 15*time.Second)
	def(&o.Poll, time.Second)
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Rate <= 0 {
		o.Rate = DefaultLimit.Rate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultLimit.Burst
	}
	if o.DailyQuota == 0 {
		o.DailyQuota = DefaultLimit.DailyQuota
	}
	if o.Retries <= 0 {
		o.Retries = 8
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = 5
	}
	if o.DeadLetter == nil {
		dl, err := stream.NewDeadLetter(o.Outbox.rdb, o.Outbox.prefix, nil)
		if err != nil {
			return nil, err
		}
		o.DeadLetter = dl
	}
	// A group Redis lost is created again from what comes next, so that
	// nothing already sent is sent twice. Its delivery counts are not the
	// limit (an entry waiting for a retry is claimed and put back as it
	// waits); the attempts are, in handle.
	g := &stream.Group{RDB: o.Outbox.rdb, Stream: o.Outbox.stream(), Name: o.Outbox.group, Consumer: o.Consumer,
		Restart: "$", Dead: o.DeadLetter, Logger: o.Logger}
	return &Worker{o: o, b: o.Outbox, group: g, claimed: make(chan redis.XMessage), inflight: map[string]bool{}}, nil
}

// Run sends until ctx ends, then returns once the calls under way have
// finished (each bounded by SendTimeout): messages not started stay in the
// stream for the other replicas.
//
// One goroutine reads (feed) and Workers goroutines send: the reads block
// on one Redis connection, not one per sender, so a replica's senders
// cannot take the connection pool the callbacks and the engine need; and
// it reads only as many entries as senders are free, in the stream's
// order.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.group.Create(ctx); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.claim(ctx) })
	work := make(chan redis.XMessage)
	var idle atomic.Int32
	for range w.o.Workers {
		wg.Go(func() {
			for {
				idle.Add(1)
				e, ok := <-work
				idle.Add(-1)
				if !ok {
					return
				}
				w.handle(ctx, e)
			}
		})
	}
	wg.Go(func() {
		defer close(work)
		for ctx.Err() == nil {
			for _, e := range w.next(ctx, max(int(idle.Load()), 1)) {
				select {
				case work <- e:
				case <-ctx.Done():
					return // read, not started: claimed after ClaimIdle
				}
			}
		}
	})
	wg.Wait()
	return nil
}

// next returns the next entries to attempt, at most n: one claimed from a
// dead worker, one whose retry is due, or new ones.
func (w *Worker) next(ctx context.Context, n int) []redis.XMessage {
	select {
	case e := <-w.claimed:
		return []redis.XMessage{e}
	default:
	}
	id, err := dueScript.Run(ctx, w.b.rdb, nil, w.b.prefix, w.b.now().UnixMilli()).Text()
	if err == nil && id != "" {
		es, err := w.b.rdb.XClaim(ctx, &redis.XClaimArgs{Stream: w.b.stream(), Group: w.b.group,
			Consumer: w.o.Consumer, Messages: []string{id}}).Result()
		if err == nil && len(es) == 1 {
			return es
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		w.pause(ctx, err)
		return nil
	}
	msgs, err := w.group.Read(ctx, ">", int64(n), w.o.Poll)
	if err != nil {
		w.pause(ctx, err)
		return nil
	}
	return msgs
}

// pause logs a Redis failure and waits a little before the next read.
func (w *Worker) pause(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	if stream.IsNoGroup(err) {
		// Redis lost the stream or the group while the retry list named
		// an entry of it (a restart without persistence).
		if err := w.group.Recreate(ctx); err == nil {
			return
		}
	}
	w.o.Logger.Warn("outbox read failed", "consumer", w.o.Consumer, "err", err)
	sleep(ctx, w.o.Poll)
}

// claim takes over, every ClaimIdle/2, the entries other workers have left
// pending for longer than ClaimIdle (a worker that died mid-send) and
// hands them to this worker's goroutines.
func (w *Worker) claim(ctx context.Context) {
	t := time.NewTicker(w.o.ClaimIdle / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := w.group.Claim(ctx, w.o.ClaimIdle, 100, func(ctx context.Context, es []redis.XMessage) {
			for _, e := range es {
				select {
				case w.claimed <- e:
				case <-ctx.Done():
					return
				}
			}
		})
		if err != nil && ctx.Err() == nil {
			w.o.Logger.Warn("outbox claim failed", "consumer", w.o.Consumer, "err", err)
		}
	}
}

// hold marks entry id as held by one of this worker's goroutines; false if
// another one holds it.
func (w *Worker) hold(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[id] {
		return false
	}
	w.inflight[id] = true
	return true
}

func (w *Worker) release(id string) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
