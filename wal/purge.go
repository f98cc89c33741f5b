package wal

import (
	"fmt"
	"sort"
)

// PurgeResult lists what Purge removed.
type PurgeResult struct {
	Snapshots []string
	Segments  []string
}

// Purge keeps the newest keep snapshots (at least 1) and the log segments
// needed to recover from the oldest of them, and removes the rest, like
// ZooKeeper's autopurge.snapRetainCount. The segment being written is never
// removed.
func (l *Log) Purge(keep int) (PurgeResult, error) {
	l.mu.Lock()
	current := ""
	if l.seg != nil {
		current = l.seg.name
	}
	l.mu.Unlock()
	return purge(l.opts.FS, l.dir, l.snapDir(), keep, current)
}

// PurgeDir is Purge for directories no server has open (the zkx purge
// command); snapDir "" means the log directory.
func PurgeDir(dir, snapDir string, keep int) (PurgeResult, error) {
	if snapDir == "" {
		snapDir = dir
	}
	return purge(OSFS{}, dir, snapDir, keep, "")
}

func purge(fs FS, dir, snapDir string, keep int, current string) (PurgeResult, error) {
	var res PurgeResult
	if keep < 1 {
		keep = 1
	}
	segs, snaps, err := listFiles(fs, dir, snapDir)
	if err != nil {
		return res, fmt.Errorf("wal: purge: %w", err)
	}
	if len(snaps) <= keep && len(snaps) > 0 {
		keep = len(snaps)
	}
	if len(snaps) == 0 {
		return res, nil // without a snapshot every segment is needed
	}
	oldest := snaps[len(snaps)-keep].zxid
	for _, s := range snaps[:len(snaps)-keep] {
		if err := fs.Remove(join(snapDir, s.name)); err != nil {
			return res, fmt.Errorf("wal: purge %s: %w", s.name, err)
		}
		res.Snapshots = append(res.Snapshots, s.name)
	}
	// Segment i holds zxids [first_i, first_i+1); it is needed if it may
	// hold a zxid after the oldest kept snapshot.
	for i := 0; i+1 < len(segs); i++ {
		if segs[i+1].first > oldest+1 || segs[i].name == current {
			break
		}
		if err := fs.Remove(join(dir, segs[i].name)); err != nil {
			return res, fmt.Errorf("wal: purge %s: %w", segs[i].name, err)
		}
		res.Segments = append(res.Segments, segs[i].name)
	}
	for _, d := range []string{dir, snapDir} {
		if len(res.Snapshots)+len(res.Segments) > 0 {
			if err := fs.SyncDir(d); err != nil {
				return res, fmt.Errorf("wal: purge: fsync directory: %w", err)
			}
		}
		if snapDir == dir {
			break
		}
	}
	return res, nil
}

// listFiles returns the segments in dir and the snapshots in snapDir, each
// sorted by zxid.
func listFiles(fs FS, dir, snapDir string) ([]segRef, []snapRef, error) {
	var segs []segRef
	var snaps []snapRef
	names, err := fs.List(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		if z, ok := parseName(n, "log-", ".wal"); ok {
			segs = append(segs, segRef{name: n, first: z})
		}
	}
	if snapDir != dir {
		if names, err = fs.List(snapDir); err != nil {
			return nil, nil, err
		}
	}
	for _, n := range names {
		if z, ok := parseName(n, "snap-", ".snap"); ok {
			snaps = append(snaps, snapRef{name: n, zxid: z})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].zxid < snaps[j].zxid })
	return segs, snaps, nil
}

// OldestSnapshot returns the zxid of the oldest snapshot file, or 0 if
// there is none. Recovery rebuilds the state from a snapshot at or below
// the zxid it stops at, so a Reset cannot go below this one (an ensemble
// member reports it to its leader, which then sends a snapshot instead of
// truncating it lower).
func (l *Log) OldestSnapshot() (int64, error) {
	_, snaps, err := listFiles(l.opts.FS, l.dir, l.snapDir())
	if err != nil || len(snaps) == 0 {
		return 0, err
	}
	return snaps[0].zxid, nil
}
