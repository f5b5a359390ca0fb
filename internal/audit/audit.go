// Package audit keeps the log of what admins did: who (which admin token,
// by a fingerprint, never the token), what (the call and its target), when,
// from where (the client's address) and how it ended (the HTTP status).
// Content — message texts, a user's data — is never written to it.
//
// With PostgreSQL configured the log is the table audit_log (Postgres): kept
// until deleted by hand, archive.retention does not apply. A record
// PostgreSQL cannot take at the moment waits in the Redis stream
// <prefix>audit and is moved into the table at the next record or read.
// Without PostgreSQL the stream is the log (Log), which kfgate never trims
// below MaxEntries (about a million records; with Redis's AOF on, as
// production needs anyway, it survives restarts). Both are read newest
// first.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// MaxEntries is how many records the log keeps (approximately).
const MaxEntries = 1_000_000

// Entry is one audited action.
type Entry struct {
	ID     string    `json:"id"`     // the stream entry id, for paging
	At     time.Time `json:"at"`     // when
	Actor  string    `json:"actor"`  // who: admin:<fingerprint of the token>
	Action string    `json:"action"` // what: "DELETE /api/v1/agents/{id}"
	Target string    `json:"target"` // on what: the call's path parameters, "id=a1"
	From   string    `json:"from"`   // the client's address
	Status int       `json:"status"` // the HTTP status it ended with
}

// Log is the audit log in Redis.
type Log struct {
	rdb redis.Cmdable
	key string
}

// New returns the audit log under prefix.
func New(rdb redis.Cmdable, prefix string) *Log { return &Log{rdb: rdb, key: prefix + "audit"} }

// Actor names the holder of an admin token without revealing it: the first
// 12 hex digits of its SHA-256.
func Actor(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "admin:" + hex.EncodeToString(sum[:6])
}

// Record appends e (its ID is set by Redis; a zero At is now).
func (l *Log) Record(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	err := l.rdb.XAdd(ctx, &redis.XAddArgs{Stream: l.key, MaxLen: MaxEntries, Approx: true, Values: []any{
		"at", e.At.UnixMilli(), "actor", e.Actor, "action", e.Action, "target", e.Target, "from", e.From,
		"status", e.Status}}).Err()
	if err != nil {
		return kf.Wrap(kf.KindUnavailable, "redis", fmt.Errorf("audit: %w", err), "the audit log is unavailable")
	}
	return nil
}

var (
	reID     = regexp.MustCompile(`^[0-9]{1,20}(-[0-9]{1,20})?$`)
	reStream = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)
)

// ValidID reports whether id can be a "before" of List: a record's id,
// "1700000000000-0" in Redis, "42" in PostgreSQL.
func ValidID(id string) bool { return reID.MatchString(id) }

// Query selects a page of the log; zero fields select all.
type Query struct {
	Before   string    // the id of the last record of the previous page
	Limit    int       // at most this many records (default 100)
	Actor    string    // only this actor's records
	Action   string    // only this action's ("DELETE /api/v1/agents/{id}")
	From, To time.Time // only records at or after From, and before To
}

func (q *Query) limit() int {
	if q.Limit <= 0 {
		return 100
	}
	return q.Limit
}

// matches reports whether e passes q's actor and action filters.
func (q *Query) matches(e Entry) bool {
	return (q.Actor == "" || e.Actor == q.Actor) && (q.Action == "" || e.Action == q.Action)
}

func badCursor(store string) error {
	return kf.Errorf(kf.KindInvalid, "bad_query", "before must be an id of this audit log (%s)", store)
}

// ScanLimit bounds the records one List of the Redis log reads when it
// filters by actor or action: a page may then come back short, with the
// before of the next page, rather than read the whole stream.
const ScanLimit = 10_000

// List returns up to q.Limit records, newest first, and the before of the
// next page ("" when there is none). From and To are cut from the stream
// ids (the time Redis took the record); actor and action are filtered as
// the stream is read, ScanLimit records at most.
func (l *Log) List(ctx context.Context, q Query) ([]Entry, string, error) {
	limit := q.limit()
	end, start := "+", "-"
	if q.Before != "" {
		if !reStream.MatchString(q.Before) {
			return nil, "", badCursor("Redis: 1700000000000-0")
		}
		end = "(" + q.Before
	}
	if !q.To.IsZero() {
		to := fmt.Sprintf("(%d-0", q.To.UnixMilli())
		if end == "+" || streamLess(to[1:], end[1:]) {
			end = to
		}
	}
	if !q.From.IsZero() {
		start = strconv.FormatInt(q.From.UnixMilli(), 10)
	}
	filtered := q.Actor != "" || q.Action != ""
	var out []Entry
	scanned := 0
	for {
		n := int64(limit + 1)
		if filtered {
			n = max(n, 500)
		}
		msgs, err := l.rdb.XRevRangeN(ctx, l.key, end, start, n).Result()
		if err != nil {
			return nil, "", kf.Wrap(kf.KindUnavailable, "redis", fmt.Errorf("audit: %w", err), "the audit log is unavailable")
		}
		for _, m := range msgs {
			scanned++
			if e := entryOf(m); q.matches(e) {
				out = append(out, e)
				if len(out) > limit {
					return out[:limit], out[limit-1].ID, nil
				}
			}
			end = "(" + m.ID
			if scanned >= ScanLimit {
				return out, m.ID, nil
			}
		}
		if int64(len(msgs)) < n {
			return out, "", nil
		}
	}
}

// streamLess compares two stream ids "ms-seq".
func streamLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	x, _ := strconv.ParseUint(am, 10, 64)
	y, _ := strconv.ParseUint(bm, 10, 64)
	if x != y {
		return x < y
	}
	x, _ = strconv.ParseUint(as, 10, 64)
	y, _ = strconv.ParseUint(bs, 10, 64)
	return x < y
}

func entryOf(m redis.XMessage) Entry {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	ms, _ := strconv.ParseInt(s("at"), 10, 64)
	status, _ := strconv.Atoi(s("status"))
	return Entry{ID: m.ID, At: time.UnixMilli(ms).UTC(), Actor: s("actor"), Action: s("action"),
		Target: s("target"), From: s("from"), Status: status}
}
