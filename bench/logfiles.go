package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/zkx-project/zkx/wal"
)

// logUsage is what a server's transaction log takes on disk. Both servers
// preallocate their log files, so the size of the files says little; used
// is what the log's records (and file headers) take of them.
type logUsage struct {
	files     int
	used      int64 // file headers and records, up to the end of the data
	apparent  int64 // the files' sizes, preallocated space included
	allocated int64 // blocks the file system gave the files (sparse preallocation takes none)
	txns      int64 // txns found in the records
}

func (u logUsage) sub(o logUsage) logUsage {
	return logUsage{u.files - o.files, u.used - o.used, u.apparent - o.apparent, u.allocated - o.allocated, u.txns - o.txns}
}

// snapshotUsage is a server's snapshot files: how many, and the newest.
type snapshotUsage struct {
	count       int
	total       int64
	newest      string
	newestBytes int64
}

// ZooKeeper's transaction log, as FileTxnLog writes it (big-endian, jute's
// BinaryOutputArchive). Part of ZooKeeper's format, not ours.
//
//	file   = header record* zero-fill
//	header = magic int "ZKLG"  version int (2)  dbid long
//	record = checksum long (Adler-32 of txn)  length int  txn[length]  EOR byte 0x42
//	txn    = TxnHeader (clientId long, cxid int, zxid long, time long, type int) body
//
// The log is preallocated with zeros (64 MiB at a time), so the data ends
// at the first record whose length is 0; ZooKeeper's reader stops there too.
const (
	zkLogMagic      = 0x5a4b4c47 // "ZKLG"
	zkLogVersion    = 2
	zkLogHeaderSize = 16
	zkRecordHeader  = 12 // checksum + length
	zkEOR           = 0x42
	// zkMaxTxn bounds a record's length: jute.maxbuffer's default plus
	// room for the header, as ZooKeeper's reader does.
	zkMaxTxn = 0xfffff + 1024
)

// Errors of the ZooKeeper log scanner.
var (
	errZKLogHeader   = errors.New("not a ZooKeeper txn log (bad header)")
	errZKLogTorn     = errors.New("torn record")
	errZKLogChecksum = errors.New("record checksum mismatch")
)

// zkLogScan is what scanZKLog found in one ZooKeeper log file.
type zkLogScan struct {
	used                int64 // header and complete records
	txns                int64
	firstZxid, lastZxid int64 // of the records, when txns > 0
}

// scanZKLog reads a ZooKeeper txn log up to the end of its data (the first
// record of length 0, or the end of the file) and verifies every record. A
// record cut short or without its end marker is errZKLogTorn: after the
// server has acknowledged every request there is none, so a torn record
// means the measurement is wrong, not the server.
func scanZKLog(r io.Reader) (zkLogScan, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var s zkLogScan
	var hdr [zkLogHeaderSize]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return s, fmt.Errorf("%w: %v", errZKLogHeader, err)
	}
	if binary.BigEndian.Uint32(hdr[0:]) != zkLogMagic || binary.BigEndian.Uint32(hdr[4:]) != zkLogVersion {
		return s, fmt.Errorf("%w: % x", errZKLogHeader, hdr[:8])
	}
	s.used = zkLogHeaderSize
	buf := make([]byte, 0, 1<<10)
	for {
		var rh [zkRecordHeader]byte
		n, err := io.ReadFull(br, rh[:])
		if n == 0 && errors.Is(err, io.EOF) {
			return s, nil // the file ends where the data does
		}
		if err != nil {
			// A partial record header is only zero fill if it is all zeros.
			if isZero(rh[:n]) {
				return s, nil
			}
			return s, fmt.Errorf("%w at offset %d: %v", errZKLogTorn, s.used, err)
		}
		length := int32(binary.BigEndian.Uint32(rh[8:]))
		if length == 0 {
			return s, nil
		}
		if length < 0 || length > zkMaxTxn {
			return s, fmt.Errorf("%w at offset %d: length %d", errZKLogTorn, s.used, length)
		}
		buf = slices.Grow(buf[:0], int(length)+1)[:length+1]
		if _, err := io.ReadFull(br, buf); err != nil {
			return s, fmt.Errorf("%w at offset %d: %v", errZKLogTorn, s.used, err)
		}
		txn := buf[:length]
		if buf[length] != zkEOR {
			return s, fmt.Errorf("%w at offset %d: no end-of-record marker", errZKLogTorn, s.used)
		}
		if sum := binary.BigEndian.Uint64(rh[0:]); sum != uint64(adler32.Checksum(txn)) {
			return s, fmt.Errorf("%w at offset %d", errZKLogChecksum, s.used)
		}
		if len(txn) >= 20 {
			zxid := int64(binary.BigEndian.Uint64(txn[12:]))
			if s.txns == 0 {
				s.firstZxid = zxid
			}
			s.lastZxid = zxid
		}
		s.txns++
		s.used += zkRecordHeader + int64(length) + 1
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// zookeeperVersionDir is where ZooKeeper keeps its logs and snapshots
// under dataDir.
func zookeeperVersionDir(dataDir string) string { return filepath.Join(dataDir, "version-2") }

// zookeeperLogUsage scans every log.<zxid> file of a ZooKeeper dataDir.
func zookeeperLogUsage(dataDir string) (logUsage, error) {
	var u logUsage
	paths, err := filepath.Glob(filepath.Join(zookeeperVersionDir(dataDir), "log.*"))
	if err != nil {
		return u, err
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return u, err
		}
		s, err := scanZKLog(f)
		f.Close()
		if err != nil {
			return u, fmt.Errorf("%s: %w", p, err)
		}
		apparent, allocated, err := fileSizes(p)
		if err != nil {
			return u, err
		}
		u.files++
		u.used += s.used
		u.txns += s.txns
		u.apparent += apparent
		u.allocated += allocated
	}
	return u, nil
}

// zkxLogUsage reads zkx's log segments with the wal package's inspector,
// which verifies them as recovery would.
func zkxLogUsage(dataDir string) (logUsage, error) {
	var u logUsage
	segs, err := wal.InspectDir(dataDir, nil)
	if err != nil {
		return u, err
	}
	for _, s := range segs {
		if s.Err != nil {
			return u, fmt.Errorf("%s: %w", s.File, s.Err)
		}
		_, allocated, err := fileSizes(s.File)
		if err != nil {
			return u, err
		}
		u.files++
		u.used += s.UsedBytes
		u.apparent += s.FileBytes
		u.allocated += allocated
		u.txns += int64(s.Txns)
	}
	return u, nil
}

// fileSizes returns a file's size and the bytes of disk allocated to it.
func fileSizes(path string) (apparent, allocated int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	apparent = fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		allocated = st.Blocks * 512
	}
	return apparent, allocated, nil
}

// snapshotsIn lists the snapshot files matching pattern in dir; zxidOf
// reads the zxid a file name carries, which orders them.
func snapshotsIn(dir, pattern string, zxidOf func(name string) (int64, bool)) (snapshotUsage, error) {
	var u snapshotUsage
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return u, err
	}
	newestZxid := int64(-1)
	for _, p := range paths {
		zxid, ok := zxidOf(filepath.Base(p))
		if !ok {
			continue
		}
		size, _, err := fileSizes(p)
		if err != nil {
			return u, err
		}
		u.count++
		u.total += size
		if zxid > newestZxid {
			newestZxid, u.newest, u.newestBytes = zxid, p, size
		}
	}
	return u, nil
}

// zookeeperSnapshots: snapshot.<zxid hex, no padding> in version-2.
func zookeeperSnapshots(dataDir string) (snapshotUsage, error) {
	return snapshotsIn(zookeeperVersionDir(dataDir), "snapshot.*", func(name string) (int64, bool) {
		return parseHexZxid(strings.TrimPrefix(name, "snapshot."))
	})
}

// zkxSnapshots: snap-<zxid, 16 hex>.snap (see package wal).
func zkxSnapshots(dataDir string) (snapshotUsage, error) {
	return snapshotsIn(dataDir, "snap-*.snap", func(name string) (int64, bool) {
		return parseHexZxid(strings.TrimSuffix(strings.TrimPrefix(name, "snap-"), ".snap"))
	})
}

func parseHexZxid(s string) (int64, bool) {
	v, err := strconv.ParseUint(s, 16, 64)
	return int64(v), err == nil
}
