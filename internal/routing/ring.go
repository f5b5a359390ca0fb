package routing

import (
	"math"
	"slices"
)

// consistentHash returns the eligible agent for the user under consistent
// hashing with bounded loads: from the user's point on the ring, clockwise,
// the first eligible agent whose load is below
//
//	limit = ⌈c·(L+1)/n⌉,  L = the eligible agents' total load, n = their number
//
// so that after the assignment no agent exceeds ⌈c·average⌉. Such an agent
// always exists when c ≥ 1: the least loaded eligible agent has a load of at
// most L/n < (L+1)/n ≤ limit. A user whose agent is full spills to the next
// agent clockwise, so the users who move when the team changes are the ones
// whose agent came or went plus a spill that a larger c keeps small.
//
// With c = +Inf it is plain consistent hashing: the first eligible agent.
func (sc *scratch) consistentHash(ro *roster, vnodes int, c float64, openid string, agents []Agent) int {
	points := ro.points(vnodes)
	limit := math.Inf(1)
	if !math.IsInf(c, 1) {
		total := 0
		for _, j := range sc.eligible {
			total += max(agents[j].Load, 0)
		}
		limit = math.Ceil(c * float64(total+1) / float64(len(sc.eligible)))
	}
	// The first point at or after the user's position, on the high bits
	// only (see ringPoint).
	k, _ := slices.BinarySearch(points, hashString(openid)&^ownerMask)
	first := -1
	for range len(points) {
		if k == len(points) {
			k = 0
		}
		if j := sc.slot[points[k]&ownerMask]; j >= 0 {
			if float64(max(agents[j].Load, 0)) < limit {
				return int(j)
			}
			if first < 0 {
				first = int(j)
			}
		}
		k++
	}
	// Unreachable (see above); the first eligible agent clockwise keeps a
	// bug from becoming a failed decision.
	return first
}

// roundRobin returns the (seq mod n)-th of the n eligible agents in ID
// order. Consecutive values of seq, the counter the replicas share, visit
// every eligible agent once before any twice as long as the eligible set
// does not change. sc.slot is in ID order already: no sorting per decision.
func (sc *scratch) roundRobin(seq uint64) int {
	k := seq % uint64(sc.distinct)
	for _, j := range sc.slot {
		if j < 0 {
			continue
		}
		if k == 0 {
			return int(j)
		}
		k--
	}
	return int(sc.eligible[0]) // unreachable: sc.distinct counts the entries of slot that are not -1
}
