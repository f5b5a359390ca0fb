// Package helpdesk holds the agents' working tools: canned replies (global
// or per account, with a shortcut), internal notes on a session (never sent
// to the user, kept, shown to whoever serves the user next) and labels on
// sessions (for reports and search). Records live in PostgreSQL when the
// archive is on, otherwise in Redis.
package helpdesk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
)

// Canned is a prepared answer an agent inserts by its shortcut.
type Canned struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"` // "" = every account
	Shortcut  string    `json:"shortcut"`
	Title     string    `json:"title"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Note is an internal note on a session: for agents and admins only.
type Note struct {
	ID        string    `json:"id"`
	Session   string    `json:"session_id"`
	Account   string    `json:"account"`
	OpenID    string    `json:"openid"`
	Author    string    `json:"author"` // agent id, or "admin"
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// Store keeps the records.
type Store interface {
	// Canned lists the replies of account (with the global ones); account
	// "" lists all.
	Canned(ctx context.Context, account string) ([]Canned, error)
	GetCanned(ctx context.Context, id string) (Canned, error)
	// PutCanned creates (c.ID new) or replaces a reply; a shortcut taken
	// in the same scope is a conflict.
	PutCanned(ctx context.Context, c Canned, create bool) error
	DeleteCanned(ctx context.Context, id string) error
	AddNote(ctx context.Context, n Note) error
	// Notes lists a session's notes, oldest first.
	Notes(ctx context.Context, session string) ([]Note, error)
	// UserNotes lists the notes of every session of a user, newest first.
	UserNotes(ctx context.Context, account, openid string, limit int) ([]Note, error)
	SetLabels(ctx context.Context, session, account string, labels []string) error
	Labels(ctx context.Context, session string) ([]string, error)
}

// Service checks and records the tools' changes.
type Service struct {
	store  Store
	rdb    redis.Cmdable
	prefix string
	now    func() time.Time
}

// New returns a Service; rdb and prefix are where note.added events go
// (the events stream and the agent's channel).
func New(store Store, rdb redis.Cmdable, prefix string) *Service {
	return &Service{store: store, rdb: rdb, prefix: prefix, now: time.Now}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func invalid(code, format string, args ...any) error {
	return kf.Errorf(kf.KindInvalid, code, format, args...)
}

// Limits of the records.
const (
	maxShortcut = 32
	maxTitle    = 100
	maxContent  = 2000 // a WeChat text is at most 2048 bytes' worth of characters
	maxNote     = 4000
	maxLabels   = 20
	maxLabel    = 32
)

func checkCanned(c Canned) error {
	switch {
	case c.Shortcut == "" || utf8.RuneCountInString(c.Shortcut) > maxShortcut || strings.ContainsAny(c.Shortcut, " \t\n"):
		return invalid("bad_shortcut", "shortcut must be 1 to %d characters without spaces", maxShortcut)
	case utf8.RuneCountInString(c.Title) > maxTitle:
		return invalid("bad_title", "title is at most %d characters", maxTitle)
	case strings.TrimSpace(c.Content) == "" || utf8.RuneCountInString(c.Content) > maxContent:
		return invalid("bad_content", "content must be 1 to %d characters", maxContent)
	}
	return nil
}

// Canned lists the replies an agent of account may use (account "" for all).
func (s *Service) Canned(ctx context.Context, account string) ([]Canned, error) {
	return s.store.Canned(ctx, account)
}

// CreateCanned adds a reply.
func (s *Service) CreateCanned(ctx context.Context, c Canned) (Canned, error) {
	if err := checkCanned(c); err != nil {
		return Canned{}, err
	}
	now := s.now().UTC()
	c.ID, c.CreatedAt, c.UpdatedAt = newID(), now, now
	return c, s.store.PutCanned(ctx, c, true)
}

// UpdateCanned replaces a reply's fields.
func (s *Service) UpdateCanned(ctx context.Context, id string, c Canned) (Canned, error) {
	old, err := s.store.GetCanned(ctx, id)
	if err != nil {
		return Canned{}, err
	}
	if err := checkCanned(c); err != nil {
		return Canned{}, err
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, old.CreatedAt, s.now().UTC()
	return c, s.store.PutCanned(ctx, c, false)
}

// DeleteCanned removes a reply.
func (s *Service) DeleteCanned(ctx context.Context, id string) error {
	return s.store.DeleteCanned(ctx, id)
}

// AddNote records a note on session sess by author and tells the
// session's agent and the events stream (note.added).
func (s *Service) AddNote(ctx context.Context, sess kf.Session, author, text string) (Note, error) {
	if strings.TrimSpace(text) == "" || utf8.RuneCountInString(text) > maxNote {
		return Note{}, invalid("bad_note", "text must be 1 to %d characters", maxNote)
	}
	n := Note{ID: newID(), Session: sess.ID, Account: sess.Account, OpenID: sess.OpenID, Author: author, Text: text,
		CreatedAt: s.now().UTC()}
	if err := s.store.AddNote(ctx, n); err != nil {
		return Note{}, err
	}
	actor := "admin"
	if author != "admin" {
		actor = "agent:" + author
	}
	ev, _ := json.Marshal(map[string]any{"type": kf.EventNoteAdded, "session": sess.ID, "account": sess.Account,
		"openid": sess.OpenID, "state": sess.State, "agent": sess.Agent, "skill": sess.Skill, "actor": actor,
		"reason": "note", "at": n.CreatedAt.UnixMilli(), "note": n})
	// Like the session scripts' events (docs/events.md): the stream (which
	// the admins' sockets read too) and the session's agent.
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: s.prefix + session.EventsStream, Values: []any{"type", kf.EventNoteAdded, "session", sess.ID, "event", string(ev)}})
		if sess.Agent != "" {
			p.Publish(ctx, s.prefix+"agent:"+sess.Agent+":events", string(ev))
		}
		return nil
	})
	if err != nil {
		// The note is kept; only the live notice is lost.
		return n, kf.Wrap(kf.KindUnavailable, "unavailable", err, "the note is saved but its event could not be sent")
	}
	return n, nil
}

// Notes lists a session's notes.
func (s *Service) Notes(ctx context.Context, session string) ([]Note, error) {
	return s.store.Notes(ctx, session)
}

// UserNotes lists the notes on a user's sessions, newest first.
func (s *Service) UserNotes(ctx context.Context, account, openid string) ([]Note, error) {
	return s.store.UserNotes(ctx, account, openid, 100)
}

// SetLabels replaces a session's labels (trimmed, deduplicated, sorted).
func (s *Service) SetLabels(ctx context.Context, sess kf.Session, labels []string) ([]string, error) {
	if len(labels) > maxLabels {
		return nil, invalid("bad_labels", "at most %d labels", maxLabels)
	}
	seen := map[string]bool{}
	out := []string{}
	for _, l := range labels {
		l = strings.TrimSpace(l)
		if l == "" || utf8.RuneCountInString(l) > maxLabel || strings.Contains(l, ",") {
			return nil, invalid("bad_labels", "a label is 1 to %d characters, without commas", maxLabel)
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out, s.store.SetLabels(ctx, sess.ID, sess.Account, out)
}

// Labels returns a session's labels.
func (s *Service) Labels(ctx context.Context, session string) ([]string, error) {
	return s.store.Labels(ctx, session)
}
