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
	Persistent
	Recursive
	numKinds
)

func (k Kind) String() string {
	return [...]string{"data", "child", "persistent", "persistentRecursive"}[k]
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
	switch ev.Type {
	case tree.EventNodeCreated, tree.EventNodeDataChanged:
		fireOnce(Data)
	case tree.EventNodeDeleted:
		fireOnce(Data)
		fireOnce(Child)
	case tree.EventNodeChildrenChanged:
		fireOnce(Child)
	}
	for w := range m.tables[Persistent][ev.Path] {
		add(w)
	}
	if ev.Type != tree.EventNodeChildrenChanged && len(m.tables[Recursive]) > 0 {
		for p := ev.Path; ; {
			for w := range m.tables[Recursive][p] {
				add(w)
			}
			if p == "/" {
				break
			}
			i := strings.LastIndexByte(p, '/')
			if i <= 0 {
				p = "/"
			} else {
				p = p[:i]
			}
		}
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

// ByPath returns, for every watched path, the watchers on it (any kind).
func (m *Manager) ByPath() map[string][]WatcherID {
	out := make(map[string][]WatcherID)
	for _, t := range m.tables {
		for p, set := range t {
			for w := range set {
				out[p] = appendUnique(out[p], w)
			}
		}
	}
	return out
}

// ByWatcher returns, for every watcher, its watched paths (any kind).
func (m *Manager) ByWatcher() map[WatcherID][]string {
	out := make(map[WatcherID][]string)
	for w, keys := range m.byWatcher {
		seen := make(map[string]bool)
		for k := range keys {
			if !seen[k.path] {
				seen[k.path] = true
				out[w] = append(out[w], k.path)
			}
		}
		sort.Strings(out[w])
	}
	return out
}

// Summary returns the number of watching connections, watched paths and
// watches (wchs).
func (m *Manager) Summary() (watchers, paths, total int) {
	ps := make(map[string]struct{})
	for _, t := range m.tables {
		for p := range t {
			ps[p] = struct{}{}
		}
	}
	return len(m.byWatcher), len(ps), m.count
}

func appendUnique(ws []WatcherID, w WatcherID) []WatcherID {
	for _, x := range ws {
		if x == w {
			return ws
		}
	}
	return append(ws, w)
}
