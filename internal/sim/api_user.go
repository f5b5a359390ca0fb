package sim

import (
	"encoding/json"
	"fmt"
	"time"
)

// Interaction is something a WeChat user does that WeChat would push to the
// account's server. The simulator cannot see those pushes, so simulated users
// and tests report them with API.Interact (or POST /sim/interact) to open the
// customer-service window of docs/wechat.md, "The 48-hour window and reply quota".
type Interaction string

// The interactions that open a send window (docs/wechat.md, "The 48-hour window and reply quota"), and unsubscribing, which
// closes every window.
const (
	InteractMessage     Interaction = "message"     // the user sends a message: 5 sends within 48 h
	InteractClick       Interaction = "click"       // a click / scancode_push / scancode_waitmsg menu: 3 within 1 min
	InteractFollow      Interaction = "follow"      // subscribe: 3 within 1 min
	InteractScan        Interaction = "scan"        // scans a QR code: 3 within 1 min
	InteractUnsubscribe Interaction = "unsubscribe" // custom/send then fails (APIOptions.UnsubscribedCode)
)

// The window rules of docs/wechat.md, "The 48-hour window and reply quota" and the typing rules of docs/wechat.md, "Customer-service API".
const (
	messageWindow   = 48 * time.Hour
	messageQuota    = 5
	eventWindow     = time.Minute
	eventQuota      = 3
	typingExchange  = 30 * time.Second // typing needs an exchange this recent (45080)
	typingDuration  = 15 * time.Second // typing lasts this long (45081 until then)
	temporaryMedia  = 72 * time.Hour   // media/upload ids are temporary: 3 days
	maxReceivedKept = 10_000           // per user, oldest dropped first
)

// user is one WeChat user as one account knows them.
type user struct {
	subscribed    bool
	subscribeTime time.Time // the first interaction that made them follow
	remark        string    // user/info/updateremark
	tags          []int     // tags/members/batchtagging, in tagging order
	// Two windows, one per kind of trigger (docs/wechat.md, "The 48-hour
	// window and reply quota"). Each new trigger of a kind restarts that
	// kind's window with its full quota: whether WeChat resets or adds up
	// the count is not documented for official accounts (the old
	// mini-program doc says it is refreshed to the maximum); the simulator
	// resets.
	msgWin, eventWin window
	lastExchange     time.Time // last interaction or successful send (docs/wechat.md, "Customer-service API"'s 30 s)
	typingUntil      time.Time
	received         []Received
}

// window is an open customer-service window: sends left until a time.
type window struct {
	until time.Time
	left  int
}

func (w window) open(now time.Time) bool { return now.Before(w.until) }

// take spends one send of u's quota at now: 45015 when no window is open,
// 45047 when every open window's count is used up (docs/wechat.md, "The 48-hour window and reply quota" and "Error codes"). With both
// windows open the one that closes first pays, so the 48-hour quota lasts.
func (u *user) take(now time.Time) *wxError {
	wins := []*window{&u.eventWin, &u.msgWin}
	if u.msgWin.until.Before(u.eventWin.until) {
		wins[0], wins[1] = wins[1], wins[0]
	}
	opened := false
	for _, w := range wins {
		if !w.open(now) {
			continue
		}
		opened = true
		if w.left > 0 {
			w.left--
			return nil
		}
	}
	if opened {
		return errf(45047)
	}
	return errf(45015)
}

// anyOpen reports whether a window is open at now, whatever its count.
func (u *user) anyOpen(now time.Time) bool { return u.msgWin.open(now) || u.eventWin.open(now) }

// Received is one message a user got through custom/send.
type Received struct {
	MsgType   string          `json:"msgtype"`
	Body      json.RawMessage `json:"body"` // the request's JSON, compacted
	Time      time.Time       `json:"time"`
	KfAccount string          `json:"kf_account,omitempty"` // customservice.kf_account, if given
}

// Interact records that openid did kind towards appid at at (zero: the
// simulator's now). A message, click, follow or scan also means the user
// follows the account — WeChat users cannot do those otherwise — and counts
// as an exchange for typing (docs/wechat.md, "Customer-service API").
func (a *API) Interact(appid, openid string, kind Interaction, at time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil {
		return fmt.Errorf("sim: no account %q", appid)
	}
	if openid == "" {
		return fmt.Errorf("sim: interact: empty openid")
	}
	if at.IsZero() {
		at = a.now()
	}
	u := acct.user(openid)
	switch kind {
	case InteractMessage:
		u.msgWin = window{until: at.Add(messageWindow), left: messageQuota}
	case InteractClick, InteractFollow, InteractScan:
		u.eventWin = window{until: at.Add(eventWindow), left: eventQuota}
	case InteractUnsubscribe:
		u.subscribed = false
		u.msgWin, u.eventWin, u.typingUntil = window{}, window{}, time.Time{}
		acct.dropSession(openid)
		return nil
	default:
		return fmt.Errorf("sim: unknown interaction %q", kind)
	}
	if !u.subscribed {
		u.subscribeTime = at
	}
	u.subscribed = true
	u.lastExchange = at
	return nil
}

// user returns openid's state in acct, new if the account never saw them.
func (acct *account) user(openid string) *user {
	u := acct.users[openid]
	if u == nil {
		u = &user{}
		acct.users[openid] = u
	}
	return u
}

// Received returns what openid got from appid through custom/send, oldest
// first.
func (a *API) Received(appid, openid string) []Received {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil || acct.users[openid] == nil {
		return nil
	}
	return append([]Received(nil), acct.users[openid].received...)
}

// Typing reports whether appid shows openid the typing state now (docs/wechat.md, "Customer-service API").
func (a *API) Typing(appid, openid string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil || acct.users[openid] == nil {
		return false
	}
	return a.now().Before(acct.users[openid].typingUntil)
}
