package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kfgate/kfgate/internal/kf"
)

// Reader answers the API's questions about the past from PostgreSQL.
type Reader struct{ db *pgxpool.Pool }

// NewReader returns a Reader on db.
func NewReader(db *pgxpool.Pool) *Reader { return &Reader{db: db} }

// Session is an archived session.
type Session struct {
	kf.Session
	Transfers   int        `json:"transfers"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	ClosedBy    string     `json:"closed_by,omitempty"`
	CloseReason string     `json:"close_reason,omitempty"`
}

// Filter selects sessions; zero fields select all.
type Filter struct {
	Account, Agent string
	State          kf.State
	From, To       time.Time // created in [From, To)
	Limit          int       // default 50, at most 500
	// Before is a cursor: the id of the last session of the previous page.
	Before string
}

// Message is an archived message, shaped for GET /api/v1/sessions/{id}/messages:
// the fields of a kf.Item, with every field WeChat sent (the row's payload).
type Message struct {
	ID        int64  `json:"id"`
	Direction string `json:"direction"` // in | out
	Author    string `json:"author"`    // user | agent | system
	Kind      string `json:"kind,omitempty"`
	Type      string `json:"type"`
	Content   string `json:"content"`
	MediaID   string `json:"media_id,omitempty"`
	Event     string `json:"event,omitempty"`
	MsgID     string `json:"msg_id,omitempty"`
	kf.Rich
	Status string `json:"status"` // in: received | rejected; out: queued | parked | sent | failed
	Reason string `json:"reason,omitempty"`
	Agent  string `json:"agent,omitempty"`
	// KfAccount is the WeChat kf account that wrote (out) or received
	// (in) a message imported from WeChat's chat records; Imported marks
	// such a message (transcripts.go).
	KfAccount string    `json:"kf_account,omitempty"`
	Imported  bool      `json:"imported,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Transition is one step of a session.
type Transition struct {
	EventID   string    `json:"event_id"`
	Type      string    `json:"type"`
	State     kf.State  `json:"state"`
	Agent     string    `json:"agent,omitempty"`
	FromAgent string    `json:"from_agent,omitempty"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

func unavailable(op string, err error) error {
	return kf.Wrap(kf.KindUnavailable, "postgres", fmt.Errorf("archive %s: %w", op, err), "the archive is unavailable")
}

const sessionColumns = `id, account, openid, skill, agent, state, transfers, created_at, updated_at,
	closed_at, coalesce(closed_by, ''), coalesce(close_reason, '')`

func scanSession(row pgx.Row) (Session, error) {
	var s Session
	err := row.Scan(&s.ID, &s.Account, &s.OpenID, &s.Skill, &s.Agent, &s.State, &s.Transfers,
		&s.CreatedAt, &s.UpdatedAt, &s.ClosedAt, &s.ClosedBy, &s.CloseReason)
	return s, err
}

// Sessions lists sessions, newest first.
func (r *Reader) Sessions(ctx context.Context, f Filter) ([]Session, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := r.db.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE ($1 = '' OR account = $1) AND ($2 = '' OR agent = $2) AND ($3 = '' OR state = $3)
		AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
		AND ($6 = '' OR (created_at, id) < (SELECT created_at, id FROM sessions WHERE id = $6))
		ORDER BY created_at DESC, id DESC LIMIT $7`,
		f.Account, f.Agent, string(f.State), from, to, f.Before, f.Limit)
	if err != nil {
		return nil, unavailable("sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Session, error) { return scanSession(row) })
	if err != nil {
		return nil, unavailable("sessions", err)
	}
	return out, nil
}

// Session returns one session; a *kf.Error of KindNotFound if the archive
// has none of that id.
func (r *Reader) Session(ctx context.Context, id string) (Session, error) {
	s, err := scanSession(r.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, kf.Errorf(kf.KindNotFound, "not_found", "no session %s", id)
	}
	if err != nil {
		return Session{}, unavailable("session", err)
	}
	return s, nil
}

// Messages returns a page of a session's messages in the order they were
// created: the latest limit (default 50, at most 500) before the message
// beforeID (0: the latest of all), and the cursor of the page before this
// one (0 when this is the first).
func (r *Reader) Messages(ctx context.Context, sessionID string, limit int, beforeID int64) ([]Message, int64, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	rows, err := r.db.Query(ctx, `SELECT id, direction, kind, type, content, media_id, event, msg_id, payload,
		status, reason, agent, kf_account, import_key IS NOT NULL, created_at
		FROM messages WHERE session_id = $1
		AND ($2::bigint = 0 OR (created_at, id) < (SELECT created_at, id FROM messages WHERE id = $2))
		ORDER BY created_at DESC, id DESC LIMIT $3`, sessionID, beforeID, limit+1)
	if err != nil {
		return nil, 0, unavailable("messages", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Message, error) {
		var m Message
		var payload []byte
		err := row.Scan(&m.ID, &m.Direction, &m.Kind, &m.Type, &m.Content, &m.MediaID, &m.Event, &m.MsgID, &payload,
			&m.Status, &m.Reason, &m.Agent, &m.KfAccount, &m.Imported, &m.CreatedAt)
		if err == nil && len(payload) > 0 {
			if err := json.Unmarshal(payload, &m.Rich); err != nil {
				return m, fmt.Errorf("message %d: payload: %w", m.ID, err)
			}
		}
		switch {
		case m.Direction == "in":
			m.Author = "user"
		case m.Kind == "agent":
			m.Author = "agent"
		default:
			m.Author = "system"
		}
		return m, err
	})
	if err != nil {
		return nil, 0, unavailable("messages", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, next, nil
}

// Transitions returns every transition of a session, in order.
func (r *Reader) Transitions(ctx context.Context, sessionID string) ([]Transition, error) {
	rows, err := r.db.Query(ctx, `SELECT event_id, type, to_state, agent, from_agent, actor, reason, at
		FROM session_transitions WHERE session_id = $1 ORDER BY event_ms, event_seq`, sessionID)
	if err != nil {
		return nil, unavailable("transitions", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Transition, error) {
		var t Transition
		err := row.Scan(&t.EventID, &t.Type, &t.State, &t.Agent, &t.FromAgent, &t.Actor, &t.Reason, &t.At)
		return t, err
	})
	if err != nil {
		return nil, unavailable("transitions", err)
	}
	return out, nil
}
