package transport

// SetRecentLogLimit bounds the in-memory log the leader diffs a lagging
// follower from (entries), and returns a function restoring the old bound.
func SetRecentLogLimit(n int) (restore func()) {
	old := maxStoreEntries
	maxStoreEntries = n
	return func() { maxStoreEntries = old }
}
