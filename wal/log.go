package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/zkx-project/zkx/core/txn"
)

// Options configure a Log. Zero values take the defaults.
type Options struct {
	FS FS
	// SegmentSize is the size at which a new segment starts (default 64 MiB).
	SegmentSize int64
	// NoSync skips fsync (ZooKeeper's forceSync=no): for tests and
	// benchmarks only; a crash may then lose acknowledged writes.
	NoSync bool
	// NoPreallocate writes segments by appending instead of into
	// preallocated space.
	NoPreallocate bool
	// SnapDir is where snapshots go (ZooKeeper's dataDir when the log is in
	// dataLogDir); default the log's directory.
	SnapDir string
	// SlowSync is how long an fsync may take before it is logged as slow
	// (default 1s).
	SlowSync time.Duration
	Logger   *slog.Logger
}

func (o *Options) setDefaults() {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	if o.SlowSync <= 0 {
		o.SlowSync = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Log is the write-ahead log of one server. Append is called by one
// goroutine (the pipeline's commit stage); Snapshot, Purge and Stats may run
// alongside it.
type Log struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu       sync.Mutex // Write and segment rotation
	seg      *segment
	retired  []*segment // rolled over, not yet fsynced and closed by Sync
	syncMu   sync.Mutex // one Sync at a time
	enc      *zstd.Encoder
	zbuf     bytes.Buffer
	raw      []byte
	rec      []byte
	lastZxid int64
	closed   bool

	stats logStats
}

type segment struct {
	f     File
	name  string
	first int64
	off   int64 // next write offset
	alloc int64 // bytes preallocated
}

type logStats struct {
	mu        sync.Mutex
	appends   int64
	txns      int64
	bytes     int64 // record bytes written
	rawBytes  int64 // txn bytes before compression
	syncs     int64
	syncNanos int64
	maxSync   time.Duration
}

// Stats are the log's counters.
type Stats struct {
	Appends, Txns, Bytes, RawBytes, Syncs int64
	AvgSync, MaxSync                      time.Duration
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.stats.mu.Lock()
	defer l.stats.mu.Unlock()
	s := Stats{Appends: l.stats.appends, Txns: l.stats.txns, Bytes: l.stats.bytes,
		RawBytes: l.stats.rawBytes, Syncs: l.stats.syncs, MaxSync: l.stats.maxSync}
	if l.stats.syncs > 0 {
		s.AvgSync = time.Duration(l.stats.syncNanos / l.stats.syncs)
	}
	return s
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

func (l *Log) snapDir() string {
	if l.opts.SnapDir != "" {
		return l.opts.SnapDir
	}
	return l.dir
}

// LastZxid returns the zxid of the last txn appended or recovered.
func (l *Log) LastZxid() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastZxid
}

func newEncoder() *zstd.Encoder {
	// One goroutine, fastest level, no entropy coding of literals: every
	// record is a flush, and building Huffman tables per flush costs more
	// CPU than the bytes it saves (1.2 vs 1.7 us per txn for 46 vs 39 bytes
	// per txn on the bench's writes). Batches of similar txns compress well
	// even so, because history carries across a segment's records.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20),
		zstd.WithNoEntropyCompression(true),
		zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic(fmt.Sprintf("wal: zstd encoder options: %v", err)) // static options
	}
	return enc
}

// Append writes the batch as one record and, unless NoSync, fsyncs it: Write
// then Sync.
func (l *Log) Append(batch []*txn.Txn) error {
	if err := l.Write(batch); err != nil {
		return err
	}
	return l.Sync()
}

// Write appends the batch as one record, not yet durable: the caller may
// not acknowledge it before a Sync that starts after Write returns. The txns
// must have increasing zxids above every txn written before. Write and Sync
// may run concurrently (group commit: the next batch is written while the
// previous ones are being fsynced).
func (l *Log) Write(batch []*txn.Txn) error {
	if len(batch) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if batch[0].Zxid <= l.lastZxid {
		return fmt.Errorf("wal: append of zxid %#x after %#x", batch[0].Zxid, l.lastZxid)
	}
	if l.seg == nil || l.seg.off >= l.opts.SegmentSize {
		if err := l.roll(batch[0].Zxid); err != nil {
			return err
		}
	}
	l.raw = l.raw[:0]
	for _, t := range batch {
		l.raw = txn.Marshal(l.raw, t)
	}
	l.zbuf.Reset()
	if _, err := l.enc.Write(l.raw); err != nil {
		return fmt.Errorf("wal: compress: %w", err)
	}
	if err := l.enc.Flush(); err != nil {
		return fmt.Errorf("wal: compress: %w", err)
	}
	payload := make([]byte, 0, batchHeaderSize+l.zbuf.Len())
	payload = append(payload, kindBatch)
	payload = binary.LittleEndian.AppendUint64(payload, uint64(batch[0].Zxid))
	payload = binary.LittleEndian.AppendUint32(payload, uint32(len(batch)))
	payload = binary.LittleEndian.AppendUint32(payload, uint32(len(l.raw)))
	payload = append(payload, l.zbuf.Bytes()...)
	l.rec = appendRecord(l.rec[:0], payload)
	seg := l.seg
	if _, err := seg.f.WriteAt(l.rec, seg.off); err != nil {
		return fmt.Errorf("wal: write %s: %w", seg.name, err)
	}
	seg.off += int64(len(l.rec))
	l.lastZxid = batch[len(batch)-1].Zxid
	l.stats.mu.Lock()
	l.stats.appends++
	l.stats.txns += int64(len(batch))
	l.stats.bytes += int64(len(l.rec))
	l.stats.rawBytes += int64(len(l.raw))
	l.stats.mu.Unlock()
	return nil
}

// Sync makes every record written before it started durable: the
// durability step of the log. Segments rolled over since the last Sync are
// fsynced and closed first.
func (l *Log) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	retired := l.retired
	l.retired = nil
	seg := l.seg
	l.mu.Unlock()
	for _, old := range retired {
		if err := l.fsync(old); err != nil {
			return err
		}
		if err := l.trimTail(old); err != nil {
			return err
		}
		if err := old.f.Close(); err != nil {
			return fmt.Errorf("wal: close %s: %w", old.name, err)
		}
	}
	if seg == nil {
		return nil
	}
	return l.fsync(seg)
}

func (l *Log) fsync(seg *segment) error {
	if l.opts.NoSync {
		return nil
	}
	start := time.Now()
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("wal: fsync %s: %w", seg.name, err)
	}
	d := time.Since(start)
	if d > l.opts.SlowSync {
		l.log.Warn("slow fsync", "file", seg.name, "duration", d.String())
	}
	l.stats.mu.Lock()
	l.stats.syncs++
	l.stats.syncNanos += int64(d)
	if d > l.stats.maxSync {
		l.stats.maxSync = d
	}
	l.stats.mu.Unlock()
	return nil
}

// roll closes the current segment and starts one whose first txn is
// first: create, header, preallocate, fsync the file, fsync the directory.
func (l *Log) roll(first int64) error {
	if l.seg != nil {
		// The next Sync makes its tail durable and closes it.
		l.retired = append(l.retired, l.seg)
		l.seg = nil
	}
	name := segmentName(first)
	f, err := l.opts.FS.Create(join(l.dir, name))
	if err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	seg := &segment{f: f, name: name, first: first}
	hdr := fileHeader{magic: logMagic, version: formatVersion, zxid: first}.encode()
	if !l.opts.NoPreallocate {
		if err := f.Preallocate(l.opts.SegmentSize + maxBatchSlack); err != nil {
			l.log.Warn("segment preallocation failed; appending instead", "file", name, "err", err)
		} else {
			seg.alloc = l.opts.SegmentSize + maxBatchSlack
		}
	}
	if _, err := f.WriteAt(hdr, 0); err != nil {
		f.Close()
		return fmt.Errorf("wal: write %s: %w", name, err)
	}
	if !l.opts.NoSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("wal: fsync %s: %w", name, err)
		}
		if err := l.opts.FS.SyncDir(l.dir); err != nil {
			f.Close()
			return fmt.Errorf("wal: fsync directory %s: %w", l.dir, err)
		}
	}
	seg.off = headerSize
	l.seg = seg
	// A new segment is a new zstd stream: it must decode on its own.
	l.enc.Reset(&l.zbuf)
	return nil
}

// trimTail gives back the preallocated space past the end of a segment that
// takes no more writes, once its records are durable. Losing the truncation
// in a crash is harmless: recovery reads the zeros as the end of the records.
func (l *Log) trimTail(seg *segment) error {
	if seg.alloc <= seg.off {
		return nil
	}
	if err := seg.f.Truncate(seg.off); err != nil {
		return fmt.Errorf("wal: trim %s: %w", seg.name, err)
	}
	seg.alloc = seg.off
	return nil
}

// maxBatchSlack is preallocated past SegmentSize so that the batch that
// crosses the limit still lands in reserved space.
const maxBatchSlack = 4 << 20

// Close makes what was written durable and closes the log. Writes after
// Close fail.
func (l *Log) Close() error {
	err := l.Sync()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.seg != nil {
		if err == nil {
			err = l.trimTail(l.seg)
		}
		if cerr := l.seg.f.Close(); err == nil {
			err = cerr
		}
		l.seg = nil
	}
	return err
}
