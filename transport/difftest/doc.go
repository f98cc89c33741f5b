// Package difftest compares zkx with Apache ZooKeeper 3.8: the same seeded
// random op sequences, through the same bare protocol client, against both
// servers, with every answer, Stat field and watch event required to match.
// Run more with: go test ./transport/difftest -diff.seeds=200 -diff.ops=1000
package difftest
