package wxapi

import (
	"context"
	"net/url"
)

// UserInfo is WeChat's user/info answer (获取用户基本信息). Since December
// 2021 WeChat no longer returns nickname, sex, city or headimgurl; the
// fields below are what it still sends. Subscribe 0 means the user does
// not follow the account, and then only openid and unionid are set.
type UserInfo struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	Language       string `json:"language,omitempty"`
	SubscribeTime  int64  `json:"subscribe_time,omitempty"`
	UnionID        string `json:"unionid,omitempty"`
	Remark         string `json:"remark"`
	GroupID        int    `json:"groupid"`
	TagIDs         []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene,omitempty"` // ADD_SCENE_SEARCH, ADD_SCENE_QR_CODE …
	QRScene        int64  `json:"qr_scene,omitempty"`
	QRSceneStr     string `json:"qr_scene_str,omitempty"`
}

// Tag is one of the account's user tags (用户标签).
type Tag struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// UserInfo fetches a user's profile with user/info (lang=zh_CN).
func (c *Client) UserInfo(ctx context.Context, appid, openid string) (UserInfo, error) {
	var u UserInfo
	err := c.get(ctx, appid, "/cgi-bin/user/info", url.Values{"openid": {openid}, "lang": {"zh_CN"}}, &u)
	if u.TagIDs == nil {
		u.TagIDs = []int{}
	}
	return u, err
}

// UpdateRemark sets the account's remark on a user (设置用户备注名, at most
// 30 characters).
func (c *Client) UpdateRemark(ctx context.Context, appid, openid, remark string) error {
	return c.postJSON(ctx, appid, "/cgi-bin/user/info/updateremark", map[string]string{"openid": openid, "remark": remark}, nil)
}

// Tags lists the account's tags with tags/get.
func (c *Client) Tags(ctx context.Context, appid string) ([]Tag, error) {
	var a struct {
		Tags []Tag `json:"tags"`
	}
	err := c.get(ctx, appid, "/cgi-bin/tags/get", nil, &a)
	if a.Tags == nil {
		a.Tags = []Tag{}
	}
	return a.Tags, err
}

// TagUsers puts tag on users (tags/members/batchtagging, at most 50 openids
// a call), or, with untag, takes it off (batchuntagging).
func (c *Client) TagUsers(ctx context.Context, appid string, tag int, openids []string, untag bool) error {
	path := "/cgi-bin/tags/members/batchtagging"
	if untag {
		path = "/cgi-bin/tags/members/batchuntagging"
	}
	return c.postJSON(ctx, appid, path, struct {
		OpenIDs []string `json:"openid_list"`
		TagID   int      `json:"tagid"`
	}{openids, tag}, nil)
}
