package peer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// Format constants: part of the wire format (see doc.go).
const (
	helloMagic      = "ZKXP"
	protocolVersion = 1
	helloLen        = 24
	frameHeaderLen  = 8
)

// Hello status codes: part of the wire format.
const (
	statusOK           uint8 = 0
	statusVersion      uint8 = 1
	statusUnknownPeer  uint8 = 2
	statusWrongChannel uint8 = 3
	statusFingerprint  uint8 = 4
	statusDirection    uint8 = 5
	statusSecret       uint8 = 6
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// statusErr maps a refusal status to its sentinel.
func statusErr(st uint8) error {
	switch st {
	case statusVersion:
		return ErrVersion
	case statusUnknownPeer:
		return ErrUnknownPeer
	case statusWrongChannel:
		return ErrWrongChannel
	case statusFingerprint:
		return ErrFingerprint
	case statusDirection:
		return ErrWrongDirection
	case statusSecret:
		return fmt.Errorf("%w: a quorum secret is configured on one side only", ErrAuth)
	}
	return fmt.Errorf("peer: handshake refused with unknown status %d", st)
}

// hello is the handshake record, sent by the dialer and answered by the
// acceptor.
type hello struct {
	version     uint16
	channel     Channel
	status      uint8
	id          int64
	fingerprint uint64
}

func (h hello) marshal() [helloLen]byte {
	var b [helloLen]byte
	copy(b[0:4], helloMagic)
	binary.BigEndian.PutUint16(b[4:6], h.version)
	b[6] = uint8(h.channel)
	b[7] = h.status
	binary.BigEndian.PutUint64(b[8:16], uint64(h.id))
	binary.BigEndian.PutUint64(b[16:24], h.fingerprint)
	return b
}

// parseHello decodes a hello; only the magic is checked here.
func parseHello(b []byte) (hello, error) {
	if len(b) != helloLen || string(b[0:4]) != helloMagic {
		return hello{}, ErrBadMagic
	}
	return hello{
		version:     binary.BigEndian.Uint16(b[4:6]),
		channel:     Channel(b[6]),
		status:      b[7],
		id:          int64(binary.BigEndian.Uint64(b[8:16])),
		fingerprint: binary.BigEndian.Uint64(b[16:24]),
	}, nil
}

// writeFrame appends one frame to w; the caller flushes.
func writeFrame(w *bufio.Writer, payload []byte) error {
	var hdr [frameHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	crc := crc32.Update(crc32.Checksum(hdr[0:4], castagnoli), castagnoli, payload)
	binary.BigEndian.PutUint32(hdr[4:8], crc)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// bigFrame is the size above which a frame is read in steps, so a peer that
// announces a large frame and then stalls or dies does not make us allocate
// all of it up front.
const bigFrame = 1 << 20

// readFrame reads one frame. io.EOF means the stream ended cleanly between
// frames.
func readFrame(r *bufio.Reader, maxFrame int) ([]byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if uint64(n) > uint64(maxFrame) {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrFrameTooLarge, n, maxFrame)
	}
	var p []byte
	if n <= bigFrame {
		p = make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, unexpected(err)
		}
	} else {
		p = make([]byte, 0, bigFrame)
		for len(p) < int(n) {
			step := min(int(n)-len(p), max(len(p), bigFrame))
			p = slices.Grow(p, step)
			if _, err := io.ReadFull(r, p[len(p):len(p)+step]); err != nil {
				return nil, unexpected(err)
			}
			p = p[:len(p)+step]
		}
	}
	crc := crc32.Update(crc32.Checksum(hdr[0:4], castagnoli), castagnoli, p)
	if crc != binary.BigEndian.Uint32(hdr[4:8]) {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrChecksum, n)
	}
	return p, nil
}

// unexpected turns a clean EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
