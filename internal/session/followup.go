package session

import (
	"context"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
)

var followUpScript = script("followup")

// FollowUp opens a session of the user served by agent, for an agent who
// writes first (the user's earlier session closed). It returns the
// session and the outcome: "opened", "existing" (the agent serves the user
// already), or a refusal — "busy", "window_closed", "no_agent", "full".
func (s *Store) FollowUp(ctx context.Context, account, openid, agent, sessionID string, now time.Time) (kf.Session, string, error) {
	r, err := followUpScript.Run(ctx, s.rdb, nil, s.prefix, account, openid, ms(now), sessionID, agent,
		dms(s.opts.IdleTimeout), dms(s.opts.WarnBefore)).StringSlice()
	if err != nil {
		return kf.Session{}, "", s.fail("follow up", err)
	}
	sess := kf.Session{ID: r[1], Account: account, OpenID: openid, State: kf.State(r[2]), Agent: r[3], CreatedAt: now, UpdatedAt: now}
	return sess, r[0], nil
}
