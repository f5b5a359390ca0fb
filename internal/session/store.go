// Package session keeps conversations in Redis: each session, agent load,
// queue, context and deadline, changed only by Lua scripts so that every
// transition is one atomic step however many replicas run. Two replicas can
// never put a user in two live sessions (one key per account and user) or an
// agent over max_sessions (the script checks capacity where it assigns).
//
// Routing decisions are made in Go (package routing) from a snapshot of the
// agents that may be stale; a script that finds the proposed agent can no
// longer take the user answers "conflict" and changes nothing, and the
// caller routes again with a fresh snapshot.
package session

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// EventsStream is the name, after the prefix, of the stream of session
// events (their JSON: docs/events.md). The session scripts write most of
// them, the outbox message.status, the engine message.received and the
// desk's tools note.added; the archive and the media worker read it, each
// in its consumer group.
const EventsStream = "events"

//go:embed lua/*.lua
var luaFiles embed.FS

func script(name string) *redis.Script {
	common, err := luaFiles.ReadFile("lua/common.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return redis.NewScript(string(common) + "\n" + string(body))
}

var (
	inboundScript  = script("inbound")
	drainScript    = script("drain")
	transferScript = script("transfer")
	closeScript    = script("close")
	tickScript     = script("tick")
	agentScript    = script("agent")
	statusScript   = script("status")
	beatScript     = script("heartbeat")
	sweepScript    = script("sweep")
	removeScript   = script("remove")
	longScript     = script("long")
	answerScript   = script("answer")
	recountScript  = script("recount")
	firstScript    = script("firstreply")
)

// Errors of a transition refused on purpose.
var (
	ErrNoSession  = kf.Errorf(kf.KindNotFound, "no_session", "the user has no live session")
	ErrNotServing = kf.Errorf(kf.KindConflict, "not_serving", "the session is not being served")
	ErrNoAgent    = kf.Errorf(kf.KindNotFound, "no_agent", "no such agent")
	// ErrConflict means the proposed agent could not take the session after
	// all (another replica was faster): route again with a fresh snapshot.
	ErrConflict = kf.Errorf(kf.KindConflict, "conflict", "routing raced another replica")
)

// Options are the engine's timing and text settings the scripts apply.
type Options struct {
	ContextSize  int           // messages kept for replay on transfer
	IdleTimeout  time.Duration // a session with no user message this long closes
	WarnBefore   time.Duration // the user is warned this long before
	ReturnWindow time.Duration // a returning user goes back to the last agent within this
	Reserve      int           // reply units automatic notices never spend
	// Survey is the msgmenu body sent when a session closes ("" = none),
	// open for SurveyOpen (default 24h).
	Survey     string
	SurveyOpen time.Duration
	// SurveyFor overrides Survey per account ("" = no survey there).
	SurveyFor map[string]string
}

// Options returns the options the store was made with.
func (s *Store) Options() Options { return s.opts }

// Survey returns the survey msgmenu body for account's users ("" = none).
func (s *Store) Survey(account string) string {
	if body, ok := s.opts.SurveyFor[account]; ok {
		return body
	}
	return s.opts.Survey
}

// Store is the Redis side of the conversation engine.
type Store struct {
	rdb    redis.Cmdable
	prefix string
	opts   Options
	obs    Observer
	runner ScriptRunner
	fn     atomic.Int32 // fnUnknown, fnYes, fnNo
	// fnTried is when FUNCTION LOAD was last sent (Unix ns).
	fnTried atomic.Int64
}

// ScriptRunner sends the one command do issues (a script's EVALSHA or a
// function's FCALL); a redisconn.Batcher sends those started at once in
// one pipeline.
type ScriptRunner interface {
	Do(ctx context.Context, do func(ctx context.Context, c redis.Cmdable) *redis.Cmd) *redis.Cmd
}

// Pipelined makes Inbound go through r: the engine handles several users'
// messages at once, and their calls then share a round trip.
func (s *Store) Pipelined(r ScriptRunner) { s.runner = r }

// The inbound script, the one every message runs, is also a Redis Function
// (FUNCTION LOAD, Redis ≥ 7.0): a script runs common.lua's definitions
// again at every call, a function library once when loaded, which spares
// about a tenth of Redis's work per message (make instructions). A server
// without functions (the embedded miniredis) gets the script. Functions
// belong to the server, not to a key prefix: the library's name holds a
// hash of its code, so that deployments of different versions sharing a
// Redis each run their own.
var inboundFunction, inboundLibrary = func() (string, string) {
	common, err := luaFiles.ReadFile("lua/common.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFiles.ReadFile("lua/inbound.lua")
	if err != nil {
		panic(err)
	}
	// common.lua's prefix and the arguments become the library's, set at
	// each call (Redis runs one call at a time).
	const head = "local P = ARGV[1]\n"
	if !strings.Contains(string(common), head) {
		panic("session: common.lua no longer starts its prefix with " + head)
	}
	code := strings.Replace(string(common), head, "local P, ARGV\n", 1) + "\n" + string(body)
	sum := sha1.Sum([]byte(code))
	name := "kfgate_inbound_" + hex.EncodeToString(sum[:6])
	return name, "#!lua name=" + name + "\n" + strings.Replace(code, "\n"+string(body),
		"\nredis.register_function('"+name+"', function(_, args)\nARGV = args\nP = args[1]\n"+string(body)+"\nend)\n", 1)
}()

// Whether Redis runs the inbound function: 0 not known yet, 1 yes, 2 no
// (the script instead).
const (
	fnUnknown int32 = iota
	fnYes
	fnNo
)

// fnRetry is how long a store whose FUNCTION LOAD met a passing error
// (a failover's READONLY or LOADING) runs the script before it tries again.
const fnRetry = time.Second

// inbound runs the inbound function, or script, with args.
func (s *Store) inbound(ctx context.Context, args ...any) *redis.Cmd {
	if s.fn.Load() == fnUnknown && time.Since(time.Unix(0, s.fnTried.Load())) >= fnRetry {
		s.loadInbound(ctx)
	}
	call := func(ctx context.Context, c redis.Cmdable) *redis.Cmd {
		if s.fn.Load() == fnYes {
			return c.FCall(ctx, inboundFunction, nil, args...)
		}
		return inboundScript.EvalSha(ctx, c, nil, args...)
	}
	var cmd *redis.Cmd
	if s.runner != nil {
		cmd = s.runner.Do(ctx, call)
	} else {
		cmd = call(ctx, s.rdb)
	}
	switch err := cmd.Err(); {
	case redis.HasErrorPrefix(err, "NOSCRIPT"):
		// The script's first run on this Redis (or after SCRIPT FLUSH):
		// loaded, and run again.
		return inboundScript.Run(ctx, s.rdb, nil, args...)
	case err != nil && strings.Contains(err.Error(), "Function not found"):
		// A Redis that lost its functions (restarted without its data):
		// loaded again, and the call made once more.
		s.loadInbound(ctx)
		return call(ctx, s.rdb)
	}
	return cmd
}

// loadInbound loads the inbound function library, replacing an earlier
// version's, and notes whether Redis runs functions at all.
func (s *Store) loadInbound(ctx context.Context) {
	s.fnTried.Store(time.Now().UnixNano())
	err := s.rdb.FunctionLoadReplace(ctx, inboundLibrary).Err()
	var refused redis.Error
	switch {
	case err == nil:
		s.fn.Store(fnYes)
	case errors.As(err, &refused) && functionsRefused(err):
		// No FUNCTION command (miniredis), or not for this user (ACL):
		// the script it is.
		s.fn.Store(fnNo)
	default:
		// Redis unreachable, or answering READONLY, LOADING … in a
		// failover: the script for now, the library again after fnRetry.
		s.fn.Store(fnUnknown)
	}
}

// functionsRefused reports whether Redis's answer to FUNCTION LOAD means
// it will never run kfgate's functions, rather than not at the moment.
func functionsRefused(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unknown command") || strings.Contains(msg, "unknown subcommand") ||
		strings.HasPrefix(msg, "noperm")
}

// NewStore returns a Store on rdb whose keys start with prefix.
func NewStore(rdb redis.Cmdable, prefix string, opts Options) *Store {
	return &Store{rdb: rdb, prefix: prefix, opts: opts}
}

func ms(t time.Time) int64      { return t.UnixMilli() }
func dms(d time.Duration) int64 { return d.Milliseconds() }

// idleMs is a served session's idle_ms: how long the user may stay silent,
// after the agent wrote, before the idle warning (idle_timeout less
// warn_before); the scripts keep it in the session's hash for the outbox.
func (s *Store) idleMs() int64   { return dms(s.opts.IdleTimeout - s.opts.WarnBefore) }
func list(items []string) string { return "," + strings.Join(items, ",") + "," }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Inbound is a user's message for the engine.
type Inbound struct {
	Account, OpenID string
	Now             time.Time
	SessionID       string // used if a new session opens
	Proposed        string // the agent the router picked; "" when it found none
	Skill           string
	Message         []byte // JSON kept in the context and sent to the agent
	QuotaGrant      int    // reply units this message grants (5 for a message, 3 for a click …)
	QuotaWindow     time.Duration
	QueueNotice     string // text for a user who must wait; "{position}" is replaced
	QueueLimit      int    // users one queue holds; 0 = no limit
	QueueFullNotice string // text for a user turned away by a full queue
	// Gate, when set, is why no new session may open ("off_hours",
	// "no_agent"); GateNotice tells the user. An existing session goes on.
	Gate, GateNotice string
	// The intake entry acknowledged in the same step, if any.
	Stream, Group, EntryID string
	// Preview is the message's Preview as JSON, for the live list (kept
	// as kf.Preview.Stored, cut to fit the session hash's compact encoding).
	Preview []byte
	// OnlyLive records the message only in the user's live session, if
	// any: it opens none (outcome "none").
	OnlyLive bool
	// QueuedNextNotice replaces QueueNotice for the first in the queue
	// (nobody ahead); QueueNotice's "{ahead}" and "{position}" are replaced.
	QueuedNextNotice string
	// NobodyOnline: no agent of the account and skill is online. A user
	// who must queue gets NoAgentNotice instead of the queue notice, at
	// most once per NoAgentEvery.
	NobodyOnline  bool
	NoAgentNotice string
	NoAgentEvery  time.Duration
	// RoundRobin lets the script pick the agent of a new session: the next
	// after the one that got the account's last new user (Proposed unused).
	RoundRobin bool
	MinRating  float64 // with RoundRobin: agents rated below it go last; 0 = off
	Greeting   string  // sent when an agent takes the session; "{agent}" = its name
	// SkillUnknown: the skill is not known yet and costs a lookup (WeChat
	// user tags). A message that would open a session then changes
	// nothing and has the outcome "skill": call again with Skill set.
	SkillUnknown bool
}

// InboundResult is what happened to an inbound message.
type InboundResult struct {
	Outcome string // forwarded, assigned, queued, rejected, none (OnlyLive and no session) or skill (SkillUnknown and a new session)
	// State is the session's state; for a rejected message, the reason
	// (queue_full, off_hours, no_agent).
	State     kf.State // of the session after the message
	Agent     string
	SessionID string
	Position  int // in the queue, when waiting
}

// Inbound records a user's message in the user's live session, or opens one:
// assigned to in.Proposed, or queued when in.Proposed is "". ErrConflict:
// route again.
func (s *Store) Inbound(ctx context.Context, in Inbound) (InboundResult, error) {
	preview := ""
	var p kf.Preview
	if len(in.Preview) > 0 && json.Unmarshal(in.Preview, &p) == nil {
		preview = p.Stored()
	}
	r, err := s.inbound(ctx, s.prefix, in.Account, in.OpenID, ms(in.Now), in.SessionID,
		in.Proposed, in.Skill, in.Message, s.opts.ContextSize, s.idleMs(), "",
		in.QueueNotice, s.opts.Reserve, in.QuotaGrant, ms(in.Now.Add(in.QuotaWindow)), in.Stream, in.Group, in.EntryID,
		in.QueueLimit, in.QueueFullNotice, in.Gate, in.GateNotice, preview, flag(in.OnlyLive), in.QueuedNextNotice,
		flag(in.NobodyOnline), in.NoAgentNotice, max(dms(in.NoAgentEvery), 1), flag(in.RoundRobin), in.MinRating, in.Greeting,
		flag(in.SkillUnknown)).Slice()
	if err != nil {
		return InboundResult{}, s.fail("inbound", err)
	}
	if r[0] == "conflict" {
		return InboundResult{}, ErrConflict
	}
	return InboundResult{Outcome: r[0].(string), State: kf.State(r[1].(string)), Agent: r[2].(string),
		SessionID: r[3].(string), Position: int(r[4].(int64))}, nil
}

// Drain gives the head of the (account, skill) queue to agent. It returns
// the user assigned, "" when the queue is empty; ErrConflict when the agent
// cannot take it.
func (s *Store) Drain(ctx context.Context, account, skill, agent string, now time.Time) (string, error) {
	return s.DrainGreeting(ctx, account, skill, agent, "", now)
}

// DrainGreeting is Drain that sends greeting ("{agent}" = the agent's
// name; "" = none) to the user it assigns.
func (s *Store) DrainGreeting(ctx context.Context, account, skill, agent, greeting string, now time.Time) (string, error) {
	r, err := drainScript.Run(ctx, s.rdb, nil, s.prefix, account, skill, agent, ms(now), greeting, s.opts.Reserve,
		s.idleMs()).StringSlice()
	if err != nil {
		return "", s.fail("drain", err)
	}
	switch r[0] {
	case "conflict":
		return "", ErrConflict
	case "empty":
		return "", nil
	}
	if s.obs != nil && len(r) > 3 {
		s.obs.Waited(account, msDuration(r[3]))
	}
	return r[1], nil
}

// Transfer hands the user's serving session to agent to (proposed by the
// router, excluding the current agent), or, with to "", queues it for the
// skill group. It returns the new agent, "" when queued.
func (s *Store) Transfer(ctx context.Context, account, openid, to, skill, actor, reason string, now time.Time) (string, error) {
	return s.TransferFront(ctx, account, openid, to, skill, actor, reason, false, now)
}

// TransferFront is Transfer that, with front, queues the session at the
// head of its queue rather than the end (its user waited already).
func (s *Store) TransferFront(ctx context.Context, account, openid, to, skill, actor, reason string, front bool, now time.Time) (string, error) {
	r, err := transferScript.Run(ctx, s.rdb, nil, s.prefix, account, openid, to, skill, actor, reason, ms(now), flag(front)).StringSlice()
	if err != nil {
		return "", s.fail("transfer", err)
	}
	if r[0] == "conflict" {
		return "", ErrConflict
	}
	return r[1], nil
}

// Close closes the user's live session (only if its id is sessionID, when
// given) and returns the agent it freed, "" if none.
func (s *Store) Close(ctx context.Context, account, openid, sessionID, actor, reason, notice string, now time.Time) (string, error) {
	r, err := closeScript.Run(ctx, s.rdb, nil, s.prefix, account, openid, actor, reason, ms(now),
		dms(s.opts.ReturnWindow), notice, s.opts.Reserve, sessionID, s.Survey(account), dms(s.surveyOpen())).StringSlice()
	if err != nil {
		return "", s.fail("close", err)
	}
	if s.obs != nil && len(r) > 2 {
		s.obs.Ended(account, msDuration(r[2]))
	}
	return r[0], nil
}

func (s *Store) surveyOpen() time.Duration {
	if s.opts.SurveyOpen > 0 {
		return s.opts.SurveyOpen
	}
	return 24 * time.Hour
}

// Answer records a user's click on a survey choice against the session the
// survey was sent for; it returns that session's id, "" if no survey of
// the user is open (then the text is an ordinary message).
func (s *Store) Answer(ctx context.Context, account, openid, choice, text string, now time.Time) (string, error) {
	return s.Rate(ctx, account, openid, choice, text, Rating{}, now)
}

// Rating is what a survey answer says of the agent who served the session.
type Rating struct {
	Score  float64 // 1 (the lowest choice) to 5 (the best); 0 = not a known choice
	Window int     // the agent's score averages its last Window answers; default 20
	Lowest bool    // the lowest choice: the session is flagged for supervisors
}

// Rate is Answer that also rates the agent who served the session.
func (s *Store) Rate(ctx context.Context, account, openid, choice, text string, r Rating, now time.Time) (string, error) {
	score := ""
	if r.Score > 0 {
		score = strconv.FormatFloat(r.Score, 'f', 2, 64)
	}
	if r.Window <= 0 {
		r.Window = 20
	}
	sid, err := answerScript.Run(ctx, s.rdb, nil, s.prefix, account, openid, choice, text, ms(now), score, r.Window, flag(r.Lowest)).Text()
	if err == nil && sid != "" && s.obs != nil {
		s.obs.Answered(account, choice)
	}
	return sid, s.fail("survey answer", err)
}

// Due is a deadline the tick claimed.
type Due struct {
	Kind            string // "warn" or "close"
	Account, OpenID string
	SessionID       string
	Freed           string // the agent a close freed
}

// Tick claims up to limit due deadlines: a warning first, then, WarnBefore
// later, the close. Each is claimed once across every replica.
func (s *Store) Tick(ctx context.Context, now time.Time, limit int, warning, closing string) ([]Due, error) {
	return s.TickFor(ctx, now, limit, map[string]IdleTexts{"": {Warning: warning, Closing: closing, Survey: s.opts.Survey}})
}

// IdleTexts are what the idle expiry sends an account's user.
type IdleTexts struct {
	Warning, Closing string
	Survey           string // msgmenu JSON; "" = none
}

// TickFor is Tick with texts per account; the entry "" is for every
// account without its own.
func (s *Store) TickFor(ctx context.Context, now time.Time, limit int, texts map[string]IdleTexts) ([]Due, error) {
	js := make(map[string][3]string, len(texts))
	for k, t := range texts {
		js[k] = [3]string{t.Warning, t.Closing, t.Survey}
	}
	body, err := json.Marshal(js)
	if err != nil {
		return nil, err
	}
	r, err := tickScript.Run(ctx, s.rdb, nil, s.prefix, ms(now), limit, dms(s.opts.WarnBefore), body, "",
		s.opts.Reserve, dms(s.opts.ReturnWindow), "", dms(s.surveyOpen())).StringSlice()
	if err != nil {
		return nil, s.fail("tick", err)
	}
	due := make([]Due, 0, len(r)/6)
	for i := 0; i+5 < len(r); i += 6 {
		due = append(due, Due{Kind: r[i], Account: r[i+1], OpenID: r[i+2], SessionID: r[i+3], Freed: r[i+4]})
		if s.obs != nil && r[i] == "close" {
			s.obs.Ended(r[i+1], msDuration(r[i+5]))
		}
	}
	return due, nil
}

// PutAgent creates or updates an agent's routing view; its load is kept.
// An empty Status keeps the current one (offline for a new agent).
func (s *Store) PutAgent(ctx context.Context, a kf.Agent, now time.Time) error {
	err := agentScript.Run(ctx, s.rdb, nil, s.prefix, a.ID, a.Name, list(a.Accounts), list(a.Skills),
		max(a.Weight, 1), a.MaxSessions, string(a.Status), ms(now)).Err()
	return s.fail("put agent", err)
}

// SetStatus sets an agent's status and returns the previous one.
func (s *Store) SetStatus(ctx context.Context, id string, status kf.AgentStatus, now time.Time) (kf.AgentStatus, error) {
	old, err := statusScript.Run(ctx, s.rdb, nil, s.prefix, id, string(status), ms(now)).Text()
	if err != nil {
		return "", s.fail("set status", err)
	}
	return kf.AgentStatus(old), nil
}

// Heartbeat records that an agent is there, restoring the status it chose
// if the sweep had taken it offline. It returns the status now and whether
// it changed.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time) (kf.AgentStatus, bool, error) {
	r, err := beatScript.Run(ctx, s.rdb, nil, s.prefix, id, ms(now)).StringSlice()
	if err != nil {
		return "", false, s.fail("heartbeat", err)
	}
	return kf.AgentStatus(r[1]), r[0] != r[1], nil
}

// Sweep takes offline, at most limit at a time, the agents not heard from
// since cutoff, and returns them. Their sessions stay theirs.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	ids, err := sweepScript.Run(ctx, s.rdb, nil, s.prefix, ms(cutoff), limit).StringSlice()
	return ids, s.fail("sweep", err)
}

// Agents returns every agent's routing view.
func (s *Store) Agents(ctx context.Context) ([]kf.Agent, error) {
	ids, err := s.rdb.SMembers(ctx, s.prefix+"agents").Result()
	if err != nil {
		return nil, s.fail("agents", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.prefix+"agent:"+id)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("agents", err)
	}
	agents := make([]kf.Agent, 0, len(ids))
	for _, c := range cmds {
		h := c.Val()
		if h["id"] == "" {
			continue
		}
		agents = append(agents, agentFromHash(h))
	}
	return agents, nil
}

func agentFromHash(h map[string]string) kf.Agent {
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	split := func(s string) []string {
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	a := kf.Agent{ID: h["id"], Name: h["name"], Accounts: split(h["accounts"]), Skills: split(h["skills"]),
		Weight: atoi(h["weight"]), MaxSessions: atoi(h["max"]), Status: kf.AgentStatus(h["status"]), Load: atoi(h["load"]),
		LastAssigned: time.UnixMilli(int64(atoi(h["last_assigned"])))}
	if r, err := strconv.ParseFloat(h["rating"], 64); err == nil {
		a.Rating = r
	}
	return a
}

// RemoveAgent takes an agent out of routing; the sessions it served go to
// the front of their queues as transfers. It returns the accounts whose
// queues got them.
func (s *Store) RemoveAgent(ctx context.Context, id string, now time.Time) ([]string, error) {
	return s.removeAgent(ctx, id, now, "")
}

// ReleaseAgent sets an agent offline (as if it chose so: heartbeats do not
// bring it back) and sends the sessions it served to the front of their
// queues, as RemoveAgent does; the agent stays known to routing. It
// returns the accounts whose queues got sessions.
func (s *Store) ReleaseAgent(ctx context.Context, id string, now time.Time) ([]string, error) {
	return s.removeAgent(ctx, id, now, "offline")
}

func (s *Store) removeAgent(ctx context.Context, id string, now time.Time, mode string) ([]string, error) {
	accounts, err := removeScript.Run(ctx, s.rdb, nil, s.prefix, id, ms(now), mode).StringSlice()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return accounts, s.fail("remove agent", err)
}

// Long is a session claimed by LongServed.
type Long struct{ Account, OpenID, Agent, Skill string }

// LongServed claims, at most limit at a time, the sessions their agent has
// served since before cutoff; each is claimed once across replicas.
func (s *Store) LongServed(ctx context.Context, cutoff time.Time, limit int) ([]Long, error) {
	r, err := longScript.Run(ctx, s.rdb, nil, s.prefix, ms(cutoff), limit).StringSlice()
	if err != nil {
		return nil, s.fail("long served", err)
	}
	out := make([]Long, 0, len(r)/4)
	for i := 0; i+3 < len(r); i += 4 {
		out = append(out, Long{Account: r[i], OpenID: r[i+1], Agent: r[i+2], Skill: r[i+3]})
	}
	return out, nil
}

// Served marks a claimed session as served since at, so the rule looks at
// it again later (no other agent could take it).
func (s *Store) Served(ctx context.Context, account, openid string, at time.Time) error {
	// A session closed meanwhile leaves a stale entry, which LongServed drops.
	key := s.prefix + "sess:" + account + ":" + openid
	return s.fail("served", s.rdb.ZAdd(ctx, s.prefix+"served", redis.Z{Score: float64(ms(at)), Member: key}).Err())
}

// AgentSessions returns the live sessions an agent serves.
func (s *Store) AgentSessions(ctx context.Context, id string) ([]kf.Session, error) {
	members, err := s.rdb.SMembers(ctx, s.prefix+"agent:"+id+":sessions").Result()
	if err != nil {
		return nil, s.fail("agent sessions", err)
	}
	out := make([]kf.Session, 0, len(members))
	for _, m := range members {
		account, openid, _ := strings.Cut(m, ":")
		sess, err := s.Session(ctx, account, openid)
		if errors.Is(err, ErrNoSession) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	slices.SortFunc(out, func(a, b kf.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Session returns the user's live session.
func (s *Store) Session(ctx context.Context, account, openid string) (kf.Session, error) {
	h, err := s.rdb.HGetAll(ctx, s.prefix+"sess:"+account+":"+openid).Result()
	if err != nil {
		return kf.Session{}, s.fail("session", err)
	}
	if h["id"] == "" {
		return kf.Session{}, ErrNoSession
	}
	num := func(k string) time.Time { n, _ := strconv.ParseInt(h[k], 10, 64); return time.UnixMilli(n) }
	updated := h["updated"]
	if updated == "" { // never updated since it opened (lua/inbound.lua)
		updated = h["created"]
	}
	u, _ := strconv.ParseInt(updated, 10, 64)
	return kf.Session{ID: h["id"], Account: account, OpenID: openid, State: kf.State(h["state"]),
		Agent: h["agent"], Skill: h["skill"], CreatedAt: num("created"), UpdatedAt: time.UnixMilli(u)}, nil
}

// SessionByID returns the live session with this id.
func (s *Store) SessionByID(ctx context.Context, id string) (kf.Session, error) {
	if id == "" {
		return kf.Session{}, ErrNoSession
	}
	// The index (sid_key in lua/common.lua), and the key an earlier
	// version kept per session, in one round trip.
	var bucket, old *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		bucket = p.HGet(ctx, s.prefix+"sids:"+id[:min(len(id), 3)], id)
		old = p.Get(ctx, s.prefix+"sid:"+id)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return kf.Session{}, s.fail("session by id", err)
	}
	user := bucket.Val()
	if user == "" {
		user = strings.TrimPrefix(old.Val(), s.prefix+"sess:")
	}
	if user == "" {
		return kf.Session{}, ErrNoSession
	}
	account, openid, _ := strings.Cut(user, ":")
	sess, err := s.Session(ctx, account, openid)
	if err == nil && sess.ID != id {
		return kf.Session{}, ErrNoSession // the user's session changed meanwhile
	}
	return sess, err
}

// Context returns the last messages of the user's live session, oldest first.
func (s *Store) Context(ctx context.Context, account, openid string) ([]string, error) {
	msgs, err := s.rdb.LRange(ctx, s.prefix+"ctx:"+account+":"+openid, 0, -1).Result()
	return msgs, s.fail("context", err)
}

// Previous returns the agent that served the user last, within the return window.
func (s *Store) Previous(ctx context.Context, account, openid string) (string, error) {
	id, err := s.rdb.Get(ctx, s.prefix+"last:"+account+":"+openid).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return id, s.fail("previous", err)
}

// Queue returns the users waiting for (account, skill), first first.
// It reads the whole queue: for the admin's and the commands' views, never
// per message.
func (s *Store) Queue(ctx context.Context, account, skill string) ([]string, error) {
	w, err := s.QueueSince(ctx, account, skill)
	if err != nil {
		return nil, err
	}
	q := make([]string, len(w))
	for i, u := range w {
		q[i] = u.OpenID
	}
	return q, nil
}

// fail turns a script's refusal into its named error and anything else
// into an unavailable error.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no_session"):
		return ErrNoSession
	case strings.Contains(msg, "not_serving"):
		return ErrNotServing
	case strings.Contains(msg, "no_agent"):
		return ErrNoAgent
	}
	return kf.Wrap(kf.KindUnavailable, "unavailable", fmt.Errorf("session %s: %w", op, err), "session store unavailable")
}
