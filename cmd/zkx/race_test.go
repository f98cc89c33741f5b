//go:build race

package main

// raceEnabled: the tests run under the race detector, so the zkx binary
// they build and run gets it too.
const raceEnabled = true
