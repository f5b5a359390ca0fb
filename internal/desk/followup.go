package desk

import (
	"context"
	"strings"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
)

// FollowUp writes to a user outside a session the agent serves: the agent
// gets (or already has) a live session with the user, then the message is
// queued in it. Refused when the user's 48-hour window has closed or
// someone else has the user. The message is checked before any session
// opens.
func (d *Desk) FollowUp(ctx context.Context, agent kf.Agent, account, openid string, m Outgoing) (kf.Session, Sent, error) {
	switch m.Type {
	case "", "text":
		_, text, isCmd, err := engine.ParseCommand(m.Content)
		if err == nil && isCmd {
			err = kf.Errorf(kf.KindInvalid, "bad_message", "a follow-up is a message, not a command")
		}
		if err == nil && strings.TrimSpace(text) == "" {
			err = kf.Errorf(kf.KindInvalid, "empty_message", "content is empty; WeChat refuses an empty text (44004)")
		}
		if err != nil {
			return kf.Session{}, Sent{}, err
		}
	case "image":
		if m.MediaID == "" {
			return kf.Session{}, Sent{}, kf.Errorf(kf.KindInvalid, "bad_message", "an image needs its media_id")
		}
	default:
		return kf.Session{}, Sent{}, kf.Errorf(kf.KindInvalid, "bad_message", "type must be text or image")
	}
	s, err := d.eng.FollowUp(ctx, account, openid, agent.ID)
	if err != nil {
		return kf.Session{}, Sent{}, err
	}
	sent, err := d.Send(ctx, agent, s, m)
	return s, sent, err
}
