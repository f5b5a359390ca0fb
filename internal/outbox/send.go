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

	m := messageOf(e.Values)
	r, err := touchScript.Run(work, w.b.rdb, nil, w.b.prefix, w.b.group, w.o.Consumer, e.ID,
		w.b.now().UnixMilli(), m.Account, m.OpenID).Int64Slice()
	if err == nil && len(r) != 2 {
		err = fmt.Errorf("touch answered %v", r)
	}
	if err != nil {
		w.o.Logger.Warn("outbox lease failed", "id", e.ID, "err", err)
		return // pending: claimed again after ClaimIdle
	}
	attempt, windowEnd := int(r[0]), r[1]
	if attempt < 0 {
		return // final already, another worker's now, or a retry not due yet
	}
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
	case windowEnd < w.b.now().UnixMilli():
		// The window closed while the message waited (a notice has had
		// no other check since the engine queued it): WeChat would answer
		// 45015, so no call is spent.
		w.finish(work, e.ID, m.Account, "failed", refusal(45015, ""))
		return
	}
	parked, code, ok := w.wait(ctx, m.Account)
	switch {
	case !ok:
		return // shutting down before the call: pending, claimed after ClaimIdle
	case !parked.IsZero():
		w.park(work, e.ID, m.Account, false, parked, refusal(code, ""))
		return
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
	case wxapi.Code(err) == 45009 || wxapi.Code(err) == 45011:
		// The account's quota, not this message: every message of the
		// account waits until it is back.
		code := wxapi.Code(err)
		w.park(work, e.ID, m.Account, true, quotaBack(code, w.b.now()), refusal(code, ""))
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

// wait blocks until account's turn to send (rate.lua). It returns when
// the account is parked until instead, if its quota is spent, with the
// errcode it was parked for, and false if ctx ended first.
func (w *Worker) wait(ctx context.Context, account string) (parked time.Time, code int, ok bool) {
	l := w.limit(account)
	interval := int64(float64(time.Second/time.Microsecond) / l.Rate)
	for {
		now := w.b.now()
		day, end := chinaDay(now)
		r, err := rateScript.Run(ctx, w.b.rdb, nil, w.b.prefix, account, interval, l.Burst, max(l.DailyQuota, 0),
			day, end.UnixMilli(), now.UnixMilli()).Int64Slice()
		switch {
		case err != nil && ctx.Err() != nil:
			return time.Time{}, 0, false
		case err != nil || len(r) < 2:
			w.o.Logger.Warn("outbox rate limit failed", "account", account, "err", err)
			if !sleep(ctx, time.Second) {
				return time.Time{}, 0, false
			}
			continue
		case r[0] == 1 && len(r) == 3:
			return time.UnixMilli(r[1]), int(r[2]), true
		}
		// The slot is reserved: this send goes at its time whatever else
		// asks meanwhile.
		return time.Time{}, 0, sleep(ctx, time.Duration(r[1])*time.Microsecond)
	}
}

// chinaTime is the zone of WeChat's day, when its daily quotas start
// again (docs/wechat.md, "API quotas").
var chinaTime = time.FixedZone("CST", 8*60*60)

// chinaDay returns the day of t in China time, as yyyymmdd, and when it ends.
func chinaDay(t time.Time) (string, time.Time) {
	c := t.In(chinaTime)
	y, m, d := c.Date()
	return c.Format("20060102"), time.Date(y, m, d+1, 0, 0, 0, 0, chinaTime)
}

// quotaBack is when WeChat's quota behind errcode code is back: the next
// day for the daily quota (45009), the next minute for the minute's
// (45011: "retry next minute", WeChat says).
func quotaBack(code int, now time.Time) time.Time {
	if code == 45011 {
		return now.Truncate(time.Minute).Add(time.Minute)
	}
	_, end := chinaDay(now)
	return end
}

// park puts entry id of account aside until till (park.lua), and the
// whole account with it when all is set (WeChat just refused a send for
// the account's quota); o says why, in the message.status event.
func (w *Worker) park(ctx context.Context, id, account string, all bool, till time.Time, o outcome) {
	whole := ""
	if all {
		whole = account
	}
	err := parkScript.Run(ctx, w.b.rdb, nil, w.b.prefix, w.b.group, w.o.Consumer, id, w.b.now().UnixMilli(),
		till.UnixMilli(), whole, o.reason, o.code, strconv.Itoa(o.errcode)).Err()
	if err != nil {
		// Pending: claimed again after ClaimIdle, and parked then.
		w.o.Logger.Warn("outbox could not park a message", "id", id, "err", err)
		return
	}
	w.o.Metrics.parked(account, o.errcode)
	if all {
		w.o.Logger.Warn("WeChat's send quota is spent: the account's messages wait until it is back",
			"account", account, "errcode", o.errcode, "until", till)
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
