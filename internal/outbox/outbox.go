package outbox

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// Kind says who wrote an outbound message.
type Kind string

// The kinds of outbound message.
const (
	KindAgent  Kind = "agent"  // an agent's answer
	KindNotice Kind = "notice" // an automatic notice (queue position, idle warning, closing)
	KindSurvey Kind = "survey" // the satisfaction survey
)

// Message is one message to a WeChat user.
type Message struct {
	Account string // the appid of the official account
	OpenID  string
	Session string // the session id, for the status events
	Kind    Kind
	// MsgType is custom/send's msgtype ("text" when empty). A text has its
	// Content; any other type its object as Body, e.g. {"media_id":"…"} for
	// an image (docs/wechat.md, "Customer-service API").
	MsgType string
	Content string
	Body    json.RawMessage
	// KfAccount, if set, sends the message as that kf account (its avatar
	// and nickname).
	KfAccount string
	// Agent is the agent who wrote it: its status events go to that agent
	// too, besides the session's agent.
	Agent string
	// Ref is the sender's own reference, echoed in the status events.
	Ref string
}

// StreamKey is the name, after the prefix, of the stream of messages to
// WeChat (docs/redis.md); Group is its workers' default consumer group. The
// archive reads entries by id; the trimming keeps what Group has not
// acknowledged.
const (
	StreamKey = "outbox"
	Group     = "outbox"
)

// Options configure an Outbox.
type Options struct {
	Redis redis.UniversalClient
	// Prefix starts every key, as for the session store.
	Prefix string
	// Group is the consumer group of the workers. Default "outbox".
	Group string
	// Now is the clock of the window checks; it must agree with the clock
	// the engine writes the quota view with. Default time.Now.
	Now func() time.Time
	// ContextSize is how many messages a session's context list keeps
	// (engine.context_size): a sent message joins it. Default 20.
	ContextSize int
}

// Outbox appends messages to the stream; Worker sends them.
type Outbox struct {
	rdb         redis.UniversalClient
	prefix      string
	group       string
	now         func() time.Time
	contextSize int
	metrics     *Metrics // set by NewMetrics; nil counts nothing
}

// New returns an Outbox.
func New(o Options) (*Outbox, error) {
	if o.Redis == nil {
		return nil, errors.New("outbox: Options.Redis is nil")
	}
	if o.Group == "" {
		o.Group = Group
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ContextSize <= 0 {
		o.ContextSize = 20
	}
	return &Outbox{rdb: o.Redis, prefix: o.Prefix, group: o.Group, now: o.Now, contextSize: o.ContextSize}, nil
}

func (b *Outbox) stream() string { return b.prefix + StreamKey }

//go:embed lua/*.lua
var luaFS embed.FS

// script returns the Lua script name with common.lua prepended.
func script(name string) *redis.Script {
	common, err := luaFS.ReadFile("lua/common.lua")
	if err != nil {
		panic(err)
	}
	src, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return redis.NewScript(string(common) + "\n" + string(src))
}

var (
	enqueueScript = script("enqueue")
	touchScript   = script("touch")
	dueScript     = script("due")
	finishScript  = script("finish")
	rateScript    = script("rate")
	parkScript    = script("park")
)

// Enqueue appends m to the outbox and returns its id, the stream entry id
// that the status events carry. A message WeChat would refuse because the
// user's window is closed or its quota used up is not queued: Enqueue
// returns a *kf.Error with Code "window_closed" (KindConflict) or
// "quota_exhausted" (KindRateLimited) and records a "failed" status event.
func (b *Outbox) Enqueue(ctx context.Context, m Message) (string, error) {
	if m.MsgType == "" {
		m.MsgType = string(wxapi.MsgText)
	}
	if m.Kind == "" {
		m.Kind = KindAgent
	}
	if m.Account == "" || m.OpenID == "" || m.Session == "" {
		return "", kf.Errorf(kf.KindInvalid, "invalid_message", "outbox: account, openid and session are required")
	}
	if _, err := customMessage(m); err != nil {
		return "", kf.Wrap(kf.KindInvalid, "invalid_message", err, "outbox: the message cannot be sent")
	}
	r, err := enqueueScript.Run(ctx, b.rdb, nil, b.prefix, b.now().UnixMilli(), m.Account, m.OpenID,
		m.Session, string(m.Kind), m.MsgType, m.Content, string(m.Body), m.KfAccount, m.Agent, m.Ref,
		refusals[45015].reason, refusals[45047].reason, preview(m, b.now())).StringSlice()
	if err != nil {
		return "", kf.Wrap(kf.KindUnavailable, "redis", fmt.Errorf("outbox enqueue: %w", err), "the outbox is unavailable")
	}
	if r[0] != "queued" {
		errcode := 45015
		if r[1] == "quota_exhausted" {
			errcode = 45047
		}
		b.metrics.refused(m.Account, errcode)
		return "", precheckError(r[1])
	}
	return r[1], nil
}

// preview is m shortened for the live list of sessions, as the session
// hash keeps it (kf.Preview.Stored).
func preview(m Message, now time.Time) string {
	it := kf.Item{Direction: "out", Author: "system", Kind: string(m.Kind), Type: m.MsgType, Content: m.Content, At: now.UnixMilli()}
	if m.Kind == KindAgent {
		it.Author, it.Agent = "agent", m.Agent
	}
	return it.Preview().Stored()
}

// customMessage builds the custom/send body of m.
func customMessage(m Message) (wxapi.CustomMessage, error) {
	var cm wxapi.CustomMessage
	typ := m.MsgType
	if typ == "" || typ == string(wxapi.MsgText) {
		if m.Content == "" {
			return cm, errors.New("a text message needs content") // WeChat: 44004
		}
		cm = wxapi.TextMessage(m.OpenID, m.Content)
	} else {
		if len(m.Body) == 0 {
			return cm, fmt.Errorf("a %s message needs a body", typ)
		}
		raw, err := json.Marshal(map[string]any{"msgtype": typ, typ: m.Body})
		if err != nil {
			return cm, fmt.Errorf("%s body: %w", typ, err)
		}
		if err := json.Unmarshal(raw, &cm); err != nil {
			return cm, fmt.Errorf("%s body: %w", typ, err)
		}
		// A msgtype wxapi does not know leaves no field of its name set.
		again, _ := json.Marshal(cm)
		var set map[string]json.RawMessage
		if err := json.Unmarshal(again, &set); err != nil || set[typ] == nil {
			return cm, fmt.Errorf("unknown msgtype %q", typ)
		}
		cm.ToUser = m.OpenID
	}
	if m.KfAccount != "" {
		cm.CustomService = &wxapi.CustomService{KfAccount: m.KfAccount}
	}
	return cm, nil
}

// messageOf reads an outbox entry: Enqueue's fields or the engine's.
func messageOf(v map[string]any) Message {
	s := func(k string) string { x, _ := v[k].(string); return x }
	m := Message{Account: s("account"), OpenID: s("openid"), Session: s("session"), Kind: Kind(s("kind")),
		MsgType: s("msgtype"), Content: s("content"), KfAccount: s("kf_account"), Agent: s("agent"), Ref: s("ref")}
	if b := s("body"); b != "" {
		m.Body = json.RawMessage(b)
	}
	return m
}

// Status is the last recorded status of a message.
type Status struct {
	Status   string // queued, sent, failed
	Reason   string
	Code     string
	ErrCode  int
	Attempts int
	At       time.Time
}

// Status returns the status of message id, kf.ErrNotFound if none is
// recorded (an engine notice before its first final state, or older than
// 7 days).
func (b *Outbox) Status(ctx context.Context, id string) (Status, error) {
	h, err := b.rdb.HGetAll(ctx, b.stream()+":status:"+id).Result()
	if err != nil {
		return Status{}, kf.Wrap(kf.KindUnavailable, "redis", err, "the outbox is unavailable")
	}
	if len(h) == 0 {
		return Status{}, kf.Errorf(kf.KindNotFound, "not_found", "no message %s", id)
	}
	n := func(k string) int64 { x, _ := strconv.ParseInt(h[k], 10, 64); return x }
	return Status{Status: h["status"], Reason: h["reason"], Code: h["code"], ErrCode: int(n("errcode")),
		Attempts: int(n("attempts")), At: time.UnixMilli(n("at"))}, nil
}

// Backlog returns how many entries are not final yet: pending (read, not
// acked) plus lag (not read yet) of the group.
func (b *Outbox) Backlog(ctx context.Context) (int64, error) {
	groups, err := b.rdb.XInfoGroups(ctx, b.stream()).Result()
	if err != nil {
		if isNoStream(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("outbox backlog: %w", err)
	}
	for _, g := range groups {
		if g.Name == b.group {
			lag := g.Lag
			if lag < 0 { // unknown after a deletion inside the range: estimate
				n, err := b.rdb.XLen(ctx, b.stream()).Result()
				if err != nil {
					return 0, fmt.Errorf("outbox backlog: %w", err)
				}
				lag = max(n-g.EntriesRead, 0)
			}
			return g.Pending + lag, nil
		}
	}
	n, err := b.rdb.XLen(ctx, b.stream()).Result() // no group yet: nothing was read
	return n, err
}

func isNoStream(err error) bool {
	return redis.HasErrorPrefix(err, "no such key") // go-redis drops the "ERR " before comparing
}
