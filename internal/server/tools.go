package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/helpdesk"
	"github.com/kfgate/kfgate/internal/kf"
)

// Tools are the agents' working tools: canned replies, notes, labels.
type Tools interface {
	Canned(ctx context.Context, account string) ([]helpdesk.Canned, error)
	CreateCanned(ctx context.Context, c helpdesk.Canned) (helpdesk.Canned, error)
	UpdateCanned(ctx context.Context, id string, c helpdesk.Canned) (helpdesk.Canned, error)
	DeleteCanned(ctx context.Context, id string) error
	AddNote(ctx context.Context, sess kf.Session, author, text string) (helpdesk.Note, error)
	Notes(ctx context.Context, session string) ([]helpdesk.Note, error)
	UserNotes(ctx context.Context, account, openid string) ([]helpdesk.Note, error)
	SetLabels(ctx context.Context, sess kf.Session, labels []string) ([]string, error)
	Labels(ctx context.Context, session string) ([]string, error)
}

var _ Tools = (*helpdesk.Service)(nil)

// listCanned answers GET /api/v1/canned?account=: an admin's view of all
// (or one account's and the global ones); an agent's of the global ones and
// its accounts'.
func (s *server) listCanned(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("account")
	list, err := s.tools.Canned(r.Context(), account)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if admin, _ := r.Context().Value(adminKey).(bool); !admin {
		mine := agentOf(r).Accounts
		list = slices.DeleteFunc(list, func(c helpdesk.Canned) bool { return c.Account != "" && !slices.Contains(mine, c.Account) })
	}
	if list == nil {
		list = []helpdesk.Canned{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"canned": list})
}

// cannedBody reads a canned reply's fields.
func (s *server) cannedBody(r *http.Request) (helpdesk.Canned, error) {
	var c struct {
		Account  string `json:"account"`
		Shortcut string `json:"shortcut"`
		Title    string `json:"title"`
		Content  string `json:"content"`
	}
	if err := decode(r, &c); err != nil {
		return helpdesk.Canned{}, err
	}
	if c.Account != "" && !s.cb.Known(c.Account) {
		return helpdesk.Canned{}, kf.Errorf(kf.KindInvalid, "bad_account", "account must be empty (every account) or a configured appid")
	}
	return helpdesk.Canned{Account: c.Account, Shortcut: c.Shortcut, Title: c.Title, Content: c.Content}, nil
}

func (s *server) createCanned(w http.ResponseWriter, r *http.Request) {
	c, err := s.cannedBody(r)
	if err == nil {
		c, err = s.tools.CreateCanned(r.Context(), c)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"canned": c})
}

func (s *server) updateCanned(w http.ResponseWriter, r *http.Request) {
	c, err := s.cannedBody(r)
	if err == nil {
		c, err = s.tools.UpdateCanned(r.Context(), chi.URLParam(r, "id"), c)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"canned": c})
}

func (s *server) deleteCanned(w http.ResponseWriter, r *http.Request) {
	if err := s.tools.DeleteCanned(r.Context(), chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// anySession returns the URL's session, live or archived, if the caller
// may see it (mayReadSession).
func (s *server) anySession(r *http.Request) (kf.Session, error) {
	id := chi.URLParam(r, "id")
	sess, err := s.live.Session(r.Context(), id)
	if errors.Is(err, kf.ErrNotFound) && s.archive != nil {
		var old archive.Session
		old, err = s.archive.Session(r.Context(), id)
		sess = old.Session
	}
	if err != nil {
		return kf.Session{}, err
	}
	return sess, s.mayReadSession(r, id)
}

func author(r *http.Request) string {
	if id := agentOf(r).ID; id != "" {
		return id // a person, whatever their role
	}
	return "admin"
}

// addNote answers POST /api/v1/sessions/{id}/notes {"text"}: an internal
// note, never sent to the user.
func (s *server) addNote(w http.ResponseWriter, r *http.Request) {
	sess, err := s.anySession(r)
	var body struct {
		Text string `json:"text"`
	}
	if err == nil {
		err = decode(r, &body)
	}
	var n helpdesk.Note
	if err == nil {
		n, err = s.tools.AddNote(r.Context(), sess, author(r), body.Text)
	}
	if err != nil && n.ID == "" {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"note": n})
}

func (s *server) listNotes(w http.ResponseWriter, r *http.Request) {
	sess, err := s.anySession(r)
	var notes []helpdesk.Note
	if err == nil {
		notes, err = s.tools.Notes(r.Context(), sess.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if notes == nil {
		notes = []helpdesk.Note{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notes": notes})
}

// putLabels answers PUT /api/v1/sessions/{id}/labels {"labels": […]}.
func (s *server) putLabels(w http.ResponseWriter, r *http.Request) {
	sess, err := s.anySession(r)
	var body struct {
		Labels []string `json:"labels"`
	}
	if err == nil {
		err = decode(r, &body)
	}
	var labels []string
	if err == nil {
		labels, err = s.tools.SetLabels(r.Context(), sess, body.Labels)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"labels": labels})
}

func (s *server) getLabels(w http.ResponseWriter, r *http.Request) {
	sess, err := s.anySession(r)
	var labels []string
	if err == nil {
		labels, err = s.tools.Labels(r.Context(), sess.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"labels": labels})
}

// search answers GET /api/v1/search?q=&account=&agent=&label=&from=&to=&limit=&before=
// over the archive, newest first. An agent searches the sessions it served.
func (s *server) search(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := archive.Query{Q: v.Get("q"), Account: v.Get("account"), Agent: v.Get("agent"), Label: v.Get("label")}
	if !roleOf(r).Sees() {
		me := agentOf(r).ID
		if q.Agent != "" && q.Agent != me {
			s.writeError(w, r, kf.Errorf(kf.KindForbidden, "not_yours", "an agent searches its own sessions only"))
			return
		}
		q.Agent = me
	}
	for key, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if x := v.Get(key); x != "" {
			t, err := time.Parse(time.RFC3339, x)
			if err != nil {
				s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "%s must be an RFC 3339 time", key))
				return
			}
			*dst = t
		}
	}
	if x := v.Get("limit"); x != "" {
		n, err := strconv.Atoi(x)
		if err != nil || n < 1 || n > 200 {
			s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 200"))
			return
		}
		q.Limit = n
	}
	if x := v.Get("before"); x != "" {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil || n < 1 {
			s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_query", "before must be a message id"))
			return
		}
		q.Before = n
	}
	res, err := s.history.Search(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Messages == nil {
		res.Messages = []archive.Hit{}
	}
	writeJSON(w, http.StatusOK, res)
}

// deskRoutes mounts the customer, tools and search calls an admin or an
// agent makes (inside the adminOrAgent group).
func (s *server) deskRoutes(r chi.Router) {
	if s.users != nil && s.userSessions != nil {
		r.Get("/users/{account}/{openid}", s.getUser)
		r.Patch("/users/{account}/{openid}", s.patchUser)
		if s.followUps != nil {
			r.Post("/users/{account}/{openid}/messages", s.followUp)
		}
	}
	if s.tools != nil {
		r.Get("/canned", s.listCanned)
		r.Get("/sessions/{id}/notes", s.listNotes)
		r.Post("/sessions/{id}/notes", s.addNote)
		r.Get("/sessions/{id}/labels", s.getLabels)
		r.Put("/sessions/{id}/labels", s.putLabels)
	}
	if s.history != nil {
		r.Get("/search", s.search)
	}
}
