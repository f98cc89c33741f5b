package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// Format constants. Part of the on-disk format: see doc.go.
const (
	logMagic        = "ZKXWAL\x00\x01"
	snapMagic       = "ZKXSNP\x00\x01"
	snapTrailMagic  = "ZKXEND\x00\x01"
	formatVersion   = 1
	headerSize      = 28 // magic 8, version 4, flags 4, zxid 8, crc 4
	recordHeader    = 8  // length 4, crc 4
	kindBatch       = 1
	batchHeaderSize = 1 + 8 + 4 + 4 // kind, first zxid, count, raw length
	snapTrailerSize = 8 + 8 + 8 + 4 + 4
	// maxRecord bounds a record's length: a larger length field is damage.
	maxRecord = 256 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func segmentName(firstZxid int64) string { return fmt.Sprintf("log-%016x.wal", uint64(firstZxid)) }
func snapshotName(zxid int64) string     { return fmt.Sprintf("snap-%016x.snap", uint64(zxid)) }

// parseName returns the zxid in a log or snapshot file name.
func parseName(name, prefix, suffix string) (int64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	hex := strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix)
	if len(hex) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return 0, false
	}
	return int64(v), true
}

// fileHeader is the header of a segment or a snapshot.
type fileHeader struct {
	magic   string
	version uint32
	flags   uint32
	zxid    int64
}

func (h fileHeader) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, h.magic)
	binary.LittleEndian.PutUint32(b[8:], h.version)
	binary.LittleEndian.PutUint32(b[12:], h.flags)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.zxid))
	binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(b[:24], crcTable))
	return b
}

func decodeHeader(b []byte, magic string) (fileHeader, error) {
	var h fileHeader
	if len(b) < headerSize || string(b[:8]) != magic {
		return h, ErrBadHeader
	}
	if crc32.Checksum(b[:24], crcTable) != binary.LittleEndian.Uint32(b[24:]) {
		return h, fmt.Errorf("%w: header", ErrBadChecksum)
	}
	h.magic = magic
	h.version = binary.LittleEndian.Uint32(b[8:])
	h.flags = binary.LittleEndian.Uint32(b[12:])
	h.zxid = int64(binary.LittleEndian.Uint64(b[16:]))
	if h.version != formatVersion {
		return h, fmt.Errorf("%w %d", ErrNotSupported, h.version)
	}
	return h, nil
}

// recordCRC is the checksum of a record: its length field, then payload.
func recordCRC(length []byte, payload []byte) uint32 {
	c := crc32.Update(0, crcTable, length)
	return crc32.Update(c, crcTable, payload)
}

// appendRecord frames payload as a record.
func appendRecord(dst, payload []byte) []byte {
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], recordCRC(hdr[:4], payload))
	dst = append(dst, hdr[:]...)
	return append(dst, payload...)
}
