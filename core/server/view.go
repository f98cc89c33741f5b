package server

import (
	"sort"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/tree"
)

// record is the state of one path in the prep view: what the path will hold
// once every txn prep has issued is applied. It is ZooKeeper's ChangeRecord,
// plus the pending child additions and removals, so recipes can list
// children that are not committed yet.
type record struct {
	zxid   int64 // last pending change to this path; 0 for a copy of the tree
	exists bool
	stat   tree.Stat // NumChildren is the child count in the view
	data   []byte
	acl    []acl.ACL
	kids   map[string]bool // child name -> present, for names whose presence is pending
}

func (r *record) clone() *record {
	cp := *r
	if r.kids != nil {
		cp.kids = make(map[string]bool, len(r.kids))
		for k, v := range r.kids {
			cp.kids[k] = v
		}
	}
	return &cp
}

// view is what prep reads: a path's state in the view. The committed tree
// plus outstanding changes (prepView) is one; a multi's or a recipe's scratch
// layer over it (layer) is another.
type view interface {
	get(path string) *record       // nil if the path does not exist in the view
	put(path string, r *record)    // record a change
	children(path string) []string // sorted; nil if the path does not exist
	ephemerals(session int64) []string
}

// prepView is the committed tree plus the changes prep has issued that are
// not applied yet. Only the prep goroutine calls get and put; apply calls
// prune after applying, under mu.
type prepView struct {
	s       *Server
	changes map[string]*record
	queue   []pendingChange // in zxid order
}

type pendingChange struct {
	zxid int64
	path string
	rec  *record
}

func newPrepView(s *Server) *prepView {
	return &prepView{s: s, changes: make(map[string]*record)}
}

// get returns the path's state. The returned record must not be modified;
// put a new one instead.
func (v *prepView) get(path string) *record {
	v.s.prepMu.Lock()
	r := v.changes[path]
	v.s.prepMu.Unlock()
	if r != nil {
		if !r.exists {
			return nil
		}
		return r
	}
	return v.s.committedRecord(path)
}

// committedRecord reads path from the committed tree. No pending change for
// path exists, so the tree's state is final until prep issues one.
func (s *Server) committedRecord(path string) *record {
	s.mu.RLock()
	data, st, acls, ok := s.tree.RawNode(path)
	s.mu.RUnlock()
	if !ok {
		return nil
	}
	return &record{exists: true, stat: st, data: data, acl: acls}
}

func (v *prepView) put(path string, r *record) {
	v.s.prepMu.Lock()
	v.changes[path] = r
	v.queue = append(v.queue, pendingChange{zxid: r.zxid, path: path, rec: r})
	v.s.prepMu.Unlock()
}

// prune forgets the changes applied up to zxid. The caller holds prepMu.
func (v *prepView) prune(zxid int64) {
	i := 0
	for ; i < len(v.queue) && v.queue[i].zxid <= zxid; i++ {
		c := v.queue[i]
		if v.changes[c.path] == c.rec {
			delete(v.changes, c.path)
		}
		v.queue[i] = pendingChange{}
	}
	if i > 0 {
		v.queue = v.queue[i:]
		if len(v.queue) == 0 {
			v.queue = v.queue[:0:0]
		}
	}
}

// reset forgets every pending change (the pipeline was drained or reset).
func (v *prepView) reset() {
	v.s.prepMu.Lock()
	v.changes = make(map[string]*record)
	v.queue = nil
	v.s.prepMu.Unlock()
}

func (v *prepView) children(path string) []string {
	r := v.get(path)
	if r == nil {
		return nil
	}
	v.s.mu.RLock()
	committed, _, _ := v.s.tree.Children(path)
	v.s.mu.RUnlock()
	return mergeChildren(committed, r.kids)
}

func mergeChildren(committed []string, kids map[string]bool) []string {
	if len(kids) == 0 {
		return append([]string{}, committed...)
	}
	out := make([]string, 0, len(committed)+len(kids))
	for _, c := range committed {
		if present, pending := kids[c]; !pending || present {
			out = append(out, c)
		}
	}
	for k, present := range kids {
		if !present {
			continue
		}
		i := sort.SearchStrings(committed, k)
		if i < len(committed) && committed[i] == k {
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (v *prepView) ephemerals(session int64) []string {
	v.s.mu.RLock()
	committed := v.s.tree.Ephemerals(session)
	v.s.mu.RUnlock()
	set := make(map[string]bool, len(committed))
	for _, p := range committed {
		set[p] = true
	}
	v.s.prepMu.Lock()
	for p, r := range v.changes {
		if r.exists && r.stat.EphemeralOwner == session {
			set[p] = true
		} else {
			delete(set, p)
		}
	}
	v.s.prepMu.Unlock()
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// layer is a scratch view over another: a multi's or a recipe's changes, kept
// apart until the whole request succeeds (commit) or is dropped.
type layer struct {
	base    view
	changes map[string]*record
	order   []string
}

func newLayer(base view) *layer {
	return &layer{base: base, changes: make(map[string]*record)}
}

func (l *layer) get(path string) *record {
	if r, ok := l.changes[path]; ok {
		if !r.exists {
			return nil
		}
		return r
	}
	return l.base.get(path)
}

func (l *layer) put(path string, r *record) {
	if _, ok := l.changes[path]; !ok {
		l.order = append(l.order, path)
	}
	l.changes[path] = r
}

func (l *layer) children(path string) []string {
	base := l.base.children(path)
	r, ok := l.changes[path]
	if !ok {
		return base
	}
	if !r.exists {
		return nil
	}
	return mergeChildren(base, r.kids)
}

func (l *layer) ephemerals(session int64) []string {
	set := make(map[string]bool)
	for _, p := range l.base.ephemerals(session) {
		set[p] = true
	}
	for p, r := range l.changes {
		if r.exists && r.stat.EphemeralOwner == session {
			set[p] = true
		} else {
			delete(set, p)
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// commit moves the layer's changes into its base, in the order they were
// made.
func (l *layer) commit() {
	for _, p := range l.order {
		l.base.put(p, l.changes[p])
	}
}
