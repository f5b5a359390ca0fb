package sim

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// The user-management APIs of 公众号 (用户管理): user/info with the fields
// WeChat still returns (no nickname, sex or headimgurl since 2021), the
// account's remark on a user, and user tags. Errcodes are WeChat's:
// 40003 invalid openid, 45157 duplicate tag name, 45158 tag name too long,
// 45159 invalid tag id, 45059 a user with 20 tags already, 40032 over 50
// openids in one call. Only users the simulator saw (API.Interact) exist.

// tag is one of an account's user tags.
type tag struct {
	id   int
	name string
}

const (
	maxTagsPerUser = 20 // WeChat: "每个用户最多可以打上20个标签"
	maxTagBatch    = 50 // openid_list of batchtagging: at most 50
	maxRemark      = 30 // remark: less than 30 characters
)

// userInfoBody is the user/info answer.
type userInfoBody struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	Language       string `json:"language,omitempty"`
	SubscribeTime  int64  `json:"subscribe_time,omitempty"`
	Remark         string `json:"remark"`
	GroupID        int    `json:"groupid"`
	TagIDs         []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene,omitempty"`
	QRScene        int    `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
}

// userInfo serves GET /cgi-bin/user/info?openid=&lang=.
func (a *API) userInfo(c *call) any {
	openid := c.r.URL.Query().Get("openid")
	u := c.acct.users[openid]
	if u == nil {
		return errf(40003)
	}
	if !u.subscribed {
		return userInfoBody{Subscribe: 0, OpenID: openid, TagIDs: []int{}}
	}
	return userInfoBody{Subscribe: 1, OpenID: openid, Language: "zh_CN", SubscribeTime: u.subscribeTime.Unix(),
		Remark: u.remark, TagIDs: append([]int{}, u.tags...), SubscribeScene: "ADD_SCENE_SEARCH"}
}

// updateRemark serves POST /cgi-bin/user/info/updateremark {"openid","remark"}.
func (a *API) updateRemark(c *call) any {
	var req struct {
		OpenID string `json:"openid"`
		Remark string `json:"remark"`
	}
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	u := c.acct.users[req.OpenID]
	if u == nil {
		return errf(40003)
	}
	if utf8.RuneCountInString(req.Remark) > maxRemark {
		return errf(45002)
	}
	u.remark = req.Remark
	return okBody
}

// tagCreate serves POST /cgi-bin/tags/create {"tag":{"name"}} → {"tag":{"id","name"}}.
func (a *API) tagCreate(c *call) any {
	var req struct {
		Tag struct {
			Name string `json:"name"`
		} `json:"tag"`
	}
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	if req.Tag.Name == "" || len(req.Tag.Name) > 30 {
		return errf(45158)
	}
	if slices.ContainsFunc(c.acct.tags, func(t *tag) bool { return t.name == req.Tag.Name }) {
		return errf(45157)
	}
	c.acct.nextTag++
	t := &tag{id: c.acct.nextTag, name: req.Tag.Name}
	c.acct.tags = append(c.acct.tags, t)
	type tagBody struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	return struct {
		Tag tagBody `json:"tag"`
	}{tagBody{t.id, t.name}}
}

// tagList serves GET /cgi-bin/tags/get → {"tags":[{"id","name","count"}]}.
func (a *API) tagList(c *call) any {
	type tagBody struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	out := make([]tagBody, 0, len(c.acct.tags))
	for _, t := range c.acct.tags {
		n := 0
		for _, u := range c.acct.users {
			if slices.Contains(u.tags, t.id) {
				n++
			}
		}
		out = append(out, tagBody{t.id, t.name, n})
	}
	return struct {
		Tags []tagBody `json:"tags"`
	}{out}
}

func (a *API) tagUsers(c *call) any   { return a.tagging(c, false) }
func (a *API) untagUsers(c *call) any { return a.tagging(c, true) }

// tagging serves batchtagging and batchuntagging {"openid_list","tagid"}:
// all or nothing, checked before anything changes.
func (a *API) tagging(c *call, untag bool) any {
	var req struct {
		OpenIDs []string `json:"openid_list"`
		TagID   int      `json:"tagid"`
	}
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	if len(req.OpenIDs) == 0 {
		return errf(40032)
	}
	if len(req.OpenIDs) > maxTagBatch {
		return errf(40032)
	}
	if !slices.ContainsFunc(c.acct.tags, func(t *tag) bool { return t.id == req.TagID }) {
		return errf(45159)
	}
	for _, id := range req.OpenIDs {
		u := c.acct.users[id]
		if u == nil {
			return errf(40003)
		}
		if !untag && !slices.Contains(u.tags, req.TagID) && len(u.tags) >= maxTagsPerUser {
			return errf(45059)
		}
	}
	for _, id := range req.OpenIDs {
		u := c.acct.users[id]
		i := slices.Index(u.tags, req.TagID)
		switch {
		case untag && i >= 0:
			u.tags = slices.Delete(u.tags, i, i+1)
		case !untag && i < 0:
			u.tags = append(u.tags, req.TagID)
		}
	}
	return okBody
}

// AddTag creates a user tag of appid, as tags/create does, and returns its id.
func (a *API) AddTag(appid, name string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil {
		return 0, fmt.Errorf("sim: no account %q", appid)
	}
	if name == "" || slices.ContainsFunc(acct.tags, func(t *tag) bool { return t.name == name }) {
		return 0, fmt.Errorf("sim: tag name %q empty or taken", name)
	}
	acct.nextTag++
	acct.tags = append(acct.tags, &tag{id: acct.nextTag, name: name})
	return acct.nextTag, nil
}

// UserTags returns the tags and remark WeChat has for openid (what user/info
// answers), for tests.
func (a *API) UserTags(appid, openid string) (remark string, tags []int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if acct := a.accounts[appid]; acct != nil && acct.users[openid] != nil {
		u := acct.users[openid]
		return u.remark, append([]int{}, u.tags...)
	}
	return "", nil
}
