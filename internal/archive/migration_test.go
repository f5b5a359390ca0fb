package archive

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kfgate/kfgate/internal/migrate"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

// TestMigrationToPartitions fills the archive as migration 00012 left it,
// migrates it to the partitioned tables (00013) and reads it back; then
// the writer, delivering again entries of those rows, finds them (the
// same partition key) instead of writing them twice.
func TestMigrationToPartitions(t *testing.T) {
	ctx := t.Context()
	pool, u := pgtest.New(t)
	if _, err := migrate.UpTo(ctx, u, 12); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := redistest.New(t)
	e := &env{rdb: rdb, prefix: prefix, pool: pool, url: u}

	// Three months of history, in the old tables.
	months := []time.Time{time.Date(2025, 1, 10, 8, 0, 0, 0, time.UTC), time.Date(2025, 2, 10, 8, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)}
	for i, at := range months {
		sid, id := fmt.Sprintf("s%d", i), fmt.Sprintf("%d-0", at.UnixMilli())
		outboxID := fmt.Sprintf("%d-0", at.Add(time.Minute).UnixMilli())
		for _, q := range []string{
			`INSERT INTO sessions (id, account, openid, agent, state, created_at, updated_at) VALUES (@sid, 'wx1', 'u' || @sid, 'a1', 'serving', @at, @at)`,
			`INSERT INTO session_transitions (event_id, event_ms, event_seq, session_id, account, openid, at, type, to_state, agent)
				VALUES (@id, @ms, 0, @sid, 'wx1', 'u' || @sid, @at, 'session.assigned', 'serving', 'a1')`,
			`INSERT INTO messages (event_id, session_id, account, openid, direction, type, content, status, created_at, updated_at, payload)
				VALUES (@inid, @sid, 'wx1', 'u' || @sid, 'in', 'image', 'old words ' || @sid, 'received', @at, @at, '{"pic_url": "http://x/p.jpg"}')`,
			`INSERT INTO messages (outbox_id, session_id, account, openid, direction, kind, type, content, status, agent,
				status_ms, status_seq, created_at, updated_at)
				VALUES (@outbox, @sid, 'wx1', 'u' || @sid, 'out', 'agent', 'text', 'old answer ' || @sid, 'queued', 'a1', @ms::bigint + 60000, 0,
				@at::timestamptz + interval '1 minute', @at::timestamptz + interval '1 minute')`,
		} {
			args := pgx.NamedArgs{"sid": sid, "at": at, "id": id, "ms": at.UnixMilli(), "outbox": outboxID,
				"inid": fmt.Sprintf("%d-0", at.UnixMilli()+1)}
			if _, err := pool.Exec(ctx, q, args); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
		}
	}
	var lastID int64
	if err := pool.QueryRow(ctx, `SELECT max(id) FROM messages`).Scan(&lastID); err != nil {
		t.Fatal(err)
	}

	applied, err := migrate.Up(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(applied, "00013_archive_partitions.sql") {
		t.Fatalf("applied %v", applied)
	}
	names := partitionNames(t, e)
	for _, m := range []string{"y2025m01", "y2025m02", "y2025m03"} {
		if !slices.Contains(names, "messages_"+m) || !slices.Contains(names, "session_transitions_"+m) {
			t.Errorf("no partitions for %s: %v", m, names)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM messages_y2025m02`); n != 2 {
		t.Errorf("February's partition holds %d messages, want 2", n)
	}

	rd := NewReader(pool)
	for i := range months {
		sid := fmt.Sprintf("s%d", i)
		msgs, _, err := rd.Messages(ctx, sid, 10, 0)
		if err != nil || len(msgs) != 2 || msgs[0].Content != "old words "+sid || msgs[0].PicURL != "http://x/p.jpg" ||
			msgs[1].Content != "old answer "+sid || msgs[1].Status != "queued" {
			t.Errorf("%s: messages = %+v, %v", sid, msgs, err)
		}
		if tr, err := rd.Transitions(ctx, sid); err != nil || len(tr) != 1 {
			t.Errorf("%s: transitions = %+v, %v", sid, tr, err)
		}
	}
	found, err := rd.Search(ctx, Query{Q: "old words"})
	if err != nil || len(found.Messages) != 3 {
		t.Errorf("search after the migration = %+v, %v", found, err)
	}

	// The stream delivers again the entries of February's rows, and the
	// "sent" of its answer: nothing is written twice.
	at := months[1]
	e.addAt(t, at, "session.assigned", "s1", map[string]any{"openid": "us1", "state": "serving", "agent": "a1"})
	e.addAt(t, at.Add(time.Millisecond), "message.received", "s1", map[string]any{"openid": "us1", "state": "serving",
		"message": map[string]any{"id": "dup", "type": "text", "content": "ignored"}})
	e.addAt(t, at.Add(2*time.Minute), "message.status", "s1", map[string]any{"openid": "us1", "agent": "a1",
		"message": map[string]any{"id": fmt.Sprintf("%d-0", at.Add(time.Minute).UnixMilli()), "status": "sent", "kind": "agent", "attempts": 1}})
	e.addAt(t, time.Now(), "message.received", "s9", map[string]any{"openid": "us9", "state": "waiting",
		"message": map[string]any{"id": "new", "type": "text", "content": "a new one"}})
	w := run(t, Options{Redis: rdb, Prefix: prefix, DB: pool})
	drained(t, w, 10*time.Second)
	if n := count(t, pool, `SELECT count(*) FROM messages WHERE session_id = 's1' AND direction = 'in'`); n != 1 {
		t.Errorf("February's inbound message written twice: %d rows", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM session_transitions WHERE session_id = 's1'`); n != 1 {
		t.Errorf("February's transition written twice: %d rows", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM messages WHERE session_id = 's1' AND direction = 'out' AND status = 'sent'`); n != 1 {
		t.Errorf("February's answer: %d sent rows, want 1 (updated in place)", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM messages WHERE session_id = 's1' AND direction = 'out'`); n != 1 {
		t.Errorf("February's answer: %d rows, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM messages WHERE content = 'a new one' AND id > $1`, lastID); n != 1 {
		t.Errorf("a new message is not numbered after the migrated ones")
	}
}
