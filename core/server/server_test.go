package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/transport/jute"
)

// fakeSink collects the frames a connection sends.
type fakeSink struct {
	mu     sync.Mutex
	enc    jute.Encoder
	frames [][]byte
	closed bool
}

func (f *fakeSink) Begin() *jute.Encoder {
	f.mu.Lock()
	f.enc.Reset(nil)
	return &f.enc
}

func (f *fakeSink) End() {
	defer f.mu.Unlock()
	b := f.enc.Bytes()
	for len(b) > 0 {
		n := binary.BigEndian.Uint32(b)
		f.frames = append(f.frames, b[4:4+n])
		b = b[4+n:]
	}
}

func (f *fakeSink) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

func (f *fakeSink) take() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.frames
	f.frames = nil
	return out
}

// bed drives a Server's pipeline by hand: step runs prep and apply until
// nothing is left, so tests see every intermediate state.
type bed struct {
	t   *testing.T
	s   *Server
	now time.Time
}

func newBed(t *testing.T) *bed {
	b := &bed{t: t, now: time.Unix(1700000000, 0)}
	b.s = New(Config{
		TickTime: 100 * time.Millisecond,
		Now:      func() time.Time { return b.now },
		Rand:     bytes.NewReader(bytes.Repeat([]byte{7}, 1<<16)),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return b
}

// step applies what prep issued (prep runs when a request is submitted).
func (b *bed) step() {
	for {
		progressed := false
		var batch []*proposal
		for len(b.s.commitQ) > 0 {
			batch = append(batch, <-b.s.commitQ...)
		}
		if len(batch) > 0 {
			txns := make([]*txn.Txn, len(batch))
			for i, p := range batch {
				txns[i] = p.txn
			}
			if err := b.s.cfg.Log.Write(txns); err != nil {
				b.t.Fatal(err)
			}
			if err := b.s.cfg.Log.Sync(); err != nil {
				b.t.Fatal(err)
			}
			b.s.applyBatch(batch)
			progressed = true
		}
		if !progressed {
			return
		}
	}
}

// prepOnly is a no-op marker: prep runs when a request is submitted, so
// the txns already wait in commitQ until step applies them.
func (b *bed) prepOnly() {}

type client struct {
	b    *bed
	sink *fakeSink
	c    *Conn
	xid  int32
	sid  int64
	pw   []byte
}

func (b *bed) connect(sid int64, pw []byte) *client {
	b.t.Helper()
	cl, _ := b.connectTimeout(sid, pw, 1000)
	return cl
}

// connectTimeout connects asking for a session timeout of ms.
func (b *bed) connectTimeout(sid int64, pw []byte, ms int32) (*client, jute.ConnectResponse) {
	b.t.Helper()
	cl := &client{b: b, sink: &fakeSink{}}
	cl.c = b.s.NewConn(cl.sink, "127.0.0.1")
	req := jute.ConnectRequest{TimeOut: ms, SessionID: sid, Passwd: pw, HasReadOnly: true}
	if pw == nil {
		req.Passwd = make([]byte, 16)
	}
	e := jute.NewEncoder(nil)
	req.Encode(e)
	if err := cl.c.Handle(e.Bytes()); err != nil && sid == 0 {
		b.t.Fatalf("connect: %v", err)
	}
	b.step()
	frames := cl.sink.take()
	if len(frames) != 1 {
		b.t.Fatalf("connect: %d frames", len(frames))
	}
	var resp jute.ConnectResponse
	if err := jute.Decode(frames[0], &resp); err != nil {
		b.t.Fatal(err)
	}
	cl.sid, cl.pw = resp.SessionID, resp.Passwd
	return cl, resp
}

// send submits a request without stepping the pipeline.
func (cl *client) send(op jute.OpCode, req jute.Record) int32 {
	cl.b.t.Helper()
	cl.xid++
	e := jute.NewEncoder(nil)
	h := jute.RequestHeader{Xid: cl.xid, Type: op}
	h.Encode(e)
	if req != nil {
		req.Encode(e)
	}
	if err := cl.c.Handle(e.Bytes()); err != nil {
		cl.b.t.Fatalf("%v: %v", op, err)
	}
	return cl.xid
}

type reply struct {
	hdr  jute.ReplyHeader
	body []byte
}

func (cl *client) replies() []reply {
	var out []reply
	for _, f := range cl.sink.take() {
		d := jute.NewDecoder(f)
		var h jute.ReplyHeader
		h.Decode(d)
		out = append(out, reply{h, d.Rest()})
	}
	return out
}

// call sends one request, steps the pipeline and returns its reply, which
// must be the only frame.
func (cl *client) call(op jute.OpCode, req, resp jute.Record) jute.Err {
	cl.b.t.Helper()
	xid := cl.send(op, req)
	cl.b.step()
	rs := cl.replies()
	if len(rs) != 1 || rs[0].hdr.Xid != xid {
		cl.b.t.Fatalf("%v: got %d frames %+v", op, len(rs), rs)
	}
	if rs[0].hdr.Err == 0 && resp != nil {
		if err := jute.Decode(rs[0].body, resp); err != nil {
			cl.b.t.Fatal(err)
		}
	}
	return rs[0].hdr.Err
}

var openACL = []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}

func (cl *client) create(path string, flags int32) (string, jute.Err) {
	var resp jute.CreateResponse
	errc := cl.call(jute.OpCreate, &jute.CreateRequest{Path: path, ACL: openACL, Flags: flags, TTL: -1}, &resp)
	return resp.Path, errc
}

func TestConnectNegotiatesTimeoutAndReattaches(t *testing.T) {
	b := newBed(t)
	cl := b.connect(0, nil)
	if cl.sid == 0 || len(cl.pw) != 16 {
		t.Fatalf("session %x pw %x", cl.sid, cl.pw)
	}
	if s, _ := b.s.sessions.Get(cl.sid); s.Timeout != 1000 {
		t.Fatalf("timeout %d, want the requested 1000 (within 200..2000)", s.Timeout)
	}
	again := b.connect(cl.sid, cl.pw)
	if again.sid != cl.sid {
		t.Fatalf("re-attach gave session %x", again.sid)
	}
	if !cl.sink.closed {
		t.Fatal("the old connection of a re-attached session must be closed")
	}
	bad := b.connect(cl.sid, []byte("0123456789abcdef"))
	if bad.sid != 0 || !bad.sink.closed {
		t.Fatal("a wrong password must be answered as an expired session and the connection closed")
	}
}

// TestDefaultSessionTimeoutBounds: with no minSessionTimeout or
// maxSessionTimeout configured, a requested timeout is clamped to 2 and 20
// ticks, as ZooKeeper does.
func TestDefaultSessionTimeoutBounds(t *testing.T) {
	b := newBed(t) // tickTime 100ms: 200ms..2s
	for _, c := range []struct{ ask, want int32 }{{-1, 200}, {0, 200}, {50, 200}, {200, 200}, {1500, 1500}, {2000, 2000}, {60000, 2000}} {
		cl, resp := b.connectTimeout(0, nil, c.ask)
		if resp.TimeOut != c.want {
			t.Errorf("asked for %dms: negotiated %dms, want %dms", c.ask, resp.TimeOut, c.want)
		}
		if s, ok := b.s.sessions.Get(cl.sid); !ok || s.Timeout != c.want {
			t.Errorf("asked for %dms: the session tracker has %+v (%v), want a timeout of %dms", c.ask, s, ok, c.want)
		}
	}
}

func TestWriteErrorsInZooKeeperOrder(t *testing.T) {
	b := newBed(t)
	cl := b.connect(0, nil)
	if _, errc := cl.create("/a", 0); errc != 0 {
		t.Fatal(errc)
	}
	cases := []struct {
		op   jute.OpCode
		req  jute.Record
		want jute.Err
	}{
		{jute.OpCreate, &jute.CreateRequest{Path: "/a", ACL: openACL, TTL: -1}, jute.ErrNodeExists},
		{jute.OpCreate, &jute.CreateRequest{Path: "/x/y", ACL: openACL, TTL: -1}, jute.ErrNoNode},
		{jute.OpCreate, &jute.CreateRequest{Path: "noslash", ACL: openACL, TTL: -1}, jute.ErrBadArguments},
		{jute.OpCreate, &jute.CreateRequest{Path: "/a/", ACL: openACL, TTL: -1}, jute.ErrBadArguments},
		{jute.OpCreate, &jute.CreateRequest{Path: "/b", ACL: nil, TTL: -1}, jute.ErrInvalidACL},
		{jute.OpCreate, &jute.CreateRequest{Path: "/b", ACL: openACL, Flags: 9, TTL: -1}, jute.ErrBadArguments},
		{jute.OpCreate, &jute.CreateRequest{Path: "/b", ACL: openACL, Flags: jute.FlagPersistentWithTTL, TTL: -1}, jute.ErrUnimplemented},
		{jute.OpDelete, &jute.PathVersionRequest{Path: "/a", Version: 5}, jute.ErrBadVersion},
		{jute.OpDelete, &jute.PathVersionRequest{Path: "/zookeeper", Version: -1}, jute.ErrBadArguments},
		{jute.OpDelete, &jute.PathVersionRequest{Path: "/", Version: -1}, jute.ErrBadArguments},
		{jute.OpSetData, &jute.SetDataRequest{Path: "/nope", Version: -1}, jute.ErrNoNode},
		{jute.OpSetData, &jute.SetDataRequest{Path: "/a", Version: 1}, jute.ErrBadVersion},
		{jute.OpSetACL, &jute.SetACLRequest{Path: "/a", ACL: []jute.ACL{{Perms: 31, Scheme: "auth"}}, Version: -1}, jute.ErrInvalidACL},
		{jute.OpReconfig, &jute.ReconfigRequest{}, jute.ErrReconfigDisabled},
	}
	for i, c := range cases {
		before := b.s.LastZxid()
		if got := cl.call(c.op, c.req, nil); got != c.want {
			t.Errorf("case %d %v: got %v, want %v", i, c.op, got, c.want)
		}
		// A failed write still takes a zxid, as in ZooKeeper.
		if b.s.LastZxid() != before+1 {
			t.Errorf("case %d: zxid %d -> %d", i, before, b.s.LastZxid())
		}
	}
}

func TestACLEnforced(t *testing.T) {
	b := newBed(t)
	owner := b.connect(0, nil)
	other := b.connect(0, nil)
	// owner authenticates and creates a node only it may write.
	e := jute.NewEncoder(nil)
	(&jute.RequestHeader{Xid: jute.XidAuth, Type: jute.OpAuth}).Encode(e)
	(&jute.AuthPacket{Scheme: "digest", Auth: []byte("alice:pw")}).Encode(e)
	if err := owner.c.Handle(e.Bytes()); err != nil {
		t.Fatal(err)
	}
	owner.replies()
	private := []jute.ACL{{Perms: jute.PermAll, Scheme: "auth"}, {Perms: jute.PermRead, Scheme: "world", ID: "anyone"}}
	var cr jute.CreateResponse
	if errc := owner.call(jute.OpCreate, &jute.CreateRequest{Path: "/p", ACL: private, TTL: -1}, &cr); errc != 0 {
		t.Fatal(errc)
	}
	if errc := other.call(jute.OpSetData, &jute.SetDataRequest{Path: "/p", Data: []byte("x"), Version: -1}, nil); errc != jute.ErrNoAuth {
		t.Fatalf("setData without WRITE: %v", errc)
	}
	if errc := other.call(jute.OpCreate, &jute.CreateRequest{Path: "/p/c", ACL: openACL, TTL: -1}, nil); errc != jute.ErrNoAuth {
		t.Fatalf("create without CREATE on parent: %v", errc)
	}
	var acls jute.GetACLResponse
	if errc := other.call(jute.OpGetACL, &jute.PathRequest{Path: "/p"}, &acls); errc != 0 {
		t.Fatal(errc)
	}
	if acls.ACL[0].ID != "alice:x" {
		t.Fatalf("getACL without ADMIN must hide digests, got %q", acls.ACL[0].ID)
	}
	if errc := owner.call(jute.OpSetData, &jute.SetDataRequest{Path: "/p", Data: []byte("x"), Version: -1}, nil); errc != 0 {
		t.Fatalf("owner setData: %v", errc)
	}
	var who jute.WhoAmIResponse
	owner.call(jute.OpWhoAmI, nil, &who)
	if len(who.ClientInfo) != 2 || who.ClientInfo[1] != (jute.ClientInfo{AuthScheme: "digest", User: "alice"}) {
		t.Fatalf("whoAmI %+v", who)
	}
}

func TestReadWaitsForSessionsEarlierWrite(t *testing.T) {
	b := newBed(t)
	cl := b.connect(0, nil)
	w := cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/a", Data: []byte("v"), ACL: openACL, TTL: -1})
	r := cl.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/a"})
	if got := cl.replies(); len(got) != 0 {
		t.Fatalf("the read was answered before the write it follows: %+v", got)
	}
	b.step()
	rs := cl.replies()
	if len(rs) != 2 || rs[0].hdr.Xid != w || rs[1].hdr.Xid != r || rs[1].hdr.Err != 0 {
		t.Fatalf("replies %+v", rs)
	}
	// Another session's read is not held up.
	other := b.connect(0, nil)
	cl.send(jute.OpSetData, &jute.SetDataRequest{Path: "/a", Data: []byte("w"), Version: -1})
	b.prepOnly()
	var gd jute.GetDataResponse
	other.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/a"})
	rs = other.replies()
	if len(rs) != 1 || jute.Decode(rs[0].body, &gd) != nil || string(gd.Data) != "v" {
		t.Fatalf("other session's read: %+v", rs)
	}
	b.step()
}

func TestPipelinedSequentialCreates(t *testing.T) {
	b := newBed(t)
	cl := b.connect(0, nil)
	cl.create("/q", 0)
	for i := 0; i < 3; i++ {
		cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/q/n-", ACL: openACL, Flags: jute.FlagPersistentSequential, TTL: -1})
	}
	b.prepOnly() // three creates prepped before any is applied
	b.step()
	var names []string
	for _, r := range cl.replies() {
		var cr jute.CreateResponse
		jute.Decode(r.body, &cr)
		names = append(names, cr.Path)
	}
	want := []string{"/q/n-0000000000", "/q/n-0000000001", "/q/n-0000000002"}
	for i := range want {
		if i >= len(names) || names[i] != want[i] {
			t.Fatalf("sequential names %v, want %v", names, want)
		}
	}
}

func TestMultiFailureReply(t *testing.T) {
	b := newBed(t)
	cl := b.connect(0, nil)
	m := &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Req: &jute.CreateRequest{Path: "/m", ACL: openACL, TTL: -1}},
		{Type: jute.OpDelete, Req: &jute.PathVersionRequest{Path: "/missing", Version: -1}},
		{Type: jute.OpSetData, Req: &jute.SetDataRequest{Path: "/m", Version: -1}},
	}}
	var resp jute.MultiResponse
	if errc := cl.call(jute.OpMulti, m, &resp); errc != 0 {
		t.Fatalf("a failed multi is answered with err 0 in the header, as ZooKeeper does: %v", errc)
	}
	want := []jute.Err{0, jute.ErrNoNode, jute.ErrRuntimeInconsistency}
	for i, r := range resp.Results {
		if r.Type != jute.OpError || r.Err != want[i] {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if errc := cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/m"}, nil); errc != jute.ErrNoNode {
		t.Fatal("failed multi left /m behind")
	}
}

func TestWatchEventPrecedesLaterRead(t *testing.T) {
	b := newBed(t)
	watcher := b.connect(0, nil)
	writer := b.connect(0, nil)
	writer.create("/w", 0)
	if errc := watcher.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/w", Watch: true}, nil); errc != 0 {
		t.Fatal(errc)
	}
	writer.call(jute.OpSetData, &jute.SetDataRequest{Path: "/w", Data: []byte("new"), Version: -1}, nil)
	rx := watcher.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/w"})
	rs := watcher.replies()
	if len(rs) != 2 || rs[0].hdr.Xid != jute.XidNotification || rs[1].hdr.Xid != rx {
		t.Fatalf("frames %+v: the event must come before the read that sees the change", rs)
	}
	var ev jute.WatcherEvent
	jute.Decode(rs[0].body, &ev)
	if ev.Type != jute.EventNodeDataChanged || ev.Path != "/w" || ev.State != jute.StateSyncConnected {
		t.Fatalf("event %+v", ev)
	}
}

func TestSessionExpiryDeletesEphemeralsAndNotifies(t *testing.T) {
	b := newBed(t)
	owner := b.connect(0, nil)
	watcher := b.connect(0, nil)
	if p, errc := owner.create("/eph", jute.FlagEphemeral); errc != 0 || p != "/eph" {
		t.Fatal(errc)
	}
	watcher.call(jute.OpExists, &jute.PathWatchRequest{Path: "/eph", Watch: true}, nil)
	// The watcher keeps its session alive; the owner goes silent.
	var events []reply
	for i := 0; i < 15; i++ {
		b.now = b.now.Add(100 * time.Millisecond)
		watcher.send(jute.OpPing, nil)
		b.s.Tick()
		b.step()
		for _, r := range watcher.replies() {
			if r.hdr.Xid == jute.XidNotification {
				events = append(events, r)
			}
		}
	}
	if !owner.sink.closed {
		t.Fatal("the expired session's connection was not closed")
	}
	var ev jute.WatcherEvent
	if len(events) != 1 || jute.Decode(events[0].body, &ev) != nil || ev.Type != jute.EventNodeDeleted || ev.Path != "/eph" {
		t.Fatalf("watcher events %+v", events)
	}
	if errc := watcher.call(jute.OpExists, &jute.PathWatchRequest{Path: "/eph"}, nil); errc != jute.ErrNoNode {
		t.Fatalf("ephemeral survived its session: %v", errc)
	}
	if b.s.sessions.Valid(owner.sid) {
		t.Fatal("expired session still valid")
	}
	// Re-attaching to it is answered as ZooKeeper does: expired, closed.
	late := b.connect(owner.sid, owner.pw)
	if late.sid != 0 || !late.sink.closed {
		t.Fatal("re-attach to an expired session must be refused")
	}
}

func TestCloseSessionDeletesEphemeralsPendingInPrep(t *testing.T) {
	b := newBed(t)
	cl := b.connect(0, nil)
	cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/e", ACL: openACL, Flags: jute.FlagEphemeral, TTL: -1})
	cl.send(jute.OpCloseSession, nil)
	b.prepOnly() // the close is prepped before the create is applied
	b.step()
	rs := cl.replies()
	if len(rs) != 2 || rs[1].hdr.Err != 0 || !cl.sink.closed {
		t.Fatalf("close replies %+v closed=%v", rs, cl.sink.closed)
	}
	other := b.connect(0, nil)
	if errc := other.call(jute.OpExists, &jute.PathWatchRequest{Path: "/e"}, nil); errc != jute.ErrNoNode {
		t.Fatalf("ephemeral created just before closeSession survived: %v", errc)
	}
}

func TestContainerAndTTLCleanup(t *testing.T) {
	b := newBed(t)
	b.s.cfg.ExtendedTypes = true
	cl := b.connect(0, nil)
	var c2 jute.Create2Response
	if errc := cl.call(jute.OpCreateContainer, &jute.CreateRequest{Path: "/c", ACL: openACL, Flags: jute.FlagContainer, TTL: -1}, &c2); errc != 0 {
		t.Fatal(errc)
	}
	if c2.Stat.EphemeralOwner != 0 {
		t.Fatalf("containers show ephemeralOwner 0 to clients, as in ZooKeeper; got %x", c2.Stat.EphemeralOwner)
	}
	cl.create("/c/child", 0)
	if errc := cl.call(jute.OpCreateTTL, &jute.CreateRequest{Path: "/t", ACL: openACL, Flags: jute.FlagPersistentWithTTL, TTL: 500, HasTTL: true}, nil); errc != 0 {
		t.Fatal(errc)
	}
	b.s.CheckContainers()
	b.step()
	if cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/c"}, nil) != 0 || cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/t"}, nil) != 0 {
		t.Fatal("a container with a child or an unexpired TTL node was removed")
	}
	cl.call(jute.OpDelete, &jute.PathVersionRequest{Path: "/c/child", Version: -1}, nil)
	b.now = b.now.Add(time.Second)
	b.s.CheckContainers()
	b.step()
	if cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/c"}, nil) != jute.ErrNoNode {
		t.Fatal("empty container that had a child was not removed")
	}
	if cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/t"}, nil) != jute.ErrNoNode {
		t.Fatal("expired TTL node was not removed")
	}
}

func TestSaslIsRefusedClearly(t *testing.T) {
	b := newBed(t)
	cl := b.connect(0, nil)
	if errc := cl.call(jute.OpSasl, &jute.BufferResponse{Data: []byte("token")}, nil); errc != jute.ErrUnimplemented {
		t.Fatalf("sasl: %v, want Unimplemented", errc)
	}
	// The connection keeps working.
	if errc := cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}, nil); errc != 0 {
		t.Fatalf("exists after sasl: %v", errc)
	}
}
