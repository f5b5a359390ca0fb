package routing

import "github.com/cespare/xxhash/v2"

// The hash every routing decision is made with. It must give the same value
// for the same input on every replica, every architecture and every version of
// kfgate: a user's place on the ring and the weighted scores come from it, so
// changing it (even its seed) moves every user to another agent at the next
// deploy. TestHashGolden pins it. hash/maphash is not an option (its seed is
// per process), nor is the runtime's string hash.
//
// It is XXH64 (github.com/cespare/xxhash), which reads bytes in
// little-endian order, so the result does not depend on the machine.
// avalanche below is XXH64's final mix, written out because the library does
// not export it; it combines hashes (pairHash, vnode) without hashing bytes
// again.

const (
	prime1 = 0x9E3779B185EBCA87
	prime2 = 0xC2B2AE3D27D4EB4F
	prime3 = 0x165667B19E3779F9
)

// hashString returns XXH64 of s (seed 0).
func hashString(s string) uint64 { return xxhash.Sum64String(s) }

// pairHash is the hash of the pair (user, agent) for rendezvous scoring,
// from the two strings' hashes: avalanche is a bijection, so for one user
// every agent gets a distinct, well-spread value, and the same for one agent
// across users.
func pairHash(user, agent uint64) uint64 { return avalanche(user ^ avalanche(agent+prime1)) }

// avalanche makes every input bit affect every output bit (xxh64's final mix).
// It is a bijection, so it also serves to spread a counter: see vnode.
func avalanche(h uint64) uint64 {
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

// vnode is the ring position of an agent's i-th virtual node: the agent's
// hash stepped i times by the golden-ratio increment and mixed (SplitMix64's
// generator), which spreads the points as well as hashing "id#i" would, for
// a fraction of the cost.
func vnode(idHash uint64, i int) uint64 {
	return avalanche(idHash + uint64(i+1)*prime1)
}

// unit maps a hash into the open interval (0, 1): the top 52 bits, centred in
// their step, so neither 0 nor 1 can come out (ln must stay finite and
// negative). With 53 bits the top value would round to 1. Every step is
// exact: the result is the same on every machine.
func unit(h uint64) float64 {
	return (float64(h>>12) + 0.5) / (1 << 52)
}
