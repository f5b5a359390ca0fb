package archive

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// addAt appends an event to the events stream with an entry id at the
// given time (the stream id is the time Redis added an entry).
func (e *env) addAt(t *testing.T, at time.Time, typ, sessionID string, body map[string]any) {
	t.Helper()
	body["type"], body["session"], body["account"], body["at"] = typ, sessionID, "wx1", at.UnixMilli()
	ev, _ := json.Marshal(body)
	if err := e.rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: e.prefix + "events", ID: fmt.Sprintf("%d-0", at.UnixMilli()),
		Values: []string{"type", typ, "session", sessionID, "event", string(ev)}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// month partitions of both tables, sorted.
func partitionNames(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	for _, table := range partitioned {
		have, err := partitions(t.Context(), e.pool, table)
		if err != nil {
			t.Fatal(err)
		}
		for n := range have {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func both(months ...string) []string {
	var out []string
	for _, m := range months {
		out = append(out, "messages_"+m, "session_transitions_"+m)
	}
	slices.Sort(out)
	return out
}

// TestRetention runs the archive on an injected clock: partitions are
// created ahead and on demand, the months older than archive.retention are
// dropped, the rest stays readable (sessions, transitions, messages,
// search, stats).
func TestRetention(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	now := time.Date(2030, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ret := &Retention{DB: e.pool, Keep: 60 * 24 * time.Hour, Now: clock}

	res, err := ret.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The months the migration created (around the real present) are long
	// past on this clock: dropped.
	created := slices.Sorted(slices.Values(res.Created))
	if want := both("y2030m11", "y2030m12", "y2031m01"); !slices.Equal(created, want) || len(res.Dropped) != 6 {
		t.Fatalf("first run created %v dropped %v, want created %v and the migration's 6 dropped", created, res.Dropped, want)
	}

	oct := time.Date(2030, 10, 3, 9, 0, 0, 0, time.UTC)
	nov := time.Date(2030, 11, 20, 9, 0, 0, 0, time.UTC)
	dec := time.Date(2030, 12, 1, 9, 0, 0, 0, time.UTC)
	outbox := fmt.Sprintf("%d-0", nov.Add(time.Second).UnixMilli()) // an outbound message queued in November
	for _, c := range []struct {
		at   time.Time
		sess string
		text string
	}{{oct, "sOct", "october hello"}, {nov, "sNov", "november hello"}} {
		e.addAt(t, c.at, "session.assigned", c.sess, map[string]any{"openid": "u-" + c.sess, "state": "serving", "agent": "a1"})
		e.addAt(t, c.at.Add(time.Millisecond), "message.received", c.sess, map[string]any{"openid": "u-" + c.sess,
			"state": "serving", "message": map[string]any{"id": c.sess + "-m", "type": "text", "content": c.text}})
	}
	e.addAt(t, nov.Add(2*time.Second), "message.status", "sNov", map[string]any{"openid": "u-sNov", "agent": "a1",
		"message": map[string]any{"id": outbox, "status": "queued", "kind": "agent"}})
	// Its "sent" comes in December; the row stays in November's partition.
	e.addAt(t, dec, "message.status", "sNov", map[string]any{"openid": "u-sNov", "agent": "a1",
		"message": map[string]any{"id": outbox, "status": "sent", "kind": "agent", "attempts": 1}})
	e.addAt(t, dec.Add(time.Second), "session.assigned", "sDec", map[string]any{"openid": "u-sDec", "state": "serving", "agent": "a2"})
	e.addAt(t, dec.Add(2*time.Second), "message.received", "sDec", map[string]any{"openid": "u-sDec",
		"state": "serving", "message": map[string]any{"id": "sDec-m", "type": "text", "content": "december hello"}})

	// October has no partition yet: the writer creates it (within retention).
	w := run(t, Options{Redis: e.rdb, Prefix: e.prefix, DB: e.pool, Retention: ret.Keep, Now: clock})
	drained(t, w, 10*time.Second)
	if got, want := partitionNames(t, e), both("y2030m10", "y2030m11", "y2030m12", "y2031m01"); !slices.Equal(got, want) {
		t.Fatalf("partitions = %v, want %v", got, want)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM messages`); n != 4 {
		t.Fatalf("messages = %d, want 4 (three in, one out)", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM messages_y2030m11 WHERE outbox_id = $1 AND status = 'sent'`, outbox); n != 1 {
		t.Errorf("the outbound message is not one sent row in November's partition (%d)", n)
	}

	// Fifty-one days later: October has passed the limit, November has not.
	now = time.Date(2031, 1, 15, 0, 0, 0, 0, time.UTC) // cutoff 2030-11-16
	res, err = ret.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(slices.Values(res.Dropped)), both("y2030m10"); !slices.Equal(got, want) {
		t.Errorf("dropped %v, want %v", got, want)
	}
	if got, want := slices.Sorted(slices.Values(res.Created)), both("y2031m02", "y2031m03"); !slices.Equal(got, want) {
		t.Errorf("created %v, want %v", got, want)
	}
	if res.Sessions != 1 {
		t.Errorf("sessions deleted = %d, want 1 (October's)", res.Sessions)
	}
	if got, want := partitionNames(t, e), both("y2030m11", "y2030m12", "y2031m01", "y2031m02", "y2031m03"); !slices.Equal(got, want) {
		t.Errorf("partitions = %v, want %v", got, want)
	}

	rd := NewReader(e.pool)
	if _, err := rd.Session(ctx, "sOct"); !isNotFound(err) {
		t.Errorf("October's session: %v, want not found", err)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM messages WHERE session_id = 'sOct'`) +
		count(t, e.pool, `SELECT count(*) FROM session_transitions WHERE session_id = 'sOct'`); n != 0 {
		t.Errorf("%d rows of October left", n)
	}
	s, err := rd.Session(ctx, "sNov")
	if err != nil || s.State != kf.StateServing || s.Agent != "a1" {
		t.Fatalf("November's session = %+v, %v", s, err)
	}
	msgs, _, err := rd.Messages(ctx, "sNov", 10, 0)
	if err != nil || len(msgs) != 2 || msgs[0].Content != "november hello" || msgs[1].Status != "sent" {
		t.Errorf("November's messages = %+v, %v", msgs, err)
	}
	if tr, err := rd.Transitions(ctx, "sDec"); err != nil || len(tr) != 1 || tr[0].Agent != "a2" {
		t.Errorf("December's transitions = %+v, %v", tr, err)
	}
	found, err := rd.Search(ctx, Query{Q: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, h := range found.Messages {
		texts = append(texts, h.Content)
	}
	if want := []string{"december hello", "november hello"}; !slices.Equal(texts, want) {
		t.Errorf("search across partitions = %v, want %v", texts, want)
	}
	st, err := rd.Stats(ctx, StatsFilter{From: nov.AddDate(0, -1, 0), To: now})
	if err != nil || st.Sessions != 2 || st.MessagesIn != 2 || st.MessagesOut != 1 {
		t.Errorf("stats = %+v, %v", st, err)
	}

	// A late replay of an October event is left out, not dead-lettered;
	// one of a month without a partition yet gets it.
	evs := []event{
		{ID: "1", Type: "session.assigned", Session: "sOld", At: oct, KeyAt: oct},
		{ID: "2", Type: "session.assigned", Session: "sNew", At: time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)},
	}
	left, expired, err := makeRoom(ctx, e.pool, evs, ret.Keep, now)
	if err != nil || expired != 1 || len(left) != 1 || left[0].Session != "sNew" {
		t.Errorf("makeRoom = %+v, %d, %v", left, expired, err)
	}
	if !slices.Contains(partitionNames(t, e), "session_transitions_y2031m06") {
		t.Errorf("no partition for June 2031: %v", partitionNames(t, e))
	}

	// Again at once: nothing to do. And keeping forever drops nothing.
	if res, err = ret.Run(ctx); err != nil || len(res.Created)+len(res.Dropped) != 0 || res.Sessions != 0 {
		t.Errorf("second run = %+v, %v", res, err)
	}
	now = now.AddDate(5, 0, 0)
	forever := &Retention{DB: e.pool, Now: clock}
	if res, err = forever.Run(ctx); err != nil || len(res.Dropped) != 0 || len(res.Created) != 6 {
		t.Errorf("keep forever = %+v, %v", res, err)
	}
}

// TestRetentionOneReplicaAtATime: while a replica holds the lock, another
// skips its round.
func TestRetentionOneReplicaAtATime(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`); err != nil {
		t.Fatal(err)
	}
	res, err := (&Retention{DB: e.pool}).Run(ctx)
	if err != nil || !res.Skipped || len(res.Created) != 0 {
		t.Errorf("run while locked = %+v, %v", res, err)
	}
	_ = tx.Rollback(ctx)
	res, err = (&Retention{DB: e.pool, Now: func() time.Time { return time.Now().AddDate(1, 0, 0) }}).Run(ctx)
	if err != nil || res.Skipped || len(res.Created) == 0 {
		t.Errorf("run after = %+v, %v", res, err)
	}
}
