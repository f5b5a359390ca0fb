package engine

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/scheduler"
	"github.com/kfgate/kfgate/internal/session"
)

// Texts are what an account's users are told. In Config.Accounts an empty
// field falls back to the engine's global text.
type Texts struct {
	Queued       string // a user who must wait: "{ahead}", "{position}"
	QueuedNext   string // instead of Queued when nobody is ahead
	QueueUpdate  string // a waiting user's better place: "{ahead}", "{position}"
	QueueFull    string
	QueueTimeout string // the wait reached QueueTimeout and the session closes: "{minutes}"
	LeaveMessage string // the same in leave-a-message mode: "{minutes}"
	OffHours     string
	NoAgent      string // nobody online: "{hours}" = the account's business hours
	IdleWarning  string // "{minutes}" = warn_before
	IdleClosed   string // "{minutes}" = idle_timeout
	Greeting     string // when an agent takes the session: "{agent}" = its name
	// Choices are the survey's choice ids, best first: the first scores 5,
	// the last 1 (and flags the session).
	Choices []string
}

// texts returns account's texts: its own, else the global ones, with the
// durations filled in.
func (e *Engine) texts(account string) Texts {
	c := e.cfg
	t := Texts{Queued: c.QueueNotice, QueuedNext: c.QueuedNextNotice, QueueUpdate: c.QueueUpdateNotice,
		QueueFull: c.QueueFullNotice, QueueTimeout: c.QueueTimeoutNotice, LeaveMessage: c.LeaveMessageNotice,
		OffHours: c.OffHoursNotice, NoAgent: c.NoAgentNotice, IdleWarning: c.WarnNotice, IdleClosed: c.CloseNotice,
		Greeting: c.Greeting, Choices: c.SurveyChoices}
	if o, ok := c.Accounts[account]; ok {
		for _, f := range []struct {
			dst *string
			src string
		}{{&t.Queued, o.Queued}, {&t.QueuedNext, o.QueuedNext},
			{&t.QueueUpdate, o.QueueUpdate}, {&t.QueueFull, o.QueueFull}, {&t.QueueTimeout, o.QueueTimeout},
			{&t.LeaveMessage, o.LeaveMessage}, {&t.OffHours, o.OffHours}, {&t.NoAgent, o.NoAgent},
			{&t.IdleWarning, o.IdleWarning}, {&t.IdleClosed, o.IdleClosed}, {&t.Greeting, o.Greeting}} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
		if o.Choices != nil {
			t.Choices = o.Choices
		}
	}
	opts := e.store.Options()
	t.IdleWarning = strings.ReplaceAll(t.IdleWarning, "{minutes}", Minutes(opts.WarnBefore))
	t.IdleClosed = strings.ReplaceAll(t.IdleClosed, "{minutes}", Minutes(opts.IdleTimeout))
	t.QueueTimeout = strings.ReplaceAll(t.QueueTimeout, "{minutes}", Minutes(c.QueueTimeout))
	t.LeaveMessage = strings.ReplaceAll(t.LeaveMessage, "{minutes}", Minutes(c.QueueTimeout))
	t.NoAgent = strings.ReplaceAll(t.NoAgent, "{hours}", c.HoursText[account])
	return t
}

// Minutes writes d in minutes as a notice says it: "5", "1.5".
func Minutes(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Round(6*time.Second))/float64(time.Minute), 'f', -1, 64)
}

// rating is what a survey answer says of the agent: choice i of n (best
// first) scores 5 − 4·i/(n−1).
func (e *Engine) rating(account, choice string) session.Rating {
	ids := e.texts(account).Choices
	i := slices.Index(ids, choice)
	r := session.Rating{Window: e.cfg.RatingWindow}
	if i < 0 || len(ids) < 2 {
		return r
	}
	r.Score = 5 - 4*float64(i)/float64(len(ids)-1)
	r.Lowest = i == len(ids)-1
	return r
}

// nobodyOnline reports whether no agent of the account with the skill is
// online (away and offline agents take nobody).
func nobodyOnline(agents []routing.Agent, account, skill string) bool {
	return !slices.ContainsFunc(agents, func(a routing.Agent) bool {
		return a.Status == kf.AgentOnline && slices.Contains(a.Accounts, account) && (skill == "" || slices.Contains(a.Skills, skill))
	})
}

// lowRated lists the agents rated below MinRating (unrated agents are not).
func (e *Engine) lowRated(agents []routing.Agent) []string {
	if e.cfg.MinRating <= 0 {
		return nil
	}
	var out []string
	for _, a := range agents {
		if a.Rating > 0 && a.Rating < e.cfg.MinRating {
			out = append(out, a.ID)
		}
	}
	return out
}

// customerJobs are the timed rules of what users experience: the reply
// SLA, moving overdue sessions, reassigning the users of agents who left,
// and the queue rules (place updates, the queue timeout).
func (e *Engine) customerJobs(every time.Duration) []scheduler.Job {
	var jobs []scheduler.Job
	if e.cfg.ReplySLA.First > 0 || e.cfg.ReplySLA.Next > 0 {
		jobs = append(jobs, scheduler.Job{Name: "reply_sla", Every: every, Run: e.MarkOverdue})
		if e.cfg.OverdueTransferAfter > 0 {
			jobs = append(jobs, scheduler.Job{Name: "overdue_transfer", Every: every, Run: e.moveOverdue})
		}
	}
	if e.cfg.ReassignAfter > 0 {
		jobs = append(jobs, scheduler.Job{Name: "reassign", Every: every, Run: e.Reassign})
	}
	if e.cfg.QueueUpdatePlaces > 0 || e.cfg.QueueUpdateEvery > 0 || e.cfg.QueueTimeout > 0 {
		jobs = append(jobs, scheduler.Job{Name: "queue", Every: every, Run: e.RunQueues})
	}
	return jobs
}

// MarkOverdue marks the sessions whose agent owes an answer past the reply
// SLA (an event to the agent and the supervisors each).
func (e *Engine) MarkOverdue(ctx context.Context) (int, error) {
	due, err := e.store.ClaimOverdue(ctx, e.now(), session.ReplySLA{First: e.cfg.ReplySLA.First, Next: e.cfg.ReplySLA.Next,
		MoveAfter: e.cfg.OverdueTransferAfter}, 100)
	for _, d := range due {
		e.log.Info("an agent owes a user an answer past the reply SLA", "account", d.Account, "agent", d.Agent, "sla", d.SLA)
	}
	return len(due), err
}

// moveOverdue transfers the sessions overdue for OverdueTransferAfter to
// the least loaded other agent with room; with nobody free they stay, and
// are looked at again a period later.
func (e *Engine) moveOverdue(ctx context.Context) (int, error) {
	due, err := e.store.OverdueMoves(ctx, e.now(), 100)
	if err != nil {
		return 0, err
	}
	for _, l := range due {
		to, err := e.pickOther(ctx, l.Account, l.OpenID, l.Skill, l.Agent)
		if err == nil && to != "" {
			_, err = e.Transfer(ctx, l.Account, l.OpenID, to, l.Skill, "rule", "overdue")
		}
		if err != nil || to == "" {
			if err := e.store.MoveLater(ctx, l.Account, l.OpenID, e.now().Add(e.cfg.OverdueTransferAfter)); err != nil {
				return 0, err
			}
		}
	}
	return len(due), nil
}

// pickOther returns the least loaded agent other than from who can take
// the user now, preferring agents rated at least MinRating; "" if none.
func (e *Engine) pickOther(ctx context.Context, account, openid, skill, from string) (string, error) {
	agents, err := e.agents(ctx, true)
	if err != nil {
		return "", err
	}
	req := routing.Request{Account: account, OpenID: openid, Skill: skill, Exclude: append(e.lowRated(agents), from)}
	to, err := e.router.Pick(routing.LeastLoaded, req, agents, 0)
	if errors.Is(err, routing.ErrNoneAvailable) && len(req.Exclude) > 1 {
		req.Exclude = []string{from}
		to, err = e.router.Pick(routing.LeastLoaded, req, agents, 0)
	}
	if errors.Is(err, routing.ErrNoneAvailable) || errors.Is(err, routing.ErrNoAgent) {
		return "", nil
	}
	return to, err
}

// Reassign hands on the users of the agents offline for ReassignAfter:
// each serving session goes, with its context, to another agent who can
// take it, or else to the front of its queue.
func (e *Engine) Reassign(ctx context.Context) (int, error) {
	gone, err := e.store.ClaimGone(ctx, e.now().Add(-e.cfg.ReassignAfter), 100)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, id := range gone {
		sessions, err := e.store.AgentSessions(ctx, id)
		if err != nil {
			return moved, err
		}
		for _, s := range sessions {
			if s.State != kf.StateServing || s.Agent != id {
				continue
			}
			if _, err := e.transfer(ctx, s.Account, s.OpenID, "", s.Skill, "rule", "agent offline", true); err != nil &&
				!errors.Is(err, session.ErrNoSession) && !errors.Is(err, session.ErrNotServing) {
				return moved, err
			}
			moved++
		}
		if len(sessions) > 0 {
			e.log.Info("an agent stayed offline; its users were handed on", "agent", id, "sessions", len(sessions))
		}
	}
	return moved, nil
}

// RunQueues applies the queue rules to every queue of the configured
// accounts: place updates and the queue timeout.
func (e *Engine) RunQueues(ctx context.Context) (int, error) {
	agents, err := e.agents(ctx, false)
	if err != nil {
		return 0, err
	}
	skills := map[string]bool{"": true}
	for _, a := range agents {
		for _, s := range a.Skills {
			skills[s] = true
		}
	}
	var queues []session.QueueTexts
	for _, account := range e.accounts() {
		t := e.texts(account)
		for skill := range skills {
			queues = append(queues, session.QueueTexts{Account: account, Skill: skill, Update: t.QueueUpdate,
				Next: t.QueuedNext, Timeout: t.QueueTimeout, Leave: t.LeaveMessage})
		}
	}
	changes, err := e.store.Queues(ctx, e.now(), session.QueueRules{Places: e.cfg.QueueUpdatePlaces, Every: e.cfg.QueueUpdateEvery,
		Timeout: e.cfg.QueueTimeout, LeaveMessage: e.cfg.LeaveMessage, Reserve: e.store.Options().Reserve + 1}, queues)
	return len(changes), err
}

// accounts are the accounts the engine knows of: configured ones and those
// its agents serve.
func (e *Engine) accounts() []string {
	set := map[string]bool{}
	for a := range e.cfg.Strategy {
		set[a] = true
	}
	for a := range e.cfg.Accounts {
		set[a] = true
	}
	e.mu.Lock()
	for _, a := range e.snapshot {
		for _, acct := range a.Accounts {
			set[acct] = true
		}
	}
	e.mu.Unlock()
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}
