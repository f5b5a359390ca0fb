//go:build race

package main

// raceEnabled: the test binary runs with the race detector, so a binary the
// test builds uses it too, and Go's cache has every package built that way.
const raceEnabled = true
