package server

import (
	"context"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
)

// Team is what the API needs of the agents' management.
type Team interface {
	Create(ctx context.Context, a kf.Agent) (kf.Agent, string, error)
	List(ctx context.Context) ([]kf.Agent, error)
	Get(ctx context.Context, id string) (kf.Agent, error)
	Update(ctx context.Context, id string, p agents.Patch) (kf.Agent, error)
	Delete(ctx context.Context, id string) error
	NewToken(ctx context.Context, id string) (string, error)
	Revoke(ctx context.Context, id string) error
	Authenticate(ctx context.Context, token string) (kf.Agent, error)
	SetStatus(ctx context.Context, id string, status kf.AgentStatus) error
	Heartbeat(ctx context.Context, id string) (kf.AgentStatus, error)
	Sessions(ctx context.Context, id string) ([]kf.Session, error)
	SignIn(ctx context.Context, id, password string) (kf.Agent, error)
	Person(ctx context.Context, id string) (kf.Agent, error)
	SetPassword(ctx context.Context, id, password string) error
	ChangePassword(ctx context.Context, id, old, password string) error
	Disconnect(ctx context.Context, id string) error
}

var _ Team = (*agents.Team)(nil)

// newAgent is the body of POST /api/v1/agents: the agent, and optionally
// the password it signs in to the console with.
type newAgent struct {
	kf.Agent
	Password string `json:"password"`
}

func (s *server) createAgent(w http.ResponseWriter, r *http.Request) {
	var body newAgent
	if err := decode(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	a := body.Agent
	if a.Status != "" || a.Load != 0 || a.Disabled {
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_agent", "status, load and disabled are not set on creation; the agent sets its status"))
		return
	}
	if body.Password != "" {
		if err := checkNewPassword(body.Password); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	a, token, err := s.team.Create(r.Context(), a)
	if err == nil && body.Password != "" {
		err = s.team.SetPassword(r.Context(), a.ID, body.Password)
	}
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
	var p agents.Patch
	if err := decode(r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.team.Update(r.Context(), chi.URLParam(r, "id"), p)
	if err == nil && a.Disabled {
		err = s.endSessions(r.Context(), a.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agent": a})
}

func (s *server) deleteAgent(w http.ResponseWriter, r *http.Request) {
	err := s.team.Delete(r.Context(), chi.URLParam(r, "id"))
	if err == nil {
		err = s.endSessions(r.Context(), chi.URLParam(r, "id"))
	}
	if err != nil {
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

// colleagues is GET /api/v1/agent/team: the people who serve one of the
// caller's accounts, with status and load — whom an agent can transfer to.
func (s *server) colleagues(w http.ResponseWriter, r *http.Request) {
	all, err := s.team.List(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	me := agentOf(r)
	type colleague struct {
		ID          string         `json:"id"`
		Name        string         `json:"name"`
		Accounts    []string       `json:"accounts"`
		Skills      []string       `json:"skills,omitempty"`
		Status      kf.AgentStatus `json:"status"`
		Load        int            `json:"load"`
		MaxSessions int            `json:"max_sessions"`
	}
	out := []colleague{}
	for _, a := range all {
		if a.Disabled || !slices.ContainsFunc(a.Accounts, func(acct string) bool { return slices.Contains(me.Accounts, acct) }) {
			continue
		}
		out = append(out, colleague{a.ID, a.Name, a.Accounts, a.Skills, a.Status, a.Load, a.MaxSessions})
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out})
}
