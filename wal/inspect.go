package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/zkx-project/zkx/core/txn"
)

// SegmentInfo describes one log segment for inspection tools.
type SegmentInfo struct {
	File      string
	FirstZxid int64
	Records   int
	Txns      int
	UsedBytes int64 // header and records: what the log uses of the file
	FileBytes int64 // the file's size, preallocated space included
	Err       error // damage found, as a *CorruptionError; reading stopped there
}

// InspectDir reads every log segment in dir, in zxid order, verifying every
// record's checksum, and calls fn for each txn (fn may be nil). It changes
// nothing on disk: damage is reported in SegmentInfo.Err, not repaired.
func InspectDir(dir string, fn func(seg string, t *txn.Txn) error) ([]SegmentInfo, error) {
	fs := OSFS{}
	segs, _, err := listFiles(fs, dir, dir)
	if err != nil {
		return nil, err
	}
	out := make([]SegmentInfo, 0, len(segs))
	for _, s := range segs {
		info := inspectSegment(fs, join(dir, s.name), s, fn)
		out = append(out, info)
	}
	return out, nil
}

func inspectSegment(fs FS, path string, ref segRef, fn func(string, *txn.Txn) error) SegmentInfo {
	info := SegmentInfo{File: path, FirstZxid: ref.first}
	f, err := fs.Open(path)
	if err != nil {
		info.Err = err
		return info
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		info.Err = err
		return info
	}
	info.FileBytes = size
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		info.Err = err
		return info
	}
	corrupt := func(off int64, e error) { info.Err = &CorruptionError{File: path, Offset: off, Err: e} }
	if _, err := decodeHeader(data, logMagic); err != nil {
		corrupt(0, err)
		return info
	}
	src := &recordSource{}
	dec, err := newSegmentDecoder(src)
	if err != nil {
		info.Err = err
		return info
	}
	defer dec.Close()
	off := int64(headerSize)
	info.UsedBytes = off
	var raw []byte
	for off+recordHeader <= size {
		if binary.LittleEndian.Uint32(data[off:]) == 0 {
			if hasValidRecord(data, off+1) {
				corrupt(off, errors.New("zero length before valid records"))
			}
			return info
		}
		payload, ok := recordAt(data, off)
		if !ok {
			corrupt(off, ErrBadChecksum)
			return info
		}
		txns, err := decodeBatch(dec, src, payload, &raw)
		if err != nil {
			corrupt(off, err)
			return info
		}
		info.Records++
		for _, t := range txns {
			info.Txns++
			if fn != nil {
				if err := fn(path, t); err != nil {
					info.Err = err
					return info
				}
			}
		}
		off += recordHeader + int64(len(payload))
		info.UsedBytes = off
	}
	return info
}

// decodeBatch decodes one batch record's txns from the segment's stream.
func decodeBatch(dec io.Reader, src *recordSource, payload []byte, raw *[]byte) ([]*txn.Txn, error) {
	if len(payload) < batchHeaderSize || payload[0] != kindBatch {
		return nil, errors.New("unknown record kind")
	}
	first := int64(binary.LittleEndian.Uint64(payload[1:]))
	n := int(binary.LittleEndian.Uint32(payload[9:]))
	rawLen := int(binary.LittleEndian.Uint32(payload[13:]))
	if rawLen > maxRecord*4 {
		return nil, fmt.Errorf("batch of %d bytes", rawLen)
	}
	src.pending = payload[batchHeaderSize:]
	if cap(*raw) < rawLen {
		*raw = make([]byte, rawLen)
	}
	b := (*raw)[:rawLen]
	if _, err := io.ReadFull(dec, b); err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	out := make([]*txn.Txn, 0, n)
	for i := 0; i < n; i++ {
		t, rest, err := txn.Unmarshal(b)
		if err != nil {
			return nil, err
		}
		if i == 0 && t.Zxid != first {
			return nil, fmt.Errorf("record says first zxid %#x, txn has %#x", first, t.Zxid)
		}
		b = rest
		out = append(out, t)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the batch's txns", len(b))
	}
	return out, nil
}
