package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// fakeServer is a scripted ZooKeeper server: the test accepts each
// connection, reads each request and writes each reply itself, so it can
// check what the client sends and answer in ways a real server would not.
type fakeServer struct {
	t       testing.TB
	ln      net.Listener
	conns   chan net.Conn
	timeout int32 // negotiated session timeout, ms
}

const (
	fakeSessionID = 0x1234
	fakePasswd    = "0123456789abcdef"
)

func newFakeServer(t testing.TB) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, conns: make(chan net.Conn, 16), timeout: 10000}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				close(f.conns)
				return
			}
			f.conns <- nc
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for nc := range f.conns {
			nc.Close()
		}
	})
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

type fakeConn struct {
	t   testing.TB
	nc  net.Conn
	br  *bufio.Reader
	req jute.ConnectRequest // the client's handshake
}

// next waits for the client's next connection and reads its handshake.
func (f *fakeServer) next() *fakeConn {
	f.t.Helper()
	select {
	case nc := <-f.conns:
		fc := &fakeConn{t: f.t, nc: nc, br: bufio.NewReader(nc)}
		f.t.Cleanup(func() { nc.Close() })
		if err := jute.Decode(fc.frame(), &fc.req); err != nil {
			f.t.Fatalf("connect request: %v", err)
		}
		return fc
	case <-time.After(waitTimeout):
		f.t.Fatal("no connection from the client")
	}
	panic("unreachable")
}

// accept takes the next connection and grants the session.
func (f *fakeServer) accept() *fakeConn {
	f.t.Helper()
	fc := f.next()
	fc.write(&jute.ConnectResponse{TimeOut: f.timeout, SessionID: fakeSessionID, Passwd: []byte(fakePasswd), HasReadOnly: true})
	return fc
}

func (fc *fakeConn) frame() []byte {
	fc.t.Helper()
	_ = fc.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := readFrame(fc.br, 1<<30)
	if err != nil {
		fc.t.Fatalf("fake server read: %v", err)
	}
	return b
}

func (fc *fakeConn) write(rec jute.Record) {
	fc.t.Helper()
	var e jute.Encoder
	e.BeginFrame()
	rec.Encode(&e)
	e.EndFrame(0)
	fc.raw(e.Bytes())
}

func (fc *fakeConn) raw(b []byte) {
	fc.t.Helper()
	if _, err := fc.nc.Write(b); err != nil {
		fc.t.Fatalf("fake server write: %v", err)
	}
}

// request reads one request; the body is left in the decoder.
func (fc *fakeConn) request() (jute.RequestHeader, *jute.Decoder) {
	fc.t.Helper()
	d := jute.NewDecoder(fc.frame())
	var h jute.RequestHeader
	h.Decode(d)
	if d.Err() != nil {
		fc.t.Fatalf("request header: %v", d.Err())
	}
	return h, d
}

// expect reads one request and checks its opcode.
func (fc *fakeConn) expect(op jute.OpCode) (jute.RequestHeader, *jute.Decoder) {
	fc.t.Helper()
	h, d := fc.request()
	if h.Type != op {
		fc.t.Fatalf("request %s (xid %d), want %s", h.Type, h.Xid, op)
	}
	return h, d
}

// reply answers xid; rec may be nil.
func (fc *fakeConn) reply(xid int32, zxid int64, code jute.Err, rec jute.Record) {
	fc.t.Helper()
	fc.write(replyRecord{jute.ReplyHeader{Xid: xid, Zxid: zxid, Err: code}, rec})
}

type replyRecord struct {
	h   jute.ReplyHeader
	rec jute.Record
}

func (r replyRecord) Encode(e *jute.Encoder) {
	r.h.Encode(e)
	if r.rec != nil {
		r.rec.Encode(e)
	}
}
func (r replyRecord) Decode(*jute.Decoder) {}

func (fc *fakeConn) notify(typ int32, path string) {
	fc.t.Helper()
	fc.reply(jute.XidNotification, -1, 0, &jute.WatcherEvent{Type: typ, State: jute.StateSyncConnected, Path: path})
}

// connectFake connects a client to f, granting the session on the first
// connection, and returns both ends.
func connectFake(t testing.TB, f *fakeServer, opts ...Option) (*Client, *fakeConn) {
	t.Helper()
	type result struct {
		c   *Client
		err error
	}
	done := make(chan result, 1)
	// Registered before the server side's cleanups so that it runs after
	// them: the client then closes without waiting for a closeSession reply.
	var c *Client
	t.Cleanup(func() {
		if c != nil {
			c.Close()
		}
	})
	go func() {
		c, err := Connect(testCtx(t), []string{f.addr()}, append([]Option{WithLogger(testLogger())}, opts...)...)
		done <- result{c, err}
	}()
	fc := f.accept()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	c = r.c
	return c, fc
}

// async runs fn in a goroutine and returns its error on a channel.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("request did not finish")
	}
	panic("unreachable")
}

// TestHandshakeAndReattach checks the bytes of a new session's handshake, the
// re-attach after a connection loss (session id, password, last zxid), and
// the order of what the client sends first: auth, then setWatches2, then the
// requests that waited.
func TestHandshakeAndReattach(t *testing.T) {
	f := newFakeServer(t)
	f.timeout = 6000
	c, fc := connectFake(t, f, WithSessionTimeout(7*time.Second), WithAuth("digest", []byte("u:p")))
	want := jute.ConnectRequest{TimeOut: 7000, Passwd: make([]byte, 16), HasReadOnly: true}
	if fmt.Sprint(fc.req) != fmt.Sprint(want) {
		t.Fatalf("connect request %+v, want %+v", fc.req, want)
	}
	if c.SessionID() != fakeSessionID || string(c.SessionPassword()) != fakePasswd || c.SessionTimeout() != 6*time.Second {
		t.Fatalf("session %x %q %v", c.SessionID(), c.SessionPassword(), c.SessionTimeout())
	}
	h, d := fc.expect(jute.OpAuth)
	var auth jute.AuthPacket
	auth.Decode(d)
	if h.Xid != jute.XidAuth || auth.Scheme != "digest" || string(auth.Auth) != "u:p" || auth.Type != 0 {
		t.Fatalf("auth packet xid %d %+v", h.Xid, auth)
	}
	fc.reply(jute.XidAuth, 0, 0, nil)

	// Requests get xids 1, 2, ... in order; the watch registers on success.
	var ch <-chan Event
	res := async(func() (err error) { _, _, ch, err = c.GetW(testCtx(t), "/w"); return err })
	h, d = fc.expect(jute.OpGetData)
	var get jute.PathWatchRequest
	get.Decode(d)
	if h.Xid != 1 || get.Path != "/w" || !get.Watch {
		t.Fatalf("getData xid %d %+v", h.Xid, get)
	}
	fc.reply(h.Xid, 0x500000010, 0, &jute.GetDataResponse{Data: []byte("d")})
	must(t, wait(t, res))
	if c.LastZxid() != 0x500000010 {
		t.Fatalf("LastZxid = %x", c.LastZxid())
	}
	var pw *PersistentWatch
	res = async(func() (err error) { pw, err = c.AddWatch(testCtx(t), "/p", true); return err })
	h, d = fc.expect(jute.OpAddWatch)
	var aw jute.PathModeRequest
	aw.Decode(d)
	if h.Xid != 2 || aw != (jute.PathModeRequest{Path: "/p", Mode: jute.AddWatchPersistentRecursive}) {
		t.Fatalf("addWatch xid %d %+v", h.Xid, aw)
	}
	fc.reply(h.Xid, 0x500000010, 0, &jute.IntResponse{})
	must(t, wait(t, res))

	// The server goes away; a request made meanwhile waits.
	fc.nc.Close()
	waitFor(t, "Disconnected", func() bool { return c.State() == jute.StateDisconnected })
	res = async(func() error { _, err := c.Create(testCtx(t), "/later", nil, Persistent, WorldACL(PermAll)); return err })

	fc = f.accept()
	want = jute.ConnectRequest{LastZxidSeen: 0x500000010, TimeOut: 7000, SessionID: fakeSessionID, Passwd: []byte(fakePasswd), HasReadOnly: true}
	if fmt.Sprint(fc.req) != fmt.Sprint(want) {
		t.Fatalf("re-attach request %+v, want %+v", fc.req, want)
	}
	h, _ = fc.expect(jute.OpAuth)
	if h.Xid != jute.XidAuth {
		t.Fatalf("auth xid %d", h.Xid)
	}
	h, d = fc.expect(jute.OpSetWatches2)
	sw := jute.SetWatchesRequest{V2: true}
	sw.Decode(d)
	if h.Xid != jute.XidSetWatches || d.Err() != nil || sw.RelativeZxid != 0x500000010 ||
		fmt.Sprint(sw.DataWatches, sw.ExistWatches, sw.ChildWatches, sw.PersistentWatches, sw.PersistentRecursive) != "[/w] [] [] [] [/p]" {
		t.Fatalf("setWatches2 xid %d %+v (%v)", h.Xid, sw, d.Err())
	}
	h, _ = fc.expect(jute.OpCreate)
	if h.Xid != 3 {
		t.Fatalf("create after reconnect has xid %d, want 3", h.Xid)
	}
	// Auth answers come out of band, the rest in order.
	fc.reply(jute.XidAuth, 0, 0, nil)
	fc.reply(jute.XidSetWatches, 0x500000011, 0, nil)
	fc.notify(jute.EventNodeDataChanged, "/w")
	fc.notify(jute.EventNodeCreated, "/p/q")
	fc.reply(3, 0x500000012, 0, &jute.CreateResponse{Path: "/later"})
	must(t, wait(t, res))
	expectEvent(t, ch, jute.EventNodeDataChanged, "/w")
	expectEvent(t, pw.Events(), jute.EventNone, "") // Disconnected
	expectEvent(t, pw.Events(), jute.EventNone, "") // SyncConnected
	expectEvent(t, pw.Events(), jute.EventNodeCreated, "/p/q")
}

// TestCallResentAfterReconnect: a recipe call outstanding when the
// connection drops is sent again, while an ordinary request fails with
// ConnectionLoss.
func TestCallResentAfterReconnect(t *testing.T) {
	f := newFakeServer(t)
	c, fc := connectFake(t, f)
	var result []byte
	call := async(func() (err error) {
		result, err = c.Call(testCtx(t), "lock", "acquire", []byte(`{"path":"/l"}`))
		return err
	})
	h, d := fc.expect(jute.OpRecipeCall)
	var rc jute.RecipeCallRequest
	rc.Decode(d)
	// The context's deadline rides along as timeout_ms.
	var args struct {
		Path      string `json:"path"`
		TimeoutMs int64  `json:"timeout_ms"`
	}
	if rc.Name != "lock" || rc.Function != "acquire" || json.Unmarshal(rc.Args, &args) != nil || args.Path != "/l" || args.TimeoutMs <= 0 {
		t.Fatalf("recipe call %+v (%s)", rc, rc.Args)
	}
	get := async(func() error { _, _, err := c.Get(testCtx(t), "/x"); return err })
	fc.expect(jute.OpGetData)
	fc.nc.Close()
	expectCode(t, wait(t, get), ErrConnectionLoss)

	fc = f.accept()
	h2, d := fc.expect(jute.OpRecipeCall)
	rc = jute.RecipeCallRequest{}
	rc.Decode(d)
	if h2.Xid <= h.Xid || rc.Name != "lock" || rc.Function != "acquire" {
		t.Fatalf("re-sent call xid %d (was %d) %+v", h2.Xid, h.Xid, rc)
	}
	fc.reply(h2.Xid, 7, 0, &jute.BufferResponse{Data: []byte("granted")})
	must(t, wait(t, call))
	if string(result) != "granted" {
		t.Fatalf("Call = %q", result)
	}

	// A failing recipe: the code plus the server's message.
	call = async(func() error { _, err := c.Call(testCtx(t), "lock", "release", nil); return err })
	h, _ = fc.expect(jute.OpRecipeCall)
	fc.reply(h.Xid, 8, jute.ErrRecipeFailed, &jute.BufferResponse{Data: []byte("not the holder")})
	err := wait(t, call)
	expectCode(t, err, ErrRecipeFailed)
	var ze *Error
	if !errors.As(err, &ze) || ze.Message != "not the holder" || ze.Op != "recipeCall" {
		t.Fatalf("error %#v", err)
	}
}

// TestProtocolViolations: a reply out of order, a reply nobody asked for
// and an oversized frame each drop the connection, failing what was
// outstanding; the client then reconnects.
func TestProtocolViolations(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(fc *fakeConn, xid int32)
	}{
		{"WrongXid", func(fc *fakeConn, xid int32) { fc.reply(xid+1, 1, 0, &jute.StatResponse{}) }},
		{"UnexpectedReply", func(fc *fakeConn, xid int32) {
			fc.reply(xid, 1, 0, &jute.StatResponse{})
			fc.reply(xid+5, 1, 0, &jute.StatResponse{})
		}},
		{"Oversized", func(fc *fakeConn, xid int32) {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], 4096)
			fc.raw(b[:])
		}},
		{"Truncated", func(fc *fakeConn, xid int32) { fc.raw([]byte{0, 0, 0, 3, 1, 2, 3}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			var log eventLog
			c, fc := connectFake(t, f, WithMaxBuffer(1024), WithEventCallback(log.add))
			res := async(func() error { _, _, err := c.Exists(testCtx(t), "/x"); return err })
			h, _ := fc.expect(jute.OpExists)
			tc.send(fc, h.Xid)
			err := wait(t, res)
			if tc.name == "UnexpectedReply" {
				must(t, err) // answered before the bad frame
			} else {
				expectCode(t, err, ErrConnectionLoss)
			}
			fc = f.accept()
			waitFor(t, "the reconnection", func() bool { return log.count(jute.StateSyncConnected) == 2 })
			res = async(func() error { _, _, err := c.Exists(testCtx(t), "/x"); return err })
			h, _ = fc.expect(jute.OpExists)
			fc.reply(h.Xid, 2, jute.ErrNoNode, nil)
			must(t, wait(t, res))
		})
	}
}

// TestPingsAndDeadConnection: an idle client pings every third of the
// session timeout, and gives up on a connection that sends nothing for two
// thirds of it.
func TestPingsAndDeadConnection(t *testing.T) {
	f := newFakeServer(t)
	f.timeout = 900
	var log eventLog
	c, fc := connectFake(t, f, WithEventCallback(log.add))
	start := time.Now()
	h, _ := fc.expect(jute.OpPing)
	if h.Xid != jute.XidPing || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("ping xid %d after %v", h.Xid, time.Since(start))
	}
	fc.reply(jute.XidPing, 1, 0, nil)
	// Never answer again: the client must drop the connection and come back.
	fc.expect(jute.OpPing)
	fc2 := f.accept()
	if time.Since(start) < 600*time.Millisecond {
		t.Fatalf("gave up after %v, before 2/3 of the timeout without a byte", time.Since(start))
	}
	waitFor(t, "Disconnected then SyncConnected", func() bool { return log.count(jute.StateSyncConnected) == 2 })
	if fmt.Sprint(log.states()) != fmt.Sprint([]int32{3, 0, 3}) {
		t.Fatalf("session events %v", log.states())
	}
	res := async(func() error { _, err := c.Sync(testCtx(t), "/"); return err })
	h, _ = fc2.expect(jute.OpSync)
	fc2.reply(h.Xid, 1, 0, &jute.PathRequest{Path: "/"})
	must(t, wait(t, res))
}

// TestAuthReplyOutOfOrder: ZooKeeper answers auth packets when it reads
// them, ahead of replies to earlier requests.
func TestAuthReplyOutOfOrder(t *testing.T) {
	f := newFakeServer(t)
	c, fc := connectFake(t, f)
	get := async(func() error { _, _, err := c.Get(testCtx(t), "/a"); return err })
	h, _ := fc.expect(jute.OpGetData)
	auth := async(func() error { return c.AddAuth(testCtx(t), "digest", []byte("a:b")) })
	fc.expect(jute.OpAuth)
	fc.reply(jute.XidAuth, 0, 0, nil)
	must(t, wait(t, auth))
	fc.reply(h.Xid, 3, 0, &jute.GetDataResponse{Data: []byte("x")})
	must(t, wait(t, get))
}

// TestExpiredOnReattach: the server answers the re-attach with a zero
// timeout; waiting requests fail with SessionExpired.
func TestExpiredOnReattach(t *testing.T) {
	f := newFakeServer(t)
	var log eventLog
	c, fc := connectFake(t, f, WithEventCallback(log.add))
	fc.nc.Close()
	waitFor(t, "Disconnected", func() bool { return c.State() == jute.StateDisconnected })
	res := async(func() error { _, err := c.Children(testCtx(t), "/"); return err })
	fc = f.next()
	if fc.req.SessionID != fakeSessionID {
		t.Fatalf("re-attach for session %x", fc.req.SessionID)
	}
	fc.write(&jute.ConnectResponse{Passwd: make([]byte, 16)})
	fc.nc.Close()
	expectCode(t, wait(t, res), ErrSessionExpired)
	if c.State() != jute.StateExpired {
		t.Fatalf("State = %s", StateName(c.State()))
	}
	waitFor(t, "the Expired event", func() bool { return log.has(jute.StateExpired) })
	must(t, c.Close())
}

// TestCloseWithoutReply: Close does not hang on a server that never answers
// closeSession.
func TestCloseWithoutReply(t *testing.T) {
	f := newFakeServer(t)
	f.timeout = 600
	c, fc := connectFake(t, f)
	done := async(c.Close)
	for {
		h, _ := fc.request()
		if h.Type == jute.OpCloseSession {
			break
		}
	}
	must(t, wait(t, done))
	_, _, err := c.Exists(testCtx(t), "/")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestAbandonedRequests: a caller whose context ends stops waiting; the
// reply that comes later is matched and dropped, and the stream stays in
// sync.
func TestAbandonedRequests(t *testing.T) {
	f := newFakeServer(t)
	c, fc := connectFake(t, f)
	ctx, cancel := context.WithCancel(testCtx(t))
	res := async(func() error { _, _, err := c.Get(ctx, "/slow"); return err })
	h1, _ := fc.expect(jute.OpGetData)
	cancel()
	if err := wait(t, res); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned Get: %v", err)
	}
	res = async(func() error {
		data, _, err := c.Get(testCtx(t), "/fast")
		if err == nil && string(data) != "fast" {
			err = fmt.Errorf("got %q", data)
		}
		return err
	})
	h2, _ := fc.expect(jute.OpGetData)
	fc.reply(h1.Xid, 1, 0, &jute.GetDataResponse{Data: []byte("slow")})
	fc.reply(h2.Xid, 1, 0, &jute.GetDataResponse{Data: []byte("fast")})
	must(t, wait(t, res))
}

func TestLargeReply(t *testing.T) {
	f := newFakeServer(t)
	c, fc := connectFake(t, f)
	big := bytes.Repeat([]byte{7}, 300<<10) // larger than the read buffer
	var data []byte
	res := async(func() (err error) { data, _, err = c.Get(testCtx(t), "/big"); return err })
	h, _ := fc.expect(jute.OpGetData)
	fc.reply(h.Xid, 1, 0, &jute.GetDataResponse{Data: big})
	must(t, wait(t, res))
	if !bytes.Equal(data, big) {
		t.Fatalf("got %d bytes", len(data))
	}
}

// TestParkedRecipeReplyOutOfOrder: the server sets aside a recipe call that
// waits and answers later requests first; the call's reply, when it comes,
// still reaches it, and a parked call is re-sent after a reconnect.
func TestParkedRecipeReplyOutOfOrder(t *testing.T) {
	f := newFakeServer(t)
	c, fc := connectFake(t, f)
	var result []byte
	call := async(func() (err error) {
		result, err = c.Call(testCtx(t), "lock", "acquire", nil)
		return err
	})
	hc, _ := fc.expect(jute.OpRecipeCall)
	get := async(func() error { _, _, err := c.Get(testCtx(t), "/x"); return err })
	hg, _ := fc.expect(jute.OpGetData)
	fc.reply(hg.Xid, 5, 0, &jute.GetDataResponse{Data: []byte("v")})
	must(t, wait(t, get))
	fc.reply(hc.Xid, 6, 0, &jute.BufferResponse{Data: []byte("granted")})
	must(t, wait(t, call))
	if string(result) != "granted" {
		t.Fatalf("Call = %q", result)
	}

	// A parked call is re-sent if the connection drops while it waits.
	call = async(func() (err error) {
		result, err = c.Call(testCtx(t), "lock", "acquire", nil)
		return err
	})
	hc, _ = fc.expect(jute.OpRecipeCall)
	get = async(func() error { _, _, err := c.Get(testCtx(t), "/x"); return err })
	hg, _ = fc.expect(jute.OpGetData)
	fc.reply(hg.Xid, 7, 0, &jute.GetDataResponse{Data: []byte("v")})
	must(t, wait(t, get))
	fc.nc.Close()
	fc = f.accept()
	h2, _ := fc.expect(jute.OpRecipeCall)
	if h2.Xid <= hc.Xid {
		t.Fatalf("re-sent xid %d, was %d", h2.Xid, hc.Xid)
	}
	fc.reply(h2.Xid, 8, 0, &jute.BufferResponse{Data: []byte("granted again")})
	must(t, wait(t, call))
	if string(result) != "granted again" {
		t.Fatalf("Call = %q", result)
	}
}
