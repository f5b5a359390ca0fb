package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/stream"
)

// sent appends the "sent" status event the outbox worker's finish script
// would, for outbox entry id.
func (e *env) sent(t *testing.T, id, sessionID, openid, agent string) {
	t.Helper()
	ev, _ := json.Marshal(map[string]any{"type": "message.status", "session": sessionID, "account": "wx1",
		"openid": openid, "agent": agent, "actor": "outbox", "reason": "", "at": e.tick().UnixMilli(),
		"message": map[string]any{"id": id, "status": "sent", "reason": "", "code": "", "errcode": 0,
			"kind": "agent", "ref": "", "attempts": 1}})
	if err := e.rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: e.prefix + "events",
		Values: []string{"type", "message.status", "session", sessionID, "event", string(ev)}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// conversation plays one user's session through the real scripts: assigned
// to a1, two messages, an answer sent, a transfer to a2, a close by a2; and
// a second user turned away off hours. It returns the session id.
func (e *env) conversation(t *testing.T, ob *outbox.Outbox, openid string) string {
	t.Helper()
	ctx := t.Context()
	r := e.inbound(t, openid, openid+"-1", "hello", "a1", "")
	if r.Outcome != "assigned" {
		t.Fatalf("first message: %+v", r)
	}
	e.inbound(t, openid, openid+"-2", "anyone?", "", "")
	id, err := ob.Enqueue(ctx, outbox.Message{Account: "wx1", OpenID: openid, Session: r.SessionID,
		Kind: outbox.KindAgent, Content: "hi, how can I help?", Agent: r.Agent})
	if err != nil {
		t.Fatal(err)
	}
	e.sent(t, id, r.SessionID, openid, r.Agent)
	other := "a2"
	if r.Agent == "a2" {
		other = "a1"
	}
	if _, err := e.store.Transfer(ctx, "wx1", openid, other, "", r.Agent, "agent", e.tick()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Close(ctx, "wx1", openid, r.SessionID, other, "resolved", "", e.tick()); err != nil {
		t.Fatal(err)
	}
	return r.SessionID
}

func TestConversationArchived(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "a1", 10)
	e.agent(t, "a2", 10)
	ob, err := outbox.New(outbox.Options{Redis: e.rdb, Prefix: e.prefix, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	sid := e.conversation(t, ob, "u1")
	if r := e.inbound(t, "u2", "u2-1", "late", "", "off_hours"); r.Outcome != "rejected" {
		t.Fatalf("off hours: %+v", r)
	}

	reg := prometheus.NewRegistry()
	w := run(t, Options{Redis: e.rdb, Prefix: e.prefix, DB: e.pool, Registerer: reg})
	drained(t, w, 10*time.Second)

	rd := NewReader(e.pool)
	s, err := rd.Session(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != kf.StateClosed || s.Agent != "a2" || s.Transfers != 1 || s.ClosedAt == nil ||
		s.ClosedBy != "a2" || s.CloseReason != "resolved" || s.Account != "wx1" || s.OpenID != "u1" {
		t.Errorf("session = %+v", s)
	}
	tr, err := rd.Transitions(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, x := range tr {
		types = append(types, x.Type+":"+string(x.State)+":"+x.Agent)
	}
	want := fmt.Sprint([]string{"session.assigned:serving:a1", "session.transferred:serving:a2", "session.closed:closed:a2"})
	if fmt.Sprint(types) != want {
		t.Errorf("transitions = %v, want %v", types, want)
	}
	msgs, next, err := rd.Messages(t.Context(), sid, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Direction+":"+m.Type+":"+m.Content+":"+m.Status)
	}
	wantMsgs := fmt.Sprint([]string{"in:text:hello:received", "in:text:anyone?:received", "out:text:hi, how can I help?:sent"})
	if fmt.Sprint(got) != wantMsgs || next != 0 {
		t.Errorf("messages = %v (next %d), want %v", got, next, wantMsgs)
	}
	// Paging: two at a time, oldest page last.
	page, next, err := rd.Messages(t.Context(), sid, 2, 0)
	if err != nil || len(page) != 2 || next == 0 || page[1].Direction != "out" {
		t.Fatalf("page 1 = %+v, next %d, %v", page, next, err)
	}
	page, next, err = rd.Messages(t.Context(), sid, 2, next)
	if err != nil || len(page) != 1 || next != 0 || page[0].Content != "hello" {
		t.Fatalf("page 2 = %+v, next %d, %v", page, next, err)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM messages WHERE session_id IS NULL AND status = 'rejected' AND openid = 'u2'`); n != 1 {
		t.Errorf("rejected messages archived: %d, want 1", n)
	}
	list, err := rd.Sessions(t.Context(), Filter{Account: "wx1", Agent: "a2", State: kf.StateClosed})
	if err != nil || len(list) != 1 || list[0].ID != sid {
		t.Errorf("Sessions = %+v, %v", list, err)
	}
	if _, err := rd.Session(t.Context(), "nope"); !isNotFound(err) {
		t.Errorf("Session(nope) = %v, want not found", err)
	}
	if got := gauge(t, reg, "kfgate_archive_backlog"); got != 0 {
		t.Errorf("kfgate_archive_backlog = %v, want 0", got)
	}
	if got := rowsTotal(w, "session_transitions"); got != 3 {
		t.Errorf("rows_total{session_transitions} = %v, want 3", got)
	}

	// Replay: a second group reads the whole stream again; an entry of a
	// dead consumer is claimed. Nothing new is written.
	before := snapshot(t, e)
	w2 := run(t, Options{Redis: e.rdb, Prefix: e.prefix, DB: e.pool, Group: "replay"})
	drained(t, w2, 10*time.Second)
	if after := snapshot(t, e); after != before {
		t.Errorf("replay changed the archive: %v → %v", before, after)
	}
	t.Logf("archived %s; replay wrote no row", before)
}

func isNotFound(err error) bool {
	var ke *kf.Error
	return err != nil && errorsAs(err, &ke) && ke.Kind == kf.KindNotFound
}

// snapshot counts the archive's rows and distinct keys.
func snapshot(t *testing.T, e *env) string {
	t.Helper()
	return fmt.Sprintf("sessions=%d transitions=%d messages=%d (in %d, out %d) distinct-in=%d distinct-out=%d",
		count(t, e.pool, `SELECT count(*) FROM sessions`),
		count(t, e.pool, `SELECT count(*) FROM session_transitions`),
		count(t, e.pool, `SELECT count(*) FROM messages`),
		count(t, e.pool, `SELECT count(*) FROM messages WHERE direction = 'in'`),
		count(t, e.pool, `SELECT count(*) FROM messages WHERE direction = 'out'`),
		count(t, e.pool, `SELECT count(DISTINCT (account, openid, msg_id)) FROM messages WHERE direction = 'in'`),
		count(t, e.pool, `SELECT count(DISTINCT outbox_id) FROM messages WHERE direction = 'out'`))
}

// TestClaimDeadConsumer: entries a dead replica read and never acked are
// taken over after ClaimIdle.
func TestClaimDeadConsumer(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "a1", 10)
	e.inbound(t, "u1", "1", "hello", "a1", "")
	ctx := t.Context()
	if err := e.rdb.XGroupCreateMkStream(ctx, e.prefix+"events", "archive", "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "archive", Consumer: "dead",
		Streams: []string{e.prefix + "events", ">"}, Count: 100, Block: -1}).Result()
	if err != nil || len(res[0].Messages) != 2 {
		t.Fatalf("dead consumer read %v, %v", res, err)
	}
	e.inbound(t, "u1", "2", "still there?", "", "")
	w := run(t, Options{Redis: e.rdb, Prefix: e.prefix, DB: e.pool, ClaimIdle: 200 * time.Millisecond})
	drained(t, w, 10*time.Second)
	if n := count(t, e.pool, `SELECT count(*) FROM messages`); n != 2 {
		t.Errorf("messages = %d, want 2", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM session_transitions`); n != 1 {
		t.Errorf("transitions = %d, want 1", n)
	}
}

func TestParseAt(t *testing.T) {
	for _, body := range []string{
		`{"type":"session.closed","session":"s","at":"1700000000123","message":{}}`,
		`{"type":"session.closed","session":"s","at":1700000000123,"context":{}}`,
	} {
		e, err := parse(redis.XMessage{ID: "1700000000123-4", Values: map[string]any{"event": body}})
		if err != nil {
			t.Fatal(err)
		}
		if e.At.UnixMilli() != 1700000000123 || e.MS != 1700000000123 || e.Seq != 4 {
			t.Errorf("%s: at %v, id %d-%d", body, e.At, e.MS, e.Seq)
		}
	}
	if _, err := parse(redis.XMessage{ID: "1-0", Values: map[string]any{"event": "{"}}); err == nil {
		t.Error("a malformed event parsed")
	}
}

// One entry PostgreSQL refuses (a NUL in a user's text) goes to the
// dead-letter stream with the error; the batch around it is archived, and
// so is what comes after.
func TestPoisonEntryDeadLettered(t *testing.T) {
	e := newEnv(t)
	e.agent(t, "a1", 10)
	e.inbound(t, "u1", "u1-1", "before", "a1", "")
	e.inbound(t, "u2", "u2-1", "nul \x00 here", "a1", "")
	e.inbound(t, "u3", "u3-1", "after", "a1", "")

	reg := prometheus.NewRegistry()
	dl, err := stream.NewDeadLetter(e.rdb, e.prefix, reg)
	if err != nil {
		t.Fatal(err)
	}
	w := run(t, Options{Redis: e.rdb, Prefix: e.prefix, DB: e.pool, DeadLetter: dl, Registerer: reg,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	drained(t, w, 10*time.Second)
	if n := count(t, e.pool, `SELECT count(*) FROM messages WHERE content IN ('before', 'after')`); n != 2 {
		t.Fatalf("%d of the good messages archived, want 2", n)
	}
	list, _, err := dl.List(t.Context(), "", 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("dead letters %+v %v", list, err)
	}
	if d := list[0]; d.Stream != "events" || !strings.Contains(d.Error, "0x00") || !strings.Contains(d.Fields["payload"]+d.Fields["message"]+fmt.Sprint(d.Fields), "nul") {
		t.Fatalf("dead letter %+v", d)
	}
	if v := gauge(t, reg, "kfgate_deadletter_length"); v != 1 {
		t.Fatalf("kfgate_deadletter_length %v", v)
	}
	// The stream flows on.
	e.inbound(t, "u4", "u4-1", "later", "a1", "")
	drained(t, w, 10*time.Second)
	if n := count(t, e.pool, `SELECT count(*) FROM messages WHERE content = 'later'`); n != 1 {
		t.Fatal("a message after the poison entry was not archived")
	}
}

// Only PostgreSQL refusing the data splits a batch; an outage or a missing
// table is retried as it is.
func TestPoisoned(t *testing.T) {
	for code, want := range map[string]bool{"22021": true, "22P05": true, "23505": true, "54000": true, "21000": true,
		"08006": false, "57P01": false, "42P01": false, "40001": false, "53300": false, "": false} {
		if got := poisoned(fmt.Errorf("archive: copy: %w", &pgconn.PgError{Code: code})); got != want {
			t.Errorf("poisoned(%s) = %v, want %v", code, got, want)
		}
	}
	if poisoned(errors.New("connection refused")) {
		t.Error("a network error counts as poison")
	}
}
