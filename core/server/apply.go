package server

import (
	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/session"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/core/watch"
	"github.com/zkx-project/zkx/transport/jute"
)

// applyBatch applies a durable batch in zxid order, fires watches and
// answers the clients connected here.
func (s *Server) applyBatch(batch []*proposal) {
	var events []tree.Event
	var deliveries []watch.Delivery
	var last int64
	s.mu.Lock()
	for _, p := range batch {
		t := p.txn
		var res tree.Result
		res, events = s.tree.Apply(t, events[:0])
		deliveries = s.afterApply(t, res, events, deliveries[:0])
		last = t.Zxid
	}
	s.prepMu.Lock()
	s.view.prune(last)
	s.prepMu.Unlock()
	s.mu.Unlock()
	s.stats.txns.Add(int64(len(batch)))
	s.answerSyncs(last)
}

// ApplyCommitted applies txns that are already durable and committed by
// the ensemble (the leader's own, or a learner's from its leader): the tree, sessions and
// watches change, and clients connected here are answered.
func (s *Server) ApplyCommitted(txns []*txn.Txn) {
	batch := make([]*proposal, len(txns))
	for i, t := range txns {
		batch[i] = &proposal{txn: t}
	}
	s.applyBatch(batch)
	if s.currentRole().role.prepares() {
		return // prep issued these zxids itself
	}
	// A learner runs no prep; its zxid is what the leader's was, ready for
	// the moment it becomes leader itself (SetRole starts a new epoch).
	s.mu.RLock()
	if z := s.tree.LastZxid(); z > s.zxid {
		s.zxid = z
	}
	s.mu.RUnlock()
}

func (s *Server) connFor(session int64) *Conn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.sessionConns[session]
}

func (s *Server) afterApply(t *txn.Txn, res tree.Result, events []tree.Event, deliveries []watch.Delivery) []watch.Delivery {
	switch o := t.Op.(type) {
	case *txn.CreateSession:
		s.sessions.Add(session.Session{ID: t.Session, Timeout: o.Timeout, Password: o.Password, Owner: o.Owner},
			s.cfg.Now().UnixMilli())
		if c := s.connFor(t.Session); c != nil {
			c.established(o.Password)
		}
	case *txn.CloseSession:
		s.sessions.Remove(t.Session)
	case *txn.SetSessionOwner:
		// A connection the session left stays open, as in ZooKeeper: its
		// writes fail with SessionMoved at the leader, and it is closed
		// when the session ends.
		s.sessions.SetOwner(t.Session, o.Owner)
		return deliveries
	}

	if len(events) > 0 {
		s.watchMu.Lock()
		for _, ev := range events {
			deliveries = s.watches.Trigger(ev, deliveries)
			s.deliver(ev, deliveries)
			deliveries = deliveries[:0]
		}
		s.watchMu.Unlock()
	}

	if rr := recipeResultOf(t.Op); rr != nil {
		s.finishRecipe(t, rr)
		return deliveries
	}
	if e, ok := t.Op.(*txn.Error); ok && s.answerAwaitingError(t, e) {
		return deliveries
	}
	if c := s.connFor(t.Session); c != nil {
		if _, closing := t.Op.(*txn.CloseSession); closing {
			s.finishClose(c, t)
		} else {
			c.completeWrite(t.Cxid, func(r *Request) { s.answerWrite(r, t, res) })
		}
	}
	return deliveries
}

// answerAwaitingError answers a re-run recipe call that failed before it
// ran (its session is gone, say).
func (s *Server) answerAwaitingError(t *txn.Txn, e *txn.Error) bool {
	return s.finishAwaited(t, func(c *Conn, r *Request) {
		c.reply(r.Xid, t.Zxid, jute.Err(e.Code), nil)
	}, true)
}

// finishRecipe answers a recipe call's txn. A call that never waited is
// the write at the head of its connection's queue; one that waited is in
// awaiting, and its reply goes out of order (clients match recipe replies
// by xid).
func (s *Server) finishRecipe(t *txn.Txn, rr *txn.RecipeResult) {
	answer := func(c *Conn, r *Request) { c.answerRecipe(r, t, rr) }
	if s.finishAwaited(t, answer, !rr.Parked) {
		return
	}
	if !s.currentRole().role.prepares() && s.finishLearnerAwait(t, rr, answer) {
		return
	}
	if c := s.connFor(t.Session); c != nil {
		c.completeWrite(t.Cxid, func(r *Request) { answer(c, r) })
	}
}

// finishLearnerAwait handles, on a learner, a recipe call the leader
// parked: its first txn takes it out of its connection's queue without a
// reply, and the one that ends the wait answers it.
func (s *Server) finishLearnerAwait(t *txn.Txn, rr *txn.RecipeResult, answer func(*Conn, *Request)) bool {
	key := recipeKey{t.Session, t.Cxid}
	s.parkMu.Lock()
	r := s.learnerAwait[key]
	if r != nil && !rr.Parked {
		delete(s.learnerAwait, key)
	}
	s.parkMu.Unlock()
	if r != nil {
		if !rr.Parked && !r.conn.isClosed() {
			answer(r.conn, r)
		}
		return true
	}
	if !rr.Parked {
		return false
	}
	if c := s.connFor(t.Session); c != nil {
		c.completeWrite(t.Cxid, func(r *Request) {
			s.parkMu.Lock()
			s.learnerAwait[key] = r
			s.parkMu.Unlock()
		})
	}
	return true
}

// finishAwaited applies a txn of a call that has waited: the first of its
// txns takes the call out of its connection's queue (so the session's
// later requests go on), and the final one sends the reply. It reports
// false if the call never waited.
func (s *Server) finishAwaited(t *txn.Txn, answer func(*Conn, *Request), final bool) bool {
	key := recipeKey{t.Session, t.Cxid}
	s.parkMu.Lock()
	r := s.awaiting[key]
	if r == nil {
		s.parkMu.Unlock()
		return false
	}
	r.inflight--
	if r.inflight == 0 && (final || r.dropped) {
		delete(s.awaiting, key)
	}
	first, dropped := !r.popped, r.dropped
	r.popped = true
	s.parkMu.Unlock()
	c := r.conn
	if c == nil {
		return true
	}
	if first {
		c.completeWrite(t.Cxid, func(r *Request) {
			if final && !dropped {
				answer(c, r)
			}
		})
		return true
	}
	if final && !dropped && !c.isClosed() {
		answer(c, r)
	}
	return true
}

// deliver sends one event to the watchers that may read the node, as
// ZooKeeper 3.8.4+ does (an event must not reveal a node its watcher cannot
// read).
func (s *Server) deliver(ev tree.Event, ds []watch.Delivery) {
	if len(ds) == 0 {
		return
	}
	s.connMu.Lock()
	conns := make([]*Conn, len(ds))
	for i, d := range ds {
		conns[i] = s.conns[d.Watcher]
	}
	s.connMu.Unlock()
	for i, d := range ds {
		c := conns[i]
		if c == nil {
			continue
		}
		c.mu.Lock()
		auth := c.auth
		c.mu.Unlock()
		if !acl.Check(ev.ACL, acl.Read, auth) {
			continue
		}
		c.sendEvent(d.Type, d.Path)
	}
}

// finishClose answers a client's closeSession, or closes the connection of
// a session that expired or was closed elsewhere.
func (s *Server) finishClose(c *Conn, t *txn.Txn) {
	c.mu.Lock()
	answered := false
	if len(c.queue) > 0 && c.queue[0].Op == jute.OpCloseSession && c.queue[0].Xid == t.Cxid {
		r := c.queue[0]
		c.queue = c.queue[1:]
		c.pending--
		s.stats.outstanding.Add(-1)
		answered = true
		c.mu.Unlock()
		c.reply(r.Xid, t.Zxid, 0, nil)
		c.recordLatency(r)
	} else {
		c.mu.Unlock()
	}
	if !answered {
		s.log.Info("closing connection of closed session", "session", hexID(t.Session))
	}
	s.connMu.Lock()
	if s.sessionConns[t.Session] == c {
		delete(s.sessionConns, t.Session)
	}
	s.connMu.Unlock()
	c.sink.Close()
}

// answerWrite sends the reply to write request r, applied as txn t.
func (s *Server) answerWrite(r *Request, t *txn.Txn, res tree.Result) {
	c := r.conn
	defer c.recordLatency(r)
	if r.Op == jute.OpMulti {
		if _, ok := t.Op.(*txn.Multi); ok {
			c.reply(r.Xid, t.Zxid, 0, multiResponse(r, res))
			return
		}
	}
	if res.Err != 0 {
		c.reply(r.Xid, t.Zxid, jute.Err(res.Err), nil)
		return
	}
	var body jute.Record
	switch r.Op {
	case jute.OpCreate:
		body = &jute.CreateResponse{Path: res.Path}
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		body = &jute.Create2Response{Path: res.Path, Stat: jute.Stat(res.Stat)}
	case jute.OpSetData, jute.OpSetACL:
		body = &jute.StatResponse{Stat: jute.Stat(res.Stat)}
	}
	c.reply(r.Xid, t.Zxid, 0, body)
}

func multiResponse(r *Request, res tree.Result) *jute.MultiResponse {
	out := &jute.MultiResponse{Results: make([]jute.MultiResult, len(res.Multi))}
	for i, sub := range res.Multi {
		mr := &out.Results[i]
		if sub.Type == txn.TypeError {
			mr.Type, mr.Err = jute.OpError, jute.Err(sub.Err)
			continue
		}
		op := jute.OpError
		if i < len(r.multiTypes) {
			op = r.multiTypes[i]
		} else if m, ok := r.Body.(*jute.MultiRequest); ok && i < len(m.Ops) {
			// Prepped by the leader: the op's kind as prep saw it.
			op, _ = multiOpType(m.Ops[i])
		}
		switch op {
		case jute.OpCreate:
			mr.Type, mr.Path = jute.OpCreate, sub.Path
		case jute.OpCreate2, jute.OpCreateTTL, jute.OpCreateContainer:
			mr.Type, mr.Path, mr.Stat = jute.OpCreate2, sub.Path, jute.Stat(sub.Stat)
		case jute.OpDelete:
			mr.Type = jute.OpDelete
		case jute.OpSetData:
			mr.Type, mr.Stat = jute.OpSetData, jute.Stat(sub.Stat)
		case jute.OpCheck:
			mr.Type = jute.OpCheck
		default:
			mr.Type, mr.Err = jute.OpError, jute.ErrRuntimeInconsistency
		}
	}
	return out
}
