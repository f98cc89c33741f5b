// Package session is the session table: which sessions exist (replicated
// state, changed only by applied CreateSession and CloseSession txns) and
// when each expires (local state of the server that tracks liveness).
//
// Expiry works in ticks, as ZooKeeper's ExpiryQueue does: a session touched
// at time now with timeout T is due at now+T rounded up to the next multiple
// of the tick, so a session is checked once per tick, not per request. Time
// is always an argument (milliseconds); the table reads no clock.
//
// A Table is safe for concurrent use: connections touch sessions while the
// pipeline creates and closes them.
package session

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Session is one client session.
type Session struct {
	ID       int64
	Timeout  int32 // negotiated, milliseconds
	Password []byte
	Owner    int64 // server the client is connected to
}

// entry is a session in the table. Touch reads expireAt, timeout and
// closing without the table lock: every request touches its session, and
// the bucket changes at most once a tick.
type entry struct {
	Session
	timeout  atomic.Int32
	expireAt atomic.Int64 // bucket the session is in (ms), 0 if not tracked
	closing  atomic.Bool
}

func (e *entry) snapshot() Session {
	s := e.Session
	s.Timeout = e.timeout.Load()
	return s
}

// Table holds the sessions.
type Table struct {
	mu       sync.RWMutex
	tick     int64
	sessions map[int64]*entry
	buckets  map[int64]map[int64]struct{}
	nextID   int64
}

// New returns a table whose expiry buckets are tickMs wide. serverID and
// nowMs seed session ids the way ZooKeeper does: the server id in the top
// byte, the start time below it, so ids from different servers and
// different runs do not collide.
func New(tickMs int64, serverID int64, nowMs int64) *Table {
	if tickMs <= 0 {
		tickMs = 1
	}
	next := int64(uint64(nowMs<<24)>>8) | serverID<<56
	return &Table{
		tick:     tickMs,
		sessions: make(map[int64]*entry),
		buckets:  make(map[int64]map[int64]struct{}),
		nextID:   next,
	}
}

// NextID returns a fresh session id.
func (t *Table) NextID() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		t.nextID++
		id := t.nextID
		// Never hand out 0, a container's or a TTL node's owner marker,
		// or an id that exists.
		if id == 0 || id == -1<<63 || uint64(id)>>56 == 0xff {
			continue
		}
		if _, ok := t.sessions[id]; ok {
			continue
		}
		return id
	}
}

func (t *Table) roundUp(ms int64) int64 { return (ms/t.tick + 1) * t.tick }

// Add records a session (an applied CreateSession, or one loaded from a
// snapshot) and starts tracking it as touched at nowMs.
func (t *Table) Add(s Session, nowMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := &entry{Session: s}
	e.Password = append([]byte(nil), s.Password...)
	e.timeout.Store(s.Timeout)
	if old := t.sessions[s.ID]; old != nil {
		t.unbucket(old)
	}
	t.sessions[s.ID] = e
	t.touch(e, nowMs)
}

// unbucket takes e out of its expiry bucket. The caller holds mu.
func (t *Table) unbucket(e *entry) {
	at := e.expireAt.Load()
	if at == 0 {
		return
	}
	if b := t.buckets[at]; b != nil {
		delete(b, e.ID)
		if len(b) == 0 {
			delete(t.buckets, at)
		}
	}
	e.expireAt.Store(0)
}

// touch moves e to the bucket due at nowMs + timeout. The caller holds mu.
func (t *Table) touch(e *entry, nowMs int64) {
	at := t.roundUp(nowMs + int64(e.timeout.Load()))
	if at == e.expireAt.Load() {
		return
	}
	t.unbucket(e)
	b := t.buckets[at]
	if b == nil {
		b = make(map[int64]struct{})
		t.buckets[at] = b
	}
	b[e.ID] = struct{}{}
	e.expireAt.Store(at)
}

// Touch records activity on a session. It returns false if the session
// does not exist or is closing: the client must treat it as expired.
func (t *Table) Touch(id int64, nowMs int64) bool {
	t.mu.RLock()
	e := t.sessions[id]
	t.mu.RUnlock()
	if e == nil || e.closing.Load() {
		return false
	}
	if t.roundUp(nowMs+int64(e.timeout.Load())) == e.expireAt.Load() {
		return true // same bucket: nothing to move
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.closing.Load() || t.sessions[id] != e {
		return false
	}
	t.touch(e, nowMs)
	return true
}

// SetTimeout changes a session's timeout (a re-attach negotiated another).
func (t *Table) SetTimeout(id int64, timeout int32, nowMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.sessions[id]; e != nil {
		e.timeout.Store(timeout)
		t.touch(e, nowMs)
	}
}

// Get returns a copy of the session.
func (t *Table) Get(id int64) (Session, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.sessions[id]
	if e == nil {
		return Session{}, false
	}
	return e.snapshot(), true
}

// Valid reports whether the session exists and is not closing.
func (t *Table) Valid(id int64) bool {
	t.mu.RLock()
	e := t.sessions[id]
	t.mu.RUnlock()
	return e != nil && !e.closing.Load()
}

// SetClosing marks a session as closing: a close is on its way through the
// pipeline and no request may use the session any more. It reports whether
// the session existed and was not already closing.
func (t *Table) SetClosing(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.sessions[id]
	if e == nil || e.closing.Load() {
		return false
	}
	e.closing.Store(true)
	t.unbucket(e)
	return true
}

// SetOwner records the server a session is connected to.
func (t *Table) SetOwner(id, owner int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.sessions[id]; e != nil {
		e.Owner = owner
	}
}

// Remove deletes a session (an applied CloseSession).
func (t *Table) Remove(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.sessions[id]; e != nil {
		t.unbucket(e)
		delete(t.sessions, id)
	}
}

// Expire returns the sessions due at or before nowMs, marked closing, in
// id order. The caller closes them through the pipeline.
func (t *Table) Expire(nowMs int64) []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int64
	for at, b := range t.buckets {
		if at > nowMs {
			continue
		}
		for id := range b {
			if e := t.sessions[id]; e != nil {
				e.closing.Store(true)
				e.expireAt.Store(0)
			}
			out = append(out, id)
		}
		delete(t.buckets, at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// List returns copies of all sessions, in id order.
func (t *Table) List() []Session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Session, 0, len(t.sessions))
	for _, e := range t.sessions {
		out = append(out, e.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len returns the number of sessions.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.sessions)
}

// TouchAll restarts every session's timeout from nowMs: a new leader gives
// the sessions it inherits a full timeout, as ZooKeeper does, since it
// cannot know when their clients were last heard of. A close that an
// earlier leader started but never committed is forgotten with it.
func (t *Table) TouchAll(nowMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.sessions {
		e.closing.Store(false)
		t.touch(e, nowMs)
	}
}

// Replace drops every session and adds ss (a replica installed a new
// state), tracked as touched at nowMs.
func (t *Table) Replace(ss []Session, nowMs int64) {
	t.mu.Lock()
	t.sessions = make(map[int64]*entry)
	t.buckets = make(map[int64]map[int64]struct{})
	t.mu.Unlock()
	for _, s := range ss {
		t.Add(s, nowMs)
	}
}
