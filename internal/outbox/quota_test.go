package outbox

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// clock is a test's movable time for the outbox and the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// orderedSender records the contents of the sends WeChat accepted, in the
// order the calls were made.
type orderedSender struct {
	Sender
	mu   sync.Mutex
	sent []string
}

func (o *orderedSender) SendCustom(ctx context.Context, appid string, msg wxapi.CustomMessage) error {
	err := o.Sender.SendCustom(ctx, appid, msg)
	if err == nil {
		o.mu.Lock()
		o.sent = append(o.sent, msg.Text.Content)
		o.mu.Unlock()
	}
	return err
}

func (o *orderedSender) contents() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.sent)
}

// quotaEnv is an env whose outbox and simulator run on one movable clock,
// at 20:00 China time, and whose simulator grants dailySends a day.
func quotaEnv(t *testing.T, dailySends int) (*env, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 30, 20, 0, 0, 0, chinaTime)}
	e := newEnv(t)
	e.api = sim.NewAPI(sim.APIOptions{Accounts: map[string]string{appid: "secret1"}, Now: clk.Now,
		DailySendQuota: dailySends})
	e.srv.Config.Handler = e.api
	box, err := New(Options{Redis: e.rdb, Prefix: e.prefix, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.box = box
	return e, clk
}

// parkedIDs returns the ids whose last status event is "parked".
func (e *env) parkedIDs(t *testing.T) []string {
	var out []string
	for id, evs := range e.statuses(t) {
		if id != "" && evs[len(evs)-1].Message.Status == "parked" {
			out = append(out, id)
		}
	}
	return out
}

// A day's quota spent: WeChat's 45009 (or kfgate's own count of the day's
// sends) parks every message of the account until midnight, China time,
// with one "parked" event each and no more calls — messages enqueued
// meanwhile too; then they go in the order they came, none failed.
func TestDailyQuotaParksUntilMidnight(t *testing.T) {
	for _, c := range []struct {
		name        string
		wechatQuota int // the simulator's custom/send quota a day
		ownQuota    int // the worker's DailyQuota
		refusals    int // 45009 answers expected
	}{
		{"WeChat says 45009", 6, -1, 1},
		{"kfgate counts the day's sends", 1000, 6, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, clk := quotaEnv(t, c.wechatQuota)
			var ids, want []string
			add := func(openid string, n int) {
				e.open(t, openid, clk.Now())
				e.setQuota(t, openid, 5, clk.Now().Add(48*time.Hour))
				for i := range n {
					text := fmt.Sprintf("%s-%d", openid, i)
					ids, want = append(ids, e.enqueue(t, openid, text)), append(want, text)
				}
			}
			add("u0", 5)
			add("u1", 5)
			rec := &orderedSender{Sender: e.client}
			o := fast(e, "w1")
			// One goroutine, so that the order of the sends is the order
			// kfgate chose, not a race between goroutines.
			o.Sender, o.DailyQuota, o.Workers = rec, c.ownQuota, 1
			run(t, o)

			waitFor(t, 10*time.Second, func() bool { return len(rec.contents())+len(e.parkedIDs(t)) == len(ids) })
			add("u2", 2) // a new user while the account is parked
			waitFor(t, 10*time.Second, func() bool { return len(e.parkedIDs(t)) == 6 })
			time.Sleep(300 * time.Millisecond) // a retry storm would show here
			if got := e.api.Stats().Sends[45009]; got != c.refusals {
				t.Errorf("WeChat answered 45009 %d times, want %d (the account must wait, not retry)", got, c.refusals)
			}
			if before := rec.contents(); !slices.Equal(before, want[:6]) {
				t.Fatalf("sent before midnight: %v, want %v", before, want[:6])
			}
			for _, id := range e.parkedIDs(t) {
				evs := e.statuses(t)[id]
				last := evs[len(evs)-1].Message
				if last.Code != "daily_quota" || last.ErrCode != 45009 || last.Reason == "" {
					t.Errorf("parked %s: %+v", id, last)
				}
				if n := len(evs); n != 2 { // queued, parked
					t.Errorf("%s has %d status events, want queued and one parked", id, n)
				}
			}

			// Midnight in China: WeChat's quota is back.
			clk.Set(time.Date(2026, 12, 1, 0, 0, 1, 0, chinaTime))
			for _, id := range ids {
				if ev := e.final(t, id, 10*time.Second); ev.Message.Status != "sent" {
					t.Errorf("%s after midnight: %+v", id, ev.Message)
				}
			}
			if all := rec.contents(); !slices.Equal(all, want) {
				t.Errorf("sent in the order %v, want the order they came in %v", all, want)
			}
		})
	}
}

// 45011 ("retry next minute"): the account waits for the next minute;
// at most the calls already under way meet the refusal.
func TestMinuteQuotaParksUntilNextMinute(t *testing.T) {
	e, clk := quotaEnv(t, 0)
	var ids []string
	for u := range 4 {
		openid := fmt.Sprintf("u%d", u)
		e.open(t, openid, clk.Now())
		for i := range 5 {
			ids = append(ids, e.enqueue(t, openid, fmt.Sprintf("%s-%d", openid, i)))
		}
	}
	if err := e.api.SetFaults(sim.Faults{ErrorRate: 1, ErrCode: 45011, ErrPath: sendPath}); err != nil {
		t.Fatal(err)
	}
	o := fast(e, "w1")
	run(t, o)
	waitFor(t, 10*time.Second, func() bool { return len(e.parkedIDs(t)) == len(ids) })
	time.Sleep(300 * time.Millisecond)
	refused := e.api.Stats().Sends[45011]
	if refused == 0 || refused > o.Workers {
		t.Errorf("WeChat answered 45011 %d times with %d workers: want at least 1, at most one per worker", refused, o.Workers)
	}
	if err := e.api.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Truncate(time.Minute).Add(time.Minute))
	for _, id := range ids {
		if ev := e.final(t, id, 10*time.Second); ev.Message.Status != "sent" {
			t.Errorf("%s: %+v", id, ev.Message)
		}
	}
	t.Logf("20 messages: %d calls met 45011, then all sent in the next minute", refused)
}

// The rate takes reservations: callers one after another are given slots
// one interval apart, in the order they asked, so a message read early is
// not overtaken by one read later.
func TestRateReservesSlotsInOrder(t *testing.T) {
	e := newEnv(t)
	const interval = 100_000 // µs: 10 sends a second
	now := time.Now()
	day, end := chinaDay(now)
	var waits []int64
	for range 8 {
		r, err := rateScript.Run(context.Background(), e.rdb, nil, e.prefix, appid, interval, 1, 0,
			day, end.UnixMilli(), now.UnixMilli()).Int64Slice()
		if err != nil || r[0] != 0 {
			t.Fatalf("rate: %v %v", r, err)
		}
		waits = append(waits, r[1])
	}
	// Each slot comes one interval after the one before, less the few µs
	// the calls themselves took.
	for i := 1; i < len(waits); i++ {
		if d := waits[i] - waits[i-1]; d < interval*9/10 || d > interval {
			t.Fatalf("waits %v µs: slot %d is %d µs after the one before, want ≈ %d", waits, i, d, interval)
		}
	}
}
