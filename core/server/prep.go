package server

import (
	"fmt"
	"strings"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/transport/jute"
)

// prep turns one request into a txn and hands it to the commit stage. The
// caller holds prepLock. Every
// write gets a zxid, including one that fails (an Error txn), so its reply
// keeps its place in the session's order, as in ZooKeeper.
func (s *Server) prep(r *Request) {
	t := &txn.Txn{Session: r.Session, Cxid: r.Xid, Time: s.cfg.Now().UnixMilli()}
	switch r.Op {
	case jute.OpCreateSession:
		t.Zxid = s.nextZxid()
		t.Op = &txn.CreateSession{Timeout: r.Timeout, Password: r.Password, Owner: s.originOf(r)}
	case jute.OpCloseSession, opCloseSessionInternal:
		if r.Op == jute.OpCloseSession {
			s.sessions.SetClosing(r.Session)
		}
		t.Zxid = s.nextZxid()
		t.Op = s.prepCloseSession(s.view, r.Session, t)
	case opInstallBuiltinsInternal:
		t.Zxid = s.zxid + 1
		op := s.prepInstallBuiltins(r, t)
		if op == nil {
			return
		}
		s.zxid++
		t.Session = 0
		t.Op = op
	case opSetOwnerInternal:
		sess, ok := s.sessions.Get(r.Session)
		if !ok || !s.sessions.Valid(r.Session) || sess.Owner == r.origin {
			return // nothing to record: no zxid used
		}
		// The owner changes now, for the requests prepped after this one;
		// the txn tells the other servers.
		s.sessions.SetOwner(r.Session, r.origin)
		t.Zxid = s.nextZxid()
		t.Op = setOwnerOp(r.origin)
	case opDeleteContainerInternal:
		t.Zxid = s.zxid + 1
		op := s.prepDeleteContainer(s.view, r.Path, t)
		if op == nil {
			return // no longer a candidate: nothing to do, no zxid used
		}
		s.zxid++
		t.Op = op
	default:
		t.Zxid = s.nextZxid()
		if r.err != 0 {
			t.Op = &txn.Error{Code: int32(r.err)}
			break
		}
		if !s.sessions.Valid(r.Session) {
			t.Op = &txn.Error{Code: int32(jute.ErrSessionExpired)}
			break
		}
		if s.moved(r) {
			t.Op = &txn.Error{Code: int32(jute.ErrSessionMoved)}
			break
		}
		if r.Op == jute.OpRecipeCall {
			t.Op = s.prepRecipeCall(r, t)
			break
		}
		t.Op = s.prepRequest(r, t)
	}
	var wait []string
	if r.Op == jute.OpRecipeCall {
		wait = s.notePrepped(r, t)
	}
	s.outbox = append(s.outbox, &proposal{txn: t})
	// Calls waiting on what this txn changes run again right after it, in
	// prep: they see the change in the prep view, and their txns follow it
	// into the log, usually in the same group commit (a lock's release and
	// the next holder's grant cost one fsync).
	s.wakeFor(t.Op)
	if wait != nil {
		s.park(r, wait)
	}
}

// originOf is the server r's client is connected to.
func (s *Server) originOf(r *Request) int64 {
	if r.origin != 0 {
		return r.origin
	}
	return s.cfg.ServerID
}

// moved reports whether r comes through a server its session has left
// (the client re-attached elsewhere): ZooKeeper's SessionMoved.
func (s *Server) moved(r *Request) bool {
	if s.currentRole().role != RoleLeader {
		return false
	}
	sess, ok := s.sessions.Get(r.Session)
	return ok && sess.Owner != s.originOf(r)
}

func (s *Server) nextZxid() int64 {
	s.zxid++
	return s.zxid
}

// prepRequest preps a client write; failures become an Error txn.
func (s *Server) prepRequest(r *Request, t *txn.Txn) txn.Op {
	if r.Op == jute.OpMulti {
		return s.prepMulti(r, t)
	}
	// A single op records its changes only after all its checks pass, so it
	// can write to the prep view directly.
	op, errc := s.prepOp(s.view, r.Op, r.Body, r, t)
	if errc != 0 {
		return &txn.Error{Code: int32(errc)}
	}
	return op
}

// prepMulti preps every op of a multi in a scratch layer. If one fails, the
// multi becomes all errors (the failing op's code, RuntimeInconsistency after
// it) and none of its changes reach the prep view.
func (s *Server) prepMulti(r *Request, t *txn.Txn) txn.Op {
	m, _ := r.Body.(*jute.MultiRequest)
	for _, mop := range m.Ops {
		if !isMultiWriteOp(mop.Type) {
			// ZooKeeper refuses a multi holding a read as undecodable.
			return &txn.Error{Code: int32(jute.ErrMarshallingError)}
		}
	}
	r.multiTypes = make([]jute.OpCode, len(m.Ops))
	l := newLayer(s.view)
	ops := make([]txn.Op, 0, len(m.Ops))
	failed := false
	for i, mop := range m.Ops {
		if failed {
			ops = append(ops, &txn.Error{Code: int32(jute.ErrRuntimeInconsistency)})
			continue
		}
		typ, ok := multiOpType(mop)
		if !ok {
			// ZooKeeper fails the whole multi here (and, unlike zkx, keeps
			// the earlier ops' pending changes in its prep state).
			return &txn.Error{Code: int32(jute.ErrMarshallingError)}
		}
		r.multiTypes[i] = typ
		op, errc := s.prepOp(l, typ, mop.Req, r, t)
		if errc != 0 {
			failed = true
			ops = append(ops, &txn.Error{Code: int32(errc)})
			continue
		}
		ops = append(ops, op)
	}
	if !failed {
		l.commit()
	}
	return &txn.Multi{Ops: ops}
}

func isMultiWriteOp(op jute.OpCode) bool {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL,
		jute.OpDelete, jute.OpSetData, jute.OpCheck:
		return true
	}
	return false
}

// multiOpType is the op a multi's op really is. As in ZooKeeper 3.8, a
// create inside a multi takes its kind from its flags, not its opcode: the
// container flag makes a container, the TTL flags a TTL node (only in a
// createTTL op: elsewhere the multi fails with MarshallingError when prep
// reaches the op), and
// any other flags a plain create, answered as "create" even if sent as
// create2.
func multiOpType(mop jute.MultiOp) (jute.OpCode, bool) {
	cr, ok := mop.Req.(*jute.CreateRequest)
	if !ok {
		return mop.Type, true
	}
	switch cr.Flags {
	case jute.FlagContainer:
		return jute.OpCreateContainer, true
	case jute.FlagPersistentWithTTL, jute.FlagPersistentSequentialWithTTL:
		return jute.OpCreateTTL, mop.Type == jute.OpCreateTTL
	}
	cr.TTL = -1 // a createTTL op without TTL flags is a plain create
	return jute.OpCreate, true
}

// prepOp checks one write against v and records its effect there. It
// returns the txn op, or the ZooKeeper error code that fails the request.
func (s *Server) prepOp(v view, op jute.OpCode, body jute.Record, r *Request, t *txn.Txn) (txn.Op, jute.Err) {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		req, ok := body.(*jute.CreateRequest)
		if !ok {
			return nil, jute.ErrMarshallingError
		}
		return s.prepCreate(v, op, req, r, t)
	case jute.OpDelete:
		req, ok := body.(*jute.PathVersionRequest)
		if !ok {
			return nil, jute.ErrMarshallingError
		}
		return s.prepDelete(v, req, r.Auth, t)
	case jute.OpSetData:
		req, ok := body.(*jute.SetDataRequest)
		if !ok {
			return nil, jute.ErrMarshallingError
		}
		return s.prepSetData(v, req, r.Auth, t)
	case jute.OpSetACL:
		req, ok := body.(*jute.SetACLRequest)
		if !ok {
			return nil, jute.ErrMarshallingError
		}
		return s.prepSetACL(v, req, r.Auth, t)
	case jute.OpCheck:
		req, ok := body.(*jute.PathVersionRequest)
		if !ok {
			return nil, jute.ErrMarshallingError
		}
		return s.prepCheck(v, req, r.Auth)
	case jute.OpReconfig:
		return nil, jute.ErrReconfigDisabled
	}
	return nil, jute.ErrUnimplemented
}

// parentOf returns the parent path of path and the last component; ok is
// false if path has no slash (ZooKeeper answers BadArguments).
func parentOf(path string) (parent, name string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", "", false
	}
	if i == 0 {
		return "/", path[1:], true
	}
	return path[:i], path[i+1:], true
}

func checkVersion(current, expected int32) (int32, jute.Err) {
	if expected != -1 && expected != current {
		return 0, jute.ErrBadVersion
	}
	return current + 1, 0
}

func toACL(in []jute.ACL) []acl.ACL {
	out := make([]acl.ACL, len(in))
	for i, a := range in {
		out[i] = acl.ACL(a)
	}
	return out
}

func fromACL(in []acl.ACL) []jute.ACL {
	out := make([]jute.ACL, len(in))
	for i, a := range in {
		out[i] = jute.ACL(a)
	}
	return out
}

func isNormalEphemeral(owner int64) bool {
	if owner == 0 || owner == txn.ContainerOwner {
		return false
	}
	_, ttl := txn.IsTTLOwner(owner)
	return !ttl
}

func (s *Server) prepCreate(v view, op jute.OpCode, req *jute.CreateRequest, r *Request, t *txn.Txn) (txn.Op, jute.Err) {
	flags := req.Flags
	if flags < jute.FlagPersistent || flags > jute.FlagPersistentSequentialWithTTL {
		return nil, jute.ErrBadArguments
	}
	isTTL := flags == jute.FlagPersistentWithTTL || flags == jute.FlagPersistentSequentialWithTTL
	sequential := flags == jute.FlagPersistentSequential || flags == jute.FlagEphemeralSequential ||
		flags == jute.FlagPersistentSequentialWithTTL
	ephemeral := flags == jute.FlagEphemeral || flags == jute.FlagEphemeralSequential
	if isTTL && !s.cfg.ExtendedTypes {
		return nil, jute.ErrUnimplemented
	}
	if isTTL {
		if req.TTL <= 0 || req.TTL > txn.MaxTTL {
			return nil, jute.ErrBadArguments
		}
	} else if req.TTL >= 0 {
		return nil, jute.ErrBadArguments
	}
	path := req.Path
	parentPath, _, ok := parentOf(path)
	if !ok || strings.IndexByte(path, 0) >= 0 {
		return nil, jute.ErrBadArguments
	}
	acls, err := acl.Fixup(toACL(req.ACL), r.Auth)
	if err != nil {
		return nil, jute.ErrInvalidACL
	}
	parent := v.get(parentPath)
	if parent == nil {
		return nil, jute.ErrNoNode
	}
	if !acl.Check(parent.acl, acl.Create, r.Auth) {
		return nil, jute.ErrNoAuth
	}
	if sequential {
		path = fmt.Sprintf("%s%010d", path, parent.stat.Cversion)
	}
	if !tree.ValidPath(path) {
		return nil, jute.ErrBadArguments
	}
	if v.get(path) != nil {
		return nil, jute.ErrNodeExists
	}
	if isNormalEphemeral(parent.stat.EphemeralOwner) {
		return nil, jute.ErrNoChildrenForEphemerals
	}
	var owner int64
	switch {
	case op == jute.OpCreateContainer:
		owner = txn.ContainerOwner
	case op == jute.OpCreateTTL:
		owner = txn.TTLOwner(req.TTL)
	case ephemeral:
		owner = t.Session
	}
	newCversion := parent.stat.Cversion + 1
	_, name, _ := parentOf(path)
	p := parent.clone()
	p.zxid = t.Zxid
	p.stat.NumChildren++
	p.stat.Cversion = newCversion
	p.stat.Pzxid = t.Zxid
	if p.kids == nil {
		p.kids = make(map[string]bool, 1)
	}
	p.kids[name] = true
	v.put(parentPath, p)
	v.put(path, &record{
		zxid: t.Zxid, exists: true, data: req.Data, acl: acls,
		stat: tree.Stat{
			Czxid: t.Zxid, Mzxid: t.Zxid, Pzxid: t.Zxid, Ctime: t.Time, Mtime: t.Time,
			EphemeralOwner: owner, DataLength: int32(len(req.Data)),
		},
	})
	return &txn.Create{Path: path, Data: req.Data, ACL: acls, Owner: owner, ParentCversion: newCversion}, 0
}

// recordDelete records in v that path (whose parent is parentPath) is gone.
func recordDelete(v view, parentPath, path string, parent *record, zxid int64) {
	_, name, _ := parentOf(path)
	p := parent.clone()
	p.zxid = zxid
	p.stat.NumChildren--
	p.stat.Pzxid = zxid
	if p.kids == nil {
		p.kids = make(map[string]bool, 1)
	}
	p.kids[name] = false
	v.put(parentPath, p)
	v.put(path, &record{zxid: zxid, exists: false})
}

func (s *Server) prepDelete(v view, req *jute.PathVersionRequest, auth []acl.Id, t *txn.Txn) (txn.Op, jute.Err) {
	path := req.Path
	parentPath, _, ok := parentOf(path)
	if !ok || strings.IndexByte(path, 0) >= 0 || tree.IsSpecialPath(path) {
		return nil, jute.ErrBadArguments
	}
	parent := v.get(parentPath)
	if parent == nil {
		return nil, jute.ErrNoNode
	}
	if !acl.Check(parent.acl, acl.Delete, auth) {
		return nil, jute.ErrNoAuth
	}
	n := v.get(path)
	if n == nil {
		return nil, jute.ErrNoNode
	}
	if _, errc := checkVersion(n.stat.Version, req.Version); errc != 0 {
		return nil, errc
	}
	if n.stat.NumChildren > 0 {
		return nil, jute.ErrNotEmpty
	}
	recordDelete(v, parentPath, path, parent, t.Zxid)
	return &txn.Delete{Path: path}, 0
}

func (s *Server) prepSetData(v view, req *jute.SetDataRequest, auth []acl.Id, t *txn.Txn) (txn.Op, jute.Err) {
	if !tree.ValidPath(req.Path) {
		return nil, jute.ErrBadArguments
	}
	n := v.get(req.Path)
	if n == nil {
		return nil, jute.ErrNoNode
	}
	if !acl.Check(n.acl, acl.Write, auth) {
		return nil, jute.ErrNoAuth
	}
	version, errc := checkVersion(n.stat.Version, req.Version)
	if errc != 0 {
		return nil, errc
	}
	c := n.clone()
	c.zxid = t.Zxid
	c.data = req.Data
	c.stat.Version = version
	c.stat.Mtime = t.Time
	c.stat.Mzxid = t.Zxid
	c.stat.DataLength = int32(len(req.Data))
	v.put(req.Path, c)
	return &txn.SetData{Path: req.Path, Data: req.Data, Version: version}, 0
}

func (s *Server) prepSetACL(v view, req *jute.SetACLRequest, auth []acl.Id, t *txn.Txn) (txn.Op, jute.Err) {
	if !tree.ValidPath(req.Path) {
		return nil, jute.ErrBadArguments
	}
	acls, err := acl.Fixup(toACL(req.ACL), auth)
	if err != nil {
		return nil, jute.ErrInvalidACL
	}
	n := v.get(req.Path)
	if n == nil {
		return nil, jute.ErrNoNode
	}
	if !acl.Check(n.acl, acl.Admin, auth) {
		return nil, jute.ErrNoAuth
	}
	version, errc := checkVersion(n.stat.Aversion, req.Version)
	if errc != 0 {
		return nil, errc
	}
	c := n.clone()
	c.zxid = t.Zxid
	c.acl = acls
	c.stat.Aversion = version
	v.put(req.Path, c)
	return &txn.SetACL{Path: req.Path, ACL: acls, Version: version}, 0
}

func (s *Server) prepCheck(v view, req *jute.PathVersionRequest, auth []acl.Id) (txn.Op, jute.Err) {
	if !tree.ValidPath(req.Path) {
		return nil, jute.ErrBadArguments
	}
	n := v.get(req.Path)
	if n == nil {
		return nil, jute.ErrNoNode
	}
	if !acl.Check(n.acl, acl.Read, auth) {
		return nil, jute.ErrNoAuth
	}
	if _, errc := checkVersion(n.stat.Version, req.Version); errc != 0 {
		return nil, errc
	}
	return &txn.Check{Path: req.Path, Version: req.Version}, 0
}

// prepCloseSession lists the session's ephemerals in the view and records
// their deletion.
func (s *Server) prepCloseSession(v view, session int64, t *txn.Txn) txn.Op {
	paths := v.ephemerals(session)
	for _, p := range paths {
		parentPath, _, _ := parentOf(p)
		if parent := v.get(parentPath); parent != nil {
			recordDelete(v, parentPath, p, parent, t.Zxid)
		}
	}
	return &txn.CloseSession{Paths: paths}
}

// prepDeleteContainer deletes an empty container or expired TTL node if it
// still is one in the view; nil if there is nothing to do.
func (s *Server) prepDeleteContainer(v view, path string, t *txn.Txn) txn.Op {
	n := v.get(path)
	if n == nil || n.stat.NumChildren > 0 {
		return nil
	}
	owner := n.stat.EphemeralOwner
	ttl, isTTL := txn.IsTTLOwner(owner)
	if owner != txn.ContainerOwner && !isTTL {
		return nil
	}
	if isTTL && t.Time-n.stat.Mtime <= ttl {
		return nil // touched since it was found expired
	}
	parentPath, _, ok := parentOf(path)
	if !ok {
		return nil
	}
	parent := v.get(parentPath)
	if parent == nil {
		return nil
	}
	recordDelete(v, parentPath, path, parent, t.Zxid)
	return &txn.Delete{Path: path}
}
