package client

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/zkx-project/zkx/transport/jute"
)

// A call is one request on its way: encoded by the caller, written by the
// writer goroutine, answered by the reader goroutine. Calls are pooled so
// that a small request allocates nothing but what it returns.
type call struct {
	op    jute.OpCode
	xid   int32  // 0 until the writer assigns one; fixed for auth (-4) and setWatches (-8)
	frame []byte // length prefix + RequestHeader + record; the xid is patched in when written
	enc   jute.Encoder

	// resend makes a connection loss put the call back in the queue instead
	// of failing it (recipe calls; see Client.Call).
	resend bool
	// internal calls (re-sent auth, setWatches) have no waiter.
	internal bool
	watch    watchReg

	// Filled in when the call completes.
	hdr   jute.ReplyHeader
	reply []byte // response body, copied out of the read buffer
	err   error  // set instead of hdr.Err when the client closed
	dec   jute.Decoder

	state atomic.Int32
	done  chan struct{} // capacity 1; receives one token when the call completes
}

// Call states. A waiting call ends either completed (by whoever finishes it)
// or abandoned (by its caller, whose context ended); the loser of that race
// knows the other side owns the call.
const (
	callWaiting int32 = iota
	callDone
	callAbandoned
)

// Calls whose buffers grew past this are not pooled, so one large request
// does not pin its memory forever.
const maxPooledBuffer = 64 << 10

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// newCall returns a call for op with an encoder positioned after the request
// header: the caller encodes its record with c.enc and then calls seal.
func newCall(op jute.OpCode) *call {
	c := callPool.Get().(*call)
	c.op = op
	c.enc.Reset(c.frame[:0])
	c.enc.BeginFrame() // at offset 0, which seal relies on
	h := jute.RequestHeader{Type: op}
	h.Encode(&c.enc)
	return c
}

// seal finishes the frame begun by newCall.
func (c *call) seal() {
	c.enc.EndFrame(0)
	c.frame = c.enc.Bytes()
}

// putXid writes xid into an encoded frame (length, then xid).
func putXid(frame []byte, xid int32) {
	binary.BigEndian.PutUint32(frame[4:8], uint32(xid))
}

// release returns c to the pool. Only the call's owner may release it: its
// caller after the call completed, or the completing side if the caller
// abandoned it.
func (c *call) release() {
	if cap(c.frame) > maxPooledBuffer || cap(c.reply) > maxPooledBuffer {
		return
	}
	frame, reply, done := c.frame[:0], c.reply[:0], c.done
	*c = call{frame: frame, reply: reply, done: done}
	callPool.Put(c)
}

// complete hands a finished call to its waiter, or recycles it if nobody
// waits any more.
func (c *call) complete() {
	if c.internal {
		c.release()
		return
	}
	if c.state.CompareAndSwap(callWaiting, callDone) {
		c.done <- struct{}{}
		return
	}
	c.release()
}

// fail completes c without a reply.
func (c *call) fail(code jute.Err, err error) {
	c.hdr = jute.ReplyHeader{Xid: c.xid, Err: code}
	c.err = err
	c.reply = c.reply[:0]
	c.complete()
}

// abandoned reports whether the caller gave up on c.
func (c *call) abandoned() bool { return c.state.Load() == callAbandoned }

// decoder returns a decoder over the reply body.
func (c *call) decoder() *jute.Decoder {
	c.dec.Reset(c.reply)
	return &c.dec
}

// callQueue is a FIFO of calls in a ring buffer. It is not safe for
// concurrent use; the client's mutex guards it.
type callQueue struct {
	buf  []*call
	head int
	n    int
}

func (q *callQueue) len() int { return q.n }

func (q *callQueue) push(c *call) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = c
	q.n++
}

func (q *callQueue) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 64
	}
	buf := make([]*call, size)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// pop removes and returns the oldest call, or nil.
func (q *callQueue) pop() *call {
	if q.n == 0 {
		return nil
	}
	c := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return c
}

// pushFront puts c back as the oldest call.
func (q *callQueue) pushFront(c *call) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = c
	q.n++
}

// drain removes all calls, oldest first.
func (q *callQueue) drain() []*call {
	out := make([]*call, 0, q.n)
	for q.n > 0 {
		out = append(out, q.pop())
	}
	return out
}
