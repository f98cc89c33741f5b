package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/zkx-project/zkx/core/txn"
)

// Loader receives what recovery finds, in order: at most one snapshot
// (Snapshot may be called again with an older one if the newer turns out
// unusable: it must start from scratch each time), then every txn after it.
type Loader struct {
	Snapshot func(zxid int64, body io.Reader) error
	Txn      func(t *txn.Txn) error
}

// Recovered describes what Open found.
type Recovered struct {
	SnapshotFile string // "" if recovery started from an empty tree
	SnapshotZxid int64
	Txns         int   // txns replayed after the snapshot
	LastZxid     int64 // the last durable zxid
	// ResetPending: a Reset to LastZxid was cut short by a crash; the
	// caller must finish it (Log.Reset with the recovered state) before
	// appending.
	ResetPending bool
	Truncated    string // "file at offset N" if a torn tail was cut off
}

// Open recovers the log in dir through ld and returns it ready to append.
// A torn tail is truncated; any other damage is a *CorruptionError.
func Open(dir string, opts Options, ld Loader) (*Log, Recovered, error) {
	opts.setDefaults()
	var rec Recovered
	fs := opts.FS
	if err := fs.MkdirAll(dir); err != nil {
		return nil, rec, fmt.Errorf("wal: %w", err)
	}
	snapDir := opts.SnapDir
	if snapDir == "" {
		snapDir = dir
	} else if err := fs.MkdirAll(snapDir); err != nil {
		return nil, rec, fmt.Errorf("wal: %w", err)
	}
	// Snapshots that were never finished.
	for _, d := range []string{dir, snapDir} {
		names, err := fs.List(d)
		if err != nil {
			return nil, rec, fmt.Errorf("wal: %w", err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, ".tmp") {
				if err := fs.Remove(join(d, n)); err != nil {
					return nil, rec, fmt.Errorf("wal: remove %s: %w", n, err)
				}
			}
		}
	}
	segs, snaps, err := listFiles(fs, dir, snapDir)
	if err != nil {
		return nil, rec, fmt.Errorf("wal: %w", err)
	}

	l := &Log{dir: dir, opts: opts, log: opts.Logger, enc: newEncoder()}

	// An unfinished Reset: nothing after its zxid counts.
	limit, resetting, err := readResetMarker(fs, dir)
	if err != nil {
		return nil, rec, err
	}
	allSnaps := len(snaps)
	oldest := ""
	if allSnaps > 0 {
		oldest = snaps[0].name
	}
	if resetting {
		rec.ResetPending = true
		kept := snaps[:0]
		for _, s := range snaps {
			if s.zxid <= limit {
				kept = append(kept, s)
			}
		}
		snaps = kept
	}

	// The newest snapshot that checks out and loads.
	var snapErr error
	loaded := false
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		err := loadSnapshot(fs, join(snapDir, s.name), s.zxid, ld.Snapshot)
		if err == nil {
			rec.SnapshotFile, rec.SnapshotZxid = s.name, s.zxid
			loaded = true
			break
		}
		l.log.Warn("snapshot unusable; trying an older one", "file", s.name, "err", err)
		if snapErr == nil {
			snapErr = err
		}
	}
	if !loaded {
		if allSnaps > 0 && (len(segs) == 0 || segs[0].first > 1) {
			// No usable snapshot and the log does not go back to the start:
			// committed data would be lost.
			if snapErr == nil { // every snapshot is past the reset's zxid
				snapErr = fmt.Errorf("%w: reset to %#x, oldest snapshot %s", ErrResetBelowSnapshot, limit, oldest)
			}
			return nil, rec, snapErr
		}
		if allSnaps > 0 && ld.Snapshot != nil {
			// Start over from an empty tree and the complete log.
			if err := ld.Snapshot(0, bytes.NewReader(nil)); err != nil {
				return nil, rec, err
			}
		}
	}

	// The segments holding txns after the snapshot.
	start := 0
	for i, s := range segs {
		if s.first <= rec.SnapshotZxid+1 {
			start = i
		}
	}
	last := rec.SnapshotZxid
	for i := start; i < len(segs); i++ {
		isLast := i == len(segs)-1
		_, cut, err := readSegment(fs, dir, segs[i], isLast, func(t *txn.Txn) error {
			if t.Zxid <= rec.SnapshotZxid || resetting && t.Zxid > limit {
				return nil
			}
			rec.Txns++
			if t.Zxid <= last {
				return fmt.Errorf("zxid %#x after %#x", t.Zxid, last)
			}
			if last == rec.SnapshotZxid && !follows(rec.SnapshotZxid, t.Zxid) {
				return fmt.Errorf("%w: snapshot at %#x, next txn %#x", ErrGap, rec.SnapshotZxid, t.Zxid)
			}
			last = t.Zxid
			if ld.Txn != nil {
				return ld.Txn(t)
			}
			return nil
		}, l.log)
		if err != nil {
			return nil, rec, err
		}
		if cut != "" {
			rec.Truncated = cut
		}
	}
	rec.LastZxid = last
	l.lastZxid = last
	return l, rec, nil
}

// follows reports whether next may come right after prev: the next counter
// of the same epoch, or the first txn of a later epoch.
func follows(prev, next int64) bool {
	if next == prev+1 {
		return true
	}
	return next>>32 > prev>>32 && next&0xffffffff == 1
}

type segRef struct {
	name  string
	first int64
}

type snapRef struct {
	name string
	zxid int64
}

// recordSource feeds a segment's zstd stream from its records, one at a
// time, so the decoder never runs ahead of the record being read.
type recordSource struct {
	pending []byte
}

func (r *recordSource) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// readSegment decodes the records of one segment and calls fn for each
// txn. A bad record in the last segment with nothing valid after it is a
// torn tail: the file is truncated there. Any other bad record is
// corruption.
func readSegment(fs FS, dir string, ref segRef, isLast bool, fn func(*txn.Txn) error, log interface {
	Warn(string, ...any)
}) (count int, cut string, err error) {
	path := join(dir, ref.name)
	f, err := fs.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("wal: open %s: %w", ref.name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, "", fmt.Errorf("wal: %s: %w", ref.name, err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, "", fmt.Errorf("wal: read %s: %w", ref.name, err)
	}
	corrupt := func(off int64, e error) error {
		return &CorruptionError{File: path, Offset: off, Err: e}
	}
	hdr, err := decodeHeader(data, logMagic)
	if err != nil {
		if isLast && !hasValidRecord(data, 0) {
			// Crashed while starting this segment: it holds nothing.
			log.Warn("removing a segment whose header was never completed", "file", ref.name)
			f.Close()
			if err := fs.Remove(path); err != nil {
				return 0, "", fmt.Errorf("wal: remove %s: %w", ref.name, err)
			}
			return 0, ref.name + " (incomplete segment removed)", nil
		}
		return 0, "", corrupt(0, err)
	}
	if hdr.zxid != ref.first {
		return 0, "", corrupt(0, fmt.Errorf("header names first zxid %#x, file name %#x", hdr.zxid, ref.first))
	}
	src := &recordSource{}
	dec, err := newSegmentDecoder(src)
	if err != nil {
		return 0, "", err
	}
	defer dec.Close()
	var raw []byte
	off := int64(headerSize)
records:
	for off+recordHeader <= size {
		length := binary.LittleEndian.Uint32(data[off:])
		if length == 0 {
			// The preallocated tail; nothing valid may follow.
			if hasValidRecord(data, off+1) {
				return count, "", corrupt(off, errors.New("zero length before valid records"))
			}
			break records
		}
		payload, ok := recordAt(data, off)
		if !ok {
			if isLast && !hasValidRecord(data, off+1) {
				log.Warn("truncating a torn record at the end of the log", "file", ref.name, "offset", off)
				if err := f.Truncate(off); err != nil {
					return 0, "", fmt.Errorf("wal: truncate %s: %w", ref.name, err)
				}
				if err := f.Sync(); err != nil {
					return 0, "", fmt.Errorf("wal: fsync %s: %w", ref.name, err)
				}
				cut = fmt.Sprintf("%s at offset %d", ref.name, off)
				break records
			}
			return count, "", corrupt(off, ErrBadChecksum)
		}
		txns, err := decodeBatch(dec, src, payload, &raw)
		if err != nil {
			return count, "", corrupt(off, err)
		}
		for _, t := range txns {
			if err := fn(t); err != nil {
				return count, "", corrupt(off, err)
			}
			count++
		}
		off += recordHeader + int64(length)
	}
	if isLast && cut == "" && off < size && count > 0 {
		// The zeros a crash left in the preallocated tail: appends go to a
		// new segment, so the space is given back.
		if err := f.Truncate(off); err != nil {
			log.Warn("could not trim the preallocated tail", "file", ref.name, "err", err)
		}
	}
	if count == 0 && isLast {
		// A segment with no records (a crash right after it was started):
		// the next append starts the same segment again, so it goes.
		f.Close()
		if err := fs.Remove(path); err != nil {
			return 0, "", fmt.Errorf("wal: remove %s: %w", ref.name, err)
		}
	}
	return count, cut, nil
}

func newSegmentDecoder(src io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<24))
}

// recordAt returns the payload of the record at off if it is whole and its
// checksum matches.
func recordAt(data []byte, off int64) ([]byte, bool) {
	if off+recordHeader > int64(len(data)) {
		return nil, false
	}
	length := int64(binary.LittleEndian.Uint32(data[off:]))
	if length == 0 || length > maxRecord || off+recordHeader+length > int64(len(data)) {
		return nil, false
	}
	payload := data[off+recordHeader : off+recordHeader+length]
	want := binary.LittleEndian.Uint32(data[off+4:])
	return payload, recordCRC(data[off:off+4], payload) == want
}

// hasValidRecord reports whether a whole, checksummed record starts
// anywhere at or after from. Recovery uses it to tell a torn tail (nothing
// valid after the damage) from corruption in the middle.
func hasValidRecord(data []byte, from int64) bool {
	for off := from; off+recordHeader <= int64(len(data)); off++ {
		off = nextNonZero(data, off)
		if off+recordHeader > int64(len(data)) {
			return false
		}
		// A record's length has a non-zero byte among its first four, so
		// the candidates start up to three bytes before that byte.
		for o := max(from, off-3); o <= off; o++ {
			if _, ok := recordAt(data, o); ok {
				return true
			}
		}
	}
	return false
}

// nextNonZero returns the offset of the first non-zero byte at or after
// from (len(data) if none), eight bytes at a time through zeros.
func nextNonZero(data []byte, from int64) int64 {
	n := int64(len(data))
	for from+8 <= n && binary.LittleEndian.Uint64(data[from:]) == 0 {
		from += 8
	}
	for from < n && data[from] == 0 {
		from++
	}
	return from
}
