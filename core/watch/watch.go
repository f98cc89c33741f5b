// Package watch keeps the watches that connections have set and decides, for
// each change the tree applies, which watchers hear of it and with which
// event type, as ZooKeeper's WatchManager does:
//
//   - one-shot data watches (getData, and exists on a node that exists or
//     not) fire once on NodeCreated, NodeDataChanged or NodeDeleted;
//   - one-shot child watches (getChildren) fire once on NodeChildrenChanged
//     of the node or its NodeDeleted;
//   - persistent watches (addWatch mode 0) fire on every one of those four
//     events at their path and stay;
//   - persistent recursive watches (addWatch mode 1) fire on NodeCreated,
//     NodeDataChanged and NodeDeleted at their path or below, never on
//     NodeChildrenChanged, and stay.
//
// As in ZooKeeper 3.8, a persistent watch is two halves, a data half and a
// child half, and removeWatches with WatcherType Data or Children removes
// one half only: the other keeps firing (the data half on created, changed
// and deleted, the child half on children changed and deleted).
//
// A watcher hears one event per change however many of its watches match.
// Unlike ZooKeeper 3.8, where a one-shot watch set on the path of a persistent
// watch silently turns the persistent watch into a one-shot one (the two share
// one table entry), zkx keeps the kinds apart: each fires by its own rules.
//
// A Manager is not safe for concurrent use.
package watch

import (
	"sort"
	"strings"

	"github.com/zkx-project/zkx/core/tree"
)

// WatcherID identifies a watcher: one client connection.
type WatcherID uint64

// Kind is a kind of watch.
type Kind uint8

const (
	Data Kind = iota
	Child
	PersistentData
	PersistentChild
	RecursiveData
	RecursiveChild
	numKinds
)

// Persistent and Recursive are the halves addWatch sets.
var (
	Persistent = []Kind{PersistentData, PersistentChild}
	Recursive  = []Kind{RecursiveData, RecursiveChild}
)

func (k Kind) String() string {
	return [...]string{"data", "child", "persistent-data", "persistent-child", "recursive-data", "recursive-child"}[k]
}

type key struct {
	kind Kind
	path string
}

// Manager holds every watch.
type Manager struct {
	tables    [numKinds]map[string]map[WatcherID]struct{}
	byWatcher map[WatcherID]map[key]struct{}
	count     int
}

// New returns an empty Manager.
func New() *Manager {
	m := &Manager{byWatcher: make(map[WatcherID]map[key]struct{})}
	for i := range m.tables {
		m.tables[i] = make(map[string]map[WatcherID]struct{})
	}
	return m
}

// Add sets a watch of kind at path for w. Adding a watch that exists is a
// no-op.
func (m *Manager) Add(w WatcherID, kind Kind, path string) {
	t := m.tables[kind]
	set := t[path]
	if set == nil {
		set = make(map[WatcherID]struct{}, 1)
		t[path] = set
	}
	if _, ok := set[w]; ok {
		return
	}
	set[w] = struct{}{}
	keys := m.byWatcher[w]
	if keys == nil {
		keys = make(map[key]struct{})
		m.byWatcher[w] = keys
	}
	keys[key{kind, path}] = struct{}{}
	m.count++
}

// Has reports whether w has a watch of kind at path.
func (m *Manager) Has(w WatcherID, kind Kind, path string) bool {
	_, ok := m.tables[kind][path][w]
	return ok
}

// Remove deletes w's watch of kind at path and reports whether it existed.
func (m *Manager) Remove(w WatcherID, kind Kind, path string) bool {
	t := m.tables[kind]
	set := t[path]
	if _, ok := set[w]; !ok {
		return false
	}
	delete(set, w)
	if len(set) == 0 {
		delete(t, path)
	}
	if keys := m.byWatcher[w]; keys != nil {
		delete(keys, key{kind, path})
		if len(keys) == 0 {
			delete(m.byWatcher, w)
		}
	}
	m.count--
	return true
}

// RemoveWatcher deletes all of w's watches (its connection closed).
func (m *Manager) RemoveWatcher(w WatcherID) {
	for k := range m.byWatcher[w] {
		t := m.tables[k.kind]
		if set := t[k.path]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(t, k.path)
			}
		}
		m.count--
	}
	delete(m.byWatcher, w)
}

// Count returns the number of watches.
func (m *Manager) Count() int { return m.count }

// Delivery is one event for one watcher.
type Delivery struct {
	Watcher WatcherID
	Type    int32
	Path    string
}

// Trigger appends to out the deliveries that ev causes and removes the
// one-shot watches that fire.
func (m *Manager) Trigger(ev tree.Event, out []Delivery) []Delivery {
	if m.count == 0 {
		return out
	}
	start := len(out)
	var seen map[WatcherID]struct{} // built once the linear scan gets long
	add := func(w WatcherID) {
		if seen != nil {
			if _, ok := seen[w]; ok {
				return
			}
			seen[w] = struct{}{}
		} else {
			for _, d := range out[start:] {
				if d.Watcher == w {
					return
				}
			}
			if len(out)-start >= 16 {
				seen = make(map[WatcherID]struct{}, 32)
				for _, d := range out[start:] {
					seen[d.Watcher] = struct{}{}
				}
				seen[w] = struct{}{}
			}
		}
		out = append(out, Delivery{Watcher: w, Type: ev.Type, Path: ev.Path})
	}
	fireOnce := func(kind Kind) {
		t := m.tables[kind]
		set := t[ev.Path]
		if set == nil {
			return
		}
		delete(t, ev.Path)
		for w := range set {
			add(w)
			if keys := m.byWatcher[w]; keys != nil {
				delete(keys, key{kind, ev.Path})
				if len(keys) == 0 {
					delete(m.byWatcher, w)
				}
			}
			m.count--
		}
	}
	fireStay := func(kind Kind, recursive bool) {
		t := m.tables[kind]
		if len(t) == 0 {
			return
		}
		for p := ev.Path; ; {
			for w := range t[p] {
				add(w)
			}
			if !recursive || p == "/" {
				return
			}
			if i := strings.LastIndexByte(p, '/'); i <= 0 {
				p = "/"
			} else {
				p = p[:i]
			}
		}
	}
	switch ev.Type {
	case tree.EventNodeCreated, tree.EventNodeDataChanged:
		fireOnce(Data)
		fireStay(PersistentData, false)
		fireStay(RecursiveData, true)
	case tree.EventNodeDeleted:
		fireOnce(Data)
		fireStay(PersistentData, false)
		fireStay(RecursiveData, true)
		fireOnce(Child)
		fireStay(PersistentChild, false)
		fireStay(RecursiveChild, true)
	case tree.EventNodeChildrenChanged:
		fireOnce(Child)
		fireStay(PersistentChild, false)
	}
	return out
}

// PathsOf returns w's watches by kind, each list sorted (for setWatches on
// reconnect and for the wchc report).
func (m *Manager) PathsOf(w WatcherID) map[Kind][]string {
	out := make(map[Kind][]string)
	for k := range m.byWatcher[w] {
		out[k.kind] = append(out[k.kind], k.path)
	}
	for _, ps := range out {
		sort.Strings(ps)
	}
	return out
}

// dataTables are the kinds ZooKeeper keeps in its data watch table, the
// one its watch reports (wchs, wchc, wchp) describe.
var dataTables = []Kind{Data, PersistentData, RecursiveData}

// ByPath returns, for every path with a data-side watch, its watchers.
func (m *Manager) ByPath() map[string][]WatcherID {
	out := make(map[string][]WatcherID)
	for _, k := range dataTables {
		for p, set := range m.tables[k] {
			for w := range set {
				out[p] = appendUnique(out[p], w)
			}
		}
	}
	return out
}

// ByWatcher returns, for every watcher, the paths of its data-side watches.
func (m *Manager) ByWatcher() map[WatcherID][]string {
	out := make(map[WatcherID][]string)
	for w, keys := range m.byWatcher {
		seen := make(map[string]bool)
		for k := range keys {
			if (k.kind == Data || k.kind == PersistentData || k.kind == RecursiveData) && !seen[k.path] {
				seen[k.path] = true
				out[w] = append(out[w], k.path)
			}
		}
		sort.Strings(out[w])
	}
	return out
}

// Summary returns, for data-side watches as ZooKeeper's wchs reports them,
// the number of watching connections, watched paths and watches.
func (m *Manager) Summary() (watchers, paths, total int) {
	ps := make(map[string]struct{})
	ws := make(map[WatcherID]struct{})
	for _, k := range dataTables {
		for p, set := range m.tables[k] {
			ps[p] = struct{}{}
			for w := range set {
				ws[w] = struct{}{}
				total++
			}
		}
	}
	return len(ws), len(ps), total
}

func appendUnique(ws []WatcherID, w WatcherID) []WatcherID {
	for _, x := range ws {
		if x == w {
			return ws
		}
	}
	return append(ws, w)
}
