package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/transport/jute"
)

// maxPendingOutput bounds what a connection may owe a client that does not
// read: past it the connection is closed rather than let memory grow.
const maxPendingOutput = 64 << 20

// clientConn carries one client connection: a reader goroutine that decodes
// frames and hands them to the pipeline, and a writer goroutine that flushes
// whatever replies and events have been queued, many per write.
type clientConn struct {
	node *Node
	nc   net.Conn
	log  *slog.Logger

	mu      sync.Mutex
	out     []byte
	spare   []byte
	closing bool
	burst   bool // the reader holds more requests: see End
	wake    chan struct{}
	enc     jute.Encoder
	done    chan struct{}
}

func (n *Node) serveConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	cc := &clientConn{
		node: n,
		nc:   nc,
		log:  n.log,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go cc.writeLoop()
	cc.readLoop()
}

// Begin implements server.Sink: it locks the outgoing buffer.
func (cc *clientConn) Begin() *jute.Encoder {
	cc.mu.Lock()
	cc.enc.Reset(cc.out)
	return &cc.enc
}

// End implements server.Sink: it keeps what was encoded (unless the
// connection is closing) and wakes the writer, unless the reader is in the
// middle of a burst of requests: then it wakes it once, at the burst's end,
// and the replies leave in one write. System calls are the cost here.
func (cc *clientConn) End() {
	over := false
	if !cc.closing {
		cc.out = cc.enc.Bytes()
		if len(cc.out) > maxPendingOutput {
			over = true
			cc.closing = true
		}
	}
	hold := cc.burst
	cc.mu.Unlock()
	if over {
		cc.log.Warn("client is not reading its replies; closing connection", "remote", cc.nc.RemoteAddr().String())
	}
	if !hold {
		cc.flush()
	}
}

// flush wakes the writer.
func (cc *clientConn) flush() {
	select {
	case cc.wake <- struct{}{}:
	default:
	}
}

// setBurst marks whether the reader has more requests already read: while
// it does, replies wait to go out together.
func (cc *clientConn) setBurst(on bool) {
	cc.mu.Lock()
	was := cc.burst
	cc.burst = on
	cc.mu.Unlock()
	if was && !on {
		cc.flush()
	}
}

// Close implements server.Sink: flush, then close.
func (cc *clientConn) Close() {
	cc.mu.Lock()
	cc.closing = true
	cc.mu.Unlock()
	select {
	case cc.wake <- struct{}{}:
	default:
	}
}

func (cc *clientConn) writeLoop() {
	defer close(cc.done)
	for range cc.wake {
		cc.mu.Lock()
		buf := cc.out
		cc.out = cc.spare[:0]
		closing := cc.closing
		cc.mu.Unlock()
		if len(buf) > 0 {
			if _, err := cc.nc.Write(buf); err != nil {
				cc.nc.Close()
				return
			}
		}
		cc.mu.Lock()
		if cap(buf) <= 1<<20 {
			cc.spare = buf[:0]
		} else {
			cc.spare = nil
		}
		more := len(cc.out) > 0
		cc.mu.Unlock()
		if closing && !more {
			cc.nc.Close()
			return
		}
	}
}

// readLoop reads frames until the connection ends. The first four bytes
// of a connection may be a four-letter word instead of a frame length.
func (cc *clientConn) readLoop() {
	n := cc.node
	br := bufio.NewReaderSize(cc.nc, 64<<10)
	var conn *server.Conn
	defer func() {
		cc.Close()
		if conn != nil {
			conn.Closed()
		}
		// Unblock the writer if it is stuck on a client that stopped reading.
		_ = cc.nc.SetWriteDeadline(time.Now().Add(time.Second))
		<-cc.done
		cc.nc.Close()
	}()
	var hdr [4]byte
	var frame []byte
	first := true
	for {
		if br.Buffered() == 0 {
			cc.setBurst(false) // about to wait for the client: send what we have
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		if first {
			first = false
			if cmd := string(hdr[:]); isFourLetterWord(cmd) {
				cc.fourLetter(cmd)
				return
			}
			conn = n.core.NewConn(cc, cc.nc.RemoteAddr().String())
		}
		size := int32(binary.BigEndian.Uint32(hdr[:]))
		if size < 0 || size > n.maxBuffer {
			cc.log.Warn("closing connection: invalid frame length", "len", size, "max", n.maxBuffer,
				"remote", cc.nc.RemoteAddr().String(), "session", sessionHex(conn))
			return
		}
		if cap(frame) < int(size) {
			frame = make([]byte, size)
		}
		frame = frame[:size]
		if _, err := io.ReadFull(br, frame); err != nil {
			return
		}
		// Replies wait while the reader has input; they go out together
		// when it is about to block (the top of the loop).
		cc.setBurst(true)
		if err := conn.Handle(frame); err != nil {
			if !errors.Is(err, server.ErrConnClosed) {
				cc.log.Info("closing connection", "err", err, "remote", cc.nc.RemoteAddr().String(), "session", sessionHex(conn))
			}
			return
		}
		select {
		case <-conn.Ready():
		case <-n.stopping:
			return
		}
	}
}

func sessionHex(c *server.Conn) string {
	if c == nil {
		return "0x0"
	}
	return hexID(c.SessionID())
}
