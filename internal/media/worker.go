package media

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// WeChat is what the worker downloads with: media/get (wxapi.Client).
type WeChat interface {
	GetMedia(ctx context.Context, appid, mediaID string) (wxapi.Media, error)
}

var _ WeChat = (*wxapi.Client)(nil)

// Options configure a Worker.
type Options struct {
	Redis  redis.UniversalClient
	Prefix string
	Store  Store
	WeChat WeChat
	// Consumer names this replica in the groups; default host-pid-random.
	Consumer string
	// MaxBytes refuses larger files (failed, not retried). Default 16 MiB.
	MaxBytes int
	// Attempts is how many downloads of one file are tried before it is
	// marked failed. Default 8.
	Attempts int
	// MinBackoff and MaxBackoff bound the wait between attempts (doubling,
	// with jitter). Defaults 1 s and 1 min: 8 attempts span ≈ 2 minutes.
	MinBackoff, MaxBackoff time.Duration
	// Parallel is how many downloads run at once. Default 4.
	Parallel int
	// Block is how long a read waits for new entries. Default 2 s.
	Block time.Duration
	// ClaimIdle is how long an entry stays with a consumer that does not
	// touch it before another takes it over. Default 5 min (each attempt
	// touches it).
	ClaimIdle time.Duration
	Logger    *slog.Logger
}

// Worker downloads the media users send before WeChat deletes them (3
// days): it reads the events stream for media messages (feed.go) and works
// through the durable download queue <prefix>media, retrying with backoff;
// a file that cannot be had is marked failed with the reason, never
// dropped silently. Every replica runs one; the consumer groups share the
// work.
type Worker struct {
	o             Options
	events, queue string
	sem           chan struct{}
}

// NewWorker returns a Worker; Run starts it.
func NewWorker(o Options) (*Worker, error) {
	if o.Redis == nil || o.Store == nil || o.WeChat == nil {
		return nil, errors.New("media: Options.Redis, Store and WeChat are required")
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = crand.Read(b)
		o.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = wxapi.MaxMedia
	}
	if o.Attempts <= 0 {
		o.Attempts = 8
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Block <= 0 {
		o.Block = 2 * time.Second
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{o: o, events: o.Prefix + session.EventsStream, queue: o.Prefix + StreamKey, sem: make(chan struct{}, o.Parallel)}, nil
}

// Run feeds and downloads until ctx ends. A download cut short stays
// pending in the queue and is taken over later.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { w.feed(ctx) })
	w.consume(ctx, w.queue, int64(w.o.Parallel), 0, func(ctx context.Context, msgs []redis.XMessage) {
		for _, m := range msgs {
			select {
			case w.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-w.sem }()
				w.download(ctx, m)
			})
		}
	})
	wg.Wait()
	return nil
}

// download works on one queue entry until the file is stored or failed for
// good, then acknowledges it.
func (w *Worker) download(ctx context.Context, m redis.XMessage) {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	j := job{ID: s("id"), Account: s("account"), MediaID: s("media_id"), Kind: s("kind")}
	ack := func() {
		if err := w.o.Redis.XAck(context.WithoutCancel(ctx), w.queue, Group, m.ID).Err(); err != nil {
			w.o.Logger.Warn("acknowledging a media download failed", "entry", m.ID, "err", err)
		}
	}
	if j.ID == "" || j.Account == "" || j.MediaID == "" {
		w.o.Logger.Error("dropped a malformed media queue entry", "entry", m.ID)
		ack()
		return
	}
	rec, err := w.o.Store.Get(ctx, j.ID)
	if err != nil {
		w.o.Logger.Warn("reading a media record failed; the download stays queued", "media", j.ID, "err", err)
		return
	}
	if rec.Status != StatusPending {
		ack() // stored or failed already (a duplicate entry)
		return
	}
	for attempt := rec.Attempts + 1; ctx.Err() == nil; attempt++ {
		got, err := w.o.WeChat.GetMedia(ctx, j.Account, j.MediaID)
		if err == nil && len(got.Data) > w.o.MaxBytes {
			err = fmt.Errorf("%w (%d bytes, the limit is %d)", errTooLarge, len(got.Data), w.o.MaxBytes)
		}
		if err == nil {
			if err = w.o.Store.Put(ctx, j.ID, got.Data, got.ContentType, attempt); err == nil {
				w.o.Logger.Debug("media stored", "account", j.Account, "media", j.ID, "bytes", len(got.Data), "attempt", attempt)
				ack()
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		final := attempt >= w.o.Attempts || wxapi.Permanent(err) || errors.Is(err, wxapi.ErrMediaTooLarge) || errors.Is(err, errTooLarge)
		reason := err.Error()
		if final && !wxapi.Permanent(err) && attempt >= w.o.Attempts {
			reason = fmt.Sprintf("gave up after %d attempts: %s", attempt, reason)
		}
		if serr := w.o.Store.Attempt(ctx, j.ID, attempt, reason, final); serr != nil {
			w.o.Logger.Warn("recording a media attempt failed", "media", j.ID, "err", serr)
			return // stays pending in the queue: taken over after ClaimIdle
		}
		if final {
			w.o.Logger.Warn("media download failed for good", "account", j.Account, "media", j.ID, "attempts", attempt, "err", err)
			ack()
			return
		}
		w.o.Logger.Info("media download failed, will retry", "account", j.Account, "media", j.ID, "attempt", attempt, "err", err)
		// Touch the entry so that no other replica takes it over while
		// this one waits to retry.
		_ = w.o.Redis.XClaimJustID(ctx, &redis.XClaimArgs{Stream: w.queue, Group: Group, Consumer: w.o.Consumer,
			MinIdle: 0, Messages: []string{m.ID}}).Err()
		sleep(ctx, w.backoff(attempt-1))
	}
}

var errTooLarge = errors.New("media file too large")

// backoff is the wait after the given attempt (from 0): doubling from
// MinBackoff up to MaxBackoff, with jitter.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.o.MinBackoff << min(attempt, 20)
	if d > w.o.MaxBackoff || d <= 0 {
		d = w.o.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
