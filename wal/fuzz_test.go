package wal

import (
	"math/rand"
	"testing"

	"github.com/zkx-project/zkx/core/txn"
)

// segmentBytes returns a valid segment holding a few batches.
func segmentBytes(seed int64) []byte {
	fs := NewMemFS()
	l, _, _ := Open(dir, Options{FS: fs, NoPreallocate: true, Logger: quiet}, Loader{})
	rng := rand.New(rand.NewSource(seed))
	for z := int64(1); z < 12; z += 3 {
		l.Append(batchOf(z, 3, rng))
	}
	l.Close()
	f, _ := fs.Open(dir + "/" + segmentName(1))
	size, _ := f.Size()
	b := make([]byte, size)
	f.ReadAt(b, 0)
	return b
}

// FuzzRecoverSegment feeds arbitrary bytes to recovery as the only log
// segment: it must return txns or an error, never panic or loop.
func FuzzRecoverSegment(f *testing.F) {
	good := segmentBytes(1)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:headerSize])
	f.Add(append(append([]byte(nil), good...), make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := NewMemFS()
		h, _ := fs.Create(dir + "/" + segmentName(1))
		h.WriteAt(b, 0)
		last := int64(0)
		_, _, err := Open(dir, Options{FS: fs, Logger: quiet}, Loader{Txn: func(t2 *txn.Txn) error {
			if t2.Zxid <= last {
				t.Fatalf("txns out of order: %d after %d", t2.Zxid, last)
			}
			last = t2.Zxid
			return nil
		}})
		_ = err
	})
}

// FuzzReadSnapshot feeds arbitrary bytes to the snapshot checks.
func FuzzReadSnapshot(f *testing.F) {
	fs := NewMemFS()
	m := &model{applied: []int64{1, 2, 3}}
	writeSnapshot(fs, dir, 3, true, m.snapshotWriter())
	h, _ := fs.Open(dir + "/" + snapshotName(3))
	size, _ := h.Size()
	good := make([]byte, size)
	h.ReadAt(good, 0)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := NewMemFS()
		h, _ := fs.Create(dir + "/" + snapshotName(3))
		h.WriteAt(b, 0)
		_ = loadSnapshot(fs, dir+"/"+snapshotName(3), 3, (&model{}).loader().Snapshot)
	})
}
