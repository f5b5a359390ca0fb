package session

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

func redisZ(at time.Time, member string) redis.Z {
	return redis.Z{Score: float64(ms(at)), Member: member}
}

var (
	overdueScript = script("overdue")
	goneScript    = script("gone")
	queuesScript  = script("queues")
)

// Overdue is a session whose agent has owed the user an answer past the
// reply SLA.
type Overdue struct {
	Account, OpenID, Agent string
	SLA                    string // "first" (the agent's first answer) or "next"
}

// ReplySLA is how long an agent may owe an answer; 0 = no limit.
type ReplySLA struct {
	First, Next time.Duration
	// MoveAfter queues an overdue session for OverdueMoves this long after
	// it became overdue; 0 = never.
	MoveAfter time.Duration
}

// ClaimOverdue marks overdue, at most limit at a time, the sessions whose
// agent owes an answer past sla, each once across replicas, with a
// session.overdue event to the agent and the supervisors.
func (s *Store) ClaimOverdue(ctx context.Context, now time.Time, sla ReplySLA, limit int) ([]Overdue, error) {
	cutoff := func(d time.Duration) any {
		if d <= 0 {
			return ""
		}
		return ms(now.Add(-d))
	}
	r, err := overdueScript.Run(ctx, s.rdb, nil, s.prefix, ms(now), cutoff(sla.First), cutoff(sla.Next), limit,
		dms(sla.MoveAfter)).StringSlice()
	if err != nil {
		return nil, s.fail("overdue", err)
	}
	out := make([]Overdue, 0, len(r)/4)
	for i := 0; i+3 < len(r); i += 4 {
		out = append(out, Overdue{Account: r[i], OpenID: r[i+1], Agent: r[i+2], SLA: r[i+3]})
	}
	return out, nil
}

// OverdueMoves claims, at most limit at a time, the overdue sessions due
// to move to another agent (still unanswered), each once across replicas.
func (s *Store) OverdueMoves(ctx context.Context, now time.Time, limit int) ([]Long, error) {
	r, err := longScript.Run(ctx, s.rdb, nil, s.prefix, ms(now), limit, "overdue_moves").StringSlice()
	if err != nil {
		return nil, s.fail("overdue moves", err)
	}
	out := make([]Long, 0, len(r)/4)
	for i := 0; i+3 < len(r); i += 4 {
		out = append(out, Long{Account: r[i], OpenID: r[i+1], Agent: r[i+2], Skill: r[i+3]})
	}
	return out, nil
}

// MoveLater hands back a claimed overdue move, to be tried again at at.
func (s *Store) MoveLater(ctx context.Context, account, openid string, at time.Time) error {
	key := s.prefix + "sess:" + account + ":" + openid
	return s.fail("move later", s.rdb.ZAdd(ctx, s.prefix+"overdue_moves", redisZ(at, key)).Err())
}

// ClaimGone returns, at most limit at a time, the agents that went offline
// before cutoff and are offline still, each once across replicas.
func (s *Store) ClaimGone(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	ids, err := goneScript.Run(ctx, s.rdb, nil, s.prefix, ms(cutoff), limit).StringSlice()
	return ids, s.fail("gone", err)
}

// QueueTexts are what the queue job sends the users of one queue.
type QueueTexts struct {
	Account, Skill string
	Update, Next   string // a better place ({ahead}, {position}); Next when nobody is ahead
	Timeout, Leave string // the wait reached the timeout: closed, or leave a message
}

// QueueRules say when the queue job acts.
type QueueRules struct {
	Places       int           // tell a place that improved by this many; 0 = off
	Every        time.Duration // or this long after the last notice; 0 = off
	Timeout      time.Duration // end a wait this long; 0 = never
	LeaveMessage bool          // at the timeout, keep the user for a message instead of closing
	Reserve      int           // reply units a place update never spends
	// Window is how many users from the head of each queue a run looks
	// at (0 = QueueWindow): its cost does not grow with the queue.
	Window int
}

// QueueWindow is how many users from the head of each queue the queue job
// looks at by default: those further back hear of their place, and time
// out, once they come that near.
const QueueWindow = 1000

// QueueChange is what the queue job did to one user.
type QueueChange struct{ Kind, Account, OpenID string } // update, timeout, leave

// Queues runs the queue rules over the given queues: over the first
// rules.Window users of each.
func (s *Store) Queues(ctx context.Context, now time.Time, rules QueueRules, queues []QueueTexts) ([]QueueChange, error) {
	if len(queues) == 0 {
		return nil, nil
	}
	window := rules.Window
	if window <= 0 {
		window = QueueWindow
	}
	args := []any{s.prefix, ms(now), rules.Places, dms(rules.Every), dms(rules.Timeout), flag(rules.LeaveMessage), rules.Reserve, window}
	for _, q := range queues {
		args = append(args, q.Account, q.Skill, q.Update, q.Next, q.Timeout, q.Leave)
	}
	r, err := queuesScript.Run(ctx, s.rdb, nil, args...).StringSlice()
	if err != nil {
		return nil, s.fail("queues", err)
	}
	out := make([]QueueChange, 0, len(r)/3)
	for i := 0; i+2 < len(r); i += 3 {
		out = append(out, QueueChange{Kind: r[i], Account: r[i+1], OpenID: r[i+2]})
	}
	return out, nil
}
