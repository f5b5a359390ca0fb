package server

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/customer"
	"github.com/kfgate/kfgate/internal/desk"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// Customers is what the API reads and changes of users at WeChat.
type Customers interface {
	Profile(ctx context.Context, account, openid string) (customer.Profile, error)
	Tags(ctx context.Context, account string) ([]wxapi.Tag, error)
	Update(ctx context.Context, account, openid string, c customer.Change) (customer.Profile, error)
}

var _ Customers = (*customer.Service)(nil)

// History is what the API reads of a user's past and searches in the
// archive; nil without PostgreSQL.
type History interface {
	UserSessions(ctx context.Context, account, openid string, limit int) ([]archive.Session, error)
	ServedUser(ctx context.Context, account, openid, agent string) (bool, error)
	Messages(ctx context.Context, sessionID string, limit int, beforeID int64) ([]archive.Message, int64, error)
	Search(ctx context.Context, q archive.Query) (archive.Results, error)
}

var _ History = (*archive.Reader)(nil)

// UserSessions finds a user's live session (the engine).
type UserSessions interface {
	UserSession(ctx context.Context, account, openid string) (kf.Session, error)
}

var _ UserSessions = (*engine.Engine)(nil)

// FollowUps lets an agent write first to a user (desk.Desk).
type FollowUps interface {
	FollowUp(ctx context.Context, agent kf.Agent, account, openid string, m desk.Outgoing) (kf.Session, desk.Sent, error)
}

var _ FollowUps = (*desk.Desk)(nil)

// userOf returns the URL's account and openid, and the user's live session
// (nil when none), if the caller may see the user: an admin always, an
// agent of the account who serves the user now or served them before.
func (s *server) userOf(r *http.Request) (string, string, *kf.Session, error) {
	account, openid := chi.URLParam(r, "account"), chi.URLParam(r, "openid")
	if !s.cb.Known(account) {
		return "", "", nil, kf.Errorf(kf.KindNotFound, "bad_account", "account must be a configured appid")
	}
	if openid == "" || len(openid) > 128 {
		return "", "", nil, kf.Errorf(kf.KindInvalid, "bad_openid", "openid must be 1 to 128 characters")
	}
	var live *kf.Session
	sess, err := s.userSessions.UserSession(r.Context(), account, openid)
	switch {
	case err == nil:
		live = &sess
	case !errors.Is(err, kf.ErrNotFound):
		return "", "", nil, err
	}
	if roleOf(r).Sees() {
		return account, openid, live, nil
	}
	me := agentOf(r)
	if slices.Contains(me.Accounts, account) {
		if live != nil && live.Agent == me.ID {
			return account, openid, live, nil
		}
		if s.history != nil {
			ok, err := s.history.ServedUser(r.Context(), account, openid, me.ID)
			if err != nil {
				return "", "", nil, err
			}
			if ok {
				return account, openid, live, nil
			}
		}
	}
	return "", "", nil, kf.Errorf(kf.KindForbidden, "not_your_user", "you do not serve this user")
}

// pastSession is an archived session with its transcript.
type pastSession struct {
	archive.Session
	Messages []archive.Message `json:"messages"`
}

// getUser answers GET /api/v1/users/{account}/{openid}: WeChat's profile
// (cached), the account's tags, the live session, past sessions with
// their transcripts (archive), and the notes on the user's sessions.
func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	account, openid, live, err := s.userOf(r)
	var p customer.Profile
	if err == nil {
		p, err = s.users.Profile(r.Context(), account, openid)
	}
	var tags []wxapi.Tag
	if err == nil {
		tags, err = s.users.Tags(r.Context(), account)
	}
	past := []pastSession{}
	if err == nil && s.history != nil {
		var list []archive.Session
		list, err = s.history.UserSessions(r.Context(), account, openid, 10)
		for _, sess := range list {
			if err != nil {
				break
			}
			var msgs []archive.Message
			msgs, _, err = s.history.Messages(r.Context(), sess.ID, 100, 0)
			if msgs == nil {
				msgs = []archive.Message{}
			}
			past = append(past, pastSession{Session: sess, Messages: msgs})
		}
	}
	notes := []any{}
	if err == nil && s.tools != nil {
		list, nerr := s.tools.UserNotes(r.Context(), account, openid)
		for _, n := range list {
			notes = append(notes, n)
		}
		err = nerr
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": p, "tags": tags, "session": live, "sessions": past, "notes": notes})
}

// patchUser answers PATCH /api/v1/users/{account}/{openid}
// {"remark": "…", "tags": [ids]}: the remark and the user's tags at WeChat.
func (s *server) patchUser(w http.ResponseWriter, r *http.Request) {
	account, openid, _, err := s.userOf(r)
	var c customer.Change
	if err == nil {
		err = decode(r, &c)
	}
	var p customer.Profile
	if err == nil {
		p, err = s.users.Update(r.Context(), account, openid, c)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": p})
}

// followUp answers POST /api/v1/users/{account}/{openid}/messages: an
// agent of the account writes to a user who has no session with it, while
// WeChat's 48-hour window is open; a new session, served by the agent,
// opens.
func (s *server) followUp(w http.ResponseWriter, r *http.Request) {
	account, openid := chi.URLParam(r, "account"), chi.URLParam(r, "openid")
	var err error
	me := agentOf(r)
	switch {
	case me.ID == "":
		err = kf.Errorf(kf.KindForbidden, "not_an_agent", "only an agent writes to the user")
	case !s.cb.Known(account):
		err = kf.Errorf(kf.KindNotFound, "bad_account", "account must be a configured appid")
	case !slices.Contains(me.Accounts, account):
		err = kf.Errorf(kf.KindForbidden, "not_your_account", "you do not serve this account")
	case openid == "" || len(openid) > 128:
		err = kf.Errorf(kf.KindInvalid, "bad_openid", "openid must be 1 to 128 characters")
	}
	var m desk.Outgoing
	if err == nil {
		err = decode(r, &m)
	}
	var sess kf.Session
	var sent desk.Sent
	if err == nil {
		sess, sent, err = s.followUps.FollowUp(r.Context(), me, account, openid, m)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"session": sess, "message": sent})
}
