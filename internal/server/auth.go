package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kfgate/kfgate/internal/audit"
	"github.com/kfgate/kfgate/internal/kf"
)

type ctxKey int

const (
	agentKey  ctxKey = iota
	adminKey         // bool: an admin token, or a person with the admin role
	cookieKey        // string: the sign-in session id, when signed in by cookie
)

// bearer returns the token of "Authorization: Bearer …" (the scheme in any
// case), or "".
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// guard refuses clients that failed authentication too often, and counts
// every refused credential (the 401s and 403s of the auth middlewares).
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r, s.trusted)
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

// identify returns the request's context with who makes it: an admin
// token (role admin, no agent), an agent's token, or a signed-in person's
// cookie (the person, with their role). An Authorization header wins over
// a cookie, even a bad one. A cookie request that changes something must
// come from the console's own origin (checkOrigin).
func (s *server) identify(r *http.Request) (context.Context, error) {
	ctx := r.Context()
	if r.Header.Get("Authorization") != "" {
		token := bearer(r)
		if token != "" && s.isAdmin(token) {
			return context.WithValue(ctx, adminKey, true), nil
		}
		a, err := s.team.Authenticate(ctx, token)
		if err != nil {
			return nil, err
		}
		return withPerson(ctx, a), nil
	}
	if c, err := r.Cookie(cookieName); err == nil && s.signins != nil {
		if err := checkOrigin(r); err != nil {
			return nil, err
		}
		id, err := s.signins.Agent(ctx, c.Value)
		if err != nil {
			return nil, err
		}
		a, err := s.team.Person(ctx, id)
		if err != nil {
			return nil, err
		}
		return context.WithValue(withPerson(ctx, a), cookieKey, c.Value), nil
	}
	return nil, kf.Errorf(kf.KindUnauthorized, "no_token", "missing bearer token")
}

// withPerson puts the person in ctx; an admin person is an admin too.
func withPerson(ctx context.Context, a kf.Agent) context.Context {
	ctx = context.WithValue(ctx, agentKey, a)
	if a.Role == kf.RoleAdmin {
		ctx = context.WithValue(ctx, adminKey, true)
	}
	return ctx
}

// refuse answers an authentication or authorization failure, telling the
// guard when it was the credentials.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := errors.AsType[*kf.Error](err); ok && (e.Kind == kf.KindUnauthorized || e.Code == "not_admin" || e.Code == "not_supervisor") {
		authFailed(w, e.Code)
	}
	s.writeError(w, r, err)
}

// allow returns a middleware that lets through whoever identify accepts
// and ok approves; otherwise it answers err.
func (s *server) allow(ok func(r *http.Request) bool, denied error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, err := s.identify(r)
			if err != nil {
				s.refuse(w, r, err)
				return
			}
			r = r.WithContext(ctx)
			if !ok(r) {
				s.refuse(w, r, denied)
				return
			}
			h := next
			if isAdminReq(r) {
				h = s.audited(next, s.actor(r))
			}
			h.ServeHTTP(w, r)
		})
	}
}

// adminOrAgent lets an admin or an agent through, marking which.
func (s *server) adminOrAgent(next http.Handler) http.Handler {
	return s.allow(func(*http.Request) bool { return true }, nil)(next)
}

// admin lets an admin through: an admin token or a person with the admin
// role.
func (s *server) admin(next http.Handler) http.Handler {
	return s.allow(isAdminReq, kf.Errorf(kf.KindForbidden, "not_admin", "an agent token cannot make admin calls"))(next)
}

// supervisor lets a supervisor or an admin through: the calls that read
// everything.
func (s *server) supervisor(next http.Handler) http.Handler {
	return s.allow(func(r *http.Request) bool { return roleOf(r).Sees() },
		kf.Errorf(kf.KindForbidden, "not_supervisor", "only supervisors and admins may"))(next)
}

// agent lets a request through with an agent's token or a signed-in
// person's cookie, and puts the agent in the context.
func (s *server) agent(next http.Handler) http.Handler {
	// An admin token here is refused as an invalid agent token, as it
	// always was: it names no agent.
	return s.allow(func(r *http.Request) bool { return agentOf(r).ID != "" },
		kf.Errorf(kf.KindUnauthorized, "bad_token", "invalid token"))(next)
}

func isAdminReq(r *http.Request) bool { ok, _ := r.Context().Value(adminKey).(bool); return ok }

// roleOf returns the caller's role: admin for an admin token, else the
// person's.
func roleOf(r *http.Request) kf.Role {
	if isAdminReq(r) {
		return kf.RoleAdmin
	}
	return agentOf(r).Role
}

func agentOf(r *http.Request) kf.Agent { a, _ := r.Context().Value(agentKey).(kf.Agent); return a }

// AgentSocket serves an authenticated agent's WebSocket; an error means
// the request was refused before the upgrade, with nothing written.
type AgentSocket interface {
	Serve(w http.ResponseWriter, r *http.Request, a kf.Agent) error
	// ServeAdmin serves an admin's socket: every event of every account.
	ServeAdmin(w http.ResponseWriter, r *http.Request) error
}

// agentSocket authenticates GET /api/v1/agent/ws: the token comes from
// the Authorization header or, for browsers (which cannot set headers on a
// WebSocket), from ?token= or the sign-in cookie (whose Origin must then be
// the console's own). An admin token gets the admins' socket (every event
// of every account); so does a signed-in supervisor or admin who asks with
// ?scope=all (the board); anyone else the agent's. A refusal is answered
// like every other API error, before any upgrade.
func (s *server) agentSocket(ws AgentSocket) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var a kf.Agent
		var err error
		if token := r.URL.Query().Get("token"); token != "" && r.Header.Get("Authorization") == "" {
			if s.isAdmin(token) {
				if err := ws.ServeAdmin(w, r); err != nil {
					s.writeError(w, r, err)
				}
				return
			}
			a, err = s.team.Authenticate(r.Context(), token)
		} else {
			var ctx context.Context
			if ctx, err = s.identify(r); err == nil {
				rc := r.WithContext(ctx)
				if a = agentOf(rc); a.ID == "" || roleOf(rc).Sees() && r.URL.Query().Get("scope") == "all" {
					if !roleOf(rc).Sees() {
						err = kf.Errorf(kf.KindUnauthorized, "bad_token", "invalid token")
					} else {
						if err := ws.ServeAdmin(w, r); err != nil {
							s.writeError(w, r, err)
						}
						return
					}
				}
			}
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if err := ws.Serve(w, r, a); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// actor names the caller in the audit log: a person by id, an admin token
// by a short hash of it (audit.Actor), never the token itself.
func (s *server) actor(r *http.Request) string {
	if a := agentOf(r); a.ID != "" {
		return "person:" + a.ID
	}
	return audit.Actor(bearer(r))
}
