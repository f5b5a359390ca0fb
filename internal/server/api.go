package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/team"
)

// Team is what the API needs of the agents' management.
type Team interface {
	Create(ctx context.Context, a kf.Agent) (kf.Agent, string, error)
	List(ctx context.Context) ([]kf.Agent, error)
	Get(ctx context.Context, id string) (kf.Agent, error)
	Update(ctx context.Context, id string, p team.Patch) (kf.Agent, error)
	Delete(ctx context.Context, id string) error
	NewToken(ctx context.Context, id string) (string, error)
	Revoke(ctx context.Context, id string) error
	Authenticate(ctx context.Context, token string) (kf.Agent, error)
	SetStatus(ctx context.Context, id string, status kf.AgentStatus) error
	Heartbeat(ctx context.Context, id string) (kf.AgentStatus, error)
	Sessions(ctx context.Context, id string) ([]kf.Session, error)
}

var _ Team = (*team.Service)(nil)

// Desk is what the API needs to work on conversations.
type Desk interface {
	Session(ctx context.Context, id string) (kf.Session, error)
	Send(ctx context.Context, agent kf.Agent, s kf.Session, m desk.Outgoing) (desk.Sent, error)
	SendImage(ctx context.Context, agent kf.Agent, s kf.Session, filename string, r io.Reader) (desk.Sent, error)
	Transfer(ctx context.Context, actor string, s kf.Session, to, skill string) (string, error)
	Close(ctx context.Context, actor string, s kf.Session) error
	Typing(ctx context.Context, s kf.Session, on bool) error
	Recent(ctx context.Context, s kf.Session) ([]json.RawMessage, error)
	Queue(ctx context.Context, account, skill string) ([]string, error)
}

var _ Desk = (*desk.Desk)(nil)

// Archive is the history of sessions and messages in PostgreSQL.
type Archive interface {
	Sessions(ctx context.Context, f archive.Filter) ([]archive.Session, error)
	Session(ctx context.Context, id string) (archive.Session, error)
	Messages(ctx context.Context, sessionID string, limit int, beforeID int64) ([]archive.Message, int64, error)
	Transitions(ctx context.Context, sessionID string) ([]archive.Transition, error)
	Stats(ctx context.Context, f archive.StatsFilter) (archive.Stats, error)
}

// Account is an official account as GET /api/v1/accounts shows it.
type Account struct {
	AppID        string `json:"appid"`
	Name         string `json:"name"`
	SafeMode     bool   `json:"safe_mode"`
	TransferToKf bool   `json:"transfer_to_kf"`
	Token        any    `json:"token"` // the shared access token's health
}

var _ Archive = (*archive.Reader)(nil)

type ctxKey int

const (
	agentKey ctxKey = iota
	adminKey
)

// routes mounts /api/v1: the admin calls behind an admin token, the
// agent's own calls behind the agent's token.
func (s *server) routes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.admin)
		r.Post("/agents", s.createAgent)
		r.Get("/agents", s.listAgents)
		r.Get("/agents/{id}", s.getAgent)
		r.Patch("/agents/{id}", s.updateAgent)
		r.Delete("/agents/{id}", s.deleteAgent)
		r.Post("/agents/{id}/token", s.newToken)
		r.Delete("/agents/{id}/token", s.revokeToken)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.agent)
		r.Put("/agent/status", s.setStatus)
		r.Post("/agent/heartbeat", s.heartbeat)
		r.Get("/agent/sessions", s.mySessions)
	})
	if s.desk == nil {
		return
	}
	r.Group(func(r chi.Router) {
		r.Use(s.admin)
		r.Get("/queue", s.queue)
		if s.accounts != nil {
			r.Get("/accounts", s.listAccounts)
		}
		if s.archive != nil {
			r.Get("/sessions", s.listSessions)
			r.Get("/sessions/{id}", s.getSession)
			r.Get("/stats", s.stats)
		}
	})
	r.Group(func(r chi.Router) {
		r.Use(s.adminOrAgent)
		r.Get("/sessions/{id}/messages", s.sessionMessages)
		r.Post("/sessions/{id}/messages", s.send)
		r.Post("/sessions/{id}/images", s.sendImage)
		r.Post("/sessions/{id}/transfer", s.transfer)
		r.Post("/sessions/{id}/close", s.closeSession)
		r.Post("/sessions/{id}/typing", s.typing)
	})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// guard refuses clients that failed authentication too often, and counts
// every refused credential (the 401s and 403s of the auth middlewares).
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		if left, blocked := s.authLimit.blocked(ip); blocked {
			s.metrics.APIAuthFailures.WithLabelValues("blocked").Inc()
			w.Header().Set("Retry-After", retryAfter(left))
			s.writeError(w, r, kf.Errorf(kf.KindRateLimited, "auth_blocked", "too many failed attempts; retry in %s", left.Round(time.Second)))
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.reason != "" {
			s.metrics.APIAuthFailures.WithLabelValues(rec.reason).Inc()
			s.authLimit.fail(ip)
		}
	})
}

// statusRecorder notes which auth failure, if any, a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	reason string
}

// WriteHeader notes a 401 written by a handler that authenticates by
// itself (the agents' WebSocket), so that it counts as a failure too.
func (r *statusRecorder) WriteHeader(code int) {
	if code == http.StatusUnauthorized && r.reason == "" {
		r.reason = "bad_token"
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the agents'
// WebSocket hijacks it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// authFailed tells the guard that this request's credentials were refused.
func authFailed(w http.ResponseWriter, reason string) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.reason = reason
	}
}

// isAdmin reports whether token is one of the admin tokens, comparing in
// constant time (hashes, so lengths leak nothing either).
func (s *server) isAdmin(token string) bool {
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for _, h := range s.adminHashes {
		ok |= subtle.ConstantTimeCompare(sum[:], h[:])
	}
	return ok == 1
}

// adminOrAgent lets an admin or an agent through, marking which.
func (s *server) adminOrAgent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token != "" && s.isAdmin(token) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey, true)))
			return
		}
		s.agent(next).ServeHTTP(w, r)
	})
}

// admin lets a request through with one of the configured admin tokens.
func (s *server) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token == "" {
			authFailed(w, "no_token")
			s.writeError(w, r, kf.Errorf(kf.KindUnauthorized, "no_token", "missing bearer token"))
			return
		}
		if s.isAdmin(token) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey, true)))
			return
		}
		if _, err := s.team.Authenticate(r.Context(), token); err == nil {
			authFailed(w, "not_admin")
			s.writeError(w, r, kf.Errorf(kf.KindForbidden, "not_admin", "an agent token cannot make admin calls"))
			return
		}
		authFailed(w, "bad_token")
		s.writeError(w, r, kf.Errorf(kf.KindUnauthorized, "bad_token", "invalid token"))
	})
}

// agent lets a request through with an agent's token and puts the agent
// in the context.
func (s *server) agent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.team.Authenticate(r.Context(), bearer(r))
		if err != nil {
			if e, ok := errors.AsType[*kf.Error](err); ok && e.Kind == kf.KindUnauthorized {
				authFailed(w, e.Code)
			}
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), agentKey, a)))
	})
}

func agentOf(r *http.Request) kf.Agent { a, _ := r.Context().Value(agentKey).(kf.Agent); return a }

// decode reads a JSON body strictly: an unknown field or a second value is
// the client's mistake, said in one line.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return kf.Errorf(kf.KindInvalid, "bad_json", "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return kf.Errorf(kf.KindInvalid, "bad_json", "invalid JSON body: more than one value")
	}
	return nil
}

func (s *server) createAgent(w http.ResponseWriter, r *http.Request) {
	var a kf.Agent
	if err := decode(r, &a); err != nil {
		s.writeError(w, r, err)
		return
	}
	if a.Status != "" || a.Load != 0 {
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_agent", "status and load are not set by the admin; the agent sets its status"))
		return
	}
	a, token, err := s.team.Create(r.Context(), a)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/agents/"+a.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"agent": a, "token": token})
}

func (s *server) listAgents(w http.ResponseWriter, r *http.Request) {
	all, err := s.team.List(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if all == nil {
		all = []kf.Agent{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": all})
}

func (s *server) getAgent(w http.ResponseWriter, r *http.Request) {
	a, err := s.team.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agent": a})
}

func (s *server) updateAgent(w http.ResponseWriter, r *http.Request) {
	var p team.Patch
	if err := decode(r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.team.Update(r.Context(), chi.URLParam(r, "id"), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agent": a})
}

func (s *server) deleteAgent(w http.ResponseWriter, r *http.Request) {
	if err := s.team.Delete(r.Context(), chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) newToken(w http.ResponseWriter, r *http.Request) {
	token, err := s.team.NewToken(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": token})
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := s.team.Revoke(r.Context(), chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) setStatus(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status kf.AgentStatus `json:"status"`
	}
	if err := decode(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	a := agentOf(r)
	if err := s.team.SetStatus(r.Context(), a.ID, body.Status); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": string(body.Status)})
}

func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	status, err := s.team.Heartbeat(r.Context(), agentOf(r).ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": string(status)})
}

func (s *server) mySessions(w http.ResponseWriter, r *http.Request) {
	sessions, err := s.team.Sessions(r.Context(), agentOf(r).ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if sessions == nil {
		sessions = []kf.Session{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": sessions})
}

// liveSession returns the session of the URL if the caller may act on it:
// an admin on any, an agent only on a session it serves (403 otherwise).
func (s *server) liveSession(r *http.Request) (kf.Session, string, error) {
	sess, err := s.desk.Session(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return kf.Session{}, "", err
	}
	if admin, _ := r.Context().Value(adminKey).(bool); admin {
		return sess, "admin", nil
	}
	a := agentOf(r)
	if sess.Agent != a.ID {
		return kf.Session{}, "", kf.Errorf(kf.KindForbidden, "not_your_session", "the session is not yours")
	}
	return sess, "agent:" + a.ID, nil
}

func (s *server) send(w http.ResponseWriter, r *http.Request) {
	sess, actor, err := s.liveSession(r)
	if err == nil && actor == "admin" {
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
	if err == nil && actor == "admin" {
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
	var msgs []json.RawMessage
	if err == nil {
		msgs, err = s.desk.Recent(r.Context(), sess)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if msgs == nil {
		msgs = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

func (s *server) queue(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("account")
	if account == "" || !s.cb.Known(account) {
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_account", "account must be a configured appid"))
		return
	}
	skill := r.URL.Query().Get("skill")
	ids, err := s.desk.Queue(r.Context(), account, skill)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	waiting := make([]map[string]any, len(ids))
	for i, id := range ids {
		waiting[i] = map[string]any{"openid": id, "position": i + 1, "skill": skill}
	}
	writeJSON(w, http.StatusOK, map[string]any{"waiting": waiting})
}

func (s *server) archivedMessages(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if admin, _ := r.Context().Value(adminKey).(bool); !admin {
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

func paging(r *http.Request) (limit int, before int64, err error) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return 0, 0, kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 500")
		}
	}
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return 0, 0, kf.Errorf(kf.KindInvalid, "bad_query", "before must be a message id")
		}
	}
	return limit, before, nil
}

// listSessions lists archived sessions, newest first, filtered by
// ?account=&state=&agent=&from=&to= (RFC 3339) and paged by ?before=<id>.
func (s *server) listSessions(w http.ResponseWriter, r *http.Request) {
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

// getSession returns an archived session with its transitions.
func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
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

func (s *server) listAccounts(w http.ResponseWriter, r *http.Request) {
	list, err := s.accounts(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": list})
}

// stats gives the figures of ?account=&agent= for sessions created in
// [from, to) (RFC 3339; default the last 24 hours).
func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := archive.StatsFilter{Account: q.Get("account"), Agent: q.Get("agent"), To: time.Now()}
	f.From = f.To.Add(-24 * time.Hour)
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
	if !f.From.Before(f.To) {
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "from must be before to"))
		return
	}
	st, err := s.archive.Stats(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stats": st, "from": f.From, "to": f.To})
}
