package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/wxapi"
)

// handle makes one attempt at entry e and records what came of it: a final
// state (sent, failed) acks the entry; a retryable failure schedules the
// next attempt in <prefix>outbox:retry and leaves the entry pending, so
// that it survives this worker.
func (w *Worker) handle(ctx context.Context, e redis.XMessage) {
	if !w.hold(e.ID) {
		return
	}
	defer w.release(e.ID)
	// Once a call is under way it is finished and recorded even when ctx
	// ends: Run drains instead of leaving a send whose outcome is unknown.
	work := context.WithoutCancel(ctx)

	attempt, err := touchScript.Run(work, w.b.rdb, nil, w.b.prefix, w.b.group, w.o.Consumer, e.ID,
		w.b.now().UnixMilli()).Int()
	if err != nil {
		w.o.Logger.Warn("outbox lease failed", "id", e.ID, "err", err)
		return // pending: claimed again after ClaimIdle
	}
	if attempt < 0 {
		return // final already, another worker's now, or a retry not due yet
	}
	m := messageOf(e.Values)
	cm, err := customMessage(m)
	if err == nil && m.Account == "" {
		err = errors.New("no account")
	}
	switch {
	case attempt > w.o.Retries+1+w.o.MaxDeliveries:
		// Its final state could not be recorded MaxDeliveries times over:
		// out of the way, with the entry kept for a person to look at.
		if err := w.group.DeadLetter(work, e, fmt.Errorf("attempted %d times without a final state", attempt-1)); err != nil {
			w.o.Logger.Warn("outbox could not dead-letter an entry", "id", e.ID, "err", err)
			return
		}
		w.b.rdb.HDel(work, w.b.stream()+":attempts", e.ID)
		return
	case err != nil:
		w.finish(work, e.ID, m.Account, "failed", invalid(err))
		return
	case attempt > w.o.Retries+1: // a worker died during each of the attempts
		w.finish(work, e.ID, m.Account, "failed", exhausted(attempt-1, nil))
		return
	case !w.windowOpen(work, m):
		// The window closed while the message waited (a notice has had
		// no other check since the engine queued it): WeChat would answer
		// 45015, so no call is spent.
		w.finish(work, e.ID, m.Account, "failed", refusal(45015, ""))
		return
	}
	if !w.wait(ctx, m.Account) {
		return // shutting down before the call: pending, claimed after ClaimIdle
	}

	call, cancel := context.WithTimeout(work, w.o.SendTimeout)
	err = w.o.Sender.SendCustom(call, m.Account, cm)
	cancel()
	w.o.Metrics.attempt(m.Account, err)
	switch {
	case err == nil:
		w.finish(work, e.ID, m.Account, "sent", outcome{})
		if w.o.Sent != nil && m.Kind == KindAgent {
			w.o.Sent(work, m)
		}
	case wxapi.Permanent(err):
		var we *wxapi.Error
		errors.As(err, &we)
		w.finish(work, e.ID, m.Account, "failed", refusal(we.Code, we.Msg))
	case attempt > w.o.Retries:
		w.finish(work, e.ID, m.Account, "failed", exhausted(attempt, err))
	default:
		// -1, 45011, token codes, 5xx, network errors, a timeout — the
		// ambiguous ones may have reached WeChat (see the package comment).
		due := w.b.now().Add(w.backoff(attempt)).UnixMilli()
		if err := w.b.rdb.ZAdd(work, w.b.stream()+":retry", redis.Z{Score: float64(due), Member: e.ID}).Err(); err != nil {
			w.o.Logger.Warn("outbox retry schedule failed", "id", e.ID, "err", err)
		}
		w.o.Logger.Debug("outbox send failed, will retry", "id", e.ID, "attempt", attempt, "err", err)
	}
}

// windowOpen reads the quota view's window end (Unix ms) for m's user:
// the live session's quntil, else <prefix>quota:…'s until (see quota_of
// in lua/common.lua), both in one round trip.
func (w *Worker) windowOpen(ctx context.Context, m Message) bool {
	u := m.Account + ":" + m.OpenID
	var inSession, alone *redis.StringCmd
	_, err := w.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		inSession = p.HGet(ctx, w.b.prefix+"sess:"+u, "quntil")
		alone = p.HGet(ctx, w.b.prefix+"quota:"+u, "until")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return true // Redis trouble: let WeChat decide
	}
	till, err := inSession.Int64()
	if err != nil {
		till, _ = alone.Int64()
	}
	return till >= w.b.now().UnixMilli()
}

// wait blocks until the shared rate limit lets one send of account go.
func (w *Worker) wait(ctx context.Context, account string) bool {
	interval := int64(float64(time.Second/time.Microsecond) / w.o.Rate)
	for {
		us, err := rateScript.Run(ctx, w.b.rdb, nil, w.b.prefix, account, interval, w.o.Burst).Int64()
		switch {
		case err != nil && ctx.Err() != nil:
			return false
		case err != nil:
			w.o.Logger.Warn("outbox rate limit failed", "account", account, "err", err)
			us = int64(time.Second / time.Microsecond)
		case us == 0:
			return true
		}
		if !sleep(ctx, time.Duration(us)*time.Microsecond) {
			return false
		}
	}
}

// backoff is the delay before the attempt after attempt: Backoff·2^(n−1)
// up to MaxBackoff, of which a random half is jitter, so that messages
// failed together by one outage do not come back together.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.o.MaxBackoff
	if attempt < 30 {
		d = min(w.o.Backoff<<(attempt-1), w.o.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// finish records the final state of entry id (finish.lua).
func (w *Worker) finish(ctx context.Context, id, account, status string, o outcome) {
	err := finishScript.Run(ctx, w.b.rdb, nil, w.b.prefix, w.b.group, id, w.b.now().UnixMilli(), status,
		o.reason, o.code, strconv.Itoa(o.errcode), o.quota, w.b.contextSize).Err()
	if err != nil {
		// The entry stays pending and is attempted again after ClaimIdle:
		// a sent message may then go twice (at-least-once).
		w.o.Logger.Error("outbox finish failed", "id", id, "status", status, "err", err)
		return
	}
	w.o.Metrics.final(status)
	if status == "failed" {
		w.o.Metrics.refused(account, o.errcode)
		w.o.Logger.Info("outbox message failed", "id", id, "code", o.code, "errcode", o.errcode)
	}
}

// codeOf is WeChat's errcode in err, or 0.
func codeOf(err error) int { return wxapi.Code(err) }
