package engine

import (
	"context"
	"errors"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
)

// UserSession returns the user's live session; a kf not-found error when
// there is none.
func (e *Engine) UserSession(ctx context.Context, account, openid string) (kf.Session, error) {
	s, err := e.store.Session(ctx, account, openid)
	if errors.Is(err, session.ErrNoSession) {
		return kf.Session{}, kf.Errorf(kf.KindNotFound, "no_session", "the user has no live session")
	}
	return s, err
}

// FollowUp gives agent a session with the user so that it can write first:
// the agent's own live session with the user, or a new one if the user has
// none and WeChat's 48-hour window (kept by the engine from the user's
// last message) is still open. Refusals are conflicts with their reason.
func (e *Engine) FollowUp(ctx context.Context, account, openid, agent string) (kf.Session, error) {
	s, outcome, err := e.store.FollowUp(ctx, account, openid, agent, newID(), e.now())
	if err != nil {
		return kf.Session{}, err
	}
	switch outcome {
	case "opened", "existing":
		return s, nil
	case "busy":
		return kf.Session{}, kf.Errorf(kf.KindConflict, "user_busy", "the user is in a live session (%s) with someone else", s.State)
	case "window_closed":
		return kf.Session{}, kf.Errorf(kf.KindConflict, "window_closed",
			"the user last wrote more than 48 hours ago: WeChat refuses messages until the user writes again (45015)")
	case "full":
		return kf.Session{}, kf.Errorf(kf.KindConflict, "agent_full", "you serve as many users as max_sessions allows")
	default:
		return kf.Session{}, kf.Errorf(kf.KindForbidden, "not_your_account", "you do not serve this account")
	}
}
