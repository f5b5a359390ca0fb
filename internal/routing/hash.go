package routing

import "math/bits"

// The hash every routing decision is made with. It must give the same value
// for the same input on every replica, every architecture and every version of
// kfgate: a user's place on the ring and the weighted scores come from it, so
// changing it (even its seed) moves every user to another agent at the next
// deploy. TestHashGolden pins it. hash/maphash is not an option (its seed is
// per process), nor is the runtime's string hash.
//
// It is xxh64's short-input path reading one 8-byte word at a time (IDs and
// openids are short: 28 bytes for an openid), with xxh64's avalanche at the
// end. Words are assembled byte by byte in little-endian order, so the result
// does not depend on the machine's byte order; the compiler turns the
// assembly into one load.

const (
	prime1 = 0x9E3779B185EBCA87
	prime2 = 0xC2B2AE3D27D4EB4F
	prime3 = 0x165667B19E3779F9
	prime4 = 0x85EBCA77C2B2AE63
	prime5 = 0x27D4EB2F165667C5
)

// hashString returns the 64-bit hash of s under seed.
func hashString(seed uint64, s string) uint64 {
	h := seed + prime5 + uint64(len(s))
	for ; len(s) >= 8; s = s[8:] {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h ^= round(w)
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	if len(s) > 0 {
		var w uint64
		for i := range len(s) {
			w |= uint64(s[i]) << (8 * i)
		}
		h ^= round(w)
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	return avalanche(h)
}

func round(w uint64) uint64 {
	return bits.RotateLeft64(w*prime2, 31) * prime1
}

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
