package server

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/signin"
)

// cookieName is the console's sign-in cookie.
const cookieName = "kfgate_session"

// SignIns are the console's sign-in sessions.
type SignIns interface {
	Create(ctx context.Context, agent string) (string, error)
	Agent(ctx context.Context, id string) (string, error)
	Delete(ctx context.Context, id string) error
	DeleteAll(ctx context.Context, agent string) error
	TTL() time.Duration
}

var _ SignIns = (*signin.Store)(nil)

// checkOrigin refuses a cookie request that changes something (any method
// but GET and HEAD; and every WebSocket handshake) unless the browser says
// it comes from this very host: the cookie is SameSite=Strict, and this
// stops the same site's other origins (another port, another subdomain
// sharing the site) too. Browsers send Origin on every such request.
func checkOrigin(r *http.Request) error {
	ws := r.Header.Get("Upgrade") != ""
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !ws {
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err == nil && u.Host == r.Host && (u.Scheme == "http" || u.Scheme == "https") {
			return nil
		}
	}
	return kf.Errorf(kf.KindForbidden, "bad_origin", "cross-origin request refused")
}

// secure reports whether the client reached kfgate over TLS (directly, or
// at Nginx, which says so in X-Forwarded-Proto).
func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func (s *server) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// signIn is POST /api/v1/session {"username","password"}: a cookie
// session for the person, or 401 with one reason for every failure.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	// A sign-in form posted from another site would sign the victim in
	// as the attacker (login CSRF): the same origin check.
	if r.Header.Get("Origin") != "" {
		if err := checkOrigin(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.team.SignIn(r.Context(), body.Username, body.Password)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	id, err := s.signins.Create(r.Context(), a.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setCookie(w, r, id, int(s.signins.TTL().Seconds()))
	s.log.Info("signed in", "agent", a.ID, "role", a.Role)
	if full, err := s.team.Get(r.Context(), a.ID); err == nil {
		a = full // with status and load
	}
	writeJSON(w, http.StatusOK, map[string]any{"me": a})
}

// signOut is DELETE /api/v1/session: this browser's session ends.
func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	if id, _ := r.Context().Value(cookieKey).(string); id != "" {
		if err := s.signins.Delete(r.Context(), id); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	s.setCookie(w, r, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

// signOutEverywhere is DELETE /api/v1/me/sessions: every session of the
// person ends, on every browser.
func (s *server) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	if err := s.endSessions(r.Context(), agentOf(r).ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setCookie(w, r, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

// me is GET /api/v1/me: who is calling. An admin token is a person with
// the admin role and no id.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	a := agentOf(r)
	if a.ID == "" {
		writeJSON(w, http.StatusOK, map[string]any{"me": map[string]any{"id": "", "name": "admin token", "role": kf.RoleAdmin}})
		return
	}
	if full, err := s.team.Get(r.Context(), a.ID); err == nil {
		a = full // with status and load
	}
	writeJSON(w, http.StatusOK, map[string]any{"me": a})
}

// changePassword is PUT /api/v1/me/password {"old_password","password"}.
// Every other session of the person ends; this one goes on.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Old      string `json:"old_password"`
		Password string `json:"password"`
	}
	if err := decode(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	a := agentOf(r)
	if err := s.team.ChangePassword(r.Context(), a.ID, body.Old, body.Password); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.signins != nil {
		if err := s.signins.DeleteAll(r.Context(), a.ID); err != nil {
			s.writeError(w, r, err)
			return
		}
		if _, ok := r.Context().Value(cookieKey).(string); ok {
			id, err := s.signins.Create(r.Context(), a.ID)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.setCookie(w, r, id, int(s.signins.TTL().Seconds()))
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// resetPassword is PUT /api/v1/agents/{id}/password {"password"} (admin):
// the person's sessions end.
func (s *server) resetPassword(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Password string `json:"password"`
	}
	if err := decode(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	if err := s.team.SetPassword(r.Context(), id, body.Password); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.endSessions(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// endSessions signs a person out everywhere and closes their WebSockets.
func (s *server) endSessions(ctx context.Context, id string) error {
	if s.signins != nil {
		if err := s.signins.DeleteAll(ctx, id); err != nil {
			return err
		}
	}
	return s.team.Disconnect(ctx, id)
}

// checkNewPassword is agents.CheckNewPassword for a create call, before
// the person exists.
func checkNewPassword(pw string) error { return agents.CheckNewPassword(pw) }
