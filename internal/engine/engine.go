// Package engine is the conversation engine: it takes each message the
// intake accepted, finds the user's session and agent (routing), and moves
// sessions through their states — queue, transfer, close, idle expiry —
// through the atomic scripts of package session. Every replica runs one;
// they share all state in Redis.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/scheduler"
	"github.com/kfgate/kfgate/internal/session"
)

// Config is what the engine decides by.
type Config struct {
	Strategy map[string]routing.Strategy // per account; default consistent_hash
	Keywords []string                    // a user text equal to one asks for another agent; default 转人工, 人工
	// Per account: a menu click's EventKey → the skill it asks for, and a
	// word in the user's message → the skill it needs.
	MenuSkills map[string]map[string]string
	TextSkills map[string]map[string]string

	QueueNotice     string // to a user who must wait; "{position}" is replaced
	QueueLimit      int    // users one queue holds; 0 = no limit
	QueueFullNotice string // to a user turned away by a full queue
	OffHoursNotice  string // to a user writing outside the account's business hours
	NoAgentNotice   string // to a user of an account no agent serves
	WarnNotice      string // before an idle session closes
	CloseNotice     string // when it closes for idleness

	Hours map[string]kf.Hours // business hours per account; none = always open
	// TransferAfter hands a session its agent has served this long to the
	// least loaded other agent who can take it now; 0 = never.
	TransferAfter time.Duration
	OfflineAfter  time.Duration // an agent silent this long goes offline; default 90s

	SnapshotTTL time.Duration // how long a snapshot of the agents is used for routing; default 1s

	QueuedNextNotice   string // instead of QueueNotice when nobody is ahead
	QueueUpdateNotice  string // a waiting user's better place: "{ahead}", "{position}"
	QueueTimeoutNotice string // the wait reached QueueTimeout: "{minutes}"
	LeaveMessageNotice string // the same with LeaveMessage: "{minutes}"
	Greeting           string // when an agent takes a session: "{agent}"; "" = none
	SurveyChoices      []string
	// Accounts override the texts above per account, field by field.
	Accounts  map[string]Texts
	HoursText map[string]string // per account: its business hours, for "{hours}"

	// QueueUpdatePlaces and QueueUpdateEvery: a waiting user is told a
	// place improved by that many places, or that long after the last
	// notice; 0 = off.
	QueueUpdatePlaces int
	QueueUpdateEvery  time.Duration
	// QueueTimeout ends a wait this long (closed, or, with LeaveMessage,
	// kept for a message to the next agent); 0 = never.
	QueueTimeout time.Duration
	LeaveMessage bool
	// ReplySLA: how long an agent may owe an answer (first and later ones)
	// before the session is overdue; 0 = no limit. OverdueTransferAfter
	// then moves it to another agent; 0 = never.
	ReplySLA             struct{ First, Next time.Duration }
	OverdueTransferAfter time.Duration
	// ReassignAfter: an agent offline this long loses its users to others
	// (or the front of the queue); 0 = never.
	ReassignAfter time.Duration
	NoAgentEvery  time.Duration // the no_agent notice at most this often per user; default 10m
	// MinRating: agents rated below it get new users only when no other
	// agent can take them; 0 = off. RatingWindow: answers a score averages.
	MinRating    float64
	RatingWindow int

	// WeChat: the accounts whose agents are their kf accounts, working in
	// WeChat's own customer-service tool (wechat.go).
	WeChat map[string]WeChatAccount

	// Fault, in tests, fails the handling of a message for which it returns
	// an error (a poison message); nil in production.
	Fault func(*kf.Message) error
}

// Engine routes the messages of every account.
type Engine struct {
	store  *session.Store
	router *routing.Router
	rdb    redis.Cmdable
	prefix string
	cfg    Config
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	snapshot []routing.Agent
	taken    time.Time

	tags atomic.Pointer[tagSkills] // WeChat user tags as skills (tags.go)
}

// New returns an Engine.
func New(store *session.Store, router *routing.Router, rdb redis.Cmdable, prefix string, cfg Config, log *slog.Logger) *Engine {
	if cfg.Keywords == nil {
		cfg.Keywords = []string{"转人工", "人工"}
	}
	if cfg.SnapshotTTL == 0 {
		cfg.SnapshotTTL = time.Second
	}
	if cfg.OfflineAfter == 0 {
		cfg.OfflineAfter = 90 * time.Second
	}
	if cfg.NoAgentEvery <= 0 {
		cfg.NoAgentEvery = 10 * time.Minute
	}
	if cfg.RatingWindow <= 0 {
		cfg.RatingWindow = 20
	}
	return &Engine{store: store, router: router, rdb: rdb, prefix: prefix, cfg: cfg, log: log, now: time.Now}
}

// SetClock replaces the engine's clock (tests).
func (e *Engine) SetClock(now func() time.Time) { e.now = now }

// agents returns a snapshot of the agents, fresh when asked.
func (e *Engine) agents(ctx context.Context, fresh bool) ([]routing.Agent, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !fresh && e.snapshot != nil && e.now().Sub(e.taken) < e.cfg.SnapshotTTL {
		return e.snapshot, nil
	}
	all, err := e.store.Agents(ctx)
	if err != nil {
		return nil, err
	}
	snap := make([]routing.Agent, len(all))
	for i, a := range all {
		snap[i] = routing.Agent{ID: a.ID, Accounts: a.Accounts, Skills: a.Skills, Weight: a.Weight,
			MaxSessions: a.MaxSessions, Load: a.Load, Status: a.Status, LastAssigned: a.LastAssigned, Rating: a.Rating}
	}
	e.snapshot, e.taken = snap, e.now()
	return snap, nil
}

// strategy returns the account's routing strategy.
func (e *Engine) strategy(account string) routing.Strategy {
	if s := e.cfg.Strategy[account]; s != "" {
		return s
	}
	return routing.ConsistentHash
}

// pick asks the router for an agent; "" when none is available, with
// ErrNoAgent when no agent serves the account at all. Agents rated below
// MinRating are asked only when no other agent can take the user. It
// also reports whether no agent of the account and skill is online.
// Round robin is not decided here: the inbound script rotates, so that
// only new assignments move the rotation, strictly across replicas.
func (e *Engine) pick(ctx context.Context, req routing.Request, fresh bool) (string, bool, error) {
	agents, err := e.agents(ctx, fresh)
	if err != nil {
		return "", false, err
	}
	nobody := nobodyOnline(agents, req.Account, req.Skill)
	strategy := e.strategy(req.Account)
	if strategy == routing.RoundRobin {
		if !slices.ContainsFunc(agents, func(a routing.Agent) bool { return slices.Contains(a.Accounts, req.Account) }) {
			return "", nobody, routing.ErrNoAgent
		}
		return "", nobody, nil
	}
	if low := e.lowRated(agents); len(low) > 0 {
		r := req
		r.Exclude = append(slices.Clone(req.Exclude), low...)
		if id, err := e.router.Pick(strategy, r, agents, 0); err == nil {
			return id, nobody, nil
		}
	}
	id, err := e.router.Pick(strategy, req, agents, 0)
	if errors.Is(err, routing.ErrNoneAvailable) {
		return "", nobody, nil
	}
	return id, nobody, err
}

// maxAttempts bounds routing retries after conflicts: each conflict means
// another replica changed the agents meanwhile, and the next attempt uses a
// fresh snapshot.
const maxAttempts = 16

// itemOf is what the event, the context list and the agent get of a
// user's message: every field WeChat sent, and where kfgate serves its
// media.
func itemOf(m *kf.Message, now time.Time) kf.Item {
	it := kf.ItemOf(m, now.UnixMilli())
	switch m.Type {
	case kf.MsgImage, kf.MsgVoice, kf.MsgVideo, kf.MsgShortVideo:
		if m.MediaID != "" {
			it.MediaURL = media.URL(m.Account, m.MediaID)
		}
		if m.ThumbMediaID != "" {
			it.ThumbMediaURL = media.URL(m.Account, m.ThumbMediaID)
		}
	}
	return it
}

// userActions are the events that show what a user did in the
// conversation (a menu, a scan, a picked place): recorded in the user's
// live session, if any, for the agent to see; they open none unless a
// menu click asks for a skill.
var userActions = map[kf.EventType]bool{
	kf.EventClick: true, kf.EventView: true, kf.EventScan: true, kf.EventSubscribe: true,
	kf.EventScancodePush: true, kf.EventScancodeWaitmsg: true, kf.EventPicSysphoto: true,
	kf.EventPicPhotoOrAlbum: true, kf.EventPicWeixin: true, kf.EventLocationSelect: true,
	kf.EventViewMiniprogram: true,
}

// Entry identifies the intake entry a message came from, acknowledged in
// the same atomic step that records the message.
type Entry struct{ Stream, Group, ID string }

// Handle processes one accepted message from the intake.
func (e *Engine) Handle(ctx context.Context, m *kf.Message, entry Entry) error {
	now := e.now()
	if e.cfg.Fault != nil {
		if err := e.cfg.Fault(m); err != nil {
			return err
		}
	}
	if m.Type == kf.MsgText && m.BizMsgMenuID != "" {
		// A click on a survey choice answers the survey, if one is open,
		// and rates the agent who served the session.
		sid, err := e.store.Rate(ctx, m.Account, m.OpenID, m.BizMsgMenuID, m.Content, e.rating(m.Account, m.BizMsgMenuID), now)
		if err != nil {
			return err
		}
		if sid != "" {
			return e.ack(ctx, entry)
		}
	}
	if m.IsEvent() && isKfEvent(m.Event) {
		if err := e.kfEvent(ctx, m); err != nil {
			return err
		}
		return e.ack(ctx, entry)
	}
	skill, routable := e.skillOf(m)
	// The user's tags are read (a cached user/info) only when the message
	// opens a session: the inbound script says so with the outcome "skill".
	tagged := routable && skill == "" && !m.IsEvent() && e.hasTagSkills(m.Account)
	onlyLive := false
	if !routable {
		if m.IsEvent() && m.Event == kf.EventUnsubscribe {
			if _, err := e.Close(ctx, m.Account, m.OpenID, "", "user", "unsubscribe"); err != nil && !errors.Is(err, session.ErrNoSession) {
				return err
			}
		}
		if !m.IsEvent() || !userActions[m.Event] {
			return e.ack(ctx, entry)
		}
		onlyLive = true
	}
	if m.Type == kf.MsgText && slices.Contains(e.cfg.Keywords, strings.TrimSpace(m.Content)) {
		s, err := e.store.Session(ctx, m.Account, m.OpenID)
		if err == nil && s.State == kf.StateServing {
			if _, err := e.Transfer(ctx, m.Account, m.OpenID, "", s.Skill, "user", "keyword"); err != nil {
				return err
			}
		}
	}
	item := itemOf(m, now)
	body, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("engine: encode the message: %w", err)
	}
	preview, _ := json.Marshal(item.Preview())
	grant, window := 5, 48*time.Hour // docs/wechat.md, "The 48-hour window and reply quota"
	if m.IsEvent() {
		grant, window = 3, time.Minute
	}
	texts := e.texts(m.Account)
	in := session.Inbound{Account: m.Account, OpenID: m.OpenID, Now: now, SessionID: newID(), Skill: skill,
		Message: body, QuotaGrant: grant, QuotaWindow: window, QueueNotice: texts.Queued,
		QueueLimit: e.cfg.QueueLimit, QueueFullNotice: texts.QueueFull,
		Stream: entry.Stream, Group: entry.Group, EntryID: entry.ID, Preview: preview, OnlyLive: onlyLive,
		QueuedNextNotice: texts.QueuedNext, NoAgentNotice: texts.NoAgent, NoAgentEvery: e.cfg.NoAgentEvery,
		RoundRobin: e.strategy(m.Account) == routing.RoundRobin, MinRating: e.cfg.MinRating, Greeting: texts.Greeting,
		SkillUnknown: tagged}
	if onlyLive {
		_, err := e.store.Inbound(ctx, in)
		return err
	}
	if hours, ok := e.cfg.Hours[m.Account]; ok && !hours.Open(now) {
		in.Gate, in.GateNotice = "off_hours", texts.OffHours
	}
	for attempt := range maxAttempts {
		// With nobody online (or no agent for the account at all) the user
		// queues and hears the no_agent notice, once per NoAgentEvery.
		proposed, nobody, err := e.pick(ctx, routing.Request{Account: m.Account, OpenID: m.OpenID, Skill: skill}, attempt > 0)
		if err != nil && !errors.Is(err, routing.ErrNoAgent) {
			return err
		}
		in.Proposed, in.NobodyOnline = proposed, nobody
		res, err := e.store.Inbound(ctx, in)
		if errors.Is(err, session.ErrConflict) {
			continue
		}
		if err == nil && res.Outcome == "skill" {
			// A new session: now its skill is worth the lookup, and the
			// router is asked again with it (not counted as an attempt).
			skill = e.tagSkill(ctx, m.Account, m.OpenID)
			in.Skill, in.SkillUnknown = skill, false
			proposed, nobody, err = e.pick(ctx, routing.Request{Account: m.Account, OpenID: m.OpenID, Skill: skill}, attempt > 0)
			if err != nil && !errors.Is(err, routing.ErrNoAgent) {
				return err
			}
			in.Proposed, in.NobodyOnline = proposed, nobody
			res, err = e.store.Inbound(ctx, in)
			if errors.Is(err, session.ErrConflict) {
				continue
			}
		}
		if err == nil && res.Outcome == "queued" && proposed != "" {
			// The user joined a queue while the router saw room: whoever
			// waits first gets it.
			e.drainAgent(ctx, proposed)
		}
		if err == nil && res.Outcome == "queued" && in.RoundRobin && res.Position > 1 {
			e.drainFree(ctx, m.Account, skill)
		}
		return err
	}
	return fmt.Errorf("engine: no stable routing for %s after %d attempts", m.OpenID, maxAttempts)
}

// skillOf says whether m asks for an agent and with which skill: user
// messages do, and menu clicks mapped to a skill; other events do not.
func (e *Engine) skillOf(m *kf.Message) (string, bool) {
	if m.IsEvent() {
		skill, ok := e.cfg.MenuSkills[m.Account][m.EventKey]
		return skill, ok && m.Event == kf.EventClick
	}
	for word, skill := range e.cfg.TextSkills[m.Account] {
		if strings.Contains(m.Content, word) {
			return skill, true
		}
	}
	return "", true
}

func (e *Engine) ack(ctx context.Context, entry Entry) error {
	if entry.ID == "" {
		return nil
	}
	return e.rdb.XAck(ctx, entry.Stream, entry.Group, entry.ID).Err()
}

// Transfer moves the user's serving session to agent to, or, with to "",
// to the least loaded other agent with the skill, or else the skill's queue.
func (e *Engine) Transfer(ctx context.Context, account, openid, to, skill, actor, reason string) (string, error) {
	return e.transfer(ctx, account, openid, to, skill, actor, reason, false)
}

// transfer is Transfer; with front, a user nobody can take goes to the
// front of the queue (they waited already).
func (e *Engine) transfer(ctx context.Context, account, openid, to, skill, actor, reason string, front bool) (string, error) {
	s, err := e.store.Session(ctx, account, openid)
	if err != nil {
		return "", err
	}
	for attempt := range maxAttempts {
		target := to
		if target == "" {
			if attempt > 0 {
				e.invalidate()
			}
			if target, err = e.pickOther(ctx, account, openid, skill, s.Agent); err != nil {
				return "", err
			}
		}
		got, err := e.store.TransferFront(ctx, account, openid, target, skill, actor, reason, front, e.now())
		if errors.Is(err, session.ErrConflict) && to == "" {
			continue
		}
		if err != nil {
			return "", err
		}
		if s.Agent != "" {
			e.drainAgent(ctx, s.Agent)
		}
		return got, nil
	}
	return "", fmt.Errorf("engine: no stable transfer target after %d attempts", maxAttempts)
}

// Close closes the user's session and gives the freed capacity to whoever waits.
func (e *Engine) Close(ctx context.Context, account, openid, sessionID, actor, reason string) (string, error) {
	freed, err := e.store.Close(ctx, account, openid, sessionID, actor, reason, "", e.now())
	if err != nil {
		return "", err
	}
	if freed != "" {
		e.drainAgent(ctx, freed)
	}
	return freed, nil
}

// SetStatus sets an agent's status; an agent coming online takes waiting users.
func (e *Engine) SetStatus(ctx context.Context, agent string, status kf.AgentStatus) error {
	if _, err := e.store.SetStatus(ctx, agent, status, e.now()); err != nil {
		return err
	}
	e.invalidate()
	if status == kf.AgentOnline {
		e.drainAgent(ctx, agent)
	}
	return nil
}

// Heartbeat records that an agent is there (its WebSocket, or a heartbeat
// every 30 s); an agent back from the presence sweep takes waiting users.
func (e *Engine) Heartbeat(ctx context.Context, agent string) (kf.AgentStatus, error) {
	status, changed, err := e.store.Heartbeat(ctx, agent, e.now())
	if err != nil {
		return "", err
	}
	if changed {
		e.invalidate()
		if status == kf.AgentOnline {
			e.drainAgent(ctx, agent)
		}
	}
	return status, nil
}

// PutAgent creates or updates an agent; more capacity takes waiting users.
func (e *Engine) PutAgent(ctx context.Context, a kf.Agent) error {
	if err := e.store.PutAgent(ctx, a, e.now()); err != nil {
		return err
	}
	e.invalidate()
	e.drainAgent(ctx, a.ID)
	return nil
}

// RemoveAgent takes an agent out of routing; its users are transferred to
// whoever can take them.
func (e *Engine) RemoveAgent(ctx context.Context, id string) error {
	accounts, err := e.store.RemoveAgent(ctx, id, e.now())
	if err != nil {
		return err
	}
	return e.reassign(ctx, accounts)
}

// ReleaseAgent takes an agent whose access was revoked out of routing at
// once: it goes offline (until it sets its status again, with a new token)
// and its users are transferred to whoever can take them, as RemoveAgent
// does.
func (e *Engine) ReleaseAgent(ctx context.Context, id string) error {
	accounts, err := e.store.ReleaseAgent(ctx, id, e.now())
	if err != nil {
		return err
	}
	return e.reassign(ctx, accounts)
}

// reassign gives the users queued again by RemoveAgent or ReleaseAgent to
// the agents of their accounts that have room.
func (e *Engine) reassign(ctx context.Context, accounts []string) error {
	e.invalidate()
	agents, err := e.agents(ctx, true)
	if err != nil {
		return err
	}
	for _, a := range agents {
		if slices.ContainsFunc(a.Accounts, func(acct string) bool { return slices.Contains(accounts, acct) }) {
			e.drainAgent(ctx, a.ID)
		}
	}
	return nil
}

// Session returns a live session; a kf not-found error when there is none.
func (e *Engine) Session(ctx context.Context, id string) (kf.Session, error) {
	s, err := e.store.SessionByID(ctx, id)
	if errors.Is(err, session.ErrNoSession) {
		return kf.Session{}, kf.Errorf(kf.KindNotFound, "no_session", "no live session %q", truncate(id))
	}
	return s, err
}

// Recent returns the last messages of a live session, oldest first, as the
// JSON the context list keeps.
func (e *Engine) Recent(ctx context.Context, s kf.Session) ([]string, error) {
	return e.store.Context(ctx, s.Account, s.OpenID)
}

// LiveList returns a page of the live sessions, the most recently active
// first (see session.Store.ListLive).
func (e *Engine) LiveList(ctx context.Context, f session.LiveFilter) (session.LivePage, error) {
	return e.store.ListLive(ctx, f, e.now())
}

// IndexLive indexes, once per Redis, the live sessions an earlier version
// opened (see session.Store.IndexLive); serve calls it at start.
func (e *Engine) IndexLive(ctx context.Context) (int, error) { return e.store.IndexLive(ctx) }

// LiveSession returns the live view of a live session; a kf not-found
// error when there is none.
func (e *Engine) LiveSession(ctx context.Context, id string) (session.Live, error) {
	l, err := e.store.LiveSession(ctx, id, e.now())
	if errors.Is(err, session.ErrNoSession) {
		return session.Live{}, kf.Errorf(kf.KindNotFound, "no_session", "no live session %q", truncate(id))
	}
	return l, err
}

// Waiting returns who waits for (account, skill), first first, with since when.
func (e *Engine) Waiting(ctx context.Context, account, skill string) ([]session.Waiting, error) {
	return e.store.QueueSince(ctx, account, skill)
}

// Queue returns who waits for (account, skill), first first.
func (e *Engine) Queue(ctx context.Context, account, skill string) ([]string, error) {
	return e.store.Queue(ctx, account, skill)
}

// Agents returns every agent's routing view: status and load.
func (e *Engine) Agents(ctx context.Context) ([]kf.Agent, error) { return e.store.Agents(ctx) }

// AgentSessions returns the live sessions an agent serves.
func (e *Engine) AgentSessions(ctx context.Context, id string) ([]kf.Session, error) {
	return e.store.AgentSessions(ctx, id)
}

func (e *Engine) invalidate() {
	e.mu.Lock()
	e.snapshot = nil
	e.mu.Unlock()
}

// drainFree drains the queue of (account, skill) to every agent that has
// room for it in the current snapshot.
func (e *Engine) drainFree(ctx context.Context, account, skill string) {
	agents, err := e.agents(ctx, true)
	if err != nil {
		return
	}
	for _, a := range agents {
		if routing.Eligible(routing.Request{Account: account, Skill: skill}, a) {
			e.drainAgent(ctx, a.ID)
		}
	}
}

// drainAgent gives the agent waiting users while it has room: from every
// queue of its accounts whose skill it has.
func (e *Engine) drainAgent(ctx context.Context, agent string) {
	agents, err := e.agents(ctx, true)
	if err != nil {
		e.log.Warn("drain: cannot read agents", "err", err)
		return
	}
	i := slices.IndexFunc(agents, func(a routing.Agent) bool { return a.ID == agent })
	if i < 0 {
		return
	}
	a := agents[i]
	for _, account := range a.Accounts {
		greeting := e.texts(account).Greeting
		for _, skill := range append([]string{""}, a.Skills...) {
			for {
				openid, err := e.store.DrainGreeting(ctx, account, skill, agent, greeting, e.now())
				if err != nil || openid == "" {
					break
				}
			}
		}
	}
}

// Jobs are the engine's timed work for the scheduler, each run every
// period: the presence sweep (agents silent for OfflineAfter go offline),
// idle expiry (warnings and closes that are due) and, when TransferAfter is
// set, the transfer-after rule. Each claims what is due atomically, so
// every replica runs them.
func (e *Engine) Jobs(every time.Duration) []scheduler.Job {
	jobs := []scheduler.Job{
		{Name: "presence", Every: every, Run: e.SweepPresence},
		{Name: "idle", Every: every, Run: e.ExpireIdle},
	}
	if e.cfg.TransferAfter > 0 {
		jobs = append(jobs, scheduler.Job{Name: "transfer_after", Every: every, Run: e.transferLong})
	}
	return append(jobs, e.customerJobs(every)...)
}

// Tick runs every job of the engine once, in order (tests and tools).
func (e *Engine) Tick(ctx context.Context) (int, error) {
	total := 0
	for _, j := range e.Jobs(time.Second) {
		n, err := j.Run(ctx)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// SweepPresence sets the agents silent for OfflineAfter offline.
func (e *Engine) SweepPresence(ctx context.Context) (int, error) {
	gone, err := e.store.Sweep(ctx, e.now().Add(-e.cfg.OfflineAfter), 100)
	if err != nil {
		return 0, err
	}
	if len(gone) > 0 {
		e.invalidate()
		e.log.Info("agents went silent and are offline", "agents", gone)
	}
	return len(gone), nil
}

// ExpireIdle warns and closes the idle sessions that are due, each claimed
// by exactly one replica; closed sessions free their agents.
func (e *Engine) ExpireIdle(ctx context.Context) (int, error) {
	texts := map[string]session.IdleTexts{}
	for _, account := range append(e.accounts(), "") {
		t := e.texts(account)
		texts[account] = session.IdleTexts{Warning: t.IdleWarning, Closing: t.IdleClosed, Survey: e.store.Survey(account)}
	}
	due, err := e.store.TickFor(ctx, e.now(), 100, texts)
	if err != nil {
		return 0, err
	}
	for _, d := range due {
		if d.Freed != "" {
			e.drainAgent(ctx, d.Freed)
		}
	}
	return len(due), nil
}

// transferLong applies the transfer-after rule: a session served longer
// than TransferAfter moves to another agent with room; if nobody has room,
// it stays and is looked at again a period later (never queued by the rule).
func (e *Engine) transferLong(ctx context.Context) (int, error) {
	long, err := e.store.LongServed(ctx, e.now().Add(-e.cfg.TransferAfter), 100)
	if err != nil {
		return 0, err
	}
	for _, l := range long {
		agents, err := e.agents(ctx, true)
		if err != nil {
			return 0, err
		}
		to, err := e.router.Pick(routing.LeastLoaded, routing.Request{Account: l.Account, OpenID: l.OpenID, Skill: l.Skill,
			Exclude: []string{l.Agent}}, agents, 0)
		if err == nil {
			_, err = e.Transfer(ctx, l.Account, l.OpenID, to, l.Skill, "rule", "served longer than "+e.cfg.TransferAfter.String())
		}
		if err != nil {
			// nobody free, or the target filled up: try again next period
			if err := e.store.Served(ctx, l.Account, l.OpenID, e.now()); err != nil {
				return 0, err
			}
		}
	}
	return len(long), nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
