package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

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

type ctxKey int

const agentKey ctxKey = iota

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
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// admin lets a request through with one of the configured admin tokens,
// compared in constant time (hashes, so lengths leak nothing either).
func (s *server) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		if token == "" {
			s.writeError(w, r, kf.Errorf(kf.KindUnauthorized, "no_token", "missing bearer token"))
			return
		}
		sum := sha256.Sum256([]byte(token))
		ok := 0
		for _, h := range s.adminHashes {
			ok |= subtle.ConstantTimeCompare(sum[:], h[:])
		}
		if ok == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if _, err := s.team.Authenticate(r.Context(), token); err == nil {
			s.writeError(w, r, kf.Errorf(kf.KindForbidden, "not_admin", "an agent token cannot make admin calls"))
			return
		}
		s.writeError(w, r, kf.Errorf(kf.KindUnauthorized, "bad_token", "invalid token"))
	})
}

// agent lets a request through with an agent's token and puts the agent
// in the context.
func (s *server) agent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.team.Authenticate(r.Context(), bearer(r))
		if err != nil {
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
