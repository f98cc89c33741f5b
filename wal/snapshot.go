package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
)

// SnapshotInfo describes a snapshot file.
type SnapshotInfo struct {
	File   string
	Zxid   int64  // replay the log from Zxid+1
	Nodes  int64  // nodes the writer recorded
	Digest uint64 // the writer's digest of what it wrote
	Size   int64  // bytes on disk
}

// SnapshotWriter writes a snapshot body and reports how many nodes it wrote
// and their digest.
type SnapshotWriter func(w io.Writer) (nodes int64, digest uint64, err error)

// WriteSnapshot writes a snapshot starting at zxid: the body goes to a
// temporary file, which is fsynced, renamed into place and made durable
// with a directory fsync. It may run while Append does.
func (l *Log) WriteSnapshot(zxid int64, write SnapshotWriter) (SnapshotInfo, error) {
	return writeSnapshot(l.opts.FS, l.snapDir(), zxid, !l.opts.NoSync, write)
}

func writeSnapshot(fs FS, dir string, zxid int64, sync bool, write SnapshotWriter) (SnapshotInfo, error) {
	name := snapshotName(zxid)
	tmp := join(dir, name+".tmp")
	info := SnapshotInfo{File: name, Zxid: zxid}
	f, err := fs.Create(tmp)
	if err != nil {
		return info, fmt.Errorf("wal: create snapshot: %w", err)
	}
	fail := func(err error) (SnapshotInfo, error) {
		f.Close()
		_ = fs.Remove(tmp)
		return info, err
	}
	fw := &fileWriter{f: f}
	if _, err := fw.Write(fileHeader{magic: snapMagic, version: formatVersion, zxid: zxid}.encode()); err != nil {
		return fail(fmt.Errorf("wal: write snapshot: %w", err))
	}
	bw := bufio.NewWriterSize(fw, 1<<20)
	crc := &crcWriter{w: bw}
	enc, err := zstd.NewWriter(crc, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return fail(err)
	}
	nodes, digest, err := write(enc)
	if err != nil {
		enc.Close()
		return fail(fmt.Errorf("wal: snapshot body: %w", err))
	}
	if err := enc.Close(); err != nil {
		return fail(fmt.Errorf("wal: snapshot compress: %w", err))
	}
	trailer := make([]byte, snapTrailerSize)
	copy(trailer, snapTrailMagic)
	binary.LittleEndian.PutUint64(trailer[8:], uint64(nodes))
	binary.LittleEndian.PutUint64(trailer[16:], digest)
	binary.LittleEndian.PutUint32(trailer[24:], crc.sum)
	binary.LittleEndian.PutUint32(trailer[28:], crc32.Checksum(trailer[:28], crcTable))
	if _, err := bw.Write(trailer); err != nil {
		return fail(fmt.Errorf("wal: write snapshot: %w", err))
	}
	if err := bw.Flush(); err != nil {
		return fail(fmt.Errorf("wal: write snapshot: %w", err))
	}
	// Durability steps: file data, then its name.
	if sync {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("wal: fsync snapshot: %w", err))
		}
	}
	if err := f.Close(); err != nil {
		_ = fs.Remove(tmp)
		return info, fmt.Errorf("wal: close snapshot: %w", err)
	}
	if err := fs.Rename(tmp, join(dir, name)); err != nil {
		_ = fs.Remove(tmp)
		return info, fmt.Errorf("wal: rename snapshot: %w", err)
	}
	if sync {
		if err := fs.SyncDir(dir); err != nil {
			return info, fmt.Errorf("wal: fsync directory %s: %w", dir, err)
		}
	}
	info.Nodes, info.Digest, info.Size = nodes, digest, fw.off
	return info, nil
}

// fileWriter writes a File sequentially.
type fileWriter struct {
	f   File
	off int64
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	return n, err
}

type crcWriter struct {
	w   io.Writer
	sum uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.sum = crc32.Update(c.sum, crcTable, p)
	return c.w.Write(p)
}

// readSnapshot reads and checks a snapshot file: header, trailer and body
// checksum. It returns the info and the compressed body.
func readSnapshot(fs FS, path string) (SnapshotInfo, []byte, error) {
	info := SnapshotInfo{File: path}
	f, err := fs.Open(path)
	if err != nil {
		return info, nil, fmt.Errorf("wal: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return info, nil, err
	}
	info.Size = size
	corrupt := func(off int64, e error) error { return &CorruptionError{File: path, Offset: off, Err: e} }
	if size < headerSize+snapTrailerSize {
		return info, nil, corrupt(0, errors.New("file too short for a snapshot"))
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return info, nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	hdr, err := decodeHeader(data, snapMagic)
	if err != nil {
		return info, nil, corrupt(0, err)
	}
	info.Zxid = hdr.zxid
	tr := data[size-snapTrailerSize:]
	if string(tr[:8]) != snapTrailMagic || crc32.Checksum(tr[:28], crcTable) != binary.LittleEndian.Uint32(tr[28:]) {
		return info, nil, corrupt(size-snapTrailerSize, errors.New("missing or damaged trailer (incomplete snapshot?)"))
	}
	info.Nodes = int64(binary.LittleEndian.Uint64(tr[8:]))
	info.Digest = binary.LittleEndian.Uint64(tr[16:])
	body := data[headerSize : size-snapTrailerSize]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(tr[24:]) {
		return info, nil, corrupt(headerSize, fmt.Errorf("%w: snapshot body", ErrBadChecksum))
	}
	return info, body, nil
}

// loadSnapshot checks a snapshot and hands its decompressed body to fn.
func loadSnapshot(fs FS, path string, zxid int64, fn func(int64, io.Reader) error) error {
	info, body, err := readSnapshot(fs, path)
	if err != nil {
		return err
	}
	if info.Zxid != zxid {
		return &CorruptionError{File: path, Err: fmt.Errorf("header zxid %#x, file name %#x", info.Zxid, zxid)}
	}
	if fn == nil {
		return nil
	}
	dec, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer dec.Close()
	if err := fn(zxid, bufio.NewReaderSize(dec, 1<<20)); err != nil {
		return &CorruptionError{File: path, Offset: headerSize, Err: err}
	}
	return nil
}

// OpenSnapshot checks the snapshot at path and returns its info and its
// decompressed body (for inspection tools).
func OpenSnapshot(path string) (SnapshotInfo, io.ReadCloser, error) {
	info, body, err := readSnapshot(OSFS{}, path)
	if err != nil {
		return info, nil, err
	}
	dec, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return info, nil, err
	}
	return info, dec.IOReadCloser(), nil
}
