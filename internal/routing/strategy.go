package routing

import (
	"math"
	"math/bits"
)

// leastLoaded returns the eligible agent with the lowest load ratio
// Load/MaxSessions, so an agent allowed ten sessions and serving three is
// less loaded than one allowed three and serving two: capacity is what an
// admin sets to say who takes more. Idle agents (ratio 0) come first by
// construction. Ties go to the agent idle the longest (oldest LastAssigned,
// never assigned first), then to the smallest ID.
func leastLoaded(agents []Agent, eligible []int32) int {
	best := int(eligible[0])
	for _, j := range eligible[1:] {
		if lessLoaded(&agents[j], &agents[best]) {
			best = int(j)
		}
	}
	return best
}

// lessLoaded reports whether a goes before b under leastLoaded's order.
func lessLoaded(a, b *Agent) bool {
	// a.Load/a.Max < b.Load/b.Max, compared exactly as a.Load·b.Max <
	// b.Load·a.Max in 128 bits: capacities as large as math.MaxInt
	// ("unlimited") must neither overflow nor round.
	ahi, alo := bits.Mul64(load(a), capacity(b))
	bhi, blo := bits.Mul64(load(b), capacity(a))
	if ahi != bhi || alo != blo {
		return ahi < bhi || ahi == bhi && alo < blo
	}
	if !a.LastAssigned.Equal(b.LastAssigned) {
		return a.LastAssigned.Before(b.LastAssigned)
	}
	return a.ID < b.ID
}

// load and capacity read an eligible agent's figures as unsigned numbers; a
// negative load (a bug elsewhere) counts as idle.
func load(a *Agent) uint64     { return uint64(max(a.Load, 0)) }
func capacity(a *Agent) uint64 { return uint64(max(a.MaxSessions, 1)) }

// weighted returns the eligible agent with the highest weighted rendezvous
// score for the user: Weight / -ln(u), where u in (0, 1) is the hash of the
// user and the agent. An agent's chance to win is its share of the total
// weight (the minimum of exponential variables with rates w_i is the i-th
// with probability w_i/Σw), and a user keeps the same agent as long as that
// agent stays eligible and no agent that would outscore it joins: when one
// leaves, only its users move.
//
// The scores are float64. math.Log is accurate to within one ulp everywhere
// but not bit-identical on every architecture (amd64 uses assembly), so two
// replicas on different architectures could disagree when two scores fall
// within an ulp of each other: about once in 2^50 decisions, and harmless
// (either agent is a valid choice; the engine commits one atomically).
func weighted(openid string, agents []Agent, eligible []int32) int {
	user := hashString(openid)
	best, bestScore := -1, 0.0
	for _, j := range eligible {
		a := &agents[j]
		score := float64(max(a.Weight, 1)) / -math.Log(unit(pairHash(user, hashString(a.ID))))
		if best < 0 || score > bestScore || score == bestScore && a.ID < agents[best].ID {
			best, bestScore = int(j), score
		}
	}
	return best
}
