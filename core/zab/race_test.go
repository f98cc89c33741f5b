//go:build race

package zab

const raceEnabled = true
