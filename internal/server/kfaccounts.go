package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/kfaccounts"
)

// KfAccounts manages an account's WeChat kf accounts (kfaccounts.Service).
type KfAccounts interface {
	List(ctx context.Context, appid string) ([]kfaccounts.Account, error)
	Add(ctx context.Context, appid, account, nickname string) error
	Rename(ctx context.Context, appid, account, nickname string) error
	Delete(ctx context.Context, appid, account string) error
	SetAvatar(ctx context.Context, appid, account, filename string, r io.Reader) error
	Invite(ctx context.Context, appid, account, wx string) error
	Sync(ctx context.Context, appid string) (kfaccounts.Differences, error)
}

var _ KfAccounts = (*kfaccounts.Service)(nil)

// kfRoutes mounts the admin's kf account calls under
// /accounts/{account}/kf.
func (s *server) kfRoutes(r chi.Router) {
	r.Get("/accounts/{account}/kf", s.listKfAccounts)
	r.Post("/accounts/{account}/kf", s.addKfAccount)
	r.Get("/accounts/{account}/kf-sync", s.syncKfAccounts)
	r.Patch("/accounts/{account}/kf/{kf}", s.updateKfAccount)
	r.Delete("/accounts/{account}/kf/{kf}", s.deleteKfAccount)
	r.Put("/accounts/{account}/kf/{kf}/avatar", s.setKfAvatar)
	r.Post("/accounts/{account}/kf/{kf}/invite", s.inviteKfWorker)
}

// kfParam returns the URL's kf account: a client that escapes its '@'
// (%40, as encodeURIComponent does) leaves chi the escaped form.
func kfParam(r *http.Request) string {
	v := chi.URLParam(r, "kf")
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// kfAccount returns the URL's account, if it is configured.
func (s *server) kfAccount(r *http.Request) (string, error) {
	account := chi.URLParam(r, "account")
	if !s.cb.Known(account) {
		return "", kf.Errorf(kf.KindNotFound, "bad_account", "account must be a configured appid")
	}
	return account, nil
}

func (s *server) listKfAccounts(w http.ResponseWriter, r *http.Request) {
	account, err := s.kfAccount(r)
	var list []kfaccounts.Account
	if err == nil {
		list, err = s.kfAccounts.List(r.Context(), account)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kf_accounts": list})
}

func (s *server) addKfAccount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		KfAccount string `json:"kf_account"`
		Nickname  string `json:"nickname"`
	}
	account, err := s.kfAccount(r)
	if err == nil {
		err = decode(r, &body)
	}
	if err == nil {
		err = s.kfAccounts.Add(r.Context(), account, body.KfAccount, body.Nickname)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"kf_account": body.KfAccount, "nickname": body.Nickname})
}

func (s *server) updateKfAccount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Nickname string `json:"nickname"`
	}
	account, err := s.kfAccount(r)
	if err == nil {
		err = decode(r, &body)
	}
	if err == nil {
		err = s.kfAccounts.Rename(r.Context(), account, kfParam(r), body.Nickname)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kf_account": kfParam(r), "nickname": body.Nickname})
}

func (s *server) deleteKfAccount(w http.ResponseWriter, r *http.Request) {
	account, err := s.kfAccount(r)
	if err == nil {
		err = s.kfAccounts.Delete(r.Context(), account, kfParam(r))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setKfAvatar takes the image as the multipart field "avatar" and hands it
// to WeChat's uploadheadimg (at most 5 MB).
func (s *server) setKfAvatar(w http.ResponseWriter, r *http.Request) {
	account, err := s.kfAccount(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tooLarge := kf.Errorf(kf.KindTooLarge, "too_large", "an avatar is at most %d MiB", kfaccounts.MaxAvatar>>20)
	r.Body = http.MaxBytesReader(w, r.Body, kfaccounts.MaxAvatar+1<<20)
	file, header, err := r.FormFile("avatar")
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.writeError(w, r, tooLarge)
			return
		}
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_avatar", "send the image as multipart form field \"avatar\""))
		return
	}
	defer file.Close()
	if header.Size > kfaccounts.MaxAvatar {
		s.writeError(w, r, tooLarge)
		return
	}
	if err := s.kfAccounts.SetAvatar(r.Context(), account, kfParam(r), header.Filename, file); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) inviteKfWorker(w http.ResponseWriter, r *http.Request) {
	var body struct {
		InviteWx string `json:"invite_wx"`
	}
	account, err := s.kfAccount(r)
	if err == nil {
		err = decode(r, &body)
	}
	if err == nil {
		err = s.kfAccounts.Invite(r.Context(), account, kfParam(r), body.InviteWx)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"kf_account": kfParam(r), "invite_wx": body.InviteWx, "invite_status": "waiting"})
}

func (s *server) syncKfAccounts(w http.ResponseWriter, r *http.Request) {
	account, err := s.kfAccount(r)
	var d kfaccounts.Differences
	if err == nil {
		d, err = s.kfAccounts.Sync(r.Context(), account)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
