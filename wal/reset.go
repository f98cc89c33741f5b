package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// resetMarker names the file that records a Reset in progress: 8 bytes of
// zxid (little endian) and their CRC32C. Part of the on-disk format.
const resetMarker = "reset.pending"

// Reset makes zxid the end of the log: every txn after it is dropped, and
// write's snapshot (the state at zxid) becomes the base of the log. It is
// how a replica obeys its leader's TRUNC (txns it logged but the ensemble
// never committed) and SNAP (state installed from the leader).
//
// Durability steps, in order: the marker (write, fsync, rename, directory
// fsync), so that a crash from here on recovers only up to zxid; the
// snapshot; removal of every segment and of snapshots past zxid; removal
// of the marker. Appends continue with txns after zxid.
func (l *Log) Reset(zxid int64, write SnapshotWriter) (SnapshotInfo, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return SnapshotInfo{}, ErrClosed
	}
	fs := l.opts.FS
	if err := l.writeResetMarker(zxid); err != nil {
		return SnapshotInfo{}, err
	}
	for _, seg := range append(l.retired, l.seg) {
		if seg != nil {
			seg.f.Close()
		}
	}
	l.retired, l.seg = nil, nil
	segs, snaps, err := listFiles(fs, l.dir, l.snapDir())
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("wal: reset: %w", err)
	}
	for _, s := range snaps {
		if s.zxid >= zxid {
			if err := fs.Remove(join(l.snapDir(), s.name)); err != nil {
				return SnapshotInfo{}, fmt.Errorf("wal: reset: remove %s: %w", s.name, err)
			}
		}
	}
	info, err := writeSnapshot(fs, l.snapDir(), zxid, !l.opts.NoSync, write)
	if err != nil {
		return info, err
	}
	for _, s := range segs {
		if err := fs.Remove(join(l.dir, s.name)); err != nil {
			return info, fmt.Errorf("wal: reset: remove %s: %w", s.name, err)
		}
	}
	if err := l.syncDir(l.dir); err != nil {
		return info, err
	}
	if err := fs.Remove(join(l.dir, resetMarker)); err != nil {
		return info, fmt.Errorf("wal: reset: remove marker: %w", err)
	}
	if err := l.syncDir(l.dir); err != nil {
		return info, err
	}
	l.lastZxid = zxid
	l.log.Info("log reset", "zxid", fmt.Sprintf("%#x", zxid), "segments-removed", len(segs), "snapshot", info.File)
	return info, nil
}

// BeginReset makes a Reset to zxid durable without doing it: recovery
// from now on stops at zxid and reports ResetPending, and the caller
// finishes with Reset once it has rebuilt the state there (reopening the
// log is how a replica rebuilds its state after a TRUNC).
func (l *Log) BeginReset(zxid int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.writeResetMarker(zxid)
}

func (l *Log) syncDir(dir string) error {
	if l.opts.NoSync {
		return nil
	}
	if err := l.opts.FS.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: fsync directory %s: %w", dir, err)
	}
	return nil
}

func (l *Log) writeResetMarker(zxid int64) error {
	fs := l.opts.FS
	tmp := join(l.dir, resetMarker+".tmp")
	_ = fs.Remove(tmp)
	f, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("wal: reset marker: %w", err)
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(zxid))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return fmt.Errorf("wal: reset marker: %w", err)
	}
	if !l.opts.NoSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("wal: reset marker: fsync: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: reset marker: %w", err)
	}
	if err := fs.Rename(tmp, join(l.dir, resetMarker)); err != nil {
		return fmt.Errorf("wal: reset marker: %w", err)
	}
	return l.syncDir(l.dir)
}

// readResetMarker returns the zxid of an unfinished Reset, if any.
func readResetMarker(fs FS, dir string) (int64, bool, error) {
	f, err := fs.Open(join(dir, resetMarker))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("wal: reset marker: %w", err)
	}
	defer f.Close()
	b := make([]byte, 12)
	if _, err := f.ReadAt(b, 0); err != nil {
		return 0, false, fmt.Errorf("wal: reset marker %s: %w", join(dir, resetMarker), err)
	}
	if crc32.Checksum(b[:8], crcTable) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, false, &CorruptionError{File: join(dir, resetMarker), Err: ErrBadChecksum}
	}
	return int64(binary.LittleEndian.Uint64(b)), true, nil
}
