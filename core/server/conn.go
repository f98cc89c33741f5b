package server

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/watch"
	"github.com/zkx-project/zkx/transport/jute"
)

// Sink is the transport side of one client connection: an outgoing stream
// that replies and events are encoded into directly.
type Sink interface {
	// Begin locks the outgoing stream and returns an encoder appending to
	// it; End unlocks it and has the bytes written. Between the two the
	// caller encodes whole frames and nothing else. Neither may block for
	// long.
	Begin() *jute.Encoder
	End()
	// Close closes the connection after what was sent so far is flushed.
	Close()
}

// Errors Handle returns when the connection must be closed.
var (
	ErrMalformed    = errors.New("server: malformed packet")
	ErrConnClosed   = errors.New("server: connection closed")
	ErrClientAhead  = errors.New("server: client has seen a newer zxid than this server")
	ErrUnknownOp    = errors.New("server: unimplemented request type")
	ErrAuthRejected = errors.New("server: authentication failed")
	ErrNotServing   = errors.New("server: not serving clients (no leader)")
)

// Internal request types that never come from a client.
const (
	opCloseSessionInternal    jute.OpCode = -1000 // a session expired
	opDeleteContainerInternal jute.OpCode = -1001 // an empty container or expired TTL node
	opNone                    jute.OpCode = -1002 // cons: no request yet ("NA")
	opInstallBuiltinsInternal jute.OpCode = -1003 // install the builtin recipes
	opSetOwnerInternal        jute.OpCode = -1004 // a session re-attached to another server
)

// Request is one client request on its way through the pipeline.
type Request struct {
	conn     *Conn
	Xid      int32
	Op       jute.OpCode
	Body     jute.Record
	Session  int64
	Auth     []acl.Id
	Path     string   // internal deleteContainer
	Timeout  int32    // createSession
	Password []byte   // createSession
	err      jute.Err // reply with this error, without running the request
	received time.Time
	// origin is the server the client is connected to (0: this one).
	origin int64
	// multiTypes are the ops of a multi as prep ran them (multiOpType).
	multiTypes []jute.OpCode
	// Recipe calls: when a waiting call must end (zero: when its session
	// does), and whether this run is the one its deadline started.
	deadline time.Time
	timedOut bool
	// A call that waited: it has left its connection's queue (popped), it
	// has this many txns between prep and apply (inflight), and its
	// connection closed (dropped). Guarded by the server's parkMu.
	popped   bool
	inflight int
	dropped  bool
	builtins []Builtin // opInstallBuiltinsInternal

	// Storage for the commonest request and reply records, so serving a
	// read takes one allocation, not three.
	pathWatch jute.PathWatchRequest
	setData   jute.SetDataRequest
	dataResp  jute.GetDataResponse
	statResp  jute.StatResponse
	kidsResp  jute.Children2Response
	kidsOnly  jute.ChildrenResponse
}

// newRecord returns the request record for op, using r's own storage
// for the common ones.
func (r *Request) newRecord(op jute.OpCode) jute.Record {
	switch op {
	case jute.OpExists, jute.OpGetData, jute.OpGetChildren, jute.OpGetChildren2:
		return &r.pathWatch
	case jute.OpSetData:
		return &r.setData
	}
	return jute.NewRequestRecord(op)
}

type connState int

const (
	stateHandshake connState = iota
	stateConnecting
	stateEstablished
	stateClosed
)

// Conn is the server's side of one client connection.
type Conn struct {
	s      *Server
	sink   Sink
	id     watch.WatcherID
	ip     string
	remote string
	opened time.Time

	dec jute.Decoder // Handle's, reused: Handle runs on one goroutine

	mu          sync.Mutex
	state       connState
	session     atomic.Int64 // set once, at the handshake
	timeout     int32
	readOnlyReq bool
	readOnly    bool     // served by a member without a leader: reads only
	auth        []acl.Id // replaced, never modified in place
	queue       []*Request
	pending     int // writes in queue
	ready       chan struct{}

	// statistics for cons and mntr
	received    atomic.Int64
	sent        atomic.Int64
	lastZxid    atomic.Int64
	lastCxid    atomic.Int64
	lastResp    atomic.Int64 // ms since the epoch
	lastOp      atomic.Int32 // jute.OpCode
	lastLatency atomic.Int64
	lat         latencies
}

// NewConn registers a connection from a client at remote ("ip:port"); the
// ip is the connection's identity in the ip scheme.
func (s *Server) NewConn(sink Sink, remote string) *Conn {
	ip := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		ip = host
	}
	c := &Conn{
		s:      s,
		sink:   sink,
		id:     watch.WatcherID(s.nextConnID.Add(1)),
		ip:     ip,
		remote: remote,
		opened: s.cfg.Now(),
		auth:   []acl.Id{{Scheme: "ip", ID: ip}},
		ready:  make(chan struct{}),
	}
	c.lat.reset()
	c.lastCxid.Store(-1)
	c.lastOp.Store(int32(opNone))
	s.connMu.Lock()
	s.conns[c.id] = c
	s.connMu.Unlock()
	s.stats.connections.Add(1)
	return c
}

// Ready is closed once the handshake is answered; the transport reads no
// further frame before it.
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// SessionID returns the connection's session (0 before the handshake).
func (c *Conn) SessionID() int64 { return c.session.Load() }

// Closed is called by the transport when the connection is gone. The
// session lives on until it expires or is re-attached elsewhere.
func (c *Conn) Closed() {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	sid := c.session.Load()
	c.queue = nil
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	c.mu.Unlock()
	c.s.watchMu.Lock()
	c.s.watches.RemoveWatcher(c.id)
	c.s.watchMu.Unlock()
	c.s.dropParked(c)
	c.s.connMu.Lock()
	delete(c.s.conns, c.id)
	if sid != 0 && c.s.sessionConns[sid] == c {
		delete(c.s.sessionConns, sid)
	}
	c.s.connMu.Unlock()
	c.s.stats.connections.Add(-1)
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateClosed
}

// Handle processes one frame (without its length prefix). An error means
// the connection must be closed; the server keeps serving everyone else.
func (c *Conn) Handle(frame []byte) error {
	c.received.Add(1)
	c.s.stats.packetsReceived.Add(1)
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case stateHandshake:
		return c.handleConnect(frame)
	case stateClosed:
		return ErrConnClosed
	case stateConnecting:
		// The client sent a request before the handshake was answered.
		return ErrMalformed
	}
	d := &c.dec
	d.Reset(frame)
	var hdr jute.RequestHeader
	hdr.Decode(d)
	if d.Err() != nil {
		return fmt.Errorf("%w: request header: %v", ErrMalformed, d.Err())
	}
	switch hdr.Type {
	case jute.OpAuth:
		return c.handleAuth(hdr.Xid, d.Rest())
	case jute.OpSasl:
		// zkx has no SASL: say so instead of leaving the client waiting.
		c.s.log.Warn("SASL authentication requested; zkx does not support SASL", "session", hexID(c.SessionID()))
		c.reply(hdr.Xid, c.s.LastZxid(), jute.ErrUnimplemented, nil)
		return nil
	}
	raw := d.Rest()
	if c.readOnly {
		return c.handleReadOnly(&hdr, d)
	}
	sid := c.SessionID()
	if !c.s.sessions.Touch(sid, c.s.cfg.Now().UnixMilli()) {
		// The session is closing or gone: ZooKeeper drops the request and
		// the connection is closed when the close is applied.
		return nil
	}
	r := requestPool.Get().(*Request)
	r.conn, r.Xid, r.Op, r.Session, r.received = c, hdr.Xid, hdr.Type, sid, c.s.cfg.Now()
	kind := classify(hdr.Type)
	if kind == kindInvalid {
		// As ZooKeeper's UnimplementedRequestProcessor: zxid -1, then close.
		c.reply(hdr.Xid, -1, jute.ErrUnimplemented, nil)
		return fmt.Errorf("%w: %v", ErrUnknownOp, hdr.Type)
	}
	if rec := r.newRecord(hdr.Type); rec != nil {
		if rec.Decode(d); d.Err() != nil {
			// A write that does not decode still takes its turn (and a
			// zxid) in prep, as in ZooKeeper; a read is answered in order.
			r.err = jute.ErrMarshallingError
		}
		r.Body = rec
	}
	c.mu.Lock()
	r.Auth = c.auth
	if c.state == stateClosed {
		c.mu.Unlock()
		return ErrConnClosed
	}
	rs := c.s.currentRole()
	if kind == kindWrite || hdr.Type == jute.OpSync && (rs.role.learner() || rs.role == RoleLeader) {
		c.queue = append(c.queue, r)
		c.pending++
		c.mu.Unlock()
		c.s.stats.outstanding.Add(1)
		switch {
		case hdr.Type == jute.OpSync && rs.role.learner():
			c.s.forwardSync(r)
		case hdr.Type == jute.OpSync:
			c.s.localSync(r)
		case rs.role.learner():
			c.s.forward(r, raw)
		default:
			c.s.admit(r)
		}
		return nil
	}
	if c.pending > 0 && hdr.Type != jute.OpPing {
		// Behind this session's writes: apply runs it after them.
		c.queue = append(c.queue, r)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.s.mu.RLock()
	c.s.execRead(r)
	c.s.mu.RUnlock()
	// The reply is encoded and nothing holds r: reuse it. (Requests that
	// wait in a queue or the pipeline are left to the garbage collector.)
	*r = Request{}
	requestPool.Put(r)
	return nil
}

// requestPool recycles the Requests of reads served at once, which are
// most requests: at 100k+ reads/s a fresh 600-byte Request each made the
// garbage collector run every few dozen milliseconds, and its mark phases
// showed in the p99 read latency.
var requestPool = sync.Pool{New: func() any { return new(Request) }}

type opKind int

const (
	kindInvalid opKind = iota
	kindRead
	kindWrite
)

func classify(op jute.OpCode) opKind {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL,
		jute.OpDelete, jute.OpSetData, jute.OpSetACL, jute.OpMulti,
		jute.OpCloseSession, jute.OpReconfig, jute.OpRecipeCall:
		return kindWrite
	case jute.OpExists, jute.OpGetData, jute.OpGetACL, jute.OpGetChildren, jute.OpGetChildren2,
		jute.OpGetAllChildrenNumber, jute.OpGetEphemerals, jute.OpMultiRead, jute.OpPing,
		jute.OpSync, jute.OpSetWatches, jute.OpSetWatches2, jute.OpCheckWatches,
		jute.OpRemoveWatches, jute.OpAddWatch, jute.OpWhoAmI:
		return kindRead
	}
	return kindInvalid
}

// completeWrite answers the write at the head of the queue with build and
// then runs the reads queued behind it, up to the next write. The caller
// (apply) holds s.mu.
func (c *Conn) completeWrite(cxid int32, answer func(r *Request)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed || len(c.queue) == 0 {
		return
	}
	head := c.queue[0]
	if head.Xid != cxid {
		c.s.log.Error("apply: reply out of order", "session", hexID(c.session.Load()), "want-xid", head.Xid, "got-xid", cxid)
		return
	}
	c.queue[0] = nil
	c.queue = c.queue[1:]
	c.pending--
	c.s.stats.outstanding.Add(-1)
	answer(head)
	for len(c.queue) > 0 && classify(c.queue[0].Op) != kindWrite {
		r := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.s.execRead(r)
	}
	if len(c.queue) == 0 {
		c.queue = nil
	}
}

// reply sends a reply header and body.
func (c *Conn) reply(xid int32, zxid int64, errc jute.Err, body jute.Record) {
	c.sent.Add(1)
	c.s.stats.packetsSent.Add(1)
	c.lastZxid.Store(zxid)
	if xid >= 0 {
		c.lastCxid.Store(int64(xid))
	}
	e := c.sink.Begin()
	off := e.BeginFrame()
	h := jute.ReplyHeader{Xid: xid, Zxid: zxid, Err: errc}
	h.Encode(e)
	if body != nil && errc == 0 {
		body.Encode(e)
	}
	e.EndFrame(off)
	c.sink.End()
}

// replyWithBody sends a reply whose body goes out even with an error code
// (a failed recipe call's message).
func (c *Conn) replyWithBody(xid int32, zxid int64, errc jute.Err, body jute.Record) {
	c.sent.Add(1)
	c.s.stats.packetsSent.Add(1)
	c.lastZxid.Store(zxid)
	e := c.sink.Begin()
	off := e.BeginFrame()
	h := jute.ReplyHeader{Xid: xid, Zxid: zxid, Err: errc}
	h.Encode(e)
	body.Encode(e)
	e.EndFrame(off)
	c.sink.End()
}

// recordLatency notes a request's latency for stat/srvr/mntr and cons.
func (c *Conn) recordLatency(r *Request) {
	if r.received.IsZero() {
		return
	}
	now := c.s.cfg.Now()
	ms := now.Sub(r.received).Milliseconds()
	c.lastLatency.Store(ms)
	c.lastResp.Store(now.UnixMilli())
	c.lastOp.Store(int32(r.Op))
	c.lat.record(ms)
	c.s.stats.lat.record(ms)
}

func (c *Conn) sendEvent(typ int32, path string) {
	c.sent.Add(1)
	c.s.stats.packetsSent.Add(1)
	e := c.sink.Begin()
	off := e.BeginFrame()
	h := jute.ReplyHeader{Xid: jute.XidNotification, Zxid: -1, Err: 0}
	h.Encode(e)
	ev := jute.WatcherEvent{Type: typ, State: jute.StateSyncConnected, Path: path}
	ev.Encode(e)
	e.EndFrame(off)
	c.sink.End()
}

func (c *Conn) handleAuth(xid int32, body []byte) error {
	var p jute.AuthPacket
	if err := jute.Decode(body, &p); err != nil {
		return fmt.Errorf("%w: auth packet: %v", ErrMalformed, err)
	}
	ids, err := acl.Authenticate(p.Scheme, p.Auth, c.ip, c.s.cfg.SuperDigest)
	if err != nil {
		c.s.log.Warn("authentication failed", "scheme", p.Scheme, "remote", c.ip)
		c.reply(xid, 0, jute.ErrAuthFailed, nil)
		c.sink.Close()
		return ErrAuthRejected
	}
	c.mu.Lock()
	merged := append([]acl.Id(nil), c.auth...)
	for _, id := range ids {
		dup := false
		for _, have := range merged {
			if have == id {
				dup = true
				break
			}
		}
		if !dup {
			merged = append(merged, id)
		}
	}
	c.auth = merged
	c.mu.Unlock()
	c.reply(xid, 0, 0, nil)
	return nil
}

func (c *Conn) handleConnect(frame []byte) error {
	var req jute.ConnectRequest
	if err := jute.Decode(frame, &req); err != nil {
		return fmt.Errorf("%w: connect request: %v", ErrMalformed, err)
	}
	s := c.s
	if !s.serving() {
		if s.cfg.ReadOnlyMode && req.ReadOnly {
			return c.connectReadOnly(&req)
		}
		s.log.Info("refusing a client: this server has no leader", "remote", c.ip)
		return ErrNotServing
	}
	if last := s.LastZxid(); req.LastZxidSeen > last {
		s.log.Warn("refusing session: client has seen a newer zxid; it must try another server",
			"client-zxid", hexID(req.LastZxidSeen), "our-zxid", hexID(last), "remote", c.ip)
		return ErrClientAhead
	}
	timeout := s.negotiateTimeout(req.TimeOut)
	c.mu.Lock()
	c.readOnlyReq = req.HasReadOnly
	c.timeout = timeout
	c.mu.Unlock()
	if req.SessionID == 0 {
		id := s.sessions.NextID()
		pw := make([]byte, 16)
		if _, err := s.cfg.Rand.Read(pw); err != nil {
			return fmt.Errorf("server: session password: %w", err)
		}
		c.mu.Lock()
		c.state = stateConnecting
		c.session.Store(id)
		c.mu.Unlock()
		s.connMu.Lock()
		s.sessionConns[id] = c
		s.connMu.Unlock()
		r := &Request{conn: c, Op: jute.OpCreateSession, Session: id, Timeout: timeout, Password: pw, received: s.cfg.Now()}
		if s.currentRole().role.learner() {
			s.forward(r, nil)
		} else {
			s.submit(r)
		}
		return nil
	}
	if s.currentRole().role.learner() {
		// Only the leader knows whether the session is still alive (it
		// may have expired a moment ago, or moved): ask it, and finish
		// the handshake when it answers (ZooKeeper's revalidation).
		c.mu.Lock()
		c.state = stateConnecting
		c.session.Store(req.SessionID)
		c.mu.Unlock()
		s.validateWithLeader(c, req.SessionID, req.Passwd)
		return nil
	}
	sess, ok := s.sessions.Get(req.SessionID)
	valid := ok && s.sessions.Valid(req.SessionID) && passwordsEqual(sess.Password, req.Passwd)
	if !valid {
		s.log.Info("invalid session re-attach, probably expired", "session", hexID(req.SessionID), "remote", c.ip)
		c.refuseSession()
		return ErrConnClosed
	}
	c.attachSession(req.SessionID, sess.Password)
	if s.currentRole().role == RoleLeader {
		s.claimSession(req.SessionID)
	}
	return nil
}

// refuseSession answers a re-attach of a session that is gone and closes
// the connection: the client learns its session expired.
func (c *Conn) refuseSession() {
	c.sendConnectResponse(false, 0, 0, nil)
	c.mu.Lock()
	c.state = stateClosed
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	c.mu.Unlock()
	c.sink.Close()
}

// attachSession makes the connection its session's, closing the one the
// session had here before.
func (c *Conn) attachSession(id int64, password []byte) {
	s := c.s
	c.mu.Lock()
	timeout := c.timeout
	c.mu.Unlock()
	s.sessions.SetTimeout(id, timeout, s.cfg.Now().UnixMilli())
	s.connMu.Lock()
	old := s.sessionConns[id]
	s.sessionConns[id] = c
	s.connMu.Unlock()
	if old != nil && old != c {
		old.sink.Close()
		old.Closed()
		s.connMu.Lock()
		s.sessionConns[id] = c
		s.connMu.Unlock()
	}
	c.mu.Lock()
	c.session.Store(id)
	c.state = stateEstablished
	c.mu.Unlock()
	c.sendConnectResponse(true, timeout, id, password)
	close(c.ready)
}

// negotiateTimeout is the session timeout a client asking for asked gets:
// within min/maxSessionTimeout.
func (s *Server) negotiateTimeout(asked int32) int32 {
	return min(max(asked, int32(s.cfg.MinSessionTimeout.Milliseconds())), int32(s.cfg.MaxSessionTimeout.Milliseconds()))
}

func passwordsEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var diff byte
	for i := range a {
		diff |= a[i] ^ b[i]
	}
	return diff == 0
}

func (c *Conn) sendConnectResponse(valid bool, timeout int32, sid int64, pw []byte) {
	resp := jute.ConnectResponse{HasReadOnly: c.readOnlyReq, ReadOnly: c.readOnly}
	if valid {
		resp.TimeOut = timeout
		resp.SessionID = sid
		resp.Passwd = pw
	} else {
		resp.Passwd = make([]byte, 16)
	}
	c.sent.Add(1)
	e := c.sink.Begin()
	off := e.BeginFrame()
	resp.Encode(e)
	e.EndFrame(off)
	c.sink.End()
}

// established is called by apply when the CreateSession txn of this
// connection's session is applied.
func (c *Conn) established(pw []byte) {
	c.mu.Lock()
	if c.state != stateConnecting {
		c.mu.Unlock()
		return
	}
	c.state = stateEstablished
	sid, timeout := c.session.Load(), c.timeout
	c.mu.Unlock()
	c.sendConnectResponse(true, timeout, sid, pw)
	close(c.ready)
}

func hexID(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }

// CloseConnections closes every client connection (the node is stopping).
func (s *Server) CloseConnections() {
	s.connMu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	for _, c := range conns {
		c.sink.Close()
	}
}

// lastOpName is how cons names an operation (FinalRequestProcessor's
// lastOp).
func lastOpName(op jute.OpCode) string {
	switch op {
	case jute.OpPing:
		return "PING"
	case jute.OpCreateSession:
		return "SESS"
	case jute.OpMulti:
		return "MULT"
	case jute.OpMultiRead:
		return "MLTR"
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateTTL, jute.OpCreateContainer:
		return "CREA"
	case jute.OpDelete:
		return "DELE"
	case jute.OpSetData:
		return "SETD"
	case jute.OpReconfig:
		return "RECO"
	case jute.OpSetACL:
		return "SETA"
	case jute.OpCloseSession:
		return "CLOS"
	case jute.OpSync:
		return "SYNC"
	case jute.OpCheck:
		return "CHEC"
	case jute.OpExists:
		return "EXIS"
	case jute.OpGetData:
		return "GETD"
	case jute.OpSetWatches:
		return "SETW"
	case jute.OpSetWatches2:
		return "STW2"
	case jute.OpAddWatch:
		return "ADDW"
	case jute.OpGetACL:
		return "GETA"
	case jute.OpGetChildren, jute.OpGetChildren2:
		return "GETC"
	case jute.OpGetAllChildrenNumber:
		return "GETACN"
	case jute.OpCheckWatches:
		return "CHKW"
	case jute.OpRemoveWatches:
		return "REMW"
	case jute.OpWhoAmI:
		return "HOMI"
	case jute.OpGetEphemerals:
		return "GETE"
	case jute.OpRecipeCall:
		return "RCPE"
	}
	return "NA"
}
