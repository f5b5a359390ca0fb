package server

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/kf"
)

// UserData exports and erases one user's data (*userdata.Service).
type UserData interface {
	Export(ctx context.Context, account, openid string) (map[string]any, error)
	Erase(ctx context.Context, account, openid string) (map[string]int64, error)
}

// exportUser serves GET /api/v1/users/{account}/{openid}/export (admin,
// audited).
func (s *server) exportUser(w http.ResponseWriter, r *http.Request) {
	account, openid, err := s.dataUserOf(r)
	var out map[string]any
	if err == nil {
		out, err = s.userData.Export(r.Context(), account, openid)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// eraseUser serves DELETE /api/v1/users/{account}/{openid} (admin,
// audited: the record names the user, never the content erased).
func (s *server) eraseUser(w http.ResponseWriter, r *http.Request) {
	account, openid, err := s.dataUserOf(r)
	var gone map[string]int64
	if err == nil {
		gone, err = s.userData.Erase(r.Context(), account, openid)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"erased": gone})
}

// dataUserOf is the user a data call names: a configured account and an
// openid of 1 to 128 characters (the user need not exist: the export of
// an unknown user is empty).
func (s *server) dataUserOf(r *http.Request) (string, string, error) {
	account, openid := chi.URLParam(r, "account"), chi.URLParam(r, "openid")
	if !s.cb.Known(account) {
		return "", "", kf.Errorf(kf.KindNotFound, "bad_account", "account must be a configured appid")
	}
	if openid == "" || len(openid) > 128 {
		return "", "", kf.Errorf(kf.KindInvalid, "bad_openid", "openid must be 1 to 128 characters")
	}
	return account, openid, nil
}
