// Package audit keeps the log of what admins did: who (which admin token,
// by a fingerprint, never the token), what (the call and its target), when,
// from where (the client's address) and how it ended (the HTTP status).
// Content — message texts, a user's data — is never written to it.
//
// The log is the Redis stream <prefix>audit, which kfgate never trims below
// MaxEntries (about a million records; with Redis's AOF on, as production
// needs anyway, it survives restarts), read newest first.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
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

var reID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// ValidID reports whether id can be a "before" of List.
func ValidID(id string) bool { return reID.MatchString(id) }

// List returns up to limit records older than before ("" = the newest),
// newest first, and the before of the next page ("" when there is none).
func (l *Log) List(ctx context.Context, before string, limit int) ([]Entry, string, error) {
	end := "+"
	if before != "" {
		end = "(" + before
	}
	msgs, err := l.rdb.XRevRangeN(ctx, l.key, end, "-", int64(limit)+1).Result()
	if err != nil {
		return nil, "", kf.Wrap(kf.KindUnavailable, "redis", fmt.Errorf("audit: %w", err), "the audit log is unavailable")
	}
	next := ""
	if len(msgs) > limit {
		msgs = msgs[:limit]
		next = msgs[limit-1].ID
	}
	out := make([]Entry, len(msgs))
	for i, m := range msgs {
		s := func(k string) string { v, _ := m.Values[k].(string); return v }
		ms, _ := strconv.ParseInt(s("at"), 10, 64)
		status, _ := strconv.Atoi(s("status"))
		out[i] = Entry{ID: m.ID, At: time.UnixMilli(ms).UTC(), Actor: s("actor"), Action: s("action"),
			Target: s("target"), From: s("from"), Status: status}
	}
	return out, next, nil
}
