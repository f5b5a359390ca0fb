package outbox

import (
	"context"
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/sim"
)

const sendPath = "/cgi-bin/message/custom/send"

// A message WeChat would refuse (no window, quota used up) is refused by
// Enqueue with WeChat's reason, recorded as a failed status, without a call.
func TestEnqueuePrecheck(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, e.box); err != nil {
		t.Fatal(err)
	}
	run(t, fast(e, "w1"))

	calls := e.api.Calls(sendPath)
	_, err := e.box.Enqueue(ctx, Message{Account: appid, OpenID: "never", Session: "s1", Content: "hi"})
	var ke *kf.Error
	if !errors.As(err, &ke) || ke.Code != "window_closed" || !errors.Is(err, kf.ErrConflict) {
		t.Fatalf("no window: err = %v, want window_closed", err)
	}
	e.open(t, "spent", time.Time{})
	e.setQuota(t, "spent", 0, time.Now().Add(time.Hour))
	_, err = e.box.Enqueue(ctx, Message{Account: appid, OpenID: "spent", Session: "s2", Content: "hi"})
	if !errors.As(err, &ke) || ke.Code != "quota_exhausted" || !errors.Is(err, kf.ErrRateLimited) {
		t.Fatalf("no quota: err = %v, want quota_exhausted", err)
	}
	refused := e.statuses(t)[""]
	if len(refused) != 2 || refused[0].Message.ErrCode != 45015 || refused[1].Message.ErrCode != 45047 ||
		refused[0].Message.Status != "failed" || refused[0].Message.Reason == "" {
		t.Fatalf("refusal events = %+v", refused)
	}
	if n45015, n45047 := counterValue(t, reg, "kfgate_outbox_refusals_total", "45015"),
		counterValue(t, reg, "kfgate_outbox_refusals_total", "45047"); n45015 != 1 || n45047 != 1 {
		t.Errorf("kfgate_outbox_refusals_total: 45015 = %v, 45047 = %v, want 1 each", n45015, n45047)
	}

	// An engine notice (written by its script, not Enqueue) for a window
	// that closed while it waited is failed by the worker without a call.
	e.open(t, "late", time.Time{})
	e.setQuota(t, "late", 4, time.Now().Add(-time.Second))
	id, err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.prefix + "outbox", Values: []any{"account", appid,
		"openid", "late", "session", "s3", "kind", "notice", "msgtype", "text", "content", "you are number 2"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ev := e.final(t, id, 5*time.Second); ev.Message.Code != "window_closed" || ev.Message.ErrCode != 45015 {
		t.Fatalf("late notice: %+v", ev.Message)
	}
	if got := e.api.Calls(sendPath); got != calls {
		t.Fatalf("custom/send calls = %d, want %d: the pre-check spent a call", got, calls)
	}

	// A message inside the window goes, and spends one unit of the view.
	e.open(t, "ok", time.Time{})
	id = e.enqueue(t, "ok", "hello")
	if ev := e.final(t, id, 5*time.Second); ev.Message.Status != "sent" || ev.Agent != "" {
		t.Fatalf("sent: %+v", ev)
	}
	if left, _ := e.rdb.HGet(ctx, e.prefix+"quota:"+appid+":ok", "left").Int(); left != 4 {
		t.Fatalf("quota left = %d, want 4", left)
	}
	st, err := e.box.Status(ctx, id)
	if err != nil || st.Status != "sent" || st.Attempts != 1 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

// WeChat's refusals end as failed with the reason in the status event, and
// the quota view is corrected.
func TestRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// 45015: the simulator's window closed 1 h ago, the view still says open.
	e.open(t, "old", time.Now().Add(-49*time.Hour))
	e.setQuota(t, "old", 5, time.Now().Add(time.Hour))
	// 45047: a click grants 3 sends; the view says 5.
	if err := e.api.Interact(appid, "clicker", sim.InteractClick, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.setQuota(t, "clicker", 5, time.Now().Add(time.Minute))
	// 43004: the user unsubscribed after writing.
	e.open(t, "gone", time.Time{})
	if err := e.api.Interact(appid, "gone", sim.InteractUnsubscribe, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// The session's agent (bob) gets the events on its channel.
	e.rdb.HSet(ctx, e.prefix+"sess:"+appid+":gone", "id", "s-gone", "agent", "bob")
	sub := e.rdb.Subscribe(ctx, e.prefix+"agent:bob:events")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	old := e.enqueue(t, "old", "late answer")
	var clicks []string
	for i := range 4 {
		clicks = append(clicks, e.enqueue(t, "clicker", "answer "+string(rune('a'+i))))
	}
	gone := e.enqueue(t, "gone", "bye")
	o := fast(e, "w1")
	o.Workers = 1 // the clicker's 4th message is the one refused
	run(t, o)

	for _, c := range []struct {
		id, code string
		errcode  int
	}{{old, "window_closed", 45015}, {clicks[3], "quota_exhausted", 45047}, {gone, "unsubscribed", 43004}} {
		ev := e.final(t, c.id, 5*time.Second)
		if ev.Message.Status != "failed" || ev.Message.Code != c.code || ev.Message.ErrCode != c.errcode ||
			ev.Message.Reason == "" || ev.Message.Attempts != 1 {
			t.Errorf("%s: %+v, want failed %s", c.code, ev.Message, c.code)
		}
		t.Logf("%d → %s: %s", c.errcode, ev.Message.Code, ev.Message.Reason)
	}
	for _, id := range clicks[:3] {
		if ev := e.final(t, id, 5*time.Second); ev.Message.Status != "sent" {
			t.Errorf("click answer %s: %+v", id, ev.Message)
		}
	}
	if left, _ := e.rdb.HGet(ctx, e.prefix+"quota:"+appid+":clicker", "left").Int(); left != 0 {
		t.Errorf("clicker's quota view left = %d after 45047, want 0", left)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || !strings.Contains(msg.Payload, `"status":"queued"`) {
		t.Errorf("bob's channel: %v %v", msg, err)
	}
}

// -1 is retried until it succeeds (45011 parks the account: quota_test.go).
func TestRetries(t *testing.T) {
	for _, c := range []struct {
		name   string
		faults sim.Faults
		lift   time.Duration // when the faults are turned off; 0 = never
	}{
		{"busy -1 half the time", sim.Faults{ErrorRate: 0.5, ErrCode: -1, ErrPath: sendPath}, 0},
		{"-1 for 1s", sim.Faults{ErrorRate: 1, ErrCode: -1, ErrPath: sendPath}, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var ids []string
			for u := range 4 {
				openid := "u" + string(rune('0'+u))
				e.open(t, openid, time.Time{})
				for i := range 5 {
					ids = append(ids, e.enqueue(t, openid, openid+"-"+string(rune('0'+i))))
				}
			}
			if err := e.api.SetFaults(c.faults); err != nil {
				t.Fatal(err)
			}
			if c.lift > 0 {
				time.AfterFunc(c.lift, func() { _ = e.api.SetFaults(sim.Faults{}) })
			}
			o := fast(e, "w1")
			o.Retries = 20
			run(t, o)
			retried := 0
			for _, id := range ids {
				ev := e.final(t, id, 10*time.Second)
				if ev.Message.Status != "sent" {
					t.Fatalf("%s: %+v", id, ev.Message)
				}
				if ev.Message.Attempts > 1 {
					retried++
				}
			}
			stats := e.api.Stats()
			code := c.faults.ErrCode
			if stats.Sends[code] == 0 || retried == 0 || stats.Sends[0] != len(ids) {
				t.Fatalf("sends by errcode %v, %d retried", stats.Sends, retried)
			}
			t.Logf("%d messages sent, %d after retries; answers by errcode %v", len(ids), retried, stats.Sends)
		})
	}
}
