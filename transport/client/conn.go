package client

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"
	"net"
	"sync"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// conn is one TCP connection carrying the session.
type conn struct {
	nc          net.Conn
	addr        string
	readTimeout time.Duration // no bytes for this long: the connection is dead
	pingEvery   time.Duration // nothing written for this long: send a ping

	failOnce sync.Once
	failed   chan struct{}
	err      error
	wg       sync.WaitGroup // reader and writer
}

// fail drops the connection; the session goroutine then cleans up.
func (cn *conn) fail(err error) {
	cn.failOnce.Do(func() {
		cn.err = err
		close(cn.failed)
		cn.nc.Close()
	})
}

// readBufferSize is the reader's buffer; replies that fit are decoded in
// place, larger ones are copied out.
const readBufferSize = 64 << 10

// readFrame reads one length-prefixed frame of at most max bytes.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n > uint32(max) || n > math.MaxInt32 {
		return nil, protocolError("frame of %d bytes exceeds the %d byte limit", n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// deadlineReader pushes the read deadline forward before every read of the
// socket, so the connection is declared dead after readTimeout without a
// byte, and costs nothing per reply (bufio reads the socket once per batch).
type deadlineReader struct{ cn *conn }

func (r deadlineReader) Read(p []byte) (int, error) {
	_ = r.cn.nc.SetReadDeadline(time.Now().Add(r.cn.readTimeout))
	return r.cn.nc.Read(p)
}

// readLoop reads replies and notifications until the connection fails.
func (c *Client) readLoop(cn *conn) {
	defer cn.wg.Done()
	br := bufio.NewReaderSize(deadlineReader{cn}, readBufferSize)
	var large []byte
	for {
		lb, err := br.Peek(4)
		if err != nil {
			cn.fail(err)
			return
		}
		n := binary.BigEndian.Uint32(lb)
		if n > uint32(c.cfg.maxBuffer) || n > math.MaxInt32 || n < jute.ReplyHeaderSize {
			cn.fail(protocolError("reply frame of %d bytes (limit %d)", n, c.cfg.maxBuffer))
			return
		}
		size := 4 + int(n)
		if size <= br.Size() {
			b, err := br.Peek(size)
			if err != nil {
				cn.fail(err)
				return
			}
			err = c.handleFrame(b[4:])
			_, _ = br.Discard(size)
			if err != nil {
				cn.fail(err)
				return
			}
			continue
		}
		_, _ = br.Discard(4)
		if cap(large) < int(n) {
			large = make([]byte, n)
		}
		b := large[:n]
		if _, err := io.ReadFull(br, b); err != nil {
			cn.fail(err)
			return
		}
		if err := c.handleFrame(b); err != nil {
			cn.fail(err)
			return
		}
		if cap(large) > readBufferSize*4 {
			large = nil
		}
	}
}

// handleFrame handles one reply frame (without its length). It must copy
// whatever it keeps: the frame is the reader's buffer.
func (c *Client) handleFrame(frame []byte) error {
	var d jute.Decoder
	d.Reset(frame)
	var h jute.ReplyHeader
	h.Decode(&d)
	if d.Err() != nil {
		return protocolError("reply header: %v", d.Err())
	}
	switch h.Xid {
	case jute.XidNotification:
		var we jute.WatcherEvent
		we.Decode(&d)
		if d.Err() != nil {
			return protocolError("notification: %v", d.Err())
		}
		ev := Event{Type: we.Type, State: we.State, Path: we.Path}
		if we.Type == jute.EventNone {
			c.events.push(ev)
		} else {
			c.watches.trigger(ev)
		}
		return nil
	case jute.XidPing:
		return nil
	case jute.XidAuth:
		// The server answers auth packets as it reads them, ahead of
		// replies to earlier requests, so they have their own queue.
		c.mu.Lock()
		cl := c.authWait.pop()
		c.mu.Unlock()
		if cl != nil {
			cl.hdr = h
			cl.reply = cl.reply[:0]
			cl.complete()
		}
		if h.Err == jute.ErrAuthFailed {
			c.log.Warn("authentication failed; the session is unusable", "session-id", c.sessionID.Load())
			c.terminate(jute.ErrAuthFailed, nil, jute.StateAuthFailed)
			return errAuthFailed
		}
		return nil
	}

	c.mu.Lock()
	cl := c.matchReply(h.Xid)
	if cl == nil {
		head := c.pending.pop()
		if head != nil {
			c.pending.pushFront(head)
		}
		c.mu.Unlock()
		if head == nil {
			return protocolError("reply with xid %d but no request outstanding", h.Xid)
		}
		// Replies come in request order (recipe calls aside); anything
		// else means the stream cannot be trusted. Like the Java client,
		// drop the connection.
		return protocolError("reply with xid %d, expected %d (%s)", h.Xid, head.xid, head.op)
	}
	c.mu.Unlock()
	if h.Zxid > 0 {
		c.lastZxid.Store(h.Zxid)
	}
	cl.hdr = h
	cl.reply = append(cl.reply[:0], d.Rest()...)
	if cl.watch.kind != watchNone && !cl.abandoned() {
		c.watches.onReply(&cl.watch, h.Err)
	}
	cl.complete()
	return nil
}

// matchReply finds the call a reply with xid answers. Replies come in
// request order, except that the server sets aside a recipe call that
// waits (a lock not yet free, say) and answers it when it finishes, after
// later requests: a reply that skips recipe calls at the head of the queue
// files them as parked, and a parked call is answered by xid. The caller
// holds c.mu.
func (c *Client) matchReply(xid int32) *call {
	if cl := c.parked[xid]; cl != nil {
		delete(c.parked, xid)
		return cl
	}
	var skipped []*call
	for {
		cl := c.pending.pop()
		if cl == nil || (cl.xid != xid && cl.op != jute.OpRecipeCall) {
			if cl != nil {
				c.pending.pushFront(cl)
			}
			for i := len(skipped) - 1; i >= 0; i-- {
				c.pending.pushFront(skipped[i])
			}
			return nil
		}
		if cl.xid == xid {
			for _, p := range skipped {
				if c.parked == nil {
					c.parked = make(map[int32]*call)
				}
				c.parked[p.xid] = p
			}
			return cl
		}
		skipped = append(skipped, cl)
	}
}

// pingFrame is a complete ping request: xid -2, opcode 11, no body.
var pingFrame = func() []byte {
	var e jute.Encoder
	e.BeginFrame()
	h := jute.RequestHeader{Xid: jute.XidPing, Type: jute.OpPing}
	h.Encode(&e)
	e.EndFrame(0)
	return e.Bytes()
}()

// maxIdleWriteBuffer is the largest write buffer the writer keeps between
// batches.
const maxIdleWriteBuffer = 1 << 20

// writeLoop writes queued requests, many per write, and pings when the
// connection has been idle for a third of the session timeout.
func (c *Client) writeLoop(cn *conn) {
	defer cn.wg.Done()
	var batch []*call
	out := make([]byte, 0, 64<<10)
	ping := time.NewTimer(cn.pingEvery)
	defer ping.Stop()
	// What establish queued (auth, setWatches2, requests that waited for
	// the connection) goes out at once.
	first := true
	for {
		idle := false
		if !first {
			select {
			case <-c.wake:
			case <-ping.C:
				idle = true
			case <-cn.failed:
				return
			}
		}
		first = false
		for {
			c.mu.Lock()
			batch, c.queue = c.queue, batch[:0]
			c.mu.Unlock()
			if len(batch) == 0 && !idle {
				break
			}
			idle = false
			out = c.encodeBatch(out[:0], batch)
			// The requests must be outstanding before their bytes leave, or a
			// fast reply would find nothing to match.
			c.mu.Lock()
			for _, cl := range batch {
				if cl == nil {
					continue
				}
				if cl.op == jute.OpAuth {
					c.authWait.push(cl)
				} else {
					c.pending.push(cl)
				}
			}
			c.mu.Unlock()
			clear(batch)
			if len(out) == 0 {
				out = append(out, pingFrame...)
			}
			_ = cn.nc.SetWriteDeadline(time.Now().Add(cn.readTimeout))
			if _, err := cn.nc.Write(out); err != nil {
				cn.fail(err)
				return
			}
			ping.Reset(cn.pingEvery)
			if cap(out) > maxIdleWriteBuffer {
				out = make([]byte, 0, 64<<10)
			}
		}
	}
}

// encodeBatch appends the frames of batch to out, assigning xids in order.
// Calls whose caller gave up before they were sent are dropped (set to nil
// in batch) instead.
func (c *Client) encodeBatch(out []byte, batch []*call) []byte {
	for i, cl := range batch {
		if cl.abandoned() {
			cl.release()
			batch[i] = nil
			continue
		}
		if cl.xid == 0 {
			c.xid++
			if c.xid <= 0 { // skip the special negative xids, as ClientCnxn does
				c.xid = 1
			}
			cl.xid = c.xid
		}
		off := len(out)
		out = append(out, cl.frame...)
		putXid(out[off:], cl.xid)
	}
	return out
}
