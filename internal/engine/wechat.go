package engine

import (
	"context"
	"errors"
	"strings"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
)

// Accounts whose agents work in WeChat's own customer-service tool
// (docs/architecture.md, "Agents in WeChat's own tool"). Each of their kf
// accounts is an agent of the routing view, id KfAgentPrefix + kf_account,
// so that every strategy and filter applies to them; package wxkf keeps
// their status and load from getonlinekflist and hands users over. The
// engine applies WeChat's kf_* events to the sessions.

// KfAgentPrefix starts the id of a kf account's routing view. kfgate's own
// agents' ids have no ':', so the two never meet.
const KfAgentPrefix = "kf:"

// KfAgentID is the routing view's id of kfAccount.
func KfAgentID(kfAccount string) string { return KfAgentPrefix + kfAccount }

// KfAccountOf returns the kf account an agent id stands for, if it is one.
func KfAccountOf(agent string) (string, bool) { return strings.CutPrefix(agent, KfAgentPrefix) }

// WeChatAccount is an account whose agents are its kf accounts.
type WeChatAccount struct {
	Passive     bool // hand-over by a transfer_customer_service reply, not kfsession/create
	MaxSessions int  // each kf account's capacity; default 5
	// Kf overrides capacity, weight and skills per kf account.
	Kf map[string]KfTarget
}

// KfTarget is one kf account's routing settings.
type KfTarget struct {
	MaxSessions, Weight int
	Skills              []string
}

// WeChat returns the account's settings and whether its agents work in
// WeChat's tool.
func (e *Engine) WeChat(account string) (WeChatAccount, bool) {
	w, ok := e.cfg.WeChat[account]
	return w, ok
}

// WeChatAccounts returns the appids of the accounts whose agents work in
// WeChat's tool.
func (e *Engine) WeChatAccounts() []string {
	out := make([]string, 0, len(e.cfg.WeChat))
	for a := range e.cfg.WeChat {
		out = append(out, a)
	}
	return out
}

// KfAgent returns the routing view of kfAccount of account, without a
// status (a new one is offline; an existing one keeps its own).
func (e *Engine) KfAgent(account, kfAccount string) kf.Agent {
	w := e.cfg.WeChat[account]
	t := w.Kf[kfAccount]
	return kf.Agent{ID: KfAgentID(kfAccount), Name: kfAccount, Accounts: []string{account}, Skills: t.Skills,
		Weight: max(t.Weight, 1), MaxSessions: cmpOr(t.MaxSessions, w.MaxSessions, 5)}
}

func cmpOr(vals ...int) int {
	for _, v := range vals {
		if v > 0 {
			return v
		}
	}
	return 0
}

// isKfEvent reports whether ev is one of WeChat's customer-service session
// events.
func isKfEvent(ev kf.EventType) bool {
	return ev == kf.EventKfCreateSession || ev == kf.EventKfSwitchSession || ev == kf.EventKfCloseSession
}

// ActorWeChat is the actor of the transitions WeChat's tool made: package
// wxkf does not echo them back to WeChat.
const ActorWeChat = "wechat"

// kfEvent applies a kf_* event of a wechat-mode account to the user's
// session: kf_create_session and kf_switch_session make the kf account
// serve it (a new session, the queued one or another agent's); a
// kf_close_session closes it if that kf account served it. The events of
// kfgate's own calls come back too (the simulator sends them, WeChat may):
// they change nothing, the session being in that state already. Events of
// an account in kfgate mode are recorded only.
func (e *Engine) kfEvent(ctx context.Context, m *kf.Message) error {
	if _, ok := e.cfg.WeChat[m.Account]; !ok {
		return nil
	}
	switch m.Event {
	case kf.EventKfCreateSession:
		return e.adopt(ctx, m.Account, m.OpenID, m.KfAccount, string(m.Event))
	case kf.EventKfSwitchSession:
		return e.adopt(ctx, m.Account, m.OpenID, m.ToKfAccount, string(m.Event))
	}
	s, err := e.store.Session(ctx, m.Account, m.OpenID)
	if errors.Is(err, session.ErrNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.Agent != KfAgentID(m.KfAccount) {
		return nil // a stale close: another kf account serves the user now
	}
	_, err = e.Close(ctx, m.Account, m.OpenID, s.ID, ActorWeChat, string(m.Event))
	if errors.Is(err, session.ErrNoSession) {
		return nil
	}
	return err
}

// Adopt makes kfAccount serve the user's session, as WeChat's tool says
// (a new session, the queued one or another agent's), whatever its
// capacity: WeChat decided.
func (e *Engine) Adopt(ctx context.Context, account, openid, kfAccount, reason string) error {
	return e.adopt(ctx, account, openid, kfAccount, reason)
}

func (e *Engine) adopt(ctx context.Context, account, openid, kfAccount, reason string) error {
	if kfAccount == "" {
		return nil
	}
	id := KfAgentID(kfAccount)
	before, err := e.store.Session(ctx, account, openid)
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		return err
	}
	n, err := e.rdb.Exists(ctx, e.prefix+"agent:"+id).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		// A kf account the poll has not seen yet: its routing view,
		// offline until the next poll.
		if err := e.store.PutAgent(ctx, e.KfAgent(account, kfAccount), e.now()); err != nil {
			return err
		}
	}
	outcome, _, err := e.store.Adopt(ctx, account, openid, id, newID(), reason, e.now())
	if err != nil {
		return err
	}
	if outcome != "same" {
		e.invalidate()
		if before.Agent != "" && before.Agent != id {
			e.drainAgent(ctx, before.Agent)
		}
	}
	return nil
}
