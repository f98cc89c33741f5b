package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/session"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/core/watch"
	"github.com/zkx-project/zkx/transport/jute"
)

// Role is what a server does in its ensemble. A standalone server is an
// ensemble of one that is always its own leader.
type Role uint8

const (
	RoleStandalone Role = iota
	RoleLooking         // no leader: clients are not served
	RoleLeader
	RoleFollower
	RoleObserver
)

// String is the word srvr and mntr print as Mode (ZooKeeper's).
func (r Role) String() string {
	switch r {
	case RoleStandalone:
		return "standalone"
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	case RoleObserver:
		return "observer"
	}
	return "looking"
}

func (r Role) learner() bool { return r == RoleFollower || r == RoleObserver }

// prepares reports whether a server in this role runs prep.
func (r Role) prepares() bool { return r == RoleStandalone || r == RoleLeader }

// Peers carries the messages core/server exchanges with other servers of
// the ensemble (forwarded requests, session liveness, sync answers). A
// message to a peer must be delivered after every message sent to it
// before (one FIFO link), or not at all.
type Peers interface {
	SendApp(to int64, payload []byte)
}

// roleState is the server's current role, set by the ensemble driver.
type roleState struct {
	role   Role
	leader int64
	epoch  uint32
}

// SetEnsembleConfig publishes the ensemble's membership in
// /zookeeper/config (kept there across state resets).
func (s *Server) SetEnsembleConfig(text string) {
	s.mu.Lock()
	s.ensembleConfig = text
	s.tree.SetConfig([]byte(text), s.cfg.Now().UnixMilli())
	s.mu.Unlock()
}

// SetPeers sets how the server reaches the rest of its ensemble. Call it
// before the server serves anyone.
func (s *Server) SetPeers(p Peers) { s.cfg.Peers = p }

// Role returns the server's role and its leader's id.
func (s *Server) Role() (Role, int64) {
	s.roleMu.RLock()
	defer s.roleMu.RUnlock()
	return s.role.role, s.role.leader
}

func (s *Server) currentRole() roleState {
	s.roleMu.RLock()
	defer s.roleMu.RUnlock()
	return s.role
}

// serving reports whether clients may use this server now.
func (s *Server) serving() bool {
	r, _ := s.Role()
	return r != RoleLooking
}

// SetRole is called by the ensemble driver when the server's role changes:
// as leader of epoch (established: a quorum follows it) it preps writes with
// zxids epoch<<32|n; as follower or observer it forwards them to leader; as
// looking it serves nobody. Leaving leadership forgets what prep had issued
// but not committed, and a role change that interrupts service closes every
// client connection (clients reconnect, to this server or another, and
// re-attach their sessions), as ZooKeeper does.
func (s *Server) SetRole(role Role, leader int64, epoch uint32) {
	s.prepLock.Lock()
	s.roleMu.Lock()
	old := s.role
	s.role = roleState{role: role, leader: leader, epoch: epoch}
	s.roleMu.Unlock()
	interrupted := old.role != RoleLooking && (old.role != role || old.leader != leader || old.epoch != epoch)
	// Read-only clients are served only while there is no leader.
	interrupted = interrupted || old.role == RoleLooking && role != RoleLooking && s.cfg.ReadOnlyMode
	if old.role.prepares() || role.prepares() {
		s.resetPrep()
	}
	if role == RoleLeader {
		s.zxid = int64(epoch) << 32
		if last := s.LastZxid(); last > s.zxid {
			panic(fmt.Sprintf("server: leader of epoch %d has applied zxid %#x", epoch, last))
		}
		s.sessions.TouchAll(s.cfg.Now().UnixMilli())
	}
	s.prepLock.Unlock()
	s.syncMu.Lock()
	s.pendingSyncs = nil
	s.syncMu.Unlock()
	s.log.Info("role changed", "role", role.String(), "leader", leader, "epoch", epoch, "was", old.role.String())
	if interrupted {
		s.connMu.Lock()
		s.validating = make(map[int64]pendingAttach)
		s.connMu.Unlock()
		s.parkMu.Lock()
		s.learnerAwait = make(map[recipeKey]*Request)
		s.parkMu.Unlock()
		s.CloseConnections()
	}
}

// resetPrep drops what prep issued and has not been applied: the prep
// view, the outbox and the commit queue, and the recipe calls parked here.
// The caller holds prepLock.
func (s *Server) resetPrep() {
	s.outbox = nil
	for {
		select {
		case <-s.commitQ:
			continue
		default:
		}
		break
	}
	s.prepMu.Lock()
	s.view = newPrepView(s)
	s.prepMu.Unlock()
	s.zxid = s.LastZxid()
	s.parkMu.Lock()
	for r := range s.parked {
		s.unpark(r)
	}
	for k := range s.awaiting {
		delete(s.awaiting, k)
	}
	s.reruns = nil
	s.parkMu.Unlock()
}

// App messages between servers. The first byte is the kind.
const (
	appRequest  byte = 1 // learner -> leader: a client write
	appTouch    byte = 2 // learner -> leader: sessions alive here
	appSync     byte = 3 // learner -> leader: a client's sync
	appSyncDone byte = 4 // leader -> learner: everything before that sync is committed
	appValidate byte = 6 // learner -> leader: may this session re-attach here?
	appValid    byte = 7 // leader -> learner: the answer
)

var errBadAppMessage = errors.New("server: malformed message from a peer")

// AppFromLeader reports whether an app message is one a leader sends its
// learners (handled in order with the protocol's commits), rather than a
// learner's request to the leader.
func AppFromLeader(payload []byte) bool {
	return len(payload) > 0 && (payload[0] == appSyncDone || payload[0] == appValid)
}

type appWriter struct{ b []byte }

func (w *appWriter) varint(v int64)  { w.b = binary.AppendVarint(w.b, v) }
func (w *appWriter) bytes(p []byte)  { w.varint(int64(len(p))); w.b = append(w.b, p...) }
func (w *appWriter) string(s string) { w.varint(int64(len(s))); w.b = append(w.b, s...) }

type appReader struct {
	b   []byte
	err error
}

func (r *appReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errBadAppMessage
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *appReader) bytes() []byte {
	n := r.varint()
	if r.err != nil || n < 0 || n > int64(len(r.b)) {
		r.err = errBadAppMessage
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *appReader) string() string { return string(r.bytes()) }

// forward sends a client write of a session connected here to the leader.
// body is the request record as the client encoded it.
func (s *Server) forward(r *Request, body []byte) {
	rs := s.currentRole()
	w := appWriter{b: []byte{appRequest}}
	w.varint(r.Session)
	w.varint(int64(r.Xid))
	w.varint(int64(r.Op))
	w.varint(int64(r.Timeout))
	w.bytes(r.Password)
	w.varint(int64(len(r.Auth)))
	for _, id := range r.Auth {
		w.string(id.Scheme)
		w.string(id.ID)
	}
	w.varint(int64(r.err))
	w.bytes(body)
	s.sendLeader(rs, w.b)
}

func (s *Server) sendLeader(rs roleState, payload []byte) {
	if s.cfg.Peers == nil || !rs.role.learner() {
		return
	}
	s.cfg.Peers.SendApp(rs.leader, payload)
}

// HandleApp handles an app message from server from. A malformed one is
// an error (the caller logs it and drops the link).
func (s *Server) HandleApp(from int64, payload []byte) error {
	if len(payload) == 0 {
		return errBadAppMessage
	}
	rd := appReader{b: payload[1:]}
	switch payload[0] {
	case appRequest:
		r := &Request{origin: from, received: s.cfg.Now()}
		r.Session = rd.varint()
		r.Xid = int32(rd.varint())
		r.Op = jute.OpCode(rd.varint())
		r.Timeout = int32(rd.varint())
		r.Password = rd.bytes()
		n := rd.varint()
		if n < 0 || n > 1024 {
			return errBadAppMessage
		}
		for i := int64(0); i < n && rd.err == nil; i++ {
			r.Auth = append(r.Auth, acl.Id{Scheme: rd.string(), ID: rd.string()})
		}
		r.err = jute.Err(rd.varint())
		body := rd.bytes()
		if rd.err != nil {
			return rd.err
		}
		if !s.currentRole().role.prepares() {
			return nil // not the leader (any more): the learner will notice
		}
		if r.Op != jute.OpCreateSession {
			if classify(r.Op) != kindWrite {
				return fmt.Errorf("%w: forwarded op %v is not a write", errBadAppMessage, r.Op)
			}
			if rec := r.newRecord(r.Op); rec != nil && r.err == 0 {
				if err := jute.Decode(body, rec); err != nil {
					r.err = jute.ErrMarshallingError
				}
				r.Body = rec
			}
			s.sessions.Touch(r.Session, s.cfg.Now().UnixMilli())
		}
		s.admit(r)
	case appTouch:
		n := rd.varint()
		now := s.cfg.Now().UnixMilli()
		for i := int64(0); i < n && rd.err == nil; i++ {
			if id := rd.varint(); rd.err == nil {
				s.sessions.Touch(id, now)
			}
		}
		return rd.err
	case appSync:
		sess, xid := rd.varint(), int32(rd.varint())
		if rd.err != nil {
			return rd.err
		}
		// After the session's writes held behind a compile, if any: the
		// answer must cover them.
		s.afterHeld(sess, func() { s.answerSync(from, sess, xid) })
	case appSyncDone:
		sess, xid := rd.varint(), int32(rd.varint())
		if rd.err != nil {
			return rd.err
		}
		if c := s.connFor(sess); c != nil {
			s.mu.RLock()
			c.completeWrite(xid, func(r *Request) { s.execRead(r) })
			s.mu.RUnlock()
		}
	case appValidate:
		sess, pw := rd.varint(), rd.bytes()
		if rd.err != nil {
			return rd.err
		}
		valid := false
		if s.currentRole().role.prepares() {
			// Under prepLock: the answer and the ownership change are
			// ordered with every write prep has issued.
			s.prepLock.Lock()
			ss, ok := s.sessions.Get(sess)
			valid = ok && s.sessions.Valid(sess) && passwordsEqual(ss.Password, pw)
			if valid {
				s.sessions.Touch(sess, s.cfg.Now().UnixMilli())
				s.prep(&Request{Op: opSetOwnerInternal, Session: sess, origin: from, received: s.cfg.Now()})
				s.flushPrepped()
			}
			s.prepLock.Unlock()
		}
		w := appWriter{b: []byte{appValid}}
		w.varint(sess)
		if valid {
			w.varint(1)
		} else {
			w.varint(0)
		}
		s.cfg.Peers.SendApp(from, w.b)
	case appValid:
		sess, ok := rd.varint(), rd.varint()
		if rd.err != nil {
			return rd.err
		}
		s.finishValidation(sess, ok == 1)
	default:
		return fmt.Errorf("%w: kind %d", errBadAppMessage, payload[0])
	}
	return nil
}

// answerSync answers a sync (a learner's; from 0, one of this server's own
// clients') once everything prep has issued so far is applied here.
func (s *Server) answerSync(from, sess int64, xid int32) {
	s.prepLock.Lock()
	z := s.zxid
	s.prepLock.Unlock()
	s.syncMu.Lock()
	if z <= s.LastZxid() {
		s.syncMu.Unlock()
		s.sendSyncDone(from, sess, xid)
		return
	}
	s.pendingSyncs = append(s.pendingSyncs, pendingSync{from: from, session: sess, xid: xid, zxid: z})
	s.syncMu.Unlock()
}

// pendingSync is a sync waiting for zxid to be applied here: a learner's
// (from its server id) or one of this leader's own clients' (from 0).
type pendingSync struct {
	from    int64
	session int64
	xid     int32
	zxid    int64
}

func (s *Server) sendSyncDone(to, session int64, xid int32) {
	if to == 0 {
		// A sync of this server's own client (localSync).
		if c := s.connFor(session); c != nil {
			s.mu.RLock()
			c.completeWrite(xid, func(r *Request) { s.execRead(r) })
			s.mu.RUnlock()
		}
		return
	}
	if s.cfg.Peers == nil {
		return
	}
	w := appWriter{b: []byte{appSyncDone}}
	w.varint(session)
	w.varint(int64(xid))
	s.cfg.Peers.SendApp(to, w.b)
}

// answerSyncs answers the learners' syncs that last applied covers. Apply
// calls it after the batch, so the answer follows the commits on the link.
func (s *Server) answerSyncs(last int64) {
	s.syncMu.Lock()
	if len(s.pendingSyncs) == 0 {
		s.syncMu.Unlock()
		return
	}
	var due []pendingSync
	keep := s.pendingSyncs[:0]
	for _, p := range s.pendingSyncs {
		if p.zxid <= last {
			due = append(due, p)
		} else {
			keep = append(keep, p)
		}
	}
	s.pendingSyncs = keep
	s.syncMu.Unlock()
	for _, p := range due {
		s.sendSyncDone(p.from, p.session, p.xid)
	}
}

// localSync answers a sync of a leader's own client once everything the
// leader has issued is applied here, as a learner's sync is answered. A
// leader sends a txn's COMMIT to its followers before it applies the txn
// itself, so a follower can answer a write before the leader's tree has
// it; a sync answered at once on the leader would let the read after it
// miss that acknowledged write.
func (s *Server) localSync(r *Request) {
	session, xid := r.Session, r.Xid
	s.afterHeld(session, func() { s.answerSync(0, session, xid) })
}

// forwardSync asks the leader to answer r (a sync) once everything it has
// issued before is committed; r waits in its connection's queue like a
// write.
func (s *Server) forwardSync(r *Request) {
	w := appWriter{b: []byte{appSync}}
	w.varint(r.Session)
	w.varint(int64(r.Xid))
	s.sendLeader(s.currentRole(), w.b)
}

// claimSession records that a session re-attached to the leader itself.
func (s *Server) claimSession(id int64) {
	s.submit(&Request{Op: opSetOwnerInternal, Session: id, origin: s.cfg.ServerID, received: s.cfg.Now()})
}

// validateWithLeader asks the leader whether c may re-attach session id.
func (s *Server) validateWithLeader(c *Conn, id int64, password []byte) {
	s.connMu.Lock()
	s.validating[id] = pendingAttach{conn: c, password: append([]byte(nil), password...)}
	s.connMu.Unlock()
	w := appWriter{b: []byte{appValidate}}
	w.varint(id)
	w.bytes(password)
	s.sendLeader(s.currentRole(), w.b)
}

// finishValidation completes (or refuses) the handshake waiting for the
// leader's answer about session id.
func (s *Server) finishValidation(id int64, valid bool) {
	s.connMu.Lock()
	p, ok := s.validating[id]
	delete(s.validating, id)
	s.connMu.Unlock()
	if !ok || p.conn.isClosed() {
		return
	}
	if !valid {
		s.log.Info("invalid session re-attach, probably expired", "session", hexID(id), "remote", p.conn.ip)
		p.conn.refuseSession()
		return
	}
	// The leader checked the password the client sent.
	p.conn.attachSession(id, p.password)
}

// pendingAttach is a re-attach waiting for the leader's answer.
type pendingAttach struct {
	conn     *Conn
	password []byte
}

// touchLeader reports to the leader the sessions with a connection here
// (ZooKeeper's learner pings), so that it alone expires sessions.
func (s *Server) touchLeader() {
	rs := s.currentRole()
	if !rs.role.learner() {
		return
	}
	s.connMu.Lock()
	ids := make([]int64, 0, len(s.sessionConns))
	for id := range s.sessionConns {
		ids = append(ids, id)
	}
	s.connMu.Unlock()
	w := appWriter{b: []byte{appTouch}}
	w.varint(int64(len(ids)))
	for _, id := range ids {
		w.varint(id)
	}
	s.sendLeader(rs, w.b)
}

// setOwnerOp is the txn op of a session moving to server origin.
func setOwnerOp(origin int64) txn.Op { return &txn.SetSessionOwner{Owner: origin} }

// ResetState replaces the tree and sessions with a replica's new state
// (installed from the leader, or rebuilt after a truncation). The server
// must be serving nobody (RoleLooking): watches and parked calls are gone
// with the connections.
func (s *Server) ResetState(t *tree.Tree, sessions []session.Session) {
	s.prepLock.Lock()
	defer s.prepLock.Unlock()
	now := s.cfg.Now()
	s.mu.Lock()
	s.tree = t
	if s.ensembleConfig != "" {
		t.SetConfig([]byte(s.ensembleConfig), now.UnixMilli())
	}
	s.sessions.Replace(sessions, now.UnixMilli())
	s.watchMu.Lock()
	s.watches = watch.New()
	s.watchMu.Unlock()
	s.mu.Unlock()
	s.resetPrep()
}

// connectReadOnly accepts a client that allows read-only service while
// this member has no leader (readonlymode.enabled, as ZooKeeper's
// ReadOnlyZooKeeperServer): its session is this server's alone, reads see
// what this server had committed, writes are answered NotReadOnly, and the
// connection is closed when a leader is back, so the client moves to a
// read-write session.
func (c *Conn) connectReadOnly(req *jute.ConnectRequest) error {
	s := c.s
	id, pw := req.SessionID, req.Passwd
	if id == 0 {
		id = s.sessions.NextID()
		pw = make([]byte, 16)
		if _, err := s.cfg.Rand.Read(pw); err != nil {
			return fmt.Errorf("server: session password: %w", err)
		}
	}
	timeout := s.negotiateTimeout(req.TimeOut)
	c.mu.Lock()
	c.readOnlyReq = req.HasReadOnly
	c.readOnly = true
	c.timeout = timeout
	c.state = stateEstablished
	c.session.Store(id)
	c.mu.Unlock()
	s.log.Info("serving a client read-only: no leader", "session", hexID(id), "remote", c.ip)
	c.sendConnectResponse(true, timeout, id, pw)
	close(c.ready)
	return nil
}

// handleReadOnly serves one request of a read-only connection.
func (c *Conn) handleReadOnly(hdr *jute.RequestHeader, d *jute.Decoder) error {
	s := c.s
	kind := classify(hdr.Type)
	if kind == kindInvalid {
		c.reply(hdr.Xid, -1, jute.ErrUnimplemented, nil)
		return fmt.Errorf("%w: %v", ErrUnknownOp, hdr.Type)
	}
	if kind == kindWrite || hdr.Type == jute.OpSync || hdr.Type == jute.OpCloseSession {
		if hdr.Type == jute.OpCloseSession {
			c.reply(hdr.Xid, s.LastZxid(), 0, nil)
			c.sink.Close()
			return nil
		}
		c.reply(hdr.Xid, s.LastZxid(), jute.ErrNotReadOnly, nil)
		return nil
	}
	r := &Request{conn: c, Xid: hdr.Xid, Op: hdr.Type, Session: c.SessionID(), received: s.cfg.Now()}
	if rec := r.newRecord(hdr.Type); rec != nil {
		if rec.Decode(d); d.Err() != nil {
			r.err = jute.ErrMarshallingError
		}
		r.Body = rec
	}
	c.mu.Lock()
	r.Auth = c.auth
	c.mu.Unlock()
	s.mu.RLock()
	s.execRead(r)
	s.mu.RUnlock()
	return nil
}

// ReadOnly reports whether this server serves read-only now (isro).
func (s *Server) ReadOnly() bool {
	return s.cfg.ReadOnlyMode && !s.serving()
}
