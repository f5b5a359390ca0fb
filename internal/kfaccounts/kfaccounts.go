// Package kfaccounts manages an official account's WeChat customer-service
// accounts (kf accounts, "prefix@the account's WeChat ID") for the admin
// API and the console: it lists them with their online state and the
// kfgate agent linked to each (the agent whose kf_account it is), adds,
// renames and deletes them, sets their avatar, invites the WeChat user who
// binds one, and shows where WeChat and kfgate's agents differ.
//
// WeChat is the truth about kf accounts; kfgate keeps nothing about them
// but the agents' kf_account. WeChat's refusals come back as *wxapi.Error,
// whose kind (kf.KindOf) the API turns into a status; the calls and their
// error codes are in docs/wechat.md, "Customer-service API".
package kfaccounts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// WeChat is what the package calls on WeChat.
type WeChat interface {
	KfList(ctx context.Context, appid string) ([]wxapi.KfAccount, error)
	KfOnlineList(ctx context.Context, appid string) ([]wxapi.OnlineKf, error)
	AddKf(ctx context.Context, appid, account, nickname string) error
	UpdateKf(ctx context.Context, appid, account, nickname string) error
	DeleteKf(ctx context.Context, appid, account string) error
	UploadKfHeadImg(ctx context.Context, appid, account, filename string, r io.Reader) error
	InviteKfWorker(ctx context.Context, appid, account, wx string) error
}

var _ WeChat = (*wxapi.Client)(nil)

// Agents lists kfgate's agents (agents.Team).
type Agents interface {
	List(ctx context.Context) ([]kf.Agent, error)
}

// Service is the kf accounts' management.
type Service struct {
	wx     WeChat
	agents Agents
}

// New returns a Service.
func New(wx WeChat, agents Agents) *Service { return &Service{wx: wx, agents: agents} }

// Account is a kf account as the API shows it.
type Account struct {
	KfAccount  string `json:"kf_account"`
	Nickname   string `json:"nickname"`
	ID         int64  `json:"kf_id"`
	HeadImgURL string `json:"headimgurl,omitempty"`
	// Wx is the WeChat ID bound to the kf account ("" until someone
	// accepts an invitation); InviteWx, InviteStatus and InviteExpires
	// describe a pending one.
	Wx            string `json:"wx,omitempty"`
	InviteWx      string `json:"invite_wx,omitempty"`
	InviteStatus  string `json:"invite_status,omitempty"`
	InviteExpires int64  `json:"invite_expires,omitempty"` // Unix s
	// Online and AcceptedCase are from getonlinekflist.
	Online       bool `json:"online"`
	AcceptedCase int  `json:"accepted_case"`
	// Agent is the id of the kfgate agent whose kf_account this is.
	Agent string `json:"agent,omitempty"`
}

// MaxNickname is WeChat's longest kf nickname, in characters
// (docs/wechat.md, "Customer-service API").
const MaxNickname = 16

// MaxAvatar is the largest avatar WeChat takes (5 MB).
const MaxAvatar = 5 << 20

// List returns the account's kf accounts, sorted by kf account, each with
// its online state and linked agent.
func (s *Service) List(ctx context.Context, appid string) ([]Account, error) {
	list, err := s.wx.KfList(ctx, appid)
	if err != nil {
		return nil, wechat(err)
	}
	online, err := s.wx.KfOnlineList(ctx, appid)
	if err != nil {
		return nil, wechat(err)
	}
	linked, err := s.linked(ctx, appid)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(list))
	for _, k := range list {
		a := Account{KfAccount: k.Account, Nickname: k.Nick, ID: k.ID, HeadImgURL: k.HeadImgURL, Wx: k.Wx,
			InviteWx: k.InviteWx, InviteStatus: k.InviteStatus, InviteExpires: k.InviteExpire, Agent: linked[k.Account].ID}
		if i := slices.IndexFunc(online, func(o wxapi.OnlineKf) bool { return o.Account == k.Account }); i >= 0 {
			a.Online, a.AcceptedCase = online[i].Status != 0, online[i].AcceptedCase
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Account) int { return cmp.Compare(a.KfAccount, b.KfAccount) })
	return out, nil
}

// linked maps kf accounts to the agents of appid that have them.
func (s *Service) linked(ctx context.Context, appid string) (map[string]kf.Agent, error) {
	all, err := s.agents.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]kf.Agent{}
	for _, a := range all {
		if a.KfAccount != "" && slices.Contains(a.Accounts, appid) {
			out[a.KfAccount] = a
		}
	}
	return out, nil
}

func checkAccount(account string) error {
	if why := kf.CheckKfAccount(account); why != "" {
		return kf.Errorf(kf.KindInvalid, "bad_kf_account", "kf_account %s", why)
	}
	return nil
}

func checkNickname(nick string) error {
	if n := utf8.RuneCountInString(nick); n < 1 || n > MaxNickname {
		return kf.Errorf(kf.KindInvalid, "bad_nickname", "nickname must be 1 to %d characters", MaxNickname)
	}
	if why := kf.CheckText(nick); why != "" {
		return kf.Errorf(kf.KindInvalid, "bad_nickname", "nickname %s", why)
	}
	return nil
}

// Add creates the kf account with its nickname.
func (s *Service) Add(ctx context.Context, appid, account, nickname string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if err := checkNickname(nickname); err != nil {
		return err
	}
	return wechat(s.wx.AddKf(ctx, appid, account, nickname))
}

// Rename sets the kf account's nickname, what users see.
func (s *Service) Rename(ctx context.Context, appid, account, nickname string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if err := checkNickname(nickname); err != nil {
		return err
	}
	return wechat(s.wx.UpdateKf(ctx, appid, account, nickname))
}

// Delete deletes the kf account in WeChat. An agent linked to it keeps its
// kf_account, and Sync shows it, until an admin changes the agent.
func (s *Service) Delete(ctx context.Context, appid, account string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	return wechat(s.wx.DeleteKf(ctx, appid, account))
}

// SetAvatar uploads the kf account's avatar (at most MaxAvatar bytes).
func (s *Service) SetAvatar(ctx context.Context, appid, account, filename string, r io.Reader) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	return wechat(s.wx.UploadKfHeadImg(ctx, appid, account, filename, r))
}

// Invite asks the WeChat user with the WeChat ID wx to bind the kf account.
func (s *Service) Invite(ctx context.Context, appid, account, wx string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if wx == "" || len(wx) > 64 {
		return kf.Errorf(kf.KindInvalid, "bad_invite", "invite_wx must be the WeChat ID (微信号) of the person to invite")
	}
	return wechat(s.wx.InviteKfWorker(ctx, appid, account, wx))
}

// Differences are where WeChat's kf accounts and kfgate's agents disagree.
type Differences struct {
	// Unlinked are kf accounts no agent of kfgate answers as.
	Unlinked []string `json:"kf_without_agent"`
	// Missing are agents whose kf_account does not exist in WeChat: their
	// replies would be refused (65401).
	Missing []AgentKf `json:"agents_without_kf"`
	// Nicknames are kf accounts whose nickname is not their agent's name.
	Nicknames []Nickname `json:"nickname_differs"`
}

// AgentKf is an agent and its kf account.
type AgentKf struct {
	Agent     string `json:"agent"`
	KfAccount string `json:"kf_account"`
}

// Nickname is a kf account whose nickname differs from its agent's name.
type Nickname struct {
	KfAccount string `json:"kf_account"`
	Nickname  string `json:"nickname"`
	Agent     string `json:"agent"`
	AgentName string `json:"agent_name"`
}

// Sync compares the account's kf accounts with kfgate's agents.
func (s *Service) Sync(ctx context.Context, appid string) (Differences, error) {
	list, err := s.wx.KfList(ctx, appid)
	if err != nil {
		return Differences{}, wechat(err)
	}
	linked, err := s.linked(ctx, appid)
	if err != nil {
		return Differences{}, err
	}
	d := Differences{Unlinked: []string{}, Missing: []AgentKf{}, Nicknames: []Nickname{}}
	inWeChat := map[string]bool{}
	for _, k := range list {
		inWeChat[k.Account] = true
		a, ok := linked[k.Account]
		switch {
		case !ok:
			d.Unlinked = append(d.Unlinked, k.Account)
		case a.Name != k.Nick:
			d.Nicknames = append(d.Nicknames, Nickname{KfAccount: k.Account, Nickname: k.Nick, Agent: a.ID, AgentName: a.Name})
		}
	}
	for kfAcct, a := range linked {
		if !inWeChat[kfAcct] {
			d.Missing = append(d.Missing, AgentKf{Agent: a.ID, KfAccount: kfAcct})
		}
	}
	slices.Sort(d.Unlinked)
	slices.SortFunc(d.Missing, func(a, b AgentKf) int { return cmp.Compare(a.KfAccount, b.KfAccount) })
	slices.SortFunc(d.Nicknames, func(a, b Nickname) int { return cmp.Compare(a.KfAccount, b.KfAccount) })
	return d, nil
}

// wechat returns WeChat's refusal as it is — its kind (kf.KindOf) gives
// the status: 65401 not found, 65406 … conflict, the rest invalid — except
// a refused credential or permission (40001, 48001 …): that is kfgate's
// configuration or the account's, not the admin's sign-in, so not a 401.
func wechat(err error) error {
	if err == nil {
		return nil
	}
	if we, ok := errors.AsType[*wxapi.Error](err); ok && kf.KindOf(we) == kf.KindUnauthorized {
		return kf.Wrap(kf.KindUnavailable, "wechat_refused", err, fmt.Sprintf("WeChat refused kfgate's credentials or permission (errcode %d)", we.Code))
	}
	return err
}
