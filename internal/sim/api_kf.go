package sim

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Customer-service (kf) accounts, docs/wechat.md, "Customer-service API".

// The limits of docs/wechat.md, "Customer-service API", and the simulator's choices where it is silent.
const (
	maxKfAccounts   = 100 // per official account (65405)
	maxNickRunes    = 16  // nickname ≤ 16 characters, counted as runes (65403)
	maxKfBindings   = 5   // official accounts one WeChat ID may serve (65410)
	maxHeadImgBytes = 5 << 20
	// inviteTTL is how long an inviteworker invitation waits; WeChat gives
	// invite_expire_time but no duration: 7 days is the simulator's.
	inviteTTL = 7 * 24 * time.Hour
)

var (
	// kf_account = prefix@公众号微信号: prefix ≤ 10 letters, digits or
	// underscores, suffix ≤ 30 characters (docs/wechat.md, "Customer-service API"). The simulator does not
	// know the accounts' WeChat IDs, so any suffix of WeChat-ID characters
	// passes.
	kfAccountRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]{1,30}$`)
	// wechatIDRe is WeChat's rule for a 微信号: 6–20 letters, digits, _ or
	// -, starting with a letter; an invite_wx that breaks it → 65409.
	wechatIDRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{5,19}$`)
)

// kfAccount is one customer-service account.
type kfAccount struct {
	account string
	nick    string
	id      int
	headimg string
	wx      string // the bound agent's WeChat ID
	openid  string // the bound agent's openid
	// The pending invitation, if inviteWx is set.
	inviteWx     string
	inviteExpire time.Time
	online       bool
}

// kf returns acct's kf account named account, or nil.
func (acct *account) kf(account string) *kfAccount {
	for _, k := range acct.kfs {
		if k.account == account {
			return k
		}
	}
	return nil
}

// inviting reports whether k has an invitation that has not expired.
func (k *kfAccount) inviting(now time.Time) bool {
	return k.inviteWx != "" && now.Before(k.inviteExpire)
}

type kfRequest struct {
	KfAccount string `json:"kf_account"`
	Nickname  string `json:"nickname"`
	InviteWx  string `json:"invite_wx"`
	// Password, sent by legacy SDKs (docs/wechat.md, "Customer-service API"), is ignored.
}

func validNickname(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= 1 && n <= maxNickRunes && utf8.ValidString(s)
}

// kfAdd serves POST /customservice/kfaccount/add: bad format → 65404, bad
// nickname 65403, exists 65406, 100 accounts already 65405.
func (a *API) kfAdd(c *call) any {
	var req kfRequest
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	acct := c.acct
	switch {
	case !kfAccountRe.MatchString(req.KfAccount):
		return errf(65404)
	case !validNickname(req.Nickname):
		return errf(65403)
	case acct.kf(req.KfAccount) != nil:
		return errf(65406)
	case len(acct.kfs) >= maxKfAccounts:
		return errf(65405)
	}
	acct.kfs = append(acct.kfs, &kfAccount{
		account: req.KfAccount, nick: req.Nickname, id: acct.nextKfID,
		headimg: "http://mmbiz.qpic.cn/mmbiz/" + randomString(33) + "/0",
	})
	acct.nextKfID++
	return okBody
}

// kfUpdate serves POST /customservice/kfaccount/update: bad format → 65404,
// no such account 65401, bad nickname 65403.
func (a *API) kfUpdate(c *call) any {
	var req kfRequest
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	if !kfAccountRe.MatchString(req.KfAccount) {
		return errf(65404)
	}
	k := c.acct.kf(req.KfAccount)
	switch {
	case k == nil:
		return errf(65401)
	case !validNickname(req.Nickname):
		return errf(65403)
	}
	k.nick = req.Nickname
	return okBody
}

// kfDelete serves /customservice/kfaccount/del: POST with a JSON body
// (current doc) or the legacy GET ?kf_account= that some SDKs still send
// (docs/wechat.md, "Customer-service API"; which the server accepts is UNCONFIRMED, the simulator takes both).
// Bad format → 65404, no such account 65401. The account's sessions end.
func (a *API) kfDelete(c *call) any {
	req := kfRequest{KfAccount: c.r.URL.Query().Get("kf_account")}
	if len(c.body) > 0 || c.r.Method == "POST" && req.KfAccount == "" {
		if e := decodeJSON(c.body, &req); e != nil {
			return e
		}
	}
	if !kfAccountRe.MatchString(req.KfAccount) {
		return errf(65404)
	}
	acct := c.acct
	i := slices.IndexFunc(acct.kfs, func(k *kfAccount) bool { return k.account == req.KfAccount })
	if i < 0 {
		return errf(65401)
	}
	acct.kfs = slices.Delete(acct.kfs, i, i+1)
	for openid, s := range acct.sessions {
		if s.kf == req.KfAccount {
			delete(acct.sessions, openid)
		}
	}
	return okBody
}

// kfUploadHeadImg serves POST /customservice/kfaccount/uploadheadimg
// ?kf_account= with the image in the multipart field "media": no such
// account → 65401, no file 41005, over 5 MB 40009 "invalid image size".
func (a *API) kfUploadHeadImg(c *call) any {
	k := c.acct.kf(c.r.URL.Query().Get("kf_account"))
	if k == nil {
		return errf(65401)
	}
	b, ok := formFile(c, "media")
	switch {
	case !ok:
		return errf(41005)
	case len(b) > maxHeadImgBytes:
		return errf(40009)
	}
	k.headimg = "http://mmbiz.qpic.cn/mmbiz/" + randomString(33) + "/0"
	return okBody
}

// kfInvite serves POST /customservice/kfaccount/inviteworker: no such
// account → 65401, bad WeChat ID 65409, account already bound 65412, the
// WeChat ID already a kf of this account 65407, this account's invitation
// still pending 65411, another account's invitation to the same WeChat ID
// pending 65408, the WeChat ID bound to 5 official accounts 65410. The
// invitation waits until AcceptInvite (the agent accepting in WeChat) or for
// 7 days.
func (a *API) kfInvite(c *call) any {
	var req kfRequest
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	acct := c.acct
	k := acct.kf(req.KfAccount)
	switch {
	case k == nil:
		return errf(65401)
	case !wechatIDRe.MatchString(req.InviteWx):
		return errf(65409)
	case k.wx != "":
		return errf(65412)
	case slices.ContainsFunc(acct.kfs, func(o *kfAccount) bool { return o.wx == req.InviteWx }):
		return errf(65407)
	case k.inviting(c.now):
		return errf(65411)
	case slices.ContainsFunc(acct.kfs, func(o *kfAccount) bool { return o.inviteWx == req.InviteWx && o.inviting(c.now) }):
		return errf(65408)
	case a.bindings(req.InviteWx) >= maxKfBindings:
		return errf(65410)
	}
	k.inviteWx, k.inviteExpire = req.InviteWx, c.now.Add(inviteTTL)
	return okBody
}

// bindings counts the official accounts with a kf account bound to wx.
func (a *API) bindings(wx string) int {
	n := 0
	for _, acct := range a.accounts {
		if slices.ContainsFunc(acct.kfs, func(k *kfAccount) bool { return k.wx == wx }) {
			n++
		}
	}
	return n
}

// kfInfo is one entry of getkflist (docs/wechat.md, "Customer-service API"); kf_id is a number, as SDKs
// decode it.
type kfInfo struct {
	KfAccount        string `json:"kf_account"`
	KfNick           string `json:"kf_nick"`
	KfID             int    `json:"kf_id"`
	KfHeadImgURL     string `json:"kf_headimgurl"`
	KfWx             string `json:"kf_wx,omitempty"`
	InviteWx         string `json:"invite_wx,omitempty"`
	InviteExpireTime int64  `json:"invite_expire_time,omitempty"`
	InviteStatus     string `json:"invite_status,omitempty"` // waiting | expired
	KfOpenID         string `json:"kf_openid,omitempty"`
}

// kfList serves GET /cgi-bin/customservice/getkflist, in the order the
// accounts were added.
func (a *API) kfList(c *call) any {
	list := make([]kfInfo, 0, len(c.acct.kfs))
	for _, k := range c.acct.kfs {
		in := kfInfo{KfAccount: k.account, KfNick: k.nick, KfID: k.id, KfHeadImgURL: k.headimg, KfWx: k.wx, KfOpenID: k.openid}
		if k.inviteWx != "" {
			in.InviteWx, in.InviteExpireTime, in.InviteStatus = k.inviteWx, k.inviteExpire.Unix(), "waiting"
			if !k.inviting(c.now) {
				in.InviteStatus = "expired"
			}
		}
		list = append(list, in)
	}
	return struct {
		KfList []kfInfo `json:"kf_list"`
	}{list}
}

// kfOnlineList serves GET /cgi-bin/customservice/getonlinekflist: status 1
// ("web 在线" in WeChat's current documents; docs/wechat.md, "Customer-service API") for every online account; accepted_case is
// its number of sessions.
func (a *API) kfOnlineList(c *call) any {
	type online struct {
		KfAccount    string `json:"kf_account"`
		Status       int    `json:"status"`
		KfID         int    `json:"kf_id"`
		AcceptedCase int    `json:"accepted_case"`
		KfOpenID     string `json:"kf_openid,omitempty"`
	}
	list := []online{}
	for _, k := range c.acct.kfs {
		if k.online {
			list = append(list, online{KfAccount: k.account, Status: 1, KfID: k.id, AcceptedCase: c.acct.accepted(k.account), KfOpenID: k.openid})
		}
	}
	return struct {
		KfOnlineList []online `json:"kf_online_list"`
	}{list}
}

// SetKfOnline logs kfAccount of appid in or out of WeChat's customer-service
// tool. Only a kf account bound to a WeChat ID can log in, so going online
// binds one that is not (to a WeChat ID made up from its prefix).
func (a *API) SetKfOnline(appid, kfAccount string, online bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := a.kfOf(appid, kfAccount)
	if err != nil {
		return err
	}
	if online && k.wx == "" {
		prefix, _, _ := strings.Cut(kfAccount, "@")
		k.inviteWx = "kfwx_" + prefix
		k.bind()
	}
	k.online = online
	return nil
}

// AcceptInvite is the invited agent accepting kfAccount's pending
// inviteworker invitation in WeChat: the account is bound to the WeChat ID.
func (a *API) AcceptInvite(appid, kfAccount string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := a.kfOf(appid, kfAccount)
	if err != nil {
		return err
	}
	if !k.inviting(a.now()) {
		return fmt.Errorf("sim: %s has no pending invitation", kfAccount)
	}
	k.bind()
	return nil
}

// bind binds k to its invitation's WeChat ID.
func (k *kfAccount) bind() {
	k.wx, k.openid = k.inviteWx, "o_kf_"+k.inviteWx
	k.inviteWx, k.inviteExpire = "", time.Time{}
}

func (a *API) kfOf(appid, kfAccount string) (*kfAccount, error) {
	acct := a.accounts[appid]
	if acct == nil {
		return nil, fmt.Errorf("sim: no account %q", appid)
	}
	k := acct.kf(kfAccount)
	if k == nil {
		return nil, fmt.Errorf("sim: account %s has no kf account %q", appid, kfAccount)
	}
	return k, nil
}
