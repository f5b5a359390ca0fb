package wxkf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/stream"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// Group is the consumer group of the events stream that the bridges of all
// replicas form: each event goes to one of them.
const Group = "wxkf"

// Bridge makes WeChat's customer-service sessions follow kfgate's: a
// wechat-mode session assigned to a kf account is created there
// (kfsession/create), one transferred is closed on the old kf account and
// created on the new, one closed (idle, an admin, the user) is closed
// there, and one whose user's message reached kfgate (WeChat released it)
// is created again. Transitions WeChat's own events caused (actor "wechat") are not
// sent back. It reads the events stream in its own consumer group, from
// the events that come after the group is made.
type Bridge struct {
	Engine        *engine.Engine
	API           API
	RDB           redis.Cmdable
	Prefix        string
	Name          string // this replica's consumer name
	Logger        *slog.Logger
	DeadLetter    *stream.DeadLetter
	MaxDeliveries int           // default 5
	ClaimIdle     time.Duration // default 30s
	Now           func() time.Time
}

// Run follows the events stream until ctx ends. An event whose WeChat call
// failed for a reason that may pass (network, system busy) stays pending
// and is retried after ClaimIdle.
func (b *Bridge) Run(ctx context.Context) error {
	if b.MaxDeliveries == 0 {
		b.MaxDeliveries = 5
	}
	if b.ClaimIdle == 0 {
		b.ClaimIdle = 30 * time.Second
	}
	key := b.Prefix + session.EventsStream
	// From now on: the sessions of the past are WeChat's business already.
	if err := b.RDB.XGroupCreateMkStream(ctx, key, Group, "$").Err(); err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("wxkf: create group: %w", err)
	}
	g := &stream.Group{RDB: b.RDB, Stream: key, Name: Group, Consumer: b.Name, Restart: "$",
		MaxDeliveries: int64(b.MaxDeliveries), Dead: b.DeadLetter, Logger: b.log()}
	handle := func(ctx context.Context, msgs []redis.XMessage) {
		for _, m := range msgs {
			if err := b.apply(ctx, m); err != nil {
				if ctx.Err() == nil {
					b.log().Warn("wxkf: an event stays pending", "id", m.ID, "err", err)
				}
				continue
			}
			if err := g.Ack(context.WithoutCancel(ctx), m.ID); err != nil {
				b.log().Warn("wxkf: ack failed", "id", m.ID, "err", err)
			}
		}
	}
	lastClaim := time.Now()
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= b.ClaimIdle/2 {
			if _, err := g.Claim(ctx, b.ClaimIdle, 64, handle); err != nil && ctx.Err() == nil {
				b.log().Warn("wxkf: claiming events failed", "err", err)
			}
			lastClaim = time.Now()
		}
		msgs, err := g.Read(ctx, ">", 64, 2*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			b.log().Warn("wxkf: reading the events stream failed", "err", err)
			stream.Sleep(ctx, time.Second)
			continue
		}
		handle(ctx, msgs)
	}
	return nil
}

// Event is what the bridge reads of a session event (docs/events.md).
type Event struct {
	Type      string `json:"type"`
	Session   string `json:"session"`
	Account   string `json:"account"`
	OpenID    string `json:"openid"`
	Agent     string `json:"agent"`
	FromAgent string `json:"from_agent"`
	Actor     string `json:"actor"`
	Skill     string `json:"skill"`
	At        int64  `json:"at"` // Unix ms
}

func (b *Bridge) apply(ctx context.Context, m redis.XMessage) error {
	switch m.Values["type"] {
	case "session.assigned", "session.transferred", "session.closed", "message.received":
	default:
		return nil
	}
	body, _ := m.Values["event"].(string)
	var ev Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return nil // not a session event kfgate wrote: nothing to do
	}
	return b.Apply(ctx, ev)
}

// Apply makes WeChat's sessions follow one session event of kfgate's.
func (b *Bridge) Apply(ctx context.Context, ev Event) error {
	w, ok := b.Engine.WeChat(ev.Account)
	if !ok || ev.Actor == engine.ActorWeChat {
		return nil
	}
	switch ev.Type {
	case "session.closed":
		if k, ok := engine.KfAccountOf(ev.Agent); ok {
			return b.close(ctx, ev, k)
		}
	case "session.transferred":
		if k, ok := engine.KfAccountOf(ev.FromAgent); ok {
			if err := b.close(ctx, ev, k); err != nil {
				return err
			}
		}
		fallthrough
	case "session.assigned":
		if k, ok := engine.KfAccountOf(ev.Agent); ok {
			if w.Passive {
				// The user's next message is answered with a transfer
				// naming k (internal/callback); only the idle clock here.
				_, err := b.Engine.Store().WeChatIdle(ctx, ev.Account, ev.OpenID, b.now())
				return err
			}
			return b.create(ctx, ev, k)
		}
	case "message.received":
		// A user's message reached kfgate although a kf account serves
		// them: WeChat released the session (30 minutes of silence,
		// docs/wechat.md, "Passive replies"), or this is the message that
		// opened it. kfsession/create again: 0 if the session is there,
		// the user back with their kf account if not.
		if k, ok := engine.KfAccountOf(ev.Agent); ok && !w.Passive && ev.Actor == "user" {
			return b.create(ctx, ev, k)
		}
	}
	return nil
}

// close ends kfAccount's session with the user in WeChat. None there
// (65413), or another kf account's (65414), is fine: WeChat's side is
// already as kfgate's.
func (b *Bridge) close(ctx context.Context, ev Event, kfAccount string) error {
	err := b.API.CloseSession(ctx, ev.Account, kfAccount, ev.OpenID)
	var we *wxapi.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &we) && we.Permanent():
		if we.Code != 65413 && we.Code != 65414 {
			b.log().Warn("wxkf: WeChat refused to close a session", "account", ev.Account, "kf_account", kfAccount, "errcode", we.Code)
		}
		return nil
	}
	return err
}

// create hands the user to kfAccount in WeChat (kfsession/create), if
// kfgate's session is still the event's. The routing view said the kf
// account was online (the router picks none other); WeChat may disagree
// since the last poll:
//   - 65415 offline, 65402 not bound, 65401 no such kf account: the kf
//     account is set offline and the session goes to another (or queues);
//   - 65414 another kf account serves the user in WeChat: kfgate's session
//     follows WeChat's;
//   - 40003 the user is unknown or unfollowed: kfgate's session closes;
//   - no answer, or -1: the event stays pending and is tried again.
func (b *Bridge) create(ctx context.Context, ev Event, kfAccount string) error {
	s, err := b.Engine.Store().Session(ctx, ev.Account, ev.OpenID)
	if errors.Is(err, session.ErrNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.ID != ev.Session || s.Agent != ev.Agent || s.State != kf.StateServing {
		return nil // a later event moved it: that one says what to do
	}
	if ev.Type == "message.received" && ev.At != 0 && ev.At == s.CreatedAt.UnixMilli() {
		// The message that opened the session: its session.assigned
		// makes the hand-over; a second kfsession/create would only be
		// answered "already there".
		return nil
	}
	err = b.API.CreateSession(ctx, ev.Account, kfAccount, ev.OpenID)
	var we *wxapi.Error
	if err == nil {
		_, err = b.Engine.Store().WeChatIdle(ctx, ev.Account, ev.OpenID, b.now())
		return err
	}
	if !errors.As(err, &we) || !we.Permanent() {
		return err
	}
	reason := fmt.Sprintf("wechat refused the hand-over: %d", we.Code)
	b.log().Info("wxkf: WeChat refused a hand-over", "account", ev.Account, "kf_account", kfAccount, "errcode", we.Code)
	switch we.Code {
	case 65415, 65402, 65401:
		if err := b.Engine.SetStatus(ctx, ev.Agent, kf.AgentOffline); err != nil {
			return err
		}
		_, err := b.Engine.Transfer(ctx, ev.Account, ev.OpenID, "", s.Skill, "kfgate", reason)
		return ignoreGone(err)
	case 65414:
		ws, err := b.API.Session(ctx, ev.Account, ev.OpenID)
		if err != nil || ws.KfAccount == "" {
			return ignoreRefused(err)
		}
		return ignoreGone(b.Engine.Adopt(ctx, ev.Account, ev.OpenID, ws.KfAccount, "served in WeChat by "+ws.KfAccount))
	case 40003:
		_, err := b.Engine.Close(ctx, ev.Account, ev.OpenID, s.ID, "kfgate", reason)
		return ignoreGone(err)
	}
	return nil
}

func (b *Bridge) log() *slog.Logger {
	if b.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Logger
}

func (b *Bridge) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// ignoreGone drops the errors of a session that moved on meanwhile.
func ignoreGone(err error) error {
	if errors.Is(err, session.ErrNoSession) || errors.Is(err, session.ErrNotServing) {
		return nil
	}
	return err
}

// ignoreRefused drops WeChat's permanent refusals, which a retry repeats.
func ignoreRefused(err error) error {
	var we *wxapi.Error
	if errors.As(err, &we) && we.Permanent() {
		return nil
	}
	return err
}
