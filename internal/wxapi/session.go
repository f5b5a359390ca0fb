package wxapi

import (
	"context"
	"net/url"
	"time"
)

// The session-control APIs of docs/wechat.md, "Customer-service API".

type sessionBody struct {
	KfAccount string `json:"kf_account"`
	OpenID    string `json:"openid"`
}

// CreateSession hands openid to kfAccount, which must be bound and online
// (65402, 65415); 0 if that session already exists, 65414 if another agent
// serves the user.
func (c *Client) CreateSession(ctx context.Context, appid, kfAccount, openid string) error {
	return c.postJSON(ctx, appid, "/customservice/kfsession/create", sessionBody{kfAccount, openid}, nil)
}

// CloseSession ends kfAccount's session with openid (65413: none).
func (c *Client) CloseSession(ctx context.Context, appid, kfAccount, openid string) error {
	return c.postJSON(ctx, appid, "/customservice/kfsession/close", sessionBody{kfAccount, openid}, nil)
}

// Session is the state of one user's session: KfAccount "" when nobody
// serves the user.
type Session struct {
	KfAccount string
	Created   time.Time
}

// Session returns openid's session.
func (c *Client) Session(ctx context.Context, appid, openid string) (Session, error) {
	var a struct {
		CreateTime int64  `json:"createtime"`
		KfAccount  string `json:"kf_account"`
	}
	if err := c.get(ctx, appid, "/customservice/kfsession/getsession", url.Values{"openid": {openid}}, &a); err != nil {
		return Session{}, err
	}
	s := Session{KfAccount: a.KfAccount}
	if a.CreateTime != 0 {
		s.Created = time.Unix(a.CreateTime, 0)
	}
	return s, nil
}

// AgentSession is one session an agent serves.
type AgentSession struct {
	OpenID  string
	Created time.Time
}

// SessionList returns the sessions kfAccount serves, oldest first.
func (c *Client) SessionList(ctx context.Context, appid, kfAccount string) ([]AgentSession, error) {
	var a struct {
		List []struct {
			CreateTime int64  `json:"createtime"`
			OpenID     string `json:"openid"`
		} `json:"sessionlist"`
	}
	if err := c.get(ctx, appid, "/customservice/kfsession/getsessionlist", url.Values{"kf_account": {kfAccount}}, &a); err != nil {
		return nil, err
	}
	out := make([]AgentSession, len(a.List))
	for i, s := range a.List {
		out[i] = AgentSession{OpenID: s.OpenID, Created: time.Unix(s.CreateTime, 0)}
	}
	return out, nil
}

// WaitCase is one user waiting for an agent.
type WaitCase struct {
	OpenID string
	Latest time.Time // the user's latest message
}

// WaitCase returns how many users wait for an agent and the first of them
// (at most 100, in arrival order; WeChat has no paging).
func (c *Client) WaitCase(ctx context.Context, appid string) (count int, list []WaitCase, err error) {
	var a struct {
		Count int `json:"count"`
		List  []struct {
			LatestTime int64  `json:"latest_time"`
			OpenID     string `json:"openid"`
		} `json:"waitcaselist"`
	}
	if err := c.get(ctx, appid, "/customservice/kfsession/getwaitcase", nil, &a); err != nil {
		return 0, nil, err
	}
	list = make([]WaitCase, len(a.List))
	for i, w := range a.List {
		list[i] = WaitCase{OpenID: w.OpenID, Latest: time.Unix(w.LatestTime, 0)}
	}
	return a.Count, list, nil
}

// RecordQuery asks for chat records: Start..End at most 24 h apart, from
// MsgID on (1 for the first page), at most Number (≤ 10 000).
type RecordQuery struct {
	Start, End time.Time
	MsgID      int64
	Number     int
}

// Record is one chat record. OperCode 2002 = the agent sent, 2003 = the
// agent received; media show as [image], [voice], [video].
type Record struct {
	OpenID   string `json:"openid"`
	OperCode int    `json:"opercode"`
	Text     string `json:"text"`
	Time     int64  `json:"time"` // Unix seconds
	Worker   string `json:"worker"`
}

// RecordPage is one page of records; NextMsgID is the msgid WeChat
// returned, the cursor for the next page (the paging semantics are
// UNCONFIRMED, docs/wechat.md, "Customer-service API"). A page shorter than Number is the last.
type RecordPage struct {
	Records   []Record
	Number    int
	NextMsgID int64
}

// MsgRecords returns one page of chat records with msgrecord/getmsglist.
func (c *Client) MsgRecords(ctx context.Context, appid string, q RecordQuery) (RecordPage, error) {
	msgid := q.MsgID
	if msgid < 1 {
		msgid = 1
	}
	body := struct {
		StartTime int64 `json:"starttime"`
		EndTime   int64 `json:"endtime"`
		MsgID     int64 `json:"msgid"`
		Number    int   `json:"number"`
	}{q.Start.Unix(), q.End.Unix(), msgid, q.Number}
	var a struct {
		RecordList []Record `json:"recordlist"`
		Number     int      `json:"number"`
		MsgID      int64    `json:"msgid"`
	}
	if err := c.postJSON(ctx, appid, "/customservice/msgrecord/getmsglist", body, &a); err != nil {
		return RecordPage{}, err
	}
	return RecordPage{Records: a.RecordList, Number: a.Number, NextMsgID: a.MsgID}, nil
}
