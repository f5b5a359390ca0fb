package wxapi

import (
	"context"
	"io"
	"net/url"
	"time"
)

// The customer-service (kf) account APIs of docs/wechat.md, "Customer-service API". A kf account is
// "prefix@公众号微信号"; it serves users once bound to a WeChat ID
// (InviteKfWorker, then the agent accepts).

// KfAccount is one entry of getkflist.
type KfAccount struct {
	Account      string `json:"kf_account"`
	Nick         string `json:"kf_nick"`
	ID           int64  `json:"kf_id"`
	HeadImgURL   string `json:"kf_headimgurl"`
	Wx           string `json:"kf_wx"`     // the bound WeChat ID, if any
	OpenID       string `json:"kf_openid"` // the bound agent's openid
	InviteWx     string `json:"invite_wx"` // a pending invitation
	InviteExpire int64  `json:"invite_expire_time"`
	InviteStatus string `json:"invite_status"` // waiting, rejected, expired
}

// InviteExpiry returns when the pending invitation expires (zero if none).
func (k KfAccount) InviteExpiry() time.Time {
	if k.InviteExpire == 0 {
		return time.Time{}
	}
	return time.Unix(k.InviteExpire, 0)
}

// OnlineKf is one entry of getonlinekflist. Status is 0 offline, non-zero
// online (legacy: 1 pc, 2 mobile, 3 both; treat any non-zero as online).
type OnlineKf struct {
	Account      string `json:"kf_account"`
	Status       int    `json:"status"`
	ID           int64  `json:"kf_id"`
	AcceptedCase int    `json:"accepted_case"` // sessions served now
	OpenID       string `json:"kf_openid"`
}

type kfBody struct {
	KfAccount string `json:"kf_account"`
	Nickname  string `json:"nickname,omitempty"`
	InviteWx  string `json:"invite_wx,omitempty"`
}

// AddKf adds the kf account account with nickname (≤ 16 characters).
func (c *Client) AddKf(ctx context.Context, appid, account, nickname string) error {
	return c.postJSON(ctx, appid, "/customservice/kfaccount/add", kfBody{KfAccount: account, Nickname: nickname}, nil)
}

// UpdateKf changes account's nickname.
func (c *Client) UpdateKf(ctx context.Context, appid, account, nickname string) error {
	return c.postJSON(ctx, appid, "/customservice/kfaccount/update", kfBody{KfAccount: account, Nickname: nickname}, nil)
}

// DeleteKf deletes account, with the current doc's POST and JSON body.
func (c *Client) DeleteKf(ctx context.Context, appid, account string) error {
	return c.postJSON(ctx, appid, "/customservice/kfaccount/del", kfBody{KfAccount: account}, nil)
}

// UploadKfHeadImg sets account's avatar (≤ 5 MB, jpg recommended 640×640).
func (c *Client) UploadKfHeadImg(ctx context.Context, appid, account, filename string, r io.Reader) error {
	req, err := multipartRequest("/customservice/kfaccount/uploadheadimg", url.Values{"kf_account": {account}}, filename, r)
	if err != nil {
		return err
	}
	return c.call(ctx, appid, req, nil)
}

// InviteKfWorker invites the WeChat ID wx to bind to account.
func (c *Client) InviteKfWorker(ctx context.Context, appid, account, wx string) error {
	return c.postJSON(ctx, appid, "/customservice/kfaccount/inviteworker", kfBody{KfAccount: account, InviteWx: wx}, nil)
}

// KfList returns the account's kf accounts.
func (c *Client) KfList(ctx context.Context, appid string) ([]KfAccount, error) {
	var a struct {
		List []KfAccount `json:"kf_list"`
	}
	if err := c.get(ctx, appid, "/cgi-bin/customservice/getkflist", nil, &a); err != nil {
		return nil, err
	}
	return a.List, nil
}

// KfOnlineList returns the kf accounts online now, with their load. Check it
// before designating an agent: a user sent to an offline agent waits for
// that agent only (docs/wechat.md, "Passive replies").
func (c *Client) KfOnlineList(ctx context.Context, appid string) ([]OnlineKf, error) {
	var a struct {
		List []OnlineKf `json:"kf_online_list"`
	}
	if err := c.get(ctx, appid, "/cgi-bin/customservice/getonlinekflist", nil, &a); err != nil {
		return nil, err
	}
	return a.List, nil
}
