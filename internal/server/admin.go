package server

import (
	"context"
	"net/http"
	"time"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
)

// Archive is the history of sessions and messages in PostgreSQL.
type Archive interface {
	Sessions(ctx context.Context, f archive.Filter) ([]archive.Session, error)
	Session(ctx context.Context, id string) (archive.Session, error)
	Messages(ctx context.Context, sessionID string, limit int, beforeID int64) ([]archive.Message, int64, error)
	Transitions(ctx context.Context, sessionID string) ([]archive.Transition, error)
	Stats(ctx context.Context, f archive.StatsFilter) (archive.Stats, error)
	Hourly(ctx context.Context, f archive.StatsFilter) ([]archive.Hour, error)
}

var _ Archive = (*archive.Reader)(nil)

// Account is an official account as GET /api/v1/accounts shows it.
type Account struct {
	AppID        string `json:"appid"`
	Name         string `json:"name"`
	SafeMode     bool   `json:"safe_mode"`
	TransferToKf bool   `json:"transfer_to_kf"`
	Agents       string `json:"agents"` // kfgate or wechat
	Token        any    `json:"token"`  // the shared access token's health
}

// WeChatWaiting is WeChat's own queue of an account whose agents work in
// WeChat's tool (getwaitcase: at most 100, oldest first, no paging).
type WeChatWaiting struct {
	Count   int              `json:"count"`
	Waiting []WeChatWaitCase `json:"waiting"`
	// Unavailable: WeChat could not be asked now.
	Unavailable bool `json:"unavailable,omitempty"`
}

// WeChatWaitCase is one user in WeChat's queue.
type WeChatWaitCase struct {
	OpenID string    `json:"openid"`
	Latest time.Time `json:"latest"` // the user's latest message
}

func (s *server) queue(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("account")
	if account == "" || !s.cb.Known(account) {
		s.writeError(w, r, kf.Errorf(kf.KindInvalid, "bad_account", "account must be a configured appid"))
		return
	}
	skill := r.URL.Query().Get("skill")
	list, err := s.live.Waiting(r.Context(), account, skill)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type waiting struct {
		session.Waiting
		Skill string `json:"skill"`
	}
	out := make([]waiting, len(list))
	for i, w := range list {
		out[i] = waiting{Waiting: w, Skill: skill}
	}
	body := map[string]any{"waiting": out}
	if s.wxWaiting != nil {
		wx, ok, err := s.wxWaiting(r.Context(), account)
		if err != nil {
			s.log.Warn("getwaitcase failed", "account", account, "err", err)
			wx, ok = WeChatWaiting{Waiting: []WeChatWaitCase{}, Unavailable: true}, true
		}
		if ok {
			body["wechat"] = wx
		}
	}
	writeJSON(w, http.StatusOK, body)
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
	hours, err := s.archive.Hourly(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stats": st, "hourly": hours, "from": f.From, "to": f.To})
}
