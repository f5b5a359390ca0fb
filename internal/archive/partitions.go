package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The archive's partitioned tables (migrations/00013_archive_partitions.sql):
// one partition per month (UTC), named <table>_yYYYYmMM, holding the rows
// whose partition key (session_transitions.at, messages.key_at) falls in
// that month.
var partitioned = []string{"session_transitions", "messages"}

var rePartition = regexp.MustCompile(`^(session_transitions|messages)_y([0-9]{4})m([0-9]{2})$`)

// month returns the first instant of t's month, UTC.
func month(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(table string, m time.Time) string {
	return fmt.Sprintf("%s_y%04dm%02d", table, m.Year(), int(m.Month()))
}

// lockKey serializes the archive's partition changes (creating and
// dropping) per schema, across replicas.
const lockKey = `hashtextextended('kfgate archive partitions ' || current_schema(), 0)`

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// partitions returns the months of table's partitions that kfgate named
// (others, attached by hand, are left alone), keyed by partition name.
func partitions(ctx context.Context, q execer, table string) (map[string]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(names))
	for _, n := range names {
		m := rePartition.FindStringSubmatch(n)
		if m == nil || m[1] != table {
			continue
		}
		y, _ := strconv.Atoi(m[2])
		mo, _ := strconv.Atoi(m[3])
		if mo < 1 || mo > 12 {
			continue
		}
		out[n] = time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC)
	}
	return out, nil
}

// createMonths creates, in tx, the partitions of every partitioned table
// for the given months that do not exist yet, and returns how many it
// created. The caller holds the partition lock.
func createMonths(ctx context.Context, tx pgx.Tx, months []time.Time) (int, error) {
	n := 0
	for _, table := range partitioned {
		have, err := partitions(ctx, tx, table)
		if err != nil {
			return n, fmt.Errorf("archive partitions of %s: %w", table, err)
		}
		for _, m := range months {
			name := partitionName(table, m)
			if _, ok := have[name]; ok {
				continue
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
				pgx.Identifier{name}.Sanitize(), pgx.Identifier{table}.Sanitize(),
				m.Format("2006-01-02 15:04:05Z07:00"), m.AddDate(0, 1, 0).Format("2006-01-02 15:04:05Z07:00")))
			if err != nil {
				return n, fmt.Errorf("archive partition %s: %w", name, err)
			}
			have[name] = m
			n++
		}
	}
	return n, nil
}

// Retention keeps the archive's partitions: the current month's and the
// next Ahead months' exist before rows need them, and, with Keep set, what
// is older than Keep goes — whole months of transitions and messages
// (DROP TABLE of a partition, once the month has entirely passed the
// limit), and the sessions, notes and labels older than it (DELETE).
//
// Every replica runs it (a scheduler job, and once at start); a
// PostgreSQL advisory lock lets one at a time do the work, the others
// return at once.
type Retention struct {
	DB *pgxpool.Pool
	// Keep is how long the archive keeps what it holds; 0 keeps it forever.
	Keep time.Duration
	// Ahead is how many months after the current one get their partitions
	// in advance. Default 2.
	Ahead int
	// Now is the clock (tests); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// RetentionResult is what one run of Retention did.
type RetentionResult struct {
	Created, Dropped []string // partitions
	Sessions         int64    // sessions deleted (with their labels)
	Notes            int64
	Skipped          bool // another replica held the lock
}

func (r *Retention) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Cutoff returns the instant before which the archive keeps nothing (zero
// when Keep is 0).
func (r *Retention) Cutoff() time.Time {
	if r.Keep <= 0 {
		return time.Time{}
	}
	return r.now().Add(-r.Keep)
}

// Run does one round of retention.
func (r *Retention) Run(ctx context.Context) (RetentionResult, error) {
	var res RetentionResult
	ahead := r.Ahead
	if ahead <= 0 {
		ahead = 2
	}
	err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(`+lockKey+`)`).Scan(&got); err != nil {
			return err
		}
		if !got {
			res.Skipped = true
			return nil
		}
		// A partition's DDL waits for the queries on its table; rather than
		// queue every writer behind it, give up and try at the next run.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		now := month(r.now())
		months := make([]time.Time, 0, ahead+1)
		for i := 0; i <= ahead; i++ {
			months = append(months, now.AddDate(0, i, 0))
		}
		before := map[string]bool{}
		for _, t := range partitioned {
			have, err := partitions(ctx, tx, t)
			if err != nil {
				return err
			}
			for n := range have {
				before[n] = true
			}
		}
		if _, err := createMonths(ctx, tx, months); err != nil {
			return err
		}
		for _, t := range partitioned {
			for _, m := range months {
				if n := partitionName(t, m); !before[n] {
					res.Created = append(res.Created, n)
				}
			}
		}
		cutoff := r.Cutoff()
		if cutoff.IsZero() {
			return nil
		}
		for _, t := range partitioned {
			have, err := partitions(ctx, tx, t)
			if err != nil {
				return err
			}
			for name, m := range have {
				if m.AddDate(0, 1, 0).After(cutoff) {
					continue // some of the month is still within Keep
				}
				if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
					return fmt.Errorf("drop %s: %w", name, err)
				}
				res.Dropped = append(res.Dropped, name)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM session_labels WHERE session_id IN
			(SELECT id FROM sessions WHERE updated_at < $1)`, cutoff); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE updated_at < $1`, cutoff)
		if err != nil {
			return err
		}
		res.Sessions = tag.RowsAffected()
		if tag, err = tx.Exec(ctx, `DELETE FROM session_notes WHERE created_at < $1`, cutoff); err != nil {
			return err
		}
		res.Notes = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return RetentionResult{}, fmt.Errorf("archive retention: %w", err)
	}
	if r.Logger != nil && (len(res.Created) > 0 || len(res.Dropped) > 0 || res.Sessions > 0) {
		r.Logger.Info("archive retention", "created", res.Created, "dropped", res.Dropped,
			"sessions_deleted", res.Sessions, "notes_deleted", res.Notes)
	}
	return res, nil
}

// noPartition reports whether err is PostgreSQL finding no partition for a
// row (a month kfgate has not created yet, or one retention dropped).
func noPartition(err error) bool {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pe.Code == "23514" && (pe.Routine == "ExecFindPartition" || strings.HasPrefix(pe.Message, "no partition of relation"))
}

// makeRoom creates the partitions the events need and returns the events
// left to write: those whose month is entirely older than keep (0: none)
// are dropped, as retention would drop them. It reports how many it left
// out.
func makeRoom(ctx context.Context, db beginner, evs []event, keep time.Duration, now time.Time) ([]event, int, error) {
	var cutoff time.Time
	if keep > 0 {
		cutoff = now.Add(-keep)
	}
	expired := func(t time.Time) bool { return !cutoff.IsZero() && !month(t).AddDate(0, 1, 0).After(cutoff) }
	keepEvs := evs[:0:0]
	seen := map[time.Time]bool{}
	var months []time.Time
	for _, e := range evs {
		t := e.At // a transition's partition key
		if e.kind() != "transition" {
			t = e.KeyAt
		}
		if expired(t) {
			continue
		}
		keepEvs = append(keepEvs, e)
		if m := month(t); !seen[m] {
			seen[m] = true
			months = append(months, m)
		}
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`); err != nil {
		return nil, 0, err
	}
	if _, err := createMonths(ctx, tx, months); err != nil {
		return nil, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, err
	}
	return keepEvs, len(evs) - len(keepEvs), nil
}
