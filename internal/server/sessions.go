package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/desk"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
)

// Conversations is what the API reads of the live conversations: the
// engine's state in Redis.
type Conversations interface {
	Session(ctx context.Context, id string) (kf.Session, error)
	Recent(ctx context.Context, s kf.Session) ([]string, error)
	Waiting(ctx context.Context, account, skill string) ([]session.Waiting, error)
	LiveList(ctx context.Context, f session.LiveFilter) (session.LivePage, error)
	LiveSession(ctx context.Context, id string) (session.Live, error)
}

var _ Conversations = (*engine.Engine)(nil)

// Desk is what the API needs to act on conversations for an agent.
type Desk interface {
	Send(ctx context.Context, agent kf.Agent, s kf.Session, m desk.Outgoing) (desk.Sent, error)
	SendImage(ctx context.Context, agent kf.Agent, s kf.Session, filename string, r io.Reader) (desk.Sent, error)
	Transfer(ctx context.Context, actor string, s kf.Session, to, skill string) (string, error)
	Close(ctx context.Context, actor string, s kf.Session) error
	Typing(ctx context.Context, s kf.Session, on bool) error
}

var _ Desk = (*desk.Desk)(nil)

// liveSession returns the session of the URL if the caller may act on it,
// and the actor the engine records: the agent who serves it; an admin or a
// supervisor on any (403 for anyone else).
func (s *server) liveSession(r *http.Request) (kf.Session, string, error) {
	sess, err := s.live.Session(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return kf.Session{}, "", err
	}
	a := agentOf(r)
	switch {
	case a.ID != "" && sess.Agent == a.ID:
		return sess, "agent:" + a.ID, nil
	case a.ID == "" && isAdminReq(r):
		return sess, "admin", nil
	case roleOf(r).Sees():
		return sess, string(a.Role) + ":" + a.ID, nil
	}
	return kf.Session{}, "", kf.Errorf(kf.KindForbidden, "not_your_session", "the session is not yours")
}

// mine reports whether the caller is the agent who serves the session:
// only that one writes to the user.
func mine(actor string) bool { return strings.HasPrefix(actor, "agent:") }

func (s *server) send(w http.ResponseWriter, r *http.Request) {
	sess, actor, err := s.liveSession(r)
	if err == nil && !mine(actor) {
		err = kf.Errorf(kf.KindForbidden, "not_an_agent", "only the session's agent writes to the user")
	}
	var m desk.Outgoing
	if err == nil {
		err = decode(r, &m)
	}
	var sent desk.Sent
	if err == nil {
		sent, err = s.desk.Send(r.Context(), agentOf(r), sess, m)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if sent.Command != "" {
		writeJSON(w, http.StatusOK, map[string]any{"command": sent})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": sent})
}

// sendImage takes an image as multipart form field "image", uploads it to
// WeChat and queues it for the user.
func (s *server) sendImage(w http.ResponseWriter, r *http.Request) {
	sess, actor, err := s.liveSession(r)
	if err == nil && !mine(actor) {
		err = kf.Errorf(kf.KindForbidden, "not_an_agent", "only the session's agent writes to the user")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, desk.MaxImage+1<<20)
	file, header, err := r.FormFile("image")
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.writeError(w, r, kf.Errorf(kf.KindTooLarge, "too_large", "an image is at most %d MiB", desk.MaxImage>>20))
			return
		}
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_image", "send the image as multipart form field \"image\""))
		return
	}
	defer file.Close()
	if header.Size > desk.MaxImage {
		s.writeError(w, r, kf.Errorf(kf.KindTooLarge, "too_large", "an image is at most %d MiB", desk.MaxImage>>20))
		return
	}
	sent, err := s.desk.SendImage(r.Context(), agentOf(r), sess, header.Filename, file)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": sent})
}

func (s *server) transfer(w http.ResponseWriter, r *http.Request) {
	sess, actor, err := s.liveSession(r)
	var body struct {
		ToAgent string `json:"to_agent"`
		Skill   string `json:"skill"`
	}
	if err == nil {
		err = decode(r, &body)
	}
	var to string
	if err == nil {
		to, err = s.desk.Transfer(r.Context(), actor, sess, body.ToAgent, body.Skill)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	state := "serving"
	if to == "" {
		state = "transferring"
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": state, "agent": to})
}

func (s *server) closeSession(w http.ResponseWriter, r *http.Request) {
	sess, actor, err := s.liveSession(r)
	if err == nil {
		err = s.desk.Close(r.Context(), actor, sess)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": "closed"})
}

func (s *server) typing(w http.ResponseWriter, r *http.Request) {
	sess, _, err := s.liveSession(r)
	var body struct {
		Typing bool `json:"typing"`
	}
	if err == nil {
		err = decode(r, &body)
	}
	if err == nil {
		err = s.desk.Typing(r.Context(), sess, body.Typing)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"typing": body.Typing})
}

// sessionMessages returns a session's messages: with the archive, the full
// transcript, paged (?limit=&before=); without it, the live session's
// recent messages (the context kept in Redis). An admin may read any
// archived session; an agent the live sessions it serves.
func (s *server) sessionMessages(w http.ResponseWriter, r *http.Request) {
	if s.archive != nil {
		s.archivedMessages(w, r)
		return
	}
	sess, _, err := s.liveSession(r)
	var recent []string
	if err == nil {
		recent, err = s.live.Recent(r.Context(), sess)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msgs := make([]json.RawMessage, len(recent))
	for i, m := range recent {
		msgs[i] = json.RawMessage(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

func (s *server) archivedMessages(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !roleOf(r).Sees() {
		if _, _, err := s.liveSession(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	limit, before, err := paging(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msgs, next, err := s.archive.Messages(r.Context(), id, limit, before)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if msgs == nil {
		msgs = []archive.Message{}
	}
	out := map[string]any{"messages": msgs}
	if next != 0 {
		out["next_before"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// listSessions lists the live sessions from Redis, or, with ?archived=1,
// a closed state or any of from, to and before, the archived ones.
func (s *server) listSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := kf.State(q.Get("state"))
	switch state {
	case "", kf.StateWaiting, kf.StateServing, kf.StateTransferring, kf.StateClosed:
	default:
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "state must be waiting, serving, transferring or closed"))
		return
	}
	archived := q.Get("archived")
	if archived != "" && archived != "0" && archived != "1" {
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "archived must be 0 or 1"))
		return
	}
	if archived == "1" || state == kf.StateClosed || q.Has("from") || q.Has("to") || q.Has("before") {
		if s.archive == nil {
			s.writeError(w, r, kf.Errorf(kf.KindNotFound, "no_archive", "the archive is off: past sessions need PostgreSQL (postgres.url)"))
			return
		}
		s.archivedSessions(w, r)
		return
	}
	s.liveSessions(w, r)
}

// liveSessions lists the live sessions, the served by activity then the
// queued in queue order, filtered by ?account=&state=&agent= and paged by
// ?limit=&cursor=; with how many there are, live and queued.
func (s *server) liveSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := session.LiveFilter{Account: q.Get("account"), Agent: q.Get("agent"), State: kf.State(q.Get("state")), Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 500"))
			return
		}
		f.Limit = n
	}
	page, err := s.live.LiveList(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"sessions": page.Sessions, "total": page.Total, "queued": page.Queued}
	if page.Next != "" {
		out["next"] = page.Next
	}
	writeJSON(w, http.StatusOK, out)
}

// archivedSessions lists archived sessions, newest first, filtered by
// ?account=&state=&agent=&from=&to= (RFC 3339) and paged by ?before=<id>.
func (s *server) archivedSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := archive.Filter{Account: q.Get("account"), Agent: q.Get("agent"), State: kf.State(q.Get("state")), Before: q.Get("before")}
	for key, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "%s must be an RFC 3339 time", key))
				return
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 500"))
			return
		}
		f.Limit = n
	}
	list, err := s.archive.Sessions(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []archive.Session{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

// getSession returns a session: its live view while it is live (with the
// transitions archived so far, when there is an archive), otherwise the
// archived session with its transitions.
func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	live, err := s.live.LiveSession(r.Context(), id)
	if err == nil || kf.KindOf(err) != kf.KindNotFound || s.archive == nil {
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		steps := []archive.Transition{}
		if s.archive != nil {
			if steps, err = s.archive.Transitions(r.Context(), id); err != nil {
				s.writeError(w, r, err)
				return
			}
			if steps == nil {
				steps = []archive.Transition{}
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"session": live, "transitions": steps, "live": true})
		return
	}
	sess, err := s.archive.Session(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	steps, err := s.archive.Transitions(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": sess, "transitions": steps})
}
