package jute

import (
	"encoding/binary"
	"math"
)

// MaxBuffer is ZooKeeper's default jute.maxbuffer (0xfffff bytes): the largest
// frame either side accepts. A larger frame is a protocol violation and the
// connection that sent it is closed.
const MaxBuffer = 0xfffff

// Encoder appends jute-encoded values to a byte slice. The zero value is ready
// to use; Bytes returns what was written.
type Encoder struct {
	b []byte
}

// NewEncoder returns an encoder that appends to buf.
func NewEncoder(buf []byte) *Encoder { return &Encoder{b: buf} }

// Bytes returns the encoded bytes.
func (e *Encoder) Bytes() []byte { return e.b }

// Len returns the number of bytes written so far.
func (e *Encoder) Len() int { return len(e.b) }

// Reset empties the encoder and makes it append to buf.
func (e *Encoder) Reset(buf []byte) { e.b = buf }

// Int writes a 32-bit big-endian integer.
func (e *Encoder) Int(v int32) { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }

// Long writes a 64-bit big-endian integer.
func (e *Encoder) Long(v int64) { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }

// Bool writes one byte, 1 for true.
func (e *Encoder) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// String writes a length-prefixed UTF-8 string.
func (e *Encoder) String(s string) {
	e.Int(int32(len(s)))
	e.b = append(e.b, s...)
}

// Buffer writes a length-prefixed byte buffer; nil is written as length -1,
// as ZooKeeper writes a null buffer.
func (e *Encoder) Buffer(b []byte) {
	if b == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(b)))
	e.b = append(e.b, b...)
}

// Strings writes a vector of strings; nil is written as -1.
func (e *Encoder) Strings(ss []string) {
	if ss == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(ss)))
	for _, s := range ss {
		e.String(s)
	}
}

// BeginFrame reserves the 4-byte length prefix of a frame and returns its
// offset, to be passed to EndFrame.
func (e *Encoder) BeginFrame() int {
	off := len(e.b)
	e.b = append(e.b, 0, 0, 0, 0)
	return off
}

// EndFrame fills in the length prefix reserved by BeginFrame.
func (e *Encoder) EndFrame(off int) {
	binary.BigEndian.PutUint32(e.b[off:], uint32(len(e.b)-off-4))
}

// Decoder reads jute-encoded values from a byte slice. The first error is
// sticky: later reads return zero values and Err reports it.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes the decoder read b from the start.
func (d *Decoder) Reset(b []byte) { d.b, d.off, d.err = b, 0, nil }

// Err returns the first decoding error.
func (d *Decoder) Err() error { return d.err }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Rest returns the unread bytes without consuming them.
func (d *Decoder) Rest() []byte { return d.b[d.off:] }

func (d *Decoder) need(n int) bool {
	if d.err != nil {
		return false
	}
	if n < 0 || len(d.b)-d.off < n {
		d.err = ErrShortBuffer
		return false
	}
	return true
}

// Int reads a 32-bit big-endian integer.
func (d *Decoder) Int() int32 {
	if !d.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return int32(v)
}

// Long reads a 64-bit big-endian integer.
func (d *Decoder) Long() int64 {
	if !d.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return int64(v)
}

// Bool reads one byte; any non-zero value is true.
func (d *Decoder) Bool() bool {
	if !d.need(1) {
		return false
	}
	v := d.b[d.off]
	d.off++
	return v != 0
}

func (d *Decoder) length() int {
	n := d.Int()
	if d.err != nil {
		return -1
	}
	if n < -1 {
		d.err = ErrBadLength
		return -1
	}
	if int(n) > d.Remaining() {
		d.err = ErrShortBuffer
		return -1
	}
	return int(n)
}

// String reads a length-prefixed string. A null string (length -1) reads as "".
func (d *Decoder) String() string {
	n := d.length()
	if n <= 0 {
		return ""
	}
	s := string(d.b[d.off : d.off+n])
	d.off += n
	return s
}

// Buffer reads a length-prefixed buffer. A null buffer reads as nil. The
// result is a copy: it does not alias the decoder's input.
func (d *Decoder) Buffer() []byte {
	n := d.length()
	if n < 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, d.b[d.off:d.off+n])
	d.off += n
	return b
}

// Count reads a vector length and checks that at least min bytes per element
// remain, so a forged count cannot make the caller allocate without bound.
func (d *Decoder) Count(min int) int {
	n := d.Int()
	if d.err != nil {
		return 0
	}
	if n == -1 {
		return -1
	}
	if n < 0 || (min > 0 && int64(n)*int64(min) > int64(d.Remaining())) || int64(n) > math.MaxInt32 {
		d.err = ErrBadLength
		return 0
	}
	return int(n)
}

// Strings reads a vector of strings; a null vector reads as nil.
func (d *Decoder) Strings() []string {
	n := d.Count(4)
	if n < 0 || d.err != nil {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.String()
	}
	if d.err != nil {
		return nil
	}
	return ss
}
