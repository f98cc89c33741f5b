package zab

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Wire format version 1 (part of the format; see doc.go).
const formatVersion = 1

// Field bits of the presence mask (part of the format). A field whose value
// is zero (or empty) is left out.
const (
	fieldFrom = 1 << iota
	fieldTo
	fieldEpoch
	fieldZxid
	fieldVoteLeader
	fieldVoteZxid
	fieldVotePeerEpoch
	fieldElectionEpoch
	fieldState
	fieldEntries
	fieldSnapshot
	fieldFloor

	fieldsKnown = fieldFloor<<1 - 1
)

// Marshal appends m's encoding to b and returns the extended slice.
func (m *Message) Marshal(b []byte) []byte {
	var mask uint64
	set := func(bit uint64, nonzero bool) {
		if nonzero {
			mask |= bit
		}
	}
	set(fieldFrom, m.From != 0)
	set(fieldTo, m.To != 0)
	set(fieldEpoch, m.Epoch != 0)
	set(fieldZxid, m.Zxid != 0)
	set(fieldVoteLeader, m.Vote.Leader != 0)
	set(fieldVoteZxid, m.Vote.Zxid != 0)
	set(fieldVotePeerEpoch, m.Vote.PeerEpoch != 0)
	set(fieldElectionEpoch, m.ElectionEpoch != 0)
	set(fieldState, m.State != 0)
	set(fieldEntries, len(m.Entries) > 0)
	set(fieldSnapshot, len(m.Snapshot) > 0)
	set(fieldFloor, m.Floor != 0)

	b = append(b, formatVersion, byte(m.Type))
	b = binary.AppendUvarint(b, mask)
	if mask&fieldFrom != 0 {
		b = binary.AppendVarint(b, m.From)
	}
	if mask&fieldTo != 0 {
		b = binary.AppendVarint(b, m.To)
	}
	if mask&fieldEpoch != 0 {
		b = binary.AppendUvarint(b, uint64(m.Epoch))
	}
	if mask&fieldZxid != 0 {
		b = binary.AppendVarint(b, m.Zxid)
	}
	if mask&fieldVoteLeader != 0 {
		b = binary.AppendVarint(b, m.Vote.Leader)
	}
	if mask&fieldVoteZxid != 0 {
		b = binary.AppendVarint(b, m.Vote.Zxid)
	}
	if mask&fieldVotePeerEpoch != 0 {
		b = binary.AppendUvarint(b, uint64(m.Vote.PeerEpoch))
	}
	if mask&fieldElectionEpoch != 0 {
		b = binary.AppendUvarint(b, m.ElectionEpoch)
	}
	if mask&fieldState != 0 {
		b = binary.AppendUvarint(b, uint64(m.State))
	}
	if mask&fieldEntries != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Entries)))
		var prev int64
		for _, e := range m.Entries {
			b = binary.AppendVarint(b, e.Zxid-prev)
			prev = e.Zxid
			b = binary.AppendUvarint(b, uint64(len(e.Data)))
			b = append(b, e.Data...)
		}
	}
	if mask&fieldSnapshot != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Snapshot)))
		b = append(b, m.Snapshot...)
	}
	if mask&fieldFloor != 0 {
		b = binary.AppendVarint(b, m.Floor)
	}
	return b
}

// UnmarshalMessage decodes a message Marshal wrote. It never panics, and
// what it allocates is proportional to len(b) (a count or length is checked
// against the bytes left before anything is allocated for it). The
// entries' and snapshot's bytes are copied out of b, so b may be reused.
func UnmarshalMessage(b []byte) (Message, error) {
	var m Message
	d := decoder{b: b}
	if len(b) < 2 {
		return m, fmt.Errorf("%w: %d bytes", ErrBadMessage, len(b))
	}
	if b[0] != formatVersion {
		return m, fmt.Errorf("%w: %d", ErrUnsupportedVersion, b[0])
	}
	m.Type = MsgType(b[1])
	if m.Type == 0 || m.Type >= msgTypeEnd {
		return m, fmt.Errorf("%w: unknown type %d", ErrBadMessage, b[1])
	}
	d.b = b[2:]
	mask := d.uvarint()
	if mask&^fieldsKnown != 0 {
		return Message{}, fmt.Errorf("%w: unknown fields %#x", ErrBadMessage, mask&^fieldsKnown)
	}
	if mask&fieldFrom != 0 {
		m.From = d.varint()
	}
	if mask&fieldTo != 0 {
		m.To = d.varint()
	}
	if mask&fieldEpoch != 0 {
		m.Epoch = d.uint32()
	}
	if mask&fieldZxid != 0 {
		m.Zxid = d.varint()
	}
	if mask&fieldVoteLeader != 0 {
		m.Vote.Leader = d.varint()
	}
	if mask&fieldVoteZxid != 0 {
		m.Vote.Zxid = d.varint()
	}
	if mask&fieldVotePeerEpoch != 0 {
		m.Vote.PeerEpoch = d.uint32()
	}
	if mask&fieldElectionEpoch != 0 {
		m.ElectionEpoch = d.uvarint()
	}
	if mask&fieldState != 0 {
		s := d.uvarint()
		if s > uint64(Observing) {
			d.fail("bad state")
		}
		m.State = Role(s)
	}
	if mask&fieldEntries != 0 {
		n := d.uvarint()
		// Every entry takes at least two bytes: a bound on n that keeps the
		// allocation proportional to the input.
		if n == 0 || n > uint64(len(d.b))/2 {
			d.fail("bad entry count")
		} else {
			m.Entries = make([]Entry, 0, n)
			var prev int64
			for i := uint64(0); i < n && d.err == nil; i++ {
				// Deltas wrap around, as they did when encoded.
				zxid := prev + d.varint()
				prev = zxid
				m.Entries = append(m.Entries, Entry{Zxid: zxid, Data: d.bytes()})
			}
		}
	}
	if mask&fieldSnapshot != 0 {
		m.Snapshot = d.bytes()
		if d.err == nil && m.Snapshot == nil {
			d.fail("empty snapshot")
		}
	}
	if mask&fieldFloor != 0 {
		m.Floor = d.varint()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Message{}, d.err
	}
	return m, nil
}

// decoder reads fields off b; after the first error every read returns
// zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadMessage, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("epoch out of range")
		return 0
	}
	return uint32(v)
}

// bytes reads a length-prefixed byte string into a fresh slice (nil if
// empty).
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length past the end")
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, d.b[:n])
	d.b = d.b[n:]
	return out
}
