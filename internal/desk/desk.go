// Package desk is what an agent does with a conversation: answer it (text,
// image, through the outbox), hand it over, close it, show that it is
// typing — or type a "#" command that does the same. The API's handlers
// call it after checking who is asking.
package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// WeChat is what the desk calls on WeChat directly: "typing…" (docs/wechat.md,
// "Customer-service API") and temporary media for the images agents send.
type WeChat interface {
	Typing(ctx context.Context, appid, openid string, on bool) error
	UploadMedia(ctx context.Context, appid string, kind wxapi.MediaKind, filename string, r io.Reader) (string, error)
}

var _ WeChat = (*wxapi.Client)(nil)

// Desk is the agents' side of the conversations.
type Desk struct {
	eng   *engine.Engine
	out   *outbox.Outbox
	typer WeChat
}

// New returns a Desk.
func New(eng *engine.Engine, out *outbox.Outbox, typer WeChat) *Desk {
	return &Desk{eng: eng, out: out, typer: typer}
}

// Outgoing is what an agent writes.
type Outgoing struct {
	Type    string `json:"type"`               // text (default) or image
	Content string `json:"content,omitempty"`  // text
	MediaID string `json:"media_id,omitempty"` // image: uploaded media
}

// Sent says what became of an Outgoing: a queued message, or a command's result.
type Sent struct {
	ID      string `json:"id,omitempty"`
	Status  string `json:"status,omitempty"`
	Command string `json:"command,omitempty"`
	Result  string `json:"result,omitempty"`
}

// Send queues the agent's message for the user of s, or runs it as a
// command when it starts with "#" ("##" sends a literal "#").
func (d *Desk) Send(ctx context.Context, agent kf.Agent, s kf.Session, m Outgoing) (Sent, error) {
	msg := outbox.Message{Account: s.Account, OpenID: s.OpenID, Session: s.ID, Kind: outbox.KindAgent, Agent: agent.ID}
	// An agent mapped to a kf account answers as it (customservice.kf_account):
	// the user sees its nickname and avatar. The kf account belongs to the
	// agent's one account; a supervisor answering another account's user
	// answers as the official account.
	if agent.KfAccount != "" && len(agent.Accounts) == 1 && agent.Accounts[0] == s.Account {
		msg.KfAccount = agent.KfAccount
	}
	switch m.Type {
	case "", "text":
		cmd, text, isCmd, err := engine.ParseCommand(m.Content)
		if err != nil {
			return Sent{}, err
		}
		if isCmd {
			result, err := d.eng.RunCommand(ctx, agent.ID, s.Account, s.OpenID, cmd)
			if err != nil {
				return Sent{}, err
			}
			return Sent{Command: string(cmd.Kind), Result: result}, nil
		}
		if err := checkText(text); err != nil {
			return Sent{}, err
		}
		msg.MsgType, msg.Content = "text", text
	case "image":
		if m.MediaID == "" {
			return Sent{}, kf.Errorf(kf.KindInvalid, "bad_message", "an image needs its media_id")
		}
		msg.MsgType = "image"
		msg.Body, _ = json.Marshal(map[string]string{"media_id": m.MediaID})
	default:
		return Sent{}, kf.Errorf(kf.KindInvalid, "bad_message", "type must be text or image")
	}
	id, err := d.out.Enqueue(ctx, msg)
	if err != nil {
		return Sent{}, err
	}
	return Sent{ID: id, Status: "queued"}, nil
}

// MaxImage is the largest image WeChat takes as temporary media.
const MaxImage = 10 << 20

// SendImage uploads an image the agent sends as temporary media and queues
// it for the user.
func (d *Desk) SendImage(ctx context.Context, agent kf.Agent, s kf.Session, filename string, r io.Reader) (Sent, error) {
	r, err := sniffImage(r)
	if err != nil {
		return Sent{}, err
	}
	mediaID, err := d.typer.UploadMedia(ctx, s.Account, wxapi.MediaImage, filename, r)
	if err != nil {
		return Sent{}, wechatError(err)
	}
	return d.Send(ctx, agent, s, Outgoing{Type: "image", MediaID: mediaID})
}

// Transfer hands the session to agent to, or to the skill's group.
func (d *Desk) Transfer(ctx context.Context, actor string, s kf.Session, to, skill string) (string, error) {
	if to == "" && skill == "" {
		return "", kf.Errorf(kf.KindInvalid, "bad_transfer", "name to_agent or skill")
	}
	if err := d.eng.CheckTransfer(ctx, s, to, skill); err != nil {
		return "", err
	}
	if skill == "" {
		skill = s.Skill
	}
	got, err := d.eng.Transfer(ctx, s.Account, s.OpenID, to, skill, actor, "request")
	if errors.Is(err, session.ErrConflict) {
		return "", kf.Errorf(kf.KindConflict, "agent_unavailable", "%s cannot take the user now", truncate(to))
	}
	return got, err
}

// Close ends the session.
func (d *Desk) Close(ctx context.Context, actor string, s kf.Session) error {
	_, err := d.eng.Close(ctx, s.Account, s.OpenID, s.ID, actor, "closed")
	return err
}

// Typing shows or hides "typing…" to the user.
func (d *Desk) Typing(ctx context.Context, s kf.Session, on bool) error {
	return wechatError(d.typer.Typing(ctx, s.Account, s.OpenID, on))
}

// wechatError turns what WeChat answered to a call the agent asked for
// into an error the API can show: typing refused for now (45080: no
// exchange with the user in the last 30 s; 45081: already shown, for 15 s)
// is a conflict; another errcode has its kind (docs/wechat.md, "Error
// codes"), except that WeChat refusing kfgate's own credentials is kfgate's
// problem, not the agent's: unavailable; no answer at all is unavailable.
func wechatError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*kf.Error](err); ok {
		return err
	}
	if we, ok := errors.AsType[*wxapi.Error](err); ok {
		switch we.Code {
		case 45080:
			return kf.Wrap(kf.KindConflict, "typing_refused", err, "WeChat shows typing only within 30 s of an exchange with the user (errcode 45080)")
		case 45081:
			return kf.Wrap(kf.KindConflict, "typing_refused", err, "WeChat is already showing typing to the user (errcode 45081, for 15 s)")
		}
		kind := kf.KindOf(we)
		if kind == kf.KindUnauthorized || kind == kf.KindInternal {
			kind = kf.KindUnavailable
		}
		return kf.Wrap(kind, "wechat_refused", err, fmt.Sprintf("WeChat refused the call (errcode %d)", we.Code))
	}
	if _, ok := errors.AsType[*wxapi.TransportError](err); ok {
		return kf.Wrap(kf.KindUnavailable, "wechat_unreachable", err, "WeChat cannot be reached now; try again")
	}
	return err
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
