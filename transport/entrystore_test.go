package transport

import (
	"errors"
	"testing"

	"github.com/zkx-project/zkx/core/zab"
)

// The in-memory log keeps the newest entries within its bounds, answers
// ranges inside them, and says ErrCompacted (send a snapshot) for ranges
// that begin before them.
func TestEntryStoreKeepsTheNewestEntries(t *testing.T) {
	s := &entryStore{}
	s.reset(nil, 0)
	n := int64(maxStoreEntries * 3)
	batch := make([]zab.Entry, 0, 100)
	for z := int64(1); z <= n; z++ {
		batch = append(batch, zab.Entry{Zxid: z, Data: []byte{byte(z)}})
		if len(batch) == cap(batch) {
			s.append(batch)
			batch = batch[:0]
		}
	}
	if len(s.entries) > maxStoreEntries || len(s.entries) < maxStoreEntries*3/4 {
		t.Fatalf("store holds %d entries, want between %d and %d", len(s.entries), maxStoreEntries*3/4, maxStoreEntries)
	}
	if s.base != s.entries[0].Zxid-1 {
		t.Fatalf("base %d, first entry %d", s.base, s.entries[0].Zxid)
	}
	es, err := s.Entries(n-10, n)
	if err != nil || len(es) != 10 || es[0].Zxid != n-9 || es[9].Zxid != n {
		t.Fatalf("Entries(n-10, n) = %d entries, %v", len(es), err)
	}
	if _, err := s.Entries(s.base-1, n); !errors.Is(err, zab.ErrCompacted) {
		t.Fatalf("a range before the store: %v, want ErrCompacted", err)
	}
	if es, err := s.Entries(s.base, s.base+1); err != nil || len(es) != 1 {
		t.Fatalf("the range right at the base: %d entries, %v", len(es), err)
	}
}
