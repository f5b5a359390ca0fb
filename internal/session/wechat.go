package session

import (
	"context"
	"time"
)

// Sessions served in WeChat's own customer-service tool (docs/architecture.md,
// "Agents in WeChat's own tool"): a kf account is an agent whose id starts
// with KfAgentPrefix, and WeChat's kf_* events move the sessions.

var (
	adoptScript      = script("adopt")
	wechatIdleScript = script("wechatidle")
	kfLoadScript     = script("kfload")
)

// Adopt makes agent serve the user's session because WeChat's tool says
// so (a kf_create_session or kf_switch_session event): a new session with
// id when the user has none, the queued one, or the one another agent
// serves. Capacity is not checked: WeChat decided. It returns assigned,
// transferred or same, and the session's id. ErrNoAgent: no routing view.
func (s *Store) Adopt(ctx context.Context, account, openid, agent, id, reason string, now time.Time) (string, string, error) {
	r, err := adoptScript.Run(ctx, s.rdb, nil, s.prefix, account, openid, agent, ms(now), id, reason,
		s.idleMs()).StringSlice()
	if err != nil {
		return "", "", s.fail("adopt", err)
	}
	return r[0], r[1], nil
}

// WeChatIdle starts the idle clock of the user's session served in
// WeChat's tool: kfgate sees neither side there, so the session is idle
// from now. It reports whether the user had a serving session.
func (s *Store) WeChatIdle(ctx context.Context, account, openid string, now time.Time) (bool, error) {
	n, err := wechatIdleScript.Run(ctx, s.rdb, nil, s.prefix, account, openid, ms(now),
		s.idleMs()).Int()
	return n == 1, s.fail("wechat idle", err)
}

// SetKfLoad sets a kf account's load from WeChat's accepted_case, never
// below the sessions kfgate gave it. It returns the load (-1: no such agent).
func (s *Store) SetKfLoad(ctx context.Context, agent string, accepted int) (int, error) {
	n, err := kfLoadScript.Run(ctx, s.rdb, nil, s.prefix, agent, accepted).Int()
	return n, s.fail("kf load", err)
}
