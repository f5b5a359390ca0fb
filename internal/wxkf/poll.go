// Package wxkf connects kfgate's sessions with WeChat's own
// customer-service tool for the accounts whose agents work there
// (accounts[].agents: wechat; docs/architecture.md, "Agents in WeChat's own
// tool"): a Poller keeps each kf account's routing view (status and load)
// from getonlinekflist, and a Bridge follows the session events and makes
// WeChat's sessions match kfgate's with kfsession/create and close.
package wxkf

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// API is what wxkf calls at WeChat (internal/wxapi.Client).
type API interface {
	KfOnlineList(ctx context.Context, appid string) ([]wxapi.OnlineKf, error)
	CreateSession(ctx context.Context, appid, kfAccount, openid string) error
	CloseSession(ctx context.Context, appid, kfAccount, openid string) error
	Session(ctx context.Context, appid, openid string) (wxapi.Session, error)
}

var _ API = (*wxapi.Client)(nil)

// Poller polls getonlinekflist for every wechat-mode account, once per
// period across all replicas: the replica that takes the account's lease
// (<prefix>kfpoll:<account>, held for most of a period) polls it, the
// others skip it.
type Poller struct {
	Engine *engine.Engine
	API    API
	RDB    redis.Cmdable
	Prefix string
	Every  time.Duration
	Now    func() time.Time // default time.Now
}

// Poll polls the accounts whose lease this replica takes and returns how
// many kf accounts it saw online.
func (p *Poller) Poll(ctx context.Context) (int, error) {
	total := 0
	for _, account := range p.Engine.WeChatAccounts() {
		lease := max(p.Every-p.Every/10, time.Millisecond)
		ok, err := p.RDB.SetNX(ctx, p.Prefix+"kfpoll:"+account, "1", lease).Result()
		if err != nil {
			return total, err
		}
		if !ok {
			continue // another replica polled it this period
		}
		n, err := p.PollAccount(ctx, account)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// PollAccount brings the routing views of account's kf accounts in line
// with getonlinekflist: those online (any non-zero status, docs/wechat.md,
// "Customer-service API") are online with accepted_case as their load;
// the others go offline. It returns how many are online.
func (p *Poller) PollAccount(ctx context.Context, account string) (int, error) {
	list, err := p.API.KfOnlineList(ctx, account)
	if err != nil {
		return 0, err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	online := map[string]bool{}
	store := p.Engine.Store()
	for _, k := range list {
		if k.Status == 0 || k.Account == "" {
			continue
		}
		online[engine.KfAgentID(k.Account)] = true
		// The view first (a new one offline), then its load, then online:
		// coming online drains the queue into the room WeChat reports.
		if err := store.PutAgent(ctx, p.Engine.KfAgent(account, k.Account), now()); err != nil {
			return 0, err
		}
		if _, err := store.SetKfLoad(ctx, engine.KfAgentID(k.Account), k.AcceptedCase); err != nil {
			return 0, err
		}
		// Every poll refreshes the presence, so the sweep keeps it online
		// while WeChat says so.
		if err := p.Engine.SetStatus(ctx, engine.KfAgentID(k.Account), kf.AgentOnline); err != nil {
			return 0, err
		}
	}
	agents, err := p.Engine.Agents(ctx)
	if err != nil {
		return 0, err
	}
	for _, a := range agents {
		if !strings.HasPrefix(a.ID, engine.KfAgentPrefix) || !slices.Contains(a.Accounts, account) {
			continue
		}
		if !online[a.ID] && a.Status != kf.AgentOffline {
			if err := p.Engine.SetStatus(ctx, a.ID, kf.AgentOffline); err != nil {
				return 0, err
			}
		}
	}
	return len(online), nil
}
