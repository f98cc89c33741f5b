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
)

// Session is one client session.
type Session struct {
	ID       int64
	Timeout  int32 // negotiated, milliseconds
	Password []byte
	Owner    int64 // server the client is connected to

	expireAt int64 // bucket the session is in (ms), 0 if not tracked
	closing  bool
}

// Table holds the sessions.
type Table struct {
	mu       sync.Mutex
	tick     int64
	sessions map[int64]*Session
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
		sessions: make(map[int64]*Session),
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
	cp := s
	cp.Password = append([]byte(nil), s.Password...)
	cp.expireAt, cp.closing = 0, false
	if old := t.sessions[s.ID]; old != nil {
		t.unbucket(old)
	}
	t.sessions[s.ID] = &cp
	t.touch(&cp, nowMs)
}

func (t *Table) unbucket(s *Session) {
	if s.expireAt == 0 {
		return
	}
	if b := t.buckets[s.expireAt]; b != nil {
		delete(b, s.ID)
		if len(b) == 0 {
			delete(t.buckets, s.expireAt)
		}
	}
	s.expireAt = 0
}

func (t *Table) touch(s *Session, nowMs int64) {
	at := t.roundUp(nowMs + int64(s.Timeout))
	if at == s.expireAt {
		return
	}
	t.unbucket(s)
	b := t.buckets[at]
	if b == nil {
		b = make(map[int64]struct{})
		t.buckets[at] = b
	}
	b[s.ID] = struct{}{}
	s.expireAt = at
}

// Touch records activity on a session. It returns false if the session
// does not exist or is closing: the client must treat it as expired.
func (t *Table) Touch(id int64, nowMs int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[id]
	if s == nil || s.closing {
		return false
	}
	t.touch(s, nowMs)
	return true
}

// SetTimeout changes a session's timeout (a re-attach negotiated another).
func (t *Table) SetTimeout(id int64, timeout int32, nowMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.sessions[id]; s != nil {
		s.Timeout = timeout
		t.touch(s, nowMs)
	}
}

// Get returns a copy of the session.
func (t *Table) Get(id int64) (Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[id]
	if s == nil {
		return Session{}, false
	}
	return *s, true
}

// Valid reports whether the session exists and is not closing.
func (t *Table) Valid(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[id]
	return s != nil && !s.closing
}

// SetClosing marks a session as closing: a close is on its way through the
// pipeline and no request may use the session any more. It reports whether
// the session existed and was not already closing.
func (t *Table) SetClosing(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sessions[id]
	if s == nil || s.closing {
		return false
	}
	s.closing = true
	t.unbucket(s)
	return true
}

// SetOwner records the server a session is connected to.
func (t *Table) SetOwner(id, owner int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.sessions[id]; s != nil {
		s.Owner = owner
	}
}

// Remove deletes a session (an applied CloseSession).
func (t *Table) Remove(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.sessions[id]; s != nil {
		t.unbucket(s)
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
			if s := t.sessions[id]; s != nil {
				s.closing = true
				s.expireAt = 0
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
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Session, 0, len(t.sessions))
	for _, s := range t.sessions {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len returns the number of sessions.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
}
