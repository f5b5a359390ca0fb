package routing

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/kfgate/kfgate/internal/kf"
)

// A roster is the sorted set of the agents serving an account, eligible or
// not, with the account's hash ring built from it on first use. It is
// immutable once built (the ring is built once, under ring.once) and shared
// by every account whose agents are the same set: a team serving twenty
// accounts costs one ring, not twenty.
//
// Why the ring holds every agent serving the account rather than only the
// eligible ones: a point's position depends only on its agent's ID, and a
// user goes to the first eligible agent clockwise, so a ring that holds
// ineligible agents too gives exactly the answer the ring of the eligible
// agents alone would; the two choices move the same users when agents come
// and go. What differs is the cost: agents go online, offline, fill up and
// drain all day, and the full set changes only when an admin changes the
// team, so the full ring is almost never rebuilt. The invariant a decision
// relies on is weaker still: the roster must contain every eligible agent;
// anything more is skipped. Hence a decision's answer never depends on what
// the cache holds.
type roster struct {
	ids   []string         // sorted, distinct; a position in ids is the agent's roster index
	index map[string]int32 // ID → roster index
	fp    uint64           // hash of ids, to find an equal roster of another account

	ring struct {
		once   sync.Once
		points []uint64 // sorted; see ringPoint
	}
}

// maxRoster is the most agents an account may have: a ring point keeps its
// owner's roster index in its low ownerBits bits.
const (
	ownerBits = 24
	ownerMask = 1<<ownerBits - 1
	maxRoster = 1 << ownerBits
)

// ringPoint is a point of the ring: the high 40 bits of the virtual node's
// position, and the owner's roster index in the low 24. Sorting the points
// as plain integers thus orders them by position, and points that share a
// position by roster index, which is ID order in every roster. A user's
// start on the ring is compared on the high bits only (see consistentHash).
// Hence the order in which a user meets the eligible agents is the same in
// every roster that holds them, whatever else it holds, and 40 bits of
// position are plenty for 160,000 points.
func ringPoint(pos uint64, owner int) uint64 {
	return pos&^ownerMask | uint64(owner)
}

// newRoster returns the roster of the agents serving account.
func newRoster(account string, agents []Agent) *roster {
	ro := &roster{}
	for i := range agents {
		if serves(&agents[i], account) {
			ro.ids = append(ro.ids, agents[i].ID)
		}
	}
	slices.Sort(ro.ids)
	ro.ids = slices.Compact(ro.ids)
	ro.index = make(map[string]int32, len(ro.ids))
	for p, id := range ro.ids {
		ro.index[id] = int32(p)
		ro.fp = pairHash(ro.fp, hashString(id)) // order matters: ids are sorted
	}
	return ro
}

// points returns the ring, building it the first time: vnodes points per
// agent, sorted.
func (ro *roster) points(vnodes int) []uint64 {
	ro.ring.once.Do(func() {
		points := make([]uint64, 0, len(ro.ids)*vnodes)
		for p, id := range ro.ids {
			h := hashString(id)
			for i := range vnodes {
				points = append(points, ringPoint(vnode(h, i), p))
			}
		}
		slices.Sort(points)
		ro.ring.points = points
	})
	return ro.ring.points
}

// rosterCache holds each account's roster. Reads are one atomic load and a
// map lookup; writes (a team changed) copy the map under mu. The number of
// entries is bounded by the number of accounts.
type rosterCache struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]cached]
}

type cached struct {
	ro       *roster
	snapshot int // the length of the snapshot it was made from
}

func (c *rosterCache) load(account string) (cached, bool) {
	m := c.m.Load()
	if m == nil {
		return cached{}, false
	}
	e, ok := (*m)[account]
	return e, ok
}

// store records ro as account's roster, or an equal roster another account
// already has, and returns the one recorded.
func (c *rosterCache) store(account string, ro *roster, snapshot int) *roster {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next map[string]cached
	if m := c.m.Load(); m != nil {
		next = make(map[string]cached, len(*m)+1)
		for k, e := range *m {
			next[k] = e
			if e.ro.fp == ro.fp && slices.Equal(e.ro.ids, ro.ids) {
				ro = e.ro
			}
		}
	} else {
		next = make(map[string]cached, 1)
	}
	next[account] = cached{ro: ro, snapshot: snapshot}
	c.m.Store(&next)
	return ro
}

// roster returns account's roster and fills sc.slot from it.
//
// A decision needs a roster that holds every eligible agent; agents it holds
// that are no longer in the team are skipped like offline ones, and change
// no answer. So the cached roster is kept unless an eligible agent is missing
// from it, or the snapshot's length differs from the one it was made from
// (agents were added or removed: rebuild, so that departed agents do not
// linger). Rebuilding the roster is cheap (a sort of the IDs); the ring, the
// costly part, is built again only if the set of IDs really changed, since
// an equal roster already cached, with its ring, is reused.
func (r *Router) roster(account string, agents []Agent, sc *scratch) (*roster, error) {
	if e, ok := r.cache.load(account); ok && e.snapshot == len(agents) && sc.place(e.ro, agents) {
		return e.ro, nil
	}
	ro := newRoster(account, agents)
	if len(ro.ids) > maxRoster {
		return nil, kf.Errorf(kf.KindInvalid, "too_many_agents", "account %s has %d agents, more than %d", account, len(ro.ids), maxRoster)
	}
	ro = r.cache.store(account, ro, len(agents))
	sc.place(ro, agents) // cannot fail: ro holds every agent serving the account
	return ro, nil
}

// place fills sc.slot for ro: slot[p] is the index in agents of the eligible
// agent at roster index p, or -1. It counts the distinct eligible agents in
// sc.distinct and reports false if an eligible agent is not in ro.
func (sc *scratch) place(ro *roster, agents []Agent) bool {
	sc.slot = slices.Grow(sc.slot[:0], len(ro.ids))[:len(ro.ids)]
	for p := range sc.slot {
		sc.slot[p] = -1
	}
	sc.distinct = 0
	for _, j := range sc.eligible {
		p, ok := ro.index[agents[j].ID]
		if !ok {
			return false
		}
		if sc.slot[p] < 0 {
			sc.distinct++
		}
		sc.slot[p] = j
	}
	return true
}
