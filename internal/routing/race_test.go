//go:build race

package routing_test

// raceEnabled is set when the race detector is on: the comparison rows of
// TestConsistentHashBoundedLoads, which assert nothing, are skipped then.
const raceEnabled = true
