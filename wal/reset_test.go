package wal

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// resetWorkload logs txns 1..20 of epoch 0 with a snapshot at 12, then
// obeys a leader's TRUNC to 8 and appends three txns of epoch 1. It
// returns the new-epoch zxids acknowledged, and whether Reset returned.
func resetWorkload(fs FS, crashAfterSetup func()) (acked []int64, reset bool, err error) {
	rng := rand.New(rand.NewSource(3))
	m := &model{}
	l, _, err := Open(dir, Options{FS: fs, SegmentSize: 600, Logger: quiet}, m.loader())
	if err != nil {
		return nil, false, err
	}
	defer l.Close()
	for next := int64(1); next <= 20; next += 4 {
		b := batchOf(next, 4, rng)
		if err := l.Append(b); err != nil {
			return nil, false, err
		}
		for _, t := range b {
			m.applied = append(m.applied, t.Zxid)
		}
		if next == 9 {
			if _, err := l.WriteSnapshot(12, m.snapshotWriter()); err != nil {
				return nil, false, err
			}
		}
	}
	crashAfterSetup()
	truncated := &model{applied: m.applied[:8]}
	if _, err := l.Reset(8, truncated.snapshotWriter()); err != nil {
		return nil, false, err
	}
	for i := int64(1); i <= 3; i++ {
		z := 1<<32 | i
		if err := l.Append(batchOf(z, 1, rng)); err != nil {
			return acked, true, err
		}
		acked = append(acked, z)
	}
	return acked, true, nil
}

// TestResetAtEveryCrashPoint crashes a TRUNC-style Reset and the appends
// after it at every file system step: recovery yields either the whole
// old log (the reset never became durable) or txns 1..8 followed by a
// prefix of the new epoch's that holds every acknowledged one, and never
// a txn the reset dropped.
func TestResetAtEveryCrashPoint(t *testing.T) {
	full := NewMemFS()
	setupOps := 0
	if _, _, err := resetWorkload(full, func() { setupOps = full.Ops() }); err != nil {
		t.Fatal(err)
	}
	total := full.Ops()
	old := make([]int64, 20)
	for i := range old {
		old[i] = int64(i + 1)
	}
	for n := 0; n <= total-setupOps; n++ {
		fs := NewMemFS()
		acked, reset, err := resetWorkload(fs, func() { fs.CrashAfter(n) })
		if err != nil && !errors.Is(err, ErrCrashed) {
			t.Fatalf("crash point %d: workload error %v", n, err)
		}
		fs.Crash()
		m := &model{}
		l, rec, err := Open(dir, Options{FS: fs, SegmentSize: 600, Logger: quiet}, m.loader())
		if err != nil {
			t.Fatalf("crash point %d: recovery: %v", n, err)
		}
		what := fmt.Sprintf("crash point %d (%s, pending=%v)", n, describe(rec), rec.ResetPending)
		if slices.Equal(m.applied, old) {
			if reset {
				t.Fatalf("%s: Reset returned but the dropped txns came back", what)
			}
			l.Close()
			continue
		}
		if len(m.applied) < 8 || !slices.Equal(m.applied[:8], old[:8]) {
			t.Fatalf("%s: recovered %v, want 1..8 then epoch 1", what, m.applied)
		}
		tail := m.applied[8:]
		for i, z := range tail {
			if z != 1<<32|int64(i+1) {
				t.Fatalf("%s: recovered %#x after the reset point", what, tail)
			}
		}
		if len(tail) < len(acked) {
			t.Fatalf("%s: lost acknowledged txns: have %d of %d", what, len(tail), len(acked))
		}
		if rec.ResetPending {
			if len(tail) != 0 {
				t.Fatalf("%s: pending reset with txns after it", what)
			}
			// The caller finishes the reset; the log then takes appends.
			if _, err := l.Reset(8, m.snapshotWriter()); err != nil {
				t.Fatalf("%s: finishing the reset: %v", what, err)
			}
			if err := l.Append(batchOf(1<<32|1, 1, rand.New(rand.NewSource(1)))); err != nil {
				t.Fatalf("%s: append after finishing: %v", what, err)
			}
			l.Close()
			m2 := &model{}
			l2, rec2, err := Open(dir, Options{FS: fs, SegmentSize: 600, Logger: quiet}, m2.loader())
			if err != nil || rec2.ResetPending || len(m2.applied) != 9 {
				t.Fatalf("%s: after finishing: err %v pending %v applied %v", what, err, rec2.ResetPending, m2.applied)
			}
			l2.Close()
			continue
		}
		l.Close()
	}
}

// A reset below every snapshot, once the log before them is purged, cannot
// be carried out: recovery says so instead of starting from an empty tree.
// OldestSnapshot tells a caller where that floor is beforehand.
func TestResetBelowOldestSnapshotFails(t *testing.T) {
	fs := NewMemFS()
	rng := rand.New(rand.NewSource(4))
	m := &model{}
	l, _, err := Open(dir, Options{FS: fs, SegmentSize: 100, Logger: quiet}, m.loader())
	if err != nil {
		t.Fatal(err)
	}
	if z, err := l.OldestSnapshot(); err != nil || z != 0 {
		t.Fatalf("OldestSnapshot of a new log = %#x, %v; want 0", z, err)
	}
	for next := int64(1); next <= 20; next += 4 {
		b := batchOf(next, 4, rng)
		if err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		for _, tx := range b {
			m.applied = append(m.applied, tx.Zxid)
		}
		if next == 9 {
			if _, err := l.WriteSnapshot(12, m.snapshotWriter()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := l.Purge(1); err != nil {
		t.Fatal(err)
	}
	if z, err := l.OldestSnapshot(); err != nil || z != 12 {
		t.Fatalf("OldestSnapshot = %#x, %v; want 0xc", z, err)
	}
	if err := l.BeginReset(8); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := &model{}
	_, rec, err := Open(dir, Options{FS: fs, SegmentSize: 100, Logger: quiet}, m2.loader())
	if !errors.Is(err, ErrResetBelowSnapshot) {
		t.Fatalf("recovery of a reset below the only snapshot: err %v, last zxid %#x, applied %v; want ErrResetBelowSnapshot", err, rec.LastZxid, m2.applied)
	}
}
