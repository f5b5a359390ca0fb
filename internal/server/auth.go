package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
)

type ctxKey int

const (
	agentKey ctxKey = iota
	adminKey
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

// adminOrAgent lets an admin or an agent through, marking which.
func (s *server) adminOrAgent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token != "" && s.isAdmin(token) {
			s.audited(next, token).ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey, true)))
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
			s.audited(next, token).ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey, true)))
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

// AgentSocket serves an authenticated agent's WebSocket; an error means
// the request was refused before the upgrade, with nothing written.
type AgentSocket interface {
	Serve(w http.ResponseWriter, r *http.Request, a kf.Agent) error
	// ServeAdmin serves an admin's socket: every event of every account.
	ServeAdmin(w http.ResponseWriter, r *http.Request) error
}

// agentSocket authenticates GET /api/v1/agent/ws: the token comes from
// the Authorization header or, for browsers (which cannot set headers on a
// WebSocket), from ?token=. An admin token gets the admins' socket (every
// event of every account), an agent token the agent's. A refusal is
// answered like every other API error, before any upgrade.
func (s *server) agentSocket(ws AgentSocket) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if r.Header.Get("Authorization") != "" {
			token = bearer(r) // a header wins, even a bad one
		}
		if token != "" && s.isAdmin(token) {
			if err := ws.ServeAdmin(w, r); err != nil {
				s.writeError(w, r, err)
			}
			return
		}
		a, err := s.team.Authenticate(r.Context(), token)
		if err != nil {
			if e, ok := errors.AsType[*kf.Error](err); ok && e.Kind == kf.KindUnauthorized {
				authFailed(w, e.Code)
			}
			s.writeError(w, r, err)
			return
		}
		if err := ws.Serve(w, r, a); err != nil {
			s.writeError(w, r, err)
		}
	}
}
