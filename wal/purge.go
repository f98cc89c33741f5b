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
	return purge(l.opts.FS, l.dir, keep, current)
}

// PurgeDir is Purge for a directory no server has open (the zkx purge
// command).
func PurgeDir(dir string, keep int) (PurgeResult, error) {
	return purge(OSFS{}, dir, keep, "")
}

func purge(fs FS, dir string, keep int, current string) (PurgeResult, error) {
	var res PurgeResult
	if keep < 1 {
		keep = 1
	}
	names, err := fs.List(dir)
	if err != nil {
		return res, fmt.Errorf("wal: purge: %w", err)
	}
	var segs []segRef
	var snaps []snapRef
	for _, n := range names {
		if z, ok := parseName(n, "log-", ".wal"); ok {
			segs = append(segs, segRef{name: n, first: z})
		} else if z, ok := parseName(n, "snap-", ".snap"); ok {
			snaps = append(snaps, snapRef{name: n, zxid: z})
		}
	}
	if len(snaps) <= keep && len(snaps) > 0 {
		keep = len(snaps)
	}
	if len(snaps) == 0 {
		return res, nil // without a snapshot every segment is needed
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].zxid < snaps[j].zxid })
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	oldest := snaps[len(snaps)-keep].zxid
	for _, s := range snaps[:len(snaps)-keep] {
		if err := fs.Remove(join(dir, s.name)); err != nil {
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
	if len(res.Snapshots)+len(res.Segments) > 0 {
		if err := fs.SyncDir(dir); err != nil {
			return res, fmt.Errorf("wal: purge: fsync directory: %w", err)
		}
	}
	return res, nil
}
