package sim

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Customer-service sessions and chat records (docs/wechat.md, "Customer-service API").
// WeChat's automatic release of an idle session (30 min, docs/wechat.md, "Passive replies") is not
// simulated: a session lasts until closed, the kf account deleted or the
// user unsubscribes.

// kfSession is the session of one user with one kf account.
type kfSession struct {
	kf      string
	created time.Time
}

// waitCase is a user waiting for an agent.
type waitCase struct {
	openid string
	latest time.Time
}

// msgRecord is one chat record of getmsglist; its msgid is its index + 1.
type msgRecord struct {
	openid   string
	opercode int
	text     string
	time     time.Time
	worker   string
}

// Chat-record opercodes (docs/wechat.md, "Customer-service API").
const (
	opercodeSent     = 2002 // 客服发送信息
	maxWaitCaseList  = 100  // getwaitcase lists at most 100 (docs/wechat.md, "Customer-service API")
	maxRecordsPage   = 10_000
	maxRecordsWindow = 24 * 60 * 60 // seconds per getmsglist query (docs/wechat.md, "Customer-service API")
)

type sessionRequest struct {
	KfAccount string `json:"kf_account"`
	OpenID    string `json:"openid"`
	Text      string `json:"text"` // legacy, ignored (docs/wechat.md, "Customer-service API")
}

// sessionCreate serves POST /customservice/kfsession/create (docs/wechat.md, "Customer-service API"): no such
// kf account → 65401, not bound to a WeChat ID 65402, a user the account
// never saw or who unsubscribed 40003, agent offline 65415, the user served
// by another account 65414; 0 if the session already exists.
func (a *API) sessionCreate(c *call) any {
	var req sessionRequest
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	acct := c.acct
	k := acct.kf(req.KfAccount)
	u := acct.users[req.OpenID]
	switch {
	case k == nil:
		return errf(65401)
	case k.wx == "":
		return errf(65402)
	case u == nil || !u.subscribed:
		return errf(40003)
	case !k.online:
		return errf(65415)
	}
	if s := acct.sessions[req.OpenID]; s != nil {
		if s.kf != k.account {
			return errf(65414)
		}
		return okBody
	}
	acct.startSession(req.OpenID, k.account, c.now)
	a.notify(acct, req.OpenID, "kf_create_session", k.account, "", "", c.now)
	return okBody
}

// sessionClose serves POST /customservice/kfsession/close (docs/wechat.md, "Customer-service API"): no such
// kf account → 65401, unknown user 40003, no session 65413, the session is
// another account's 65414.
func (a *API) sessionClose(c *call) any {
	var req sessionRequest
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	acct := c.acct
	s := acct.sessions[req.OpenID]
	switch {
	case acct.kf(req.KfAccount) == nil:
		return errf(65401)
	case acct.users[req.OpenID] == nil:
		return errf(40003)
	case s == nil:
		return errf(65413)
	case s.kf != req.KfAccount:
		return errf(65414)
	}
	delete(acct.sessions, req.OpenID)
	a.notify(acct, req.OpenID, "kf_close_session", req.KfAccount, "", "", c.now)
	return okBody
}

// sessionOf serves GET /customservice/kfsession/getsession?openid=: an empty
// kf_account (and createtime 0) when nobody serves the user; unknown user →
// 40003.
func (a *API) sessionOf(c *call) any {
	openid := c.r.URL.Query().Get("openid")
	if c.acct.users[openid] == nil {
		return errf(40003)
	}
	resp := struct {
		CreateTime int64  `json:"createtime"`
		KfAccount  string `json:"kf_account"`
	}{}
	if s := c.acct.sessions[openid]; s != nil {
		resp.CreateTime, resp.KfAccount = s.created.Unix(), s.kf
	}
	return resp
}

// sessionList serves GET /customservice/kfsession/getsessionlist
// ?kf_account=, oldest session first; no such kf account → 65401.
func (a *API) sessionList(c *call) any {
	kf := c.r.URL.Query().Get("kf_account")
	if c.acct.kf(kf) == nil {
		return errf(65401)
	}
	type entry struct {
		CreateTime int64  `json:"createtime"`
		OpenID     string `json:"openid"`
	}
	list := []entry{}
	for _, openid := range slices.Sorted(maps.Keys(c.acct.sessions)) {
		if s := c.acct.sessions[openid]; s.kf == kf {
			list = append(list, entry{CreateTime: s.created.Unix(), OpenID: openid})
		}
	}
	slices.SortStableFunc(list, func(x, y entry) int { return cmp.Compare(x.CreateTime, y.CreateTime) })
	return struct {
		SessionList []entry `json:"sessionlist"`
	}{list}
}

// waitCases serves GET /customservice/kfsession/getwaitcase: the queue's
// length and its first 100 users in arrival order, no paging (docs/wechat.md, "Customer-service API").
func (a *API) waitCases(c *call) any {
	type entry struct {
		LatestTime int64  `json:"latest_time"`
		OpenID     string `json:"openid"`
	}
	list := []entry{}
	for _, w := range c.acct.waiting[:min(len(c.acct.waiting), maxWaitCaseList)] {
		list = append(list, entry{LatestTime: w.latest.Unix(), OpenID: w.openid})
	}
	return struct {
		Count        int     `json:"count"`
		WaitCaseList []entry `json:"waitcaselist"`
	}{len(c.acct.waiting), list}
}

// startSession makes kf serve openid from now and takes them off the queue.
func (acct *account) startSession(openid, kf string, now time.Time) {
	acct.sessions[openid] = &kfSession{kf: kf, created: now}
	acct.waiting = slices.DeleteFunc(acct.waiting, func(w waitCase) bool { return w.openid == openid })
}

// dropSession ends openid's session and takes them off the queue.
func (acct *account) dropSession(openid string) {
	delete(acct.sessions, openid)
	acct.waiting = slices.DeleteFunc(acct.waiting, func(w waitCase) bool { return w.openid == openid })
}

// accepted counts kf's sessions.
func (acct *account) accepted(kf string) int {
	n := 0
	for _, s := range acct.sessions {
		if s.kf == kf {
			n++
		}
	}
	return n
}

// Transfer is what WeChat does when the account answers openid's message
// with a transfer_customer_service passive reply (docs/wechat.md, "Passive replies") at at (zero: now),
// which the simulator cannot see: with kfAccount online, that account
// serves the user at once; otherwise (no kfAccount, or it is offline) the
// user waits in the queue of getwaitcase. A user already in a session stays
// there. The user must be known (Interact first).
func (a *API) Transfer(appid, openid, kfAccount string, at time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil {
		return fmt.Errorf("sim: no account %q", appid)
	}
	if u := acct.users[openid]; u == nil || !u.subscribed {
		return fmt.Errorf("sim: %s does not follow %s", openid, appid)
	}
	if at.IsZero() {
		at = a.now()
	}
	if acct.sessions[openid] != nil {
		return nil
	}
	if kfAccount != "" {
		k := acct.kf(kfAccount)
		if k == nil {
			return fmt.Errorf("sim: account %s has no kf account %q", appid, kfAccount)
		}
		if k.online {
			acct.startSession(openid, kfAccount, at)
			a.notify(acct, openid, "kf_create_session", kfAccount, "", "", at)
			defer func() { go a.flush() }()
			return nil
		}
	}
	if i := slices.IndexFunc(acct.waiting, func(w waitCase) bool { return w.openid == openid }); i >= 0 {
		acct.waiting[i].latest = at
		return nil
	}
	acct.waiting = append(acct.waiting, waitCase{openid: openid, latest: at})
	return nil
}

// record adds a chat record of a message sent to openid.
func (acct *account) record(openid, text, worker string, now time.Time) {
	acct.records = append(acct.records, msgRecord{openid: openid, opercode: opercodeSent, text: text, time: now, worker: worker})
}

// msgList serves POST /customservice/msgrecord/getmsglist (docs/wechat.md, "Customer-service API"): the
// records from msgid on (msgid starts at 1; 0 is read as 1) whose time is in
// [starttime, endtime], at most number of them. endtime − starttime over 24 h
// → 65417 "query time range exceeds limit" (docs/wechat.md, "Error codes", legacy table); starttime
// after endtime or number outside 1..10000 → 65416 "invalid query parameter".
//
// The paging semantics are UNCONFIRMED (docs/wechat.md, "Customer-service API"); the simulator's: number in
// the answer is how many records it holds, msgid the cursor to ask for next
// (the last record's msgid + 1, or the request's when none matched). A page
// shorter than the number asked for is the last.
func (a *API) msgList(c *call) any {
	var req struct {
		StartTime int64 `json:"starttime"`
		EndTime   int64 `json:"endtime"`
		MsgID     int64 `json:"msgid"`
		Number    int   `json:"number"`
	}
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	switch {
	case req.EndTime-req.StartTime > maxRecordsWindow:
		return errf(65417)
	case req.StartTime > req.EndTime, req.Number < 1, req.Number > maxRecordsPage:
		return errf(65416)
	}
	type entry struct {
		OpenID   string `json:"openid"`
		OperCode int    `json:"opercode"`
		Text     string `json:"text"`
		Time     int64  `json:"time"`
		Worker   string `json:"worker"`
	}
	from := max(req.MsgID, 1)
	next := from
	list := []entry{}
	for i := from - 1; i < int64(len(c.acct.records)) && len(list) < req.Number; i++ {
		r := c.acct.records[i]
		if t := r.time.Unix(); t < req.StartTime || t > req.EndTime {
			continue
		}
		list = append(list, entry{OpenID: r.openid, OperCode: r.opercode, Text: r.text, Time: r.time.Unix(), Worker: r.worker})
		next = i + 2
	}
	return struct {
		RecordList []entry `json:"recordlist"`
		Number     int     `json:"number"`
		MsgID      int64   `json:"msgid"`
	}{list, len(list), next}
}
