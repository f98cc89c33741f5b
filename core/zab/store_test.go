package zab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// memStore is a server's disk and app in tests: hard state, a log after a
// snapshot, and the app state, which is the list of applied entries. It
// implements Storage and carries out Readys as doc.go says.
type memStore struct {
	hs       HardState
	snapZxid int64
	snap     []Entry // the state the snapshot holds
	log      []Entry // entries after snapZxid, written (durable up to durable)
	applied  []Entry // the app's state (rebuilt from snap+log at restart)
	// durable is the last log entry known durable: a crash loses the log
	// after it (AsyncPersist writes entries before they are fsynced).
	durable int64
}

func (s *memStore) lastZxid() int64 {
	if len(s.log) > 0 {
		return s.log[len(s.log)-1].Zxid
	}
	return s.snapZxid
}

// Entries implements Storage.
func (s *memStore) Entries(lo, hi int64) ([]Entry, error) {
	if lo < s.snapZxid {
		return nil, ErrCompacted
	}
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].Zxid > lo })
	j := sort.Search(len(s.log), func(i int) bool { return s.log[i].Zxid > hi })
	if i >= j {
		return nil, nil
	}
	return slices.Clone(s.log[i:j]), nil
}

// Floor implements Storage: the store keeps one snapshot, and the log
// after it.
func (s *memStore) Floor() int64 { return s.snapZxid }

// Snapshot implements Storage: the app's current state, as the transport
// does.
func (s *memStore) Snapshot() ([]byte, int64, error) {
	var zxid int64
	if len(s.applied) > 0 {
		zxid = s.applied[len(s.applied)-1].Zxid
	}
	return encodeState(s.applied), zxid, nil
}

func encodeState(es []Entry) []byte {
	var b []byte
	for _, e := range es {
		b = binary.AppendVarint(b, e.Zxid)
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

func decodeState(b []byte) ([]Entry, error) {
	var es []Entry
	for len(b) > 0 {
		z, n := binary.Varint(b)
		if n <= 0 {
			return nil, errors.New("bad state")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errors.New("bad state")
		}
		b = b[n:]
		es = append(es, Entry{Zxid: z, Data: slices.Clone(b[:l])})
		b = b[l:]
	}
	return es, nil
}

// restartConfig is what a restarted server passes NewNode: its app loaded
// the snapshot and replayed the whole log.
func (s *memStore) restart() {
	s.applied = append(slices.Clone(s.snap), s.log...)
}

// persist carries out step 2 of a Ready: truncate or install a snapshot,
// then write the hard state and the entries.
func (s *memStore) persist(rd Ready) error {
	if rd.Truncate != nil {
		t := *rd.Truncate
		if t < s.snapZxid {
			// The store reported its snapshot as its Floor; a real app
			// could not rebuild below it.
			return fmt.Errorf("truncate to %s, below the snapshot at %s", FormatZxid(t), FormatZxid(s.snapZxid))
		}
		s.log = keepUpTo(s.log, t)
		s.applied = append(slices.Clone(s.snap), s.log...)
	}
	if rd.Snapshot != nil {
		es, err := decodeState(rd.Snapshot.Data)
		if err != nil {
			return err
		}
		s.snap, s.snapZxid, s.log = es, rd.Snapshot.Zxid, nil
		s.applied = slices.Clone(es)
	}
	if rd.HardState != nil {
		s.hs = *rd.HardState
	}
	if err := s.write(rd.Entries); err != nil {
		return err
	}
	s.sync()
	return nil
}

// write appends entries without making them durable (AsyncPersist).
func (s *memStore) write(es []Entry) error {
	for _, e := range es {
		if e.Zxid <= s.lastZxid() {
			return fmt.Errorf("entry %s appended after %s", FormatZxid(e.Zxid), FormatZxid(s.lastZxid()))
		}
		s.log = append(s.log, e)
	}
	return nil
}

// sync makes everything written durable and returns the last zxid.
func (s *memStore) sync() int64 {
	s.durable = s.lastZxid()
	return s.durable
}

// crash loses what was written but not synced.
func (s *memStore) crash() {
	s.log = keepUpTo(s.log, max(s.durable, s.snapZxid))
}

// apply carries out step 4: apply committed entries, which must be logged.
func (s *memStore) apply(rd Ready) error {
	for _, e := range rd.Committed {
		if len(s.applied) > 0 && e.Zxid <= s.applied[len(s.applied)-1].Zxid {
			return fmt.Errorf("applied %s after %s", FormatZxid(e.Zxid), FormatZxid(s.applied[len(s.applied)-1].Zxid))
		}
		if e.Zxid > s.snapZxid {
			i := sort.Search(len(s.log), func(i int) bool { return s.log[i].Zxid >= e.Zxid })
			if i == len(s.log) || s.log[i].Zxid != e.Zxid {
				return fmt.Errorf("applied %s, which is not logged", FormatZxid(e.Zxid))
			}
		}
		s.applied = append(s.applied, e)
	}
	return nil
}

// compact snapshots the app state up to zxid and drops the log up to it.
func (s *memStore) compact(zxid int64) {
	if zxid <= s.snapZxid {
		return
	}
	s.snap = keepUpTo(s.applied, zxid)
	s.snapZxid = zxid
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].Zxid > zxid })
	s.log = slices.Clone(s.log[i:])
}

// has reports whether zxid is durable here: logged, or under the snapshot.
func (s *memStore) has(zxid int64) bool {
	if zxid <= s.snapZxid {
		return true
	}
	if zxid > s.durable {
		return false
	}
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].Zxid >= zxid })
	return i < len(s.log) && s.log[i].Zxid == zxid
}

func keepUpTo(es []Entry, zxid int64) []Entry {
	i := sort.Search(len(es), func(i int) bool { return es[i].Zxid > zxid })
	return slices.Clone(es[:i])
}

func (s *memStore) config(id int64, voters, observers []int64) Config {
	return Config{
		ID:        id,
		Voters:    voters,
		Observers: observers,
		Storage:   s,
		HardState: s.hs,
		LastZxid:  s.lastZxid(),
	}
}
