package audit

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// Postgres is the audit log in PostgreSQL (migrations/00015_audit.sql). A
// record PostgreSQL refuses (it is away) goes to the Redis stream instead,
// and is moved into the table by the next Record or List that finds
// PostgreSQL back: the stream is the buffer, the table the log.
type Postgres struct {
	db     *pgxpool.Pool
	buffer *Log
}

// NewPostgres returns the audit log in db, buffered in rdb under prefix.
func NewPostgres(db *pgxpool.Pool, rdb redis.Cmdable, prefix string) *Postgres {
	return &Postgres{db: db, buffer: New(rdb, prefix)}
}

// WriteTimeout bounds a record's insert; past it the record goes to Redis.
const WriteTimeout = 2 * time.Second

const insertSQL = `INSERT INTO audit_log (at, actor, action, target, client, status) VALUES ($1, $2, $3, $4, $5, $6)`

// Record appends e (a zero At is now). With PostgreSQL away it is kept in
// Redis until it can be moved.
func (p *Postgres) Record(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	// PostgreSQL hanging (a network cut) must not hold the admin's answer.
	ictx, cancel := context.WithTimeout(ctx, WriteTimeout)
	_, err := p.db.Exec(ictx, insertSQL, e.At, e.Actor, e.Action, e.Target, e.From, e.Status)
	cancel()
	if err != nil {
		if berr := p.buffer.Record(ctx, e); berr != nil {
			return kf.Wrap(kf.KindUnavailable, "postgres", fmt.Errorf("audit: %w", errors.Join(err, berr)), "the audit log is unavailable")
		}
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, WriteTimeout)
	defer cancel()
	_, _ = p.Drain(dctx)
	return nil
}

// Drain moves the records buffered in Redis into the table and returns
// how many it moved. Replicas may drain at once: a record is deleted from
// the stream only after its insert committed, and its stream id, kept in
// the row, lets the second insert of it do nothing.
func (p *Postgres) Drain(ctx context.Context) (int, error) {
	msgs, err := p.buffer.rdb.XRangeN(ctx, p.buffer.key, "-", "+", 500).Result()
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	batch := &pgx.Batch{}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		e := entryOf(m)
		ids[i] = m.ID
		batch.Queue(`INSERT INTO audit_log (at, actor, action, target, client, status, buffered_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (buffered_id) DO NOTHING`,
			e.At, e.Actor, e.Action, e.Target, e.From, e.Status, m.ID)
	}
	if err := p.db.SendBatch(ctx, batch).Close(); err != nil {
		return 0, err
	}
	if err := p.buffer.rdb.XDel(ctx, p.buffer.key, ids...).Err(); err != nil {
		return 0, err
	}
	return len(ids), nil
}

var reSerial = regexp.MustCompile(`^[0-9]{1,19}$`)

// List returns up to q.Limit records, newest first (by time, then id), and
// the before of the next page ("" when there is none).
func (p *Postgres) List(ctx context.Context, q Query) ([]Entry, string, error) {
	limit := q.limit()
	var before int64
	if q.Before != "" {
		if !reSerial.MatchString(q.Before) {
			return nil, "", badCursor("PostgreSQL: a number")
		}
		before, _ = strconv.ParseInt(q.Before, 10, 64)
	}
	dctx, cancel := context.WithTimeout(ctx, WriteTimeout)
	_, _ = p.Drain(dctx)
	cancel()
	var from, to *time.Time
	if !q.From.IsZero() {
		from = &q.From
	}
	if !q.To.IsZero() {
		to = &q.To
	}
	rows, err := p.db.Query(ctx, `SELECT id, at, actor, action, target, client, status FROM audit_log
		WHERE ($1::bigint = 0 OR (at, id) < (SELECT at, id FROM audit_log WHERE id = $1))
		AND ($2 = '' OR actor = $2) AND ($3 = '' OR action = $3)
		AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
		ORDER BY at DESC, id DESC LIMIT $6`, before, q.Actor, q.Action, from, to, limit+1)
	if err != nil {
		return nil, "", unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		var id int64
		err := r.Scan(&id, &e.At, &e.Actor, &e.Action, &e.Target, &e.From, &e.Status)
		e.ID, e.At = strconv.FormatInt(id, 10), e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, "", unavailable(err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

func unavailable(err error) error {
	return kf.Wrap(kf.KindUnavailable, "postgres", fmt.Errorf("audit: %w", err), "the audit log is unavailable")
}
