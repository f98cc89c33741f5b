package compat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// rawConn is a client connection that speaks the wire protocol by hand,
// to send what no well-behaved client sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

// handshake opens a session.
func (r *rawConn) handshake() int64 {
	r.t.Helper()
	r.write(frame(func(e *jute.Encoder) {
		(&jute.ConnectRequest{TimeOut: 10_000, Passwd: make([]byte, 16)}).Encode(e)
	}))
	var resp jute.ConnectResponse
	b := r.readFrame()
	if err := jute.Decode(b, &resp); err != nil || resp.SessionID == 0 {
		r.t.Fatalf("handshake: %+v %v", resp, err)
	}
	return resp.SessionID
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	_ = r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) readFrame() []byte {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(r.nc, hdr[:]); err != nil {
		r.t.Fatalf("read frame length: %v", err)
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > jute.MaxBuffer {
		r.t.Fatalf("server sent a frame of length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.nc, b); err != nil {
		r.t.Fatalf("read frame body: %v", err)
	}
	return b
}

// reply reads one reply and returns its header.
func (r *rawConn) reply() jute.ReplyHeader {
	r.t.Helper()
	var h jute.ReplyHeader
	if err := jute.Decode(r.readFrame(), &h); err != nil {
		r.t.Fatalf("reply header: %v", err)
	}
	return h
}

// expectClosed checks that the server closes the connection without
// sending anything more.
func (r *rawConn) expectClosed(what string) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(r.nc)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		r.t.Errorf("%s: the server kept the connection open", what)
	case err != nil && !errors.Is(err, syscall.ECONNRESET):
		r.t.Errorf("%s: reading until close: %v", what, err)
	case len(b) > 0:
		r.t.Errorf("%s: the server sent %d unexpected bytes (%x) before closing", what, len(b), b)
	}
}

// expectWorking checks that the connection still answers a request.
func (r *rawConn) expectWorking(what string, xid int32) {
	r.t.Helper()
	r.write(request(xid, jute.OpExists, &jute.PathWatchRequest{Path: "/"}))
	if h := r.reply(); h.Xid != xid || h.Err != 0 {
		r.t.Errorf("%s: the connection no longer answers: %+v", what, h)
	}
}

func frame(body func(e *jute.Encoder)) []byte {
	e := jute.NewEncoder(nil)
	off := e.BeginFrame()
	body(e)
	e.EndFrame(off)
	return e.Bytes()
}

func request(xid int32, op jute.OpCode, rec jute.Record) []byte {
	return frame(func(e *jute.Encoder) {
		(&jute.RequestHeader{Xid: xid, Type: op}).Encode(e)
		if rec != nil {
			rec.Encode(e)
		}
	})
}

func length(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// healthyClient keeps a go-zookeeper session busy writing and reading back
// a node until stopped, and reports anything that went wrong.
type healthyClient struct {
	c    *client
	path string
	stop chan struct{}
	done chan struct{}
	ops  atomic.Int64
	mu   sync.Mutex
	errs []error
}

func startHealthyClient(t *testing.T, addr string) *healthyClient {
	h := &healthyClient{c: connect(t, addr, sessionTimeout), stop: make(chan struct{}), done: make(chan struct{})}
	p := testRoot(t, h.c) + "/healthy"
	h.path = mustCreate(t, h.c, p, nil, 0)
	go func() {
		defer close(h.done)
		for i := 0; ; i++ {
			select {
			case <-h.stop:
				return
			default:
			}
			want := []byte(strconv.Itoa(i))
			if _, err := h.c.Set(p, want, -1); err != nil {
				h.fail(fmt.Errorf("set #%d: %w", i, err))
				return
			}
			if got, _, err := h.c.Get(p); err != nil || !bytes.Equal(got, want) {
				h.fail(fmt.Errorf("get #%d: %q %v", i, got, err))
				return
			}
			h.ops.Add(1)
			time.Sleep(2 * time.Millisecond) // pace, not synchronisation
		}
	}()
	t.Cleanup(h.halt)
	return h
}

func (h *healthyClient) fail(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

func (h *healthyClient) halt() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// check stops the client and fails t if it ever failed, lost its
// connection, or made no progress after mark.
func (h *healthyClient) check(t *testing.T, mark int64) {
	t.Helper()
	eventually(t, 10*time.Second, "the healthy client completes more round trips", func() bool {
		return h.ops.Load() > mark+5
	})
	h.halt()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.errs {
		t.Errorf("healthy client: %v", err)
	}
	if got := h.c.events.since(0, isState(zk.StateDisconnected)); len(got) > 0 {
		t.Errorf("healthy client was disconnected: %+v", got)
	}
}

// TestMalformedInput sends malformed frames on many connections. Each is
// closed, or, for a request body that does not decode, answered with
// MarshallingError (-5) as ZooKeeper does, while a healthy go-zookeeper
// client keeps working throughout.
func TestMalformedInput(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	healthy := startHealthyClient(t, addr)
	mark := healthy.ops.Load()

	closedCases := []struct {
		name      string
		handshake bool
		send      []byte
	}{
		{"NegativeLengthBeforeHandshake", false, length(-16)},
		{"LengthOverMaxBufferBeforeHandshake", false, length(jute.MaxBuffer + 1)},
		{"TruncatedConnectRequest", false, append(length(6), 0, 0, 0, 0, 0, 0)},
		{"NegativeLength", true, length(-1)},
		{"LengthOverMaxBuffer", true, length(1 << 30)},
		{"EmptyFrame", true, length(0)},
		{"TruncatedRequestHeader", true, append(length(3), 0, 0, 1)},
		{"TruncatedAuthPacket", true, frame(func(e *jute.Encoder) {
			(&jute.RequestHeader{Xid: jute.XidAuth, Type: jute.OpAuth}).Encode(e)
			e.Int(0)
			e.Int(100) // a scheme of 100 bytes that are not there
		})},
	}
	for _, tc := range closedCases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			if tc.handshake {
				r.handshake()
			}
			r.write(tc.send)
			r.expectClosed(tc.name)
		})
	}

	t.Run("UnknownOpcode", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.handshake()
		r.write(request(5, 999, &jute.PathRequest{Path: "/"}))
		if h := r.reply(); h.Xid != 5 || h.Err != jute.ErrUnimplemented {
			t.Errorf("reply to opcode 999: %+v, want xid 5 and Unimplemented (-6)", h)
		}
		r.expectClosed("after an unknown opcode")
	})

	marshalling := []struct {
		name string
		op   jute.OpCode
		body func(e *jute.Encoder)
	}{
		{"GetDataPathTooLong", jute.OpGetData, func(e *jute.Encoder) { e.Int(1000); e.Int(0) }},
		{"CreateWithoutACL", jute.OpCreate, func(e *jute.Encoder) { e.String("/x"); e.Buffer(nil) }},
		{"SetDataWithoutData", jute.OpSetData, func(e *jute.Encoder) { e.String(healthy.path) }},
		{"MultiWithUnknownOp", jute.OpMulti, func(e *jute.Encoder) {
			(&jute.MultiHeader{Type: 77, Done: false, Err: -1}).Encode(e)
			e.String("/x")
		}},
		{"SetWatchesForgedCount", jute.OpSetWatches, func(e *jute.Encoder) { e.Long(0); e.Int(1 << 30) }},
	}
	for _, tc := range marshalling {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			r.handshake()
			r.write(frame(func(e *jute.Encoder) {
				(&jute.RequestHeader{Xid: 7, Type: tc.op}).Encode(e)
				tc.body(e)
			}))
			if h := r.reply(); h.Xid != 7 || h.Err != jute.ErrMarshallingError {
				t.Errorf("reply: %+v, want xid 7 and MarshallingError (-5)", h)
			}
			r.expectWorking("after MarshallingError", 8)
		})
	}
	if data, _, err := healthy.c.Get(healthy.path); err != nil || len(data) == 0 {
		t.Errorf("an undecodable setData changed %s: %q %v", healthy.path, data, err)
	}

	// Random bytes after a valid handshake, on several connections: the
	// server may answer what parses, but ends each connection, at the
	// latest when the client stops sending.
	for seed := int64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("RandomBytes/seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			junk := make([]byte, 4096)
			rng.Read(junk)
			if seed%2 == 0 {
				// A plausible length, so the junk is read as a frame.
				binary.BigEndian.PutUint32(junk, uint32(rng.Intn(200)+8))
			}
			r := dialRaw(t, addr)
			r.handshake()
			r.write(junk)
			_ = r.nc.(*net.TCPConn).CloseWrite()
			_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(r.nc)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server kept the connection open after random bytes and EOF")
			}
			// Whatever came back must be well-formed reply frames.
			for len(rest) >= 4 {
				n := int(binary.BigEndian.Uint32(rest))
				if n < jute.ReplyHeaderSize || n > len(rest)-4 {
					t.Fatalf("malformed frame from the server: length %d, %d bytes left", n, len(rest)-4)
				}
				rest = rest[4+n:]
			}
			if len(rest) != 0 {
				t.Errorf("%d trailing bytes from the server", len(rest))
			}
		})
	}
	healthy.check(t, mark)
}

// TestOversizedSetData: a setData whose frame is over jute.maxbuffer
// (0xfffff bytes) closes the connection that sent it and nothing else; the
// session survives and the data is unchanged. A frame of exactly
// jute.maxbuffer is accepted.
func TestOversizedSetData(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	healthy := startHealthyClient(t, addr)
	mark := healthy.ops.Load()
	c := connect(t, addr, sessionTimeout)
	p := mustCreate(t, c, healthy.path+"-big", []byte("small"), 0)
	sid := c.SessionID()

	// The frame: request header 8, path 4+len, data 4+len, version 4.
	fits := jute.MaxBuffer - 8 - (4 + len(p)) - 4 - 4
	if _, err := c.Set(p, bytes.Repeat([]byte{'a'}, fits), -1); err != nil {
		t.Fatalf("setData in a frame of exactly jute.maxbuffer bytes: %v", err)
	}
	mark2 := c.events.mark()
	_, err := c.Set(p, make([]byte, 1<<20), -1)
	// The server closes the connection after reading the frame's length;
	// if the client is still writing the frame then, its write fails with
	// a reset instead of the read seeing the close.
	if !errors.Is(err, zk.ErrConnectionClosed) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("setData of 1 MiB: %v, want the connection closed (zk.ErrConnectionClosed, or a reset mid-write)", err)
	}
	eventually(t, 10*time.Second, "the client to see the disconnect", func() bool {
		return len(c.events.since(mark2, isState(zk.StateDisconnected))) > 0
	})
	eventually(t, 10*time.Second, "the client re-attaches", func() bool { return c.State() == zk.StateHasSession })
	if c.SessionID() != sid {
		t.Errorf("session after the oversized request 0x%x, want 0x%x", c.SessionID(), sid)
	}
	var st *zk.Stat
	eventually(t, 10*time.Second, "a read after the re-attach", func() bool {
		_, st, err = c.Get(p)
		return !errors.Is(err, zk.ErrNoServer) && !errors.Is(err, zk.ErrConnectionClosed)
	})
	if err != nil || int(st.DataLength) != fits {
		t.Errorf("node after the refused setData: %+v %v, want the previous %d bytes", st, err, fits)
	}
	healthy.check(t, mark)
}
