package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"strings"
	"testing"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/txn"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const dir = "/data"

// model is what a test server would rebuild: the zxids applied, in order.
// Its snapshot is that list.
type model struct{ applied []int64 }

func (m *model) loader() Loader {
	return Loader{
		Snapshot: func(zxid int64, r io.Reader) error {
			m.applied = nil
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			for len(b) >= 8 {
				m.applied = append(m.applied, int64(binary.LittleEndian.Uint64(b)))
				b = b[8:]
			}
			if len(m.applied) > 0 && m.applied[len(m.applied)-1] != zxid {
				return fmt.Errorf("snapshot at %d ends with %d", zxid, m.applied[len(m.applied)-1])
			}
			return nil
		},
		Txn: func(t *txn.Txn) error {
			m.applied = append(m.applied, t.Zxid)
			return nil
		},
	}
}

func (m *model) snapshotWriter() SnapshotWriter {
	applied := append([]int64(nil), m.applied...)
	return func(w io.Writer) (int64, uint64, error) {
		for _, z := range applied {
			if err := binary.Write(w, binary.LittleEndian, z); err != nil {
				return 0, 0, err
			}
		}
		return int64(len(applied)), 0, nil
	}
}

func batchOf(first int64, n int, rng *rand.Rand) []*txn.Txn {
	var b []*txn.Txn
	for i := 0; i < n; i++ {
		z := first + int64(i)
		data := []byte(fmt.Sprintf(`{"host":"10.0.%d.%d","port":%d,"ts":%d}`, rng.Intn(4), rng.Intn(200), 9000+rng.Intn(100), 1700000000000+z))
		var op txn.Op = &txn.SetData{Path: fmt.Sprintf("/app/node-%03d", rng.Intn(50)), Data: data, Version: int32(z)}
		if rng.Intn(4) == 0 {
			op = &txn.Multi{Ops: []txn.Op{
				&txn.Create{Path: fmt.Sprintf("/m/%d", z), Data: data, ACL: acl.OpenUnsafe},
				&txn.Delete{Path: "/old"},
			}}
		}
		b = append(b, &txn.Txn{Zxid: z, Session: 0x100000001, Cxid: int32(z), Time: 1700000000000 + z, Op: op})
	}
	return b
}

// workload appends batches, rolls segments, takes snapshots and purges,
// stopping at the first error. It returns the zxids acknowledged (Append
// returned nil) and attempted.
func workload(fs FS, seed int64) (acked, attempted []int64, err error) {
	rng := rand.New(rand.NewSource(seed))
	m := &model{}
	l, _, err := Open(dir, Options{FS: fs, SegmentSize: 600, Logger: quiet}, m.loader())
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	next := l.LastZxid() + 1
	for i := 0; i < 12; i++ {
		b := batchOf(next, 1+rng.Intn(4), rng)
		for _, t := range b {
			attempted = append(attempted, t.Zxid)
		}
		if err := l.Append(b); err != nil {
			return acked, attempted, err
		}
		for _, t := range b {
			acked = append(acked, t.Zxid)
			m.applied = append(m.applied, t.Zxid)
		}
		next += int64(len(b))
		if i%4 == 3 {
			if _, err := l.WriteSnapshot(m.applied[len(m.applied)-1], m.snapshotWriter()); err != nil {
				return acked, attempted, err
			}
			if _, err := l.Purge(2); err != nil {
				return acked, attempted, err
			}
		}
	}
	return acked, attempted, nil
}

func recoverModel(t *testing.T, fs FS) (*model, Recovered) {
	t.Helper()
	m := &model{}
	l, rec, err := Open(dir, Options{FS: fs, SegmentSize: 600, Logger: quiet}, m.loader())
	if err != nil {
		t.Fatalf("recovery failed: %v", err)
	}
	l.Close()
	return m, rec
}

// TestCrashAtEveryStep crashes the workload after every possible number of
// file system steps (write, fsync, create, rename, directory fsync, remove)
// and checks that recovery yields exactly a prefix of the attempted txns
// that holds every acknowledged one.
func TestCrashAtEveryStep(t *testing.T) {
	for _, torn := range []bool{false, true} {
		full := NewMemFS()
		if _, _, err := workload(full, 1); err != nil {
			t.Fatal(err)
		}
		steps := full.Ops()
		if steps < 40 {
			t.Fatalf("workload made only %d steps", steps)
		}
		for n := 0; n <= steps; n++ {
			fs := NewMemFS()
			if torn {
				fs.TornWrites(int64(n) + 1)
			}
			fs.CrashAfter(n)
			acked, attempted, err := workload(fs, 1)
			if n < steps && !errors.Is(err, ErrCrashed) {
				t.Fatalf("crash point %d: workload error %v", n, err)
			}
			fs.Crash()
			m, rec := recoverModel(t, fs)
			checkPrefix(t, fmt.Sprintf("torn=%v crash after %d steps (%s)", torn, n, describe(rec)), m.applied, acked, attempted)
			// Recovery left a log that takes appends and recovers again.
			l, _, err := Open(dir, Options{FS: fs, SegmentSize: 600, Logger: quiet}, (&model{}).loader())
			if err != nil {
				t.Fatalf("crash point %d: second open: %v", n, err)
			}
			next := l.LastZxid() + 1
			if err := l.Append(batchOf(next, 2, rand.New(rand.NewSource(9)))); err != nil {
				t.Fatalf("crash point %d: append after recovery: %v", n, err)
			}
			l.Close()
			m2, _ := recoverModel(t, fs)
			if len(m2.applied) != len(m.applied)+2 {
				t.Fatalf("crash point %d: after append %d txns, want %d", n, len(m2.applied), len(m.applied)+2)
			}
		}
	}
}

func describe(r Recovered) string {
	return fmt.Sprintf("snapshot %q, %d txns, truncated %q", r.SnapshotFile, r.Txns, r.Truncated)
}

func checkPrefix(t *testing.T, what string, got, acked, attempted []int64) {
	t.Helper()
	if len(got) < len(acked) {
		t.Fatalf("%s: recovered %d txns but %d were acknowledged: lost %v", what, len(got), len(acked), acked[len(got):])
	}
	if len(got) > len(attempted) {
		t.Fatalf("%s: recovered %d txns, only %d were written", what, len(got), len(attempted))
	}
	for i := range got {
		if got[i] != attempted[i] {
			t.Fatalf("%s: txn %d is %d, want %d", what, i, got[i], attempted[i])
		}
	}
}

func TestAppendRecoverRoundTrip(t *testing.T) {
	fs := NewMemFS()
	l, _, err := Open(dir, Options{FS: fs, SegmentSize: 4 << 10, Logger: quiet}, Loader{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	var want []*txn.Txn
	z := int64(1)
	for i := 0; i < 200; i++ {
		b := batchOf(z, 1+rng.Intn(8), rng)
		if err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
		z += int64(len(b))
	}
	st := l.Stats()
	l.Close()
	names, _ := fs.List(dir)
	if len(names) < 3 {
		t.Fatalf("expected several segments, got %v", names)
	}
	var got []*txn.Txn
	_, rec, err := Open(dir, Options{FS: fs, Logger: quiet}, Loader{Txn: func(t *txn.Txn) error { got = append(got, t); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || rec.LastZxid != want[len(want)-1].Zxid {
		t.Fatalf("recovered %d txns (last %#x), want %d", len(got), rec.LastZxid, len(want))
	}
	for i := range want {
		if !bytes.Equal(txn.Marshal(nil, got[i]), txn.Marshal(nil, want[i])) {
			t.Fatalf("txn %d differs", i)
		}
	}
	// History across records compresses similar txns well.
	if st.Bytes*2 > st.RawBytes {
		t.Fatalf("log bytes %d vs raw %d: expected at least 2x compression of similar txns", st.Bytes, st.RawBytes)
	}
}

func TestCorruptionInTheMiddleIsReported(t *testing.T) {
	fs := NewMemFS()
	l, _, _ := Open(dir, Options{FS: fs, Logger: quiet}, Loader{})
	rng := rand.New(rand.NewSource(1))
	for z := int64(1); z < 40; z += 3 {
		if err := l.Append(batchOf(z, 3, rng)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	seg := dir + "/" + segmentName(1)
	f, _ := fs.Open(seg)
	size, _ := f.Size()
	data := make([]byte, size)
	f.ReadAt(data, 0)
	// Damage the second record's payload.
	second := int64(headerSize) + recordHeader + int64(binary.LittleEndian.Uint32(data[headerSize:]))
	data[second+recordHeader+5] ^= 0xff
	f.WriteAt(data, 0)
	_, _, err := Open(dir, Options{FS: fs, Logger: quiet}, Loader{})
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CorruptionError, got %v", err)
	}
	if ce.File != seg || ce.Offset != second {
		t.Fatalf("error names %s at %d, want %s at %d", ce.File, ce.Offset, seg, second)
	}
	if !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), fmt.Sprint(second)) {
		t.Fatalf("message %q must name the file and offset", err)
	}
}

func TestCorruptSnapshotFallsBackOrStops(t *testing.T) {
	fs := NewMemFS()
	m := &model{}
	l, _, _ := Open(dir, Options{FS: fs, Logger: quiet}, m.loader())
	rng := rand.New(rand.NewSource(1))
	z := int64(1)
	var snaps []SnapshotInfo
	for i := 0; i < 3; i++ {
		b := batchOf(z, 3, rng)
		l.Append(b)
		for _, t := range b {
			m.applied = append(m.applied, t.Zxid)
		}
		z += 3
		info, err := l.WriteSnapshot(z-1, m.snapshotWriter())
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, info)
	}
	l.Close()
	damage := func(name string) {
		f, _ := fs.Open(dir + "/" + name)
		b := make([]byte, 1)
		f.ReadAt(b, headerSize+2)
		b[0] ^= 0x55
		f.WriteAt(b, headerSize+2)
	}
	damage(snaps[2].File)
	got, rec := recoverModel(t, fs)
	if rec.SnapshotFile != snaps[1].File || len(got.applied) != 9 {
		t.Fatalf("with the newest snapshot corrupt: recovered from %q with %d txns", rec.SnapshotFile, len(got.applied))
	}
	// With every snapshot corrupt the full log still rebuilds the state.
	damage(snaps[1].File)
	damage(snaps[0].File)
	got, rec = recoverModel(t, fs)
	if rec.SnapshotFile != "" || len(got.applied) != 9 {
		t.Fatalf("from the log alone: snapshot %q, %d txns", rec.SnapshotFile, len(got.applied))
	}
	// Without the first segment the data is gone: recovery must stop.
	names, _ := fs.List(dir)
	for _, n := range names {
		if strings.HasPrefix(n, "log-") {
			fs.Remove(dir + "/" + n)
			break
		}
	}
	if _, _, err := Open(dir, Options{FS: fs, Logger: quiet}, (&model{}).loader()); !IsCorruption(err) {
		t.Fatalf("corrupt snapshots and a missing log: want corruption error, got %v", err)
	}
}

func TestPurgeKeepsWhatRecoveryNeeds(t *testing.T) {
	fs := NewMemFS()
	m := &model{}
	l, _, _ := Open(dir, Options{FS: fs, SegmentSize: 300, Logger: quiet}, m.loader())
	rng := rand.New(rand.NewSource(5))
	z := int64(1)
	for i := 0; i < 40; i++ {
		b := batchOf(z, 2, rng)
		l.Append(b)
		for _, t := range b {
			m.applied = append(m.applied, t.Zxid)
		}
		z += 2
		if i%5 == 4 {
			l.WriteSnapshot(z-1, m.snapshotWriter())
		}
	}
	res, err := l.Purge(3)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if len(res.Snapshots) != 5 || len(res.Segments) == 0 {
		t.Fatalf("purge removed %v", res)
	}
	names, _ := fs.List(dir)
	snaps := 0
	for _, n := range names {
		if strings.HasPrefix(n, "snap-") {
			snaps++
		}
	}
	if snaps != 3 {
		t.Fatalf("%d snapshots left, want 3: %v", snaps, names)
	}
	got, _ := recoverModel(t, fs)
	if len(got.applied) != len(m.applied) {
		t.Fatalf("after purge recovered %d txns, want %d", len(got.applied), len(m.applied))
	}
}

func TestInspectDir(t *testing.T) {
	d := t.TempDir()
	l, _, err := Open(d, Options{Logger: quiet, SegmentSize: 8 << 10}, Loader{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	n := 0
	for z := int64(1); z < 400; z += 4 {
		if err := l.Append(batchOf(z, 4, rng)); err != nil {
			t.Fatal(err)
		}
		n += 4
	}
	l.Close()
	var seen []int64
	infos, err := InspectDir(d, func(_ string, tx *txn.Txn) error { seen = append(seen, tx.Zxid); return nil })
	if err != nil {
		t.Fatal(err)
	}
	txns := 0
	for _, in := range infos {
		if in.Err != nil {
			t.Fatalf("%s: %v", in.File, in.Err)
		}
		if in.UsedBytes <= headerSize || in.UsedBytes > in.FileBytes {
			t.Fatalf("%s: used %d of %d bytes", in.File, in.UsedBytes, in.FileBytes)
		}
		txns += in.Txns
	}
	if len(infos) < 2 || txns != n || len(seen) != n || seen[n-1] != int64(n) {
		t.Fatalf("%d segments, %d txns (%d seen), want %d", len(infos), txns, len(seen), n)
	}
}

// Only the segment being appended to keeps its preallocated space: a
// rolled-over segment, a cleanly closed one and the last segment of a
// crashed server (after recovery) are cut to their records, so repeated
// restarts neither fill the disk nor make recovery read megabytes of zeros.
func TestFinishedSegmentsGiveBackPreallocation(t *testing.T) {
	d := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, Logger: quiet}
	l, _, err := Open(d, opts, Loader{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(5))
	z := int64(1)
	appendSome := func(l *Log, n int) {
		for i := 0; i < n; i++ {
			b := batchOf(z, 1+rng.Intn(8), rng)
			if err := l.Append(b); err != nil {
				t.Fatal(err)
			}
			z += int64(len(b))
		}
	}
	sizes := func() map[string]int64 {
		names, err := OSFS{}.List(d)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, n := range names {
			if !strings.HasSuffix(n, ".wal") {
				continue
			}
			f, err := OSFS{}.Open(join(d, n))
			if err != nil {
				t.Fatal(err)
			}
			m[n], _ = f.Size()
			f.Close()
		}
		return m
	}
	appendSome(l, 2000)
	prealloc := opts.SegmentSize + maxBatchSlack
	current := l.seg.name
	full := 0
	for n, s := range sizes() {
		if n == current {
			if s != prealloc {
				t.Fatalf("current segment %s is %d bytes, want it preallocated to %d", n, s, prealloc)
			}
			continue
		}
		full++
		if s > opts.SegmentSize+maxBatchSlack/2 || s < opts.SegmentSize {
			t.Fatalf("rolled segment %s is %d bytes; want about %d (trimmed to its records)", n, s, opts.SegmentSize)
		}
	}
	if full < 2 {
		t.Fatalf("want several rolled segments, got %v", sizes())
	}

	// A crash: the current segment is left preallocated. Recovery trims it.
	crashed := l.seg.name
	l.seg.f.Close()
	l2, rec, err := Open(d, opts, Loader{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.LastZxid != z-1 {
		t.Fatalf("recovered to %#x, want %#x", rec.LastZxid, z-1)
	}
	if s := sizes()[crashed]; s >= prealloc {
		t.Fatalf("after recovery the crashed segment is still %d bytes", s)
	}
	appendSome(l2, 10)
	cur := l2.seg.name
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if s := sizes()[cur]; s >= prealloc/2 {
		t.Fatalf("a cleanly closed segment is %d bytes; want it trimmed", s)
	}
	_, rec, err = Open(d, opts, Loader{})
	if err != nil || rec.LastZxid != z-1 {
		t.Fatalf("reopen: %v, last %#x want %#x", err, rec.LastZxid, z-1)
	}
}

// Recovered.Txns counts the txns replayed after the snapshot, not every
// txn read from the segments that hold them.
func TestRecoveredCountsReplayedTxns(t *testing.T) {
	fs := NewMemFS()
	m := &model{}
	l, _, err := Open(dir, Options{FS: fs, Logger: quiet}, m.loader())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	b := batchOf(1, 10, rng)
	if err := l.Append(b[:6]); err != nil {
		t.Fatal(err)
	}
	for _, t := range b[:6] {
		m.applied = append(m.applied, t.Zxid)
	}
	if _, err := l.WriteSnapshot(6, m.snapshotWriter()); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(b[6:]); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, rec, err := Open(dir, Options{FS: fs, Logger: quiet}, (&model{}).loader())
	if err != nil {
		t.Fatal(err)
	}
	if rec.SnapshotZxid != 6 || rec.Txns != 4 || rec.LastZxid != 10 {
		t.Fatalf("recovered %+v; want snapshot 6, 4 txns replayed, last 10", rec)
	}
}
