package sim

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"
)

// The /sim/ endpoints are the simulator's own, not WeChat's: a test or a
// simulated user in another process inspects and steers the simulator with
// them. They answer plain JSON, and {"error": "…"} with 4xx on bad input.
//
//	GET  /sim/received?appid=&openid=  what the user got, oldest first ([]Received)
//	GET  /sim/stats                    Stats
//	POST /sim/interact                 {"appid","openid","kind","time"(Unix s, optional)}: API.Interact
//	POST /sim/transfer                 {"appid","openid","kf_account"(optional)}: API.Transfer
//	POST /sim/kf/online                {"appid","kf_account","online"}: API.SetKfOnline
//	POST /sim/kf/accept                {"appid","kf_account"}: API.AcceptInvite
//	POST /sim/kf/chat                  {"appid","openid","kf_account","text","from_user"(optional),"time"(optional)}:
//	                                   API.KfSent, or API.KfReceived with from_user
//	POST /sim/kf/close                 {"appid","openid"}: API.CloseAsKf (the kf account ends the session in WeChat)
//	POST /sim/kf/switch                {"appid","openid","kf_account"}: API.SwitchAsKf
//	GET  /sim/kf/sessions?appid=       openid → the kf account serving them: API.KfSessions
//	POST /sim/callback                 {"appid","base","token","aes_key","safe"}: API.CallbackTo
//	GET  /sim/faults                   the injected Faults
//	POST /sim/faults                   replace them (Faults' JSON; {} turns them off)
//	POST /sim/media                    {"appid","type","data"(base64),"content_type"}: API.AddMedia → {"media_id"}
//	GET  /sim/video/<media_id>         the video_url of media/get for a video
//	POST /sim/advance                  {"by":"49h"}: API.Advance; answers {"now": …}

// Stats are the simulator's counters, as GET /sim/stats shows them.
type Stats struct {
	// TokenFetches counts successful token fetches by appid and endpoint.
	TokenFetches map[string]map[TokenKind]int `json:"token_fetches"`
	// Calls counts the calls of every WeChat path, failed ones included.
	Calls map[string]int `json:"calls"`
	// Sends counts custom/send answers by errcode (0 = sent).
	Sends map[int]int `json:"sends"`
}

// Stats returns a copy of the counters.
func (a *API) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{TokenFetches: map[string]map[TokenKind]int{}, Calls: maps.Clone(a.calls), Sends: maps.Clone(a.sends)}
	for appid, acct := range a.accounts {
		s.TokenFetches[appid] = map[TokenKind]int{TokenClassic: acct.fetches[TokenClassic], TokenStable: acct.fetches[TokenStable]}
	}
	return s
}

// Calls returns how many requests came for the WeChat path, answered or not.
func (a *API) Calls(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[path]
}

func (a *API) serveSim(w http.ResponseWriter, r *http.Request) {
	post := func(v any) bool {
		if r.Method != http.MethodPost {
			simError(w, http.StatusMethodNotAllowed, "use POST")
			return false
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
			simError(w, http.StatusBadRequest, "body: "+err.Error())
			return false
		}
		return true
	}
	done := func(err error) {
		if err != nil {
			simError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
	var req struct {
		AppID     string      `json:"appid"`
		OpenID    string      `json:"openid"`
		Kind      Interaction `json:"kind"`
		Time      int64       `json:"time"`
		KfAccount string      `json:"kf_account"`
		Online    bool        `json:"online"`
		By        string      `json:"by"`
		Text      string      `json:"text"`
		FromUser  bool        `json:"from_user"`
	}
	at := func() time.Time {
		if req.Time == 0 {
			return time.Time{}
		}
		return time.Unix(req.Time, 0)
	}
	if strings.HasPrefix(r.URL.Path, "/sim/video/") {
		a.serveVideo(w, r)
		return
	}
	switch r.URL.Path {
	case "/sim/media":
		var m struct {
			AppID string `json:"appid"`
			Type  string `json:"type"`
			Data  []byte `json:"data"` // base64
			CType string `json:"content_type"`
		}
		if post(&m) {
			id, err := a.AddMedia(m.AppID, m.Type, m.Data, m.CType)
			if err != nil {
				simError(w, http.StatusBadRequest, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"media_id": id})
		}
	case "/sim/received":
		q := r.URL.Query()
		list := a.Received(q.Get("appid"), q.Get("openid"))
		if list == nil {
			list = []Received{}
		}
		writeJSON(w, http.StatusOK, list)
	case "/sim/stats":
		writeJSON(w, http.StatusOK, a.Stats())
	case "/sim/interact":
		if post(&req) {
			done(a.Interact(req.AppID, req.OpenID, req.Kind, at()))
		}
	case "/sim/transfer":
		if post(&req) {
			done(a.Transfer(req.AppID, req.OpenID, req.KfAccount, at()))
		}
	case "/sim/kf/online":
		if post(&req) {
			done(a.SetKfOnline(req.AppID, req.KfAccount, req.Online))
		}
	case "/sim/kf/close":
		if post(&req) {
			done(a.CloseAsKf(req.AppID, req.OpenID))
		}
	case "/sim/kf/switch":
		if post(&req) {
			done(a.SwitchAsKf(req.AppID, req.OpenID, req.KfAccount))
		}
	case "/sim/kf/sessions":
		writeJSON(w, http.StatusOK, a.kfSessionsCopy(r.URL.Query().Get("appid")))
	case "/sim/callback":
		var cb struct {
			AppID  string `json:"appid"`
			Base   string `json:"base"`
			Token  string `json:"token"`
			AESKey string `json:"aes_key"`
			Safe   bool   `json:"safe"`
		}
		if post(&cb) {
			done(a.CallbackTo(cb.Base, Account{AppID: cb.AppID, Token: cb.Token, AESKey: cb.AESKey}, cb.Safe))
		}
	case "/sim/kf/accept":
		if post(&req) {
			done(a.AcceptInvite(req.AppID, req.KfAccount))
		}
	case "/sim/kf/chat":
		if post(&req) {
			chat := a.KfSent
			if req.FromUser {
				chat = a.KfReceived
			}
			done(chat(req.AppID, req.OpenID, req.KfAccount, req.Text, at()))
		}
	case "/sim/faults":
		if r.Method == http.MethodGet {
			writeJSON(w, http.StatusOK, a.Faults())
			return
		}
		var f Faults
		if post(&f) {
			done(a.SetFaults(f))
		}
	case "/sim/advance":
		if !post(&req) {
			return
		}
		d, err := time.ParseDuration(req.By)
		if err != nil || d < 0 {
			simError(w, http.StatusBadRequest, "by: a duration ≥ 0 such as \"49h\"")
			return
		}
		a.Advance(d)
		a.mu.Lock()
		now := a.now()
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]time.Time{"now": now})
	default:
		simError(w, http.StatusNotFound, "no such simulator endpoint")
	}
}

func simError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
