package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/redistest"
)

// The times the session scripts measure reach the metrics: a queued user's
// wait when an agent takes them, the first agent answer of a session (once),
// the session's length when it closes, and survey answers by choice (an
// unknown choice id as "other", so users cannot grow the label set).
func TestSessionObserver(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e := gateEngine(t, rdb, prefix, engine.Config{})
	m := metrics.New()
	e.Store().Observe(metrics.SessionObserver{M: m, Choices: []string{"1", "2"}})
	if err := e.PutAgent(ctx, kf.Agent{ID: "a", Accounts: []string{"wxm"}, MaxSessions: 1, Status: kf.AgentOffline}); err != nil {
		t.Fatal(err)
	}
	if err := e.Handle(ctx, text("wxm", "u1", 1), engine.Entry{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := e.SetStatus(ctx, "a", kf.AgentOnline); err != nil { // takes u1 from the queue
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Waiting); n != 1 {
		t.Fatalf("waiting series = %d, want 1", n)
	}
	if got := histogram(t, m, "kfgate_waiting_seconds"); got.count != 1 || got.sum < 0.02 || got.sum > 5 {
		t.Errorf("waiting = %+v, want one wait of 20 ms or more", got)
	}
	s, err := e.Store().Session(ctx, "wxm", "u1")
	if err != nil {
		t.Fatal(err)
	}
	first, ok, err := e.Store().FirstReply(ctx, "wxm", "u1", s.ID, time.Now())
	if err != nil || !ok || first < 20*time.Millisecond || first > 5*time.Second {
		t.Errorf("first reply = %v %v %v, want the session's age", first, ok, err)
	}
	if _, again, err := e.Store().FirstReply(ctx, "wxm", "u1", s.ID, time.Now()); err != nil || again {
		t.Errorf("second answer counted as a first reply (%v, %v)", again, err)
	}
	if _, other, _ := e.Store().FirstReply(ctx, "wxm", "u1", "another-session", time.Now()); other {
		t.Error("an answer of another session counted")
	}
	if _, err := e.Close(ctx, "wxm", "u1", "", "agent", "done"); err != nil {
		t.Fatal(err)
	}
	if got := histogram(t, m, "kfgate_session_duration_seconds"); got.count != 1 || got.sum < 0.02 || got.sum > 5 {
		t.Errorf("session duration = %+v", got)
	}
	for i, choice := range []string{"1", "9"} {
		rdb.Set(ctx, prefix+"survey:wxm:u1", s.ID, time.Minute)
		msg := text("wxm", "u1", 10+i)
		msg.BizMsgMenuID, msg.Content = choice, "满意"
		if err := e.Handle(ctx, msg, engine.Entry{}); err != nil {
			t.Fatal(err)
		}
	}
	for choice, want := range map[string]float64{"1": 1, "other": 1, "9": 0} {
		if got := testutil.ToFloat64(m.SurveyAnswers.WithLabelValues("wxm", choice)); got != want {
			t.Errorf("survey answers %s = %v, want %v", choice, got, want)
		}
	}
}

type hist struct {
	count uint64
	sum   float64
}

func histogram(t *testing.T, m *metrics.Metrics, name string) hist {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h hist
	for _, f := range families {
		if f.GetName() == name {
			for _, x := range f.GetMetric() {
				h.count += x.GetHistogram().GetSampleCount()
				h.sum += x.GetHistogram().GetSampleSum()
			}
		}
	}
	return h
}
