// Package routing decides which agent serves a user. It is pure and in
// memory: the engine loads a snapshot of the agents from Redis, asks Pick for
// an agent, and commits the choice in one atomic script that re-checks
// capacity; if another replica got there first, the engine routes again with a
// fresh snapshot. Nothing here does I/O or keeps per-user state.
//
// A decision has two steps. First the filters (Eligible): the agent serves
// the account, is online, has the skill the user needs, has room
// (Load < MaxSessions) and is not excluded. Then, if the user's previous
// agent passes the filters, it is the answer: a returning user goes back to
// the agent who knows the conversation. Otherwise the account's strategy
// chooses among the eligible agents:
//
//   - ConsistentHash: a ring of virtual nodes with bounded loads (Mirrokni,
//     Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2018).
//     A user keeps the same agent while the team is stable, few users move
//     when agents come and go, and no agent takes more than ⌈c·average⌉.
//   - LeastLoaded: the agent with the lowest load relative to its capacity;
//     idle agents first.
//   - RoundRobin: the eligible agents in ID order, one after another, driven
//     by a counter the replicas share.
//   - Weighted: weighted rendezvous hashing: traffic in proportion to Weight,
//     and the same agent for the same user while the team is stable.
//
// Every decision is a function of its inputs only: the same snapshot, user
// and counter give the same agent on every replica, whatever each replica's
// cache holds. Hashes are this package's own, stable across processes,
// architectures and versions (see hash.go).
//
// The bound of ConsistentHash applies to the strategy's choice: a returning
// user goes back to the previous agent whenever it has room, even above
// ⌈c·average⌉, because the conversation matters more than the balance.
//
// A Router caches, per account, the sorted roster of the account's agents,
// eligible or not, and its hash ring, so that a decision does not sort or
// hash the team again: among 1,000 agents it takes tens of microseconds
// (most of it comparing the appids and statuses of the snapshot) and
// allocates nothing. Status and load changes do not touch the cache; the
// ring is rebuilt only when the set of agents serving the account changes.
package routing

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
)

// Agent is the routing view of an agent at the moment of the snapshot.
type Agent struct {
	ID           string
	Accounts     []string // appids the agent serves: one team may serve many accounts
	Skills       []string
	Weight       int // share of traffic under Weighted; below 1 counts as 1
	MaxSessions  int // capacity: the agent takes a new user only while Load < MaxSessions
	Load         int // sessions the agent serves now
	Status       kf.AgentStatus
	LastAssigned time.Time // breaks LeastLoaded's ties: idle longest first; zero = never
	Rating       float64   // satisfaction score 1–5 (0 = unrated); the engine's min_rating reads it, no strategy does
}

// Request is one user who needs an agent.
type Request struct {
	Account string // appid
	OpenID  string // the user
	Skill   string // the skill the user needs; "" = any agent
	// Previous is the user's previous agent when the engine considers the
	// user returning (within its return window); "" otherwise.
	Previous string
	// Exclude lists agents that must not be chosen, e.g. the current agent
	// on a transfer.
	Exclude []string
}

// Strategy is how an account chooses among its eligible agents.
type Strategy string

// The strategies.
const (
	ConsistentHash Strategy = "consistent_hash"
	LeastLoaded    Strategy = "least_loaded"
	RoundRobin     Strategy = "round_robin"
	Weighted       Strategy = "weighted"
)

// Valid reports whether s is one of the strategies above.
func (s Strategy) Valid() bool {
	switch s {
	case ConsistentHash, LeastLoaded, RoundRobin, Weighted:
		return true
	}
	return false
}

// Errors of Pick. The engine tells the user different things: with
// ErrNoAgent nobody will ever answer (the account has no team); with
// ErrNoneAvailable the user waits in the queue.
var (
	ErrNoAgent       = kf.Errorf(kf.KindNotFound, "no_agent", "no agent serves this account")
	ErrNoneAvailable = kf.Errorf(kf.KindUnavailable, "none_available", "no agent is available")
)

// Eligible reports whether a can take req's user now: a serves req.Account,
// is online, has req.Skill (if any), has room, and is not in req.Exclude.
func Eligible(req Request, a Agent) bool {
	return eligible(&req, &a)
}

// eligible is Eligible with the cheapest tests first: most agents a decision
// skips are full or not online.
func eligible(req *Request, a *Agent) bool {
	if a.Load >= a.MaxSessions || a.Status != kf.AgentOnline || !serves(a, req.Account) {
		return false
	}
	if req.Skill != "" && !slices.Contains(a.Skills, req.Skill) {
		return false
	}
	return len(req.Exclude) == 0 || !slices.Contains(req.Exclude, a.ID)
}

func serves(a *Agent, account string) bool {
	return slices.Contains(a.Accounts, account)
}

// DefaultBalance is the default c of bounded loads: no agent gets more than
// 25 % over the average.
const DefaultBalance = 1.25

// DefaultVirtualNodes is the default number of ring points per agent.
const DefaultVirtualNodes = 160

// Options configure a Router.
type Options struct {
	// Balance is c of consistent hashing with bounded loads: an agent takes
	// a user only while its load is below ⌈c·(L+1)/n⌉, L being the total load
	// of the n eligible agents. 0 means DefaultBalance; +Inf turns the bound
	// off (plain consistent hashing); values below 1 could leave no agent
	// under the bound and are raised to 1. The smaller c, the more even the
	// loads and the more users move when the team changes.
	Balance float64
	// VirtualNodes is the number of ring points per agent; 0 means
	// DefaultVirtualNodes. More points spread users more evenly and cost
	// memory: 8 bytes per point, 1.3 MB for a team of 1,000 agents at 160
	// (accounts served by the same team share one ring), built in about
	// 20 ms when the team changes.
	VirtualNodes int
}

// Router makes routing decisions. It is safe for concurrent use; one per
// process is enough.
type Router struct {
	balance float64
	vnodes  int
	cache   rosterCache
	scratch sync.Pool // *scratch
}

// NewRouter returns a Router with opts.
func NewRouter(opts Options) *Router {
	c := opts.Balance
	switch {
	case c == 0 || math.IsNaN(c):
		c = DefaultBalance
	case c < 1:
		c = 1
	}
	v := opts.VirtualNodes
	if v <= 0 {
		v = DefaultVirtualNodes
	}
	r := &Router{balance: c, vnodes: v}
	r.scratch.New = func() any { return new(scratch) }
	return r
}

// Pick returns the ID of the agent that should serve req's user: the
// previous agent if it is eligible, else the choice of strategy s among the
// eligible agents. agents is the engine's snapshot: every agent it knows, or
// at least every agent serving req.Account whatever its status; IDs must be
// unique. Pick does not modify it. seq drives RoundRobin (a counter the
// replicas share, one step per decision); the other strategies ignore it.
//
// Pick returns ErrNoAgent when no agent serves req.Account, ErrNoneAvailable
// when some do but none is eligible, and an error of kind kf.KindInvalid for
// an unknown strategy (or, absurdly, an account of more than 16,777,216
// agents).
func (r *Router) Pick(s Strategy, req Request, agents []Agent, seq uint64) (string, error) {
	if !s.Valid() {
		return "", kf.Errorf(kf.KindInvalid, "bad_strategy", "unknown routing strategy %q", s)
	}
	sc := r.scratch.Get().(*scratch)
	defer r.scratch.Put(sc)
	if prev := sc.filter(&req, agents); prev >= 0 {
		return agents[prev].ID, nil
	}
	if len(sc.eligible) == 0 {
		for i := range agents {
			if serves(&agents[i], req.Account) {
				return "", ErrNoneAvailable
			}
		}
		return "", ErrNoAgent
	}
	switch s {
	case LeastLoaded:
		return agents[leastLoaded(agents, sc.eligible)].ID, nil
	case Weighted:
		return agents[weighted(req.OpenID, agents, sc.eligible)].ID, nil
	}
	ro, err := r.roster(req.Account, agents, sc)
	if err != nil {
		return "", err
	}
	if s == RoundRobin {
		return agents[sc.roundRobin(seq)].ID, nil
	}
	return agents[sc.consistentHash(ro, r.vnodes, r.balance, req.OpenID, agents)].ID, nil
}

// scratch is the per-decision working memory, pooled so that a decision
// allocates nothing once the pool is warm.
type scratch struct {
	eligible []int32 // indices into agents of the eligible ones, in input order
	slot     []int32 // per roster index: the index into agents if eligible, else -1
	distinct int     // entries of slot that are not -1
}

// filter fills sc.eligible. If the previous agent is eligible it stops and
// returns its index (the answer whatever the strategy); it returns -1
// otherwise.
func (sc *scratch) filter(req *Request, agents []Agent) (prev int) {
	sc.eligible = sc.eligible[:0]
	for i := range agents {
		a := &agents[i]
		if !eligible(req, a) {
			continue
		}
		if req.Previous != "" && a.ID == req.Previous {
			return i
		}
		sc.eligible = append(sc.eligible, int32(i))
	}
	return -1
}
