package session

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Observer is told the times the scripts measure, for the metrics: how long
// a queued user waited for an agent, and how long a session lasted when it
// closed. Its methods must be quick and safe for concurrent use.
type Observer interface {
	Waited(account string, d time.Duration)
	Ended(account string, d time.Duration)
	// Answered: a user answered the satisfaction survey with this choice id.
	Answered(account, choice string)
}

// Observe sets the Store's Observer (none by default). Call before use.
func (s *Store) Observe(o Observer) { s.obs = o }

func msDuration(v string) time.Duration {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.Duration(max(n, 0)) * time.Millisecond
}

// Counts are the cluster's live numbers, kept by the scripts in the hash
// <prefix>counts as they change things (lua/common.lua, count and
// count_move), so that reading them is one HGETALL of a few fields however
// many sessions, dedup keys or quota keys Redis holds.
type Counts struct {
	Sessions map[string]int64 // by state: waiting, serving, transferring
	Queue    map[string]int64 // users queued, by account
	Agents   map[string]int64 // by status: online, away, offline
	// Overdue and Flagged are counters the scripts keep in the same hash:
	// sessions past engine.reply_sla, sessions flagged by the survey.
	Overdue, Flagged int64
}

// Counts reads the counts: one Redis command. An error is returned as it
// is, never as zeros.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	h, err := s.rdb.HGetAll(ctx, s.prefix+"counts").Result()
	if err != nil {
		return Counts{}, s.fail("counts", err)
	}
	c := Counts{
		Sessions: map[string]int64{"waiting": 0, "serving": 0, "transferring": 0},
		Queue:    map[string]int64{},
		Agents:   map[string]int64{"online": 0, "away": 0, "offline": 0},
	}
	var queued int64
	for k, v := range h {
		n, _ := strconv.ParseInt(v, 10, 64)
		kind, name, ok := strings.Cut(k, ":")
		if !ok {
			switch k {
			case "overdue":
				c.Overdue = n
			case "flagged":
				c.Flagged = n
			}
			continue
		}
		switch kind {
		case "state":
			if name != "waiting" { // an earlier version's count, until Recount
				c.Sessions[name] = n
			}
		case "queue":
			account, _, _ := strings.Cut(name, ":") // queue:<account>:<skill>
			c.Queue[account] += n
			queued += n
		case "agents":
			c.Agents[name] = n
		}
	}
	// Every waiting session is in its queue, with the transferring ones
	// (lua/common.lua, "The counts").
	c.Sessions["waiting"] = max(queued-c.Sessions["transferring"], 0)
	return c, nil
}

// Recount rebuilds the counts from the live sessions and the agents if
// they were never kept in this version's form (a Redis written by an
// earlier kfgate); it does nothing when they are there. serve runs it at
// start.
func (s *Store) Recount(ctx context.Context) (bool, error) {
	n, err := recountScript.Run(ctx, s.rdb, nil, s.prefix).Int()
	return n == 1, s.fail("recount", err)
}

// FirstReply records that an agent's answer in session sid reached WeChat
// at now. If it was the session's first, it returns the time since the
// session opened and true (the first-reply time); otherwise false. One
// script run, O(1).
func (s *Store) FirstReply(ctx context.Context, account, openid, sid string, now time.Time) (time.Duration, bool, error) {
	n, err := firstScript.Run(ctx, s.rdb, nil, s.prefix, account, openid, sid, ms(now)).Int64()
	if err != nil {
		return 0, false, s.fail("first reply", err)
	}
	if n < 0 {
		return 0, false, nil
	}
	return time.Duration(n) * time.Millisecond, true, nil
}
