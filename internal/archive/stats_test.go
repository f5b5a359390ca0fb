package archive

import (
	"testing"
	"time"
)

// Stats over archived sessions: one served and closed after a survey
// answer, one that left the queue, one still waiting.
func TestStats(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.agent(t, "a", 1)
	e.inbound(t, "u1", "1", "hi", "a", "")  // u1 served by a
	e.inbound(t, "u2", "2", "hi", "", "")   // u2 waits
	e.inbound(t, "u3", "3", "hi", "", "")   // u3 waits
	e.inbound(t, "u1", "4", "more", "", "") // a second message from u1
	if _, err := e.store.Close(ctx, "wx1", "u2", "", "user", "left", "", e.tick()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Close(ctx, "wx1", "u1", "", "agent:a", "done", "", e.tick()); err != nil {
		t.Fatal(err)
	}
	w := run(t, Options{Redis: e.rdb, Prefix: e.prefix, DB: e.pool})
	drained(t, w, 10*time.Second)

	st, err := NewReader(e.pool).Stats(ctx, StatsFilter{Account: "wx1", From: e.now.Add(-time.Hour), To: e.now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 3 || st.Closed != 2 || st.Abandoned != 1 || st.MessagesIn != 4 {
		t.Errorf("stats = %+v, want 3 sessions, 2 closed, 1 abandoned, 4 messages in", st)
	}
	if st.Handling.P50 == nil || *st.Handling.P50 < 0 {
		t.Errorf("handling time %+v", st.Handling)
	}
	hours, err := NewReader(e.pool).Hourly(ctx, StatsFilter{Account: "wx1", From: e.now.Add(-time.Hour), To: e.now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sessions, closed := 0, 0
	for _, h := range hours {
		sessions, closed = sessions+h.Sessions, closed+h.Closed
		if !h.At.Equal(h.At.Truncate(time.Hour)) {
			t.Errorf("hour %v does not start an hour", h.At)
		}
	}
	if len(hours) == 0 || sessions != 3 || closed != 2 {
		t.Errorf("hourly = %+v, want the 3 sessions and 2 closed spread over the hours", hours)
	}
	none, err := NewReader(e.pool).Stats(ctx, StatsFilter{Account: "wxother", From: e.now.Add(-time.Hour), To: e.now.Add(time.Hour)})
	if err != nil || none.Sessions != 0 || none.FirstResponse.P50 != nil || len(none.Satisfaction) != 0 {
		t.Errorf("another account's stats = %+v, %v", none, err)
	}
}
