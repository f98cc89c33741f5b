package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkx-project/zkx/transport/jute"
)

// Event is a watch notification or a change of session state.
//
// Node events carry Type (jute.EventNodeCreated, ...), State
// jute.StateSyncConnected and the node's Path. Session events have Type
// jute.EventNone and State jute.StateSyncConnected, StateDisconnected,
// StateExpired, StateAuthFailed or StateClosed. An event that ends a watch
// because the session ended carries Err (ErrSessionExpired, ErrAuthFailed or
// ErrClosed).
type Event struct {
	Type  int32
	State int32
	Path  string
	Err   error
}

var eventNames = map[int32]string{
	jute.EventNone: "None", jute.EventNodeCreated: "NodeCreated", jute.EventNodeDeleted: "NodeDeleted",
	jute.EventNodeDataChanged: "NodeDataChanged", jute.EventNodeChildrenChanged: "NodeChildrenChanged",
	jute.EventDataWatchRemoved: "DataWatchRemoved", jute.EventChildWatchRemoved: "ChildWatchRemoved",
	jute.EventPersistentWatchRemoved: "PersistentWatchRemoved",
}

var stateNames = map[int32]string{
	jute.StateDisconnected: "Disconnected", jute.StateSyncConnected: "SyncConnected",
	jute.StateAuthFailed: "AuthFailed", jute.StateReadOnly: "ConnectedReadOnly",
	jute.StateSaslAuth: "SaslAuthenticated", jute.StateExpired: "Expired", jute.StateClosed: "Closed",
}

// StateName returns ZooKeeper's name for a keeper state ("SyncConnected").
func StateName(state int32) string {
	if s, ok := stateNames[state]; ok {
		return s
	}
	return fmt.Sprintf("state(%d)", state)
}

func (e Event) String() string {
	t, ok := eventNames[e.Type]
	if !ok {
		t = fmt.Sprintf("type(%d)", e.Type)
	}
	s := "WatchedEvent state:" + StateName(e.State) + " type:" + t + " path:" + e.Path
	if e.Err != nil {
		s += " err:" + e.Err.Error()
	}
	return s
}

// watchKind says what a request does to the client's watch tables when its
// reply arrives (ZooKeeper's WatchRegistration and WatchDeregistration).
type watchKind uint8

const (
	watchNone       watchKind = iota
	watchExists               // data table if the node exists, exist table on NoNode
	watchData                 // getData
	watchChild                // getChildren, getChildren2
	watchPersistent           // addWatch, mode persistent
	watchRecursive            // addWatch, mode persistent recursive
	watchRemove               // removeWatches: on success drop local watchers of removeType
)

type watchReg struct {
	kind       watchKind
	path       string
	ch         chan Event       // one-shot kinds
	pw         *PersistentWatch // persistent kinds
	removeType int32            // watchRemove
}

// watchTable is the client side of ZooKeeper's watches, as in ZKWatchManager:
// one-shot watchers per path in three tables, and persistent watchers. A
// one-shot watcher is a channel of capacity 1 that receives exactly one event
// and is then closed, so delivering never blocks the reader.
type watchTable struct {
	mu         sync.Mutex
	data       map[string][]chan Event
	exist      map[string][]chan Event
	child      map[string][]chan Event
	persistent map[string][]*PersistentWatch
	recursive  map[string][]*PersistentWatch
	// end is set once the session is over; watchers registered after that
	// receive it at once.
	end *Event
}

func newWatchTable() *watchTable {
	return &watchTable{
		data:       map[string][]chan Event{},
		exist:      map[string][]chan Event{},
		child:      map[string][]chan Event{},
		persistent: map[string][]*PersistentWatch{},
		recursive:  map[string][]*PersistentWatch{},
	}
}

// onReply applies a request's watch registration once its reply code is
// known. It runs on the reader goroutine, before any later notification is
// read, so a watch is in place before the event that fires it is handled.
func (t *watchTable) onReply(reg *watchReg, code jute.Err) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var table map[string][]chan Event
	switch reg.kind {
	case watchExists:
		switch code {
		case jute.ErrOK:
			table = t.data
		case jute.ErrNoNode:
			table = t.exist
		}
	case watchData:
		if code == jute.ErrOK {
			table = t.data
		}
	case watchChild:
		if code == jute.ErrOK {
			table = t.child
		}
	case watchPersistent, watchRecursive:
		if code != jute.ErrOK {
			return
		}
		if t.end != nil {
			reg.pw.end(*t.end)
			return
		}
		if reg.kind == watchPersistent {
			t.persistent[reg.path] = append(t.persistent[reg.path], reg.pw)
		} else {
			t.recursive[reg.path] = append(t.recursive[reg.path], reg.pw)
		}
		return
	case watchRemove:
		if code == jute.ErrOK {
			t.removeLocked(reg.path, reg.removeType)
		}
		return
	}
	if table == nil {
		return
	}
	if t.end != nil {
		fireOnce(reg.ch, *t.end)
		return
	}
	table[reg.path] = append(table[reg.path], reg.ch)
}

func fireOnce(ch chan Event, ev Event) {
	ch <- ev
	close(ch)
}

func fireAll(chs []chan Event, ev Event) {
	for _, ch := range chs {
		fireOnce(ch, ev)
	}
}

// trigger delivers a notification the way ZKWatchManager.materialize does.
func (t *watchTable) trigger(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := ev.Path
	switch ev.Type {
	case jute.EventNodeCreated, jute.EventNodeDataChanged:
		fireAll(t.data[p], ev)
		fireAll(t.exist[p], ev)
		delete(t.data, p)
		delete(t.exist, p)
	case jute.EventNodeDeleted:
		fireAll(t.data[p], ev)
		fireAll(t.exist[p], ev)
		fireAll(t.child[p], ev)
		delete(t.data, p)
		delete(t.exist, p)
		delete(t.child, p)
	case jute.EventNodeChildrenChanged:
		fireAll(t.child[p], ev)
		delete(t.child, p)
	default:
		return
	}
	for _, pw := range t.persistent[p] {
		pw.push(ev)
	}
	if len(t.recursive) == 0 {
		return
	}
	// A recursive watcher on any ancestor (or the path itself) sees the
	// event; like the Java client this includes NodeChildrenChanged, which
	// the server only sends because some other watch asked for it.
	for anc := p; ; anc = parent(anc) {
		for _, pw := range t.recursive[anc] {
			pw.push(ev)
		}
		if anc == "/" || anc == "" {
			break
		}
	}
}

// parent returns the parent of a path: "/a/b" -> "/a", "/a" -> "/".
func parent(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}

// stateChange tells persistent watchers about a connection state change, as
// the Java client tells every watcher; one-shot watchers stay registered and
// hear nothing until their event (or the end of the session).
func (t *watchTable) stateChange(state int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := Event{Type: jute.EventNone, State: state}
	for _, ws := range t.persistent {
		for _, pw := range ws {
			pw.push(ev)
		}
	}
	for _, ws := range t.recursive {
		for _, pw := range ws {
			pw.push(ev)
		}
	}
}

// closeAll ends every watch with ev (the session is over).
func (t *watchTable) closeAll(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.end != nil {
		return
	}
	t.end = &ev
	for _, table := range []map[string][]chan Event{t.data, t.exist, t.child} {
		for p, chs := range table {
			e := ev
			e.Path = p
			fireAll(chs, e)
			delete(table, p)
		}
	}
	for _, table := range []map[string][]*PersistentWatch{t.persistent, t.recursive} {
		for p, ws := range table {
			e := ev
			e.Path = p
			for _, pw := range ws {
				pw.end(e)
			}
			delete(table, p)
		}
	}
}

// removeLocked drops the local watchers that a successful removeWatches of
// watcherType removed on the server, telling each with a *WatchRemoved
// event (ZKWatchManager.removeWatcher with a null watcher).
func (t *watchTable) removeLocked(path string, watcherType int32) {
	dataRemoved := Event{Type: jute.EventDataWatchRemoved, State: jute.StateSyncConnected, Path: path}
	childRemoved := Event{Type: jute.EventChildWatchRemoved, State: jute.StateSyncConnected, Path: path}
	switch watcherType {
	case jute.WatcherChildren:
		fireAll(t.child[path], childRemoved)
		delete(t.child, path)
	case jute.WatcherData:
		fireAll(t.data[path], dataRemoved)
		fireAll(t.exist[path], dataRemoved)
		delete(t.data, path)
		delete(t.exist, path)
	case jute.WatcherAny:
		fireAll(t.child[path], childRemoved)
		fireAll(t.data[path], dataRemoved)
		fireAll(t.exist[path], dataRemoved)
		delete(t.child, path)
		delete(t.data, path)
		delete(t.exist, path)
		removed := Event{Type: jute.EventPersistentWatchRemoved, State: jute.StateSyncConnected, Path: path}
		for _, pw := range t.persistent[path] {
			pw.end(removed)
		}
		for _, pw := range t.recursive[path] {
			pw.end(removed)
		}
		delete(t.persistent, path)
		delete(t.recursive, path)
	}
}

// dropPersistent removes pw from its table. It reports whether pw was
// registered and whether no other watcher of any kind remains on its path.
func (t *watchTable) dropPersistent(pw *PersistentWatch) (found, last bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	table := t.persistent
	if pw.recursive {
		table = t.recursive
	}
	ws := table[pw.path]
	for i, w := range ws {
		if w == pw {
			ws = append(ws[:i:i], ws[i+1:]...)
			found = true
			break
		}
	}
	if len(ws) == 0 {
		delete(table, pw.path)
	} else {
		table[pw.path] = ws
	}
	p := pw.path
	last = len(t.data[p]) == 0 && len(t.exist[p]) == 0 && len(t.child[p]) == 0 &&
		len(t.persistent[p]) == 0 && len(t.recursive[p]) == 0
	return found, last
}

// watchLists is what setWatches2 re-registers after a reconnect.
type watchLists struct {
	data, exist, child, persistent, recursive []string
}

func (l *watchLists) empty() bool {
	return len(l.data)+len(l.exist)+len(l.child)+len(l.persistent)+len(l.recursive) == 0
}

func (t *watchTable) lists() watchLists {
	t.mu.Lock()
	defer t.mu.Unlock()
	var l watchLists
	for p := range t.data {
		l.data = append(l.data, p)
	}
	for p := range t.exist {
		l.exist = append(l.exist, p)
	}
	for p := range t.child {
		l.child = append(l.child, p)
	}
	for p := range t.persistent {
		l.persistent = append(l.persistent, p)
	}
	for p := range t.recursive {
		l.recursive = append(l.recursive, p)
	}
	return l
}

// maxSetWatchesBytes caps the paths in one setWatches packet, as the Java
// client does (SET_WATCHES_MAX_LENGTH), so the packet stays well inside the
// server's jute.maxbuffer.
const maxSetWatchesBytes = 128 << 10

// setWatchesBatches splits l into setWatches2 records of at most about
// maxSetWatchesBytes of paths each (a batch may exceed it by its last path).
func setWatchesBatches(l watchLists, relativeZxid int64) []*jute.SetWatchesRequest {
	lists := [][]string{l.data, l.exist, l.child, l.persistent, l.recursive}
	var out []*jute.SetWatchesRequest
	for k := 0; k < len(lists); {
		req := &jute.SetWatchesRequest{RelativeZxid: relativeZxid, V2: true}
		dst := []*[]string{&req.DataWatches, &req.ExistWatches, &req.ChildWatches,
			&req.PersistentWatches, &req.PersistentRecursive}
		size, n := 0, 0
		for size < maxSetWatchesBytes && k < len(lists) {
			if len(lists[k]) == 0 {
				k++
				continue
			}
			p := lists[k][0]
			lists[k] = lists[k][1:]
			*dst[k] = append(*dst[k], p)
			size += len(p)
			n++
		}
		// The server reads null vectors as empty, but send empty ones as the
		// Java client does.
		for _, d := range dst {
			if *d == nil {
				*d = []string{}
			}
		}
		if n > 0 {
			out = append(out, req)
		}
	}
	return out
}

// PersistentWatch is a watch added with AddWatch. It stays registered,
// across reconnects, until Remove or the end of the session.
//
// Its channel receives every node event the watch matches, plus the
// connection state changes (Type jute.EventNone, State StateDisconnected
// and StateSyncConnected): events that happen while disconnected are not
// replayed by the server, so a reconnect means "re-read what you care
// about". The last event is PersistentWatchRemoved or the end of the
// session (Err set); then the channel is closed. Events queue without bound
// until read, so read the channel until it is closed.
type PersistentWatch struct {
	c         *Client
	path      string
	recursive bool
	ch        chan Event

	mu      sync.Mutex
	queue   []Event // events waiting for room in ch, oldest first
	pumping bool    // a goroutine is moving queue into ch
	ended   bool
}

// persistentBuffer is how many events a persistent watch holds before a
// goroutine takes over delivery.
const persistentBuffer = 16

func newPersistentWatch(c *Client, path string, recursive bool) *PersistentWatch {
	return &PersistentWatch{c: c, path: path, recursive: recursive, ch: make(chan Event, persistentBuffer)}
}

// Events returns the watch's event channel.
func (w *PersistentWatch) Events() <-chan Event { return w.ch }

// Path returns the watched path.
func (w *PersistentWatch) Path() string { return w.path }

// Recursive reports whether the watch covers the whole subtree.
func (w *PersistentWatch) Recursive() bool { return w.recursive }

// Remove ends the watch: its channel receives PersistentWatchRemoved and is
// closed. The server-side watch is removed (removeWatches, type Any) only
// when no other watcher of this client remains on the path, since the server
// keeps one watch per connection and path; otherwise the server keeps
// sending events that the client drops. Removing a watch that already ended
// is not an error.
func (w *PersistentWatch) Remove(ctx context.Context) error {
	found, last := w.c.watches.dropPersistent(w)
	if !found {
		return nil
	}
	w.end(Event{Type: jute.EventPersistentWatchRemoved, State: jute.StateSyncConnected, Path: w.path})
	if !last {
		return nil
	}
	err := w.c.removeWatches(ctx, jute.OpRemoveWatches, w.path, jute.WatcherAny, false)
	if errors.Is(err, jute.ErrNoWatcher) {
		return nil
	}
	return err
}

// push delivers ev without blocking: straight into the channel when it has
// room and nothing is queued ahead, else onto the queue that a goroutine
// drains.
func (w *PersistentWatch) push(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	w.pushLocked(ev)
}

func (w *PersistentWatch) pushLocked(ev Event) {
	if !w.pumping && len(w.queue) == 0 {
		select {
		case w.ch <- ev:
			return
		default:
		}
	}
	w.queue = append(w.queue, ev)
	if !w.pumping {
		w.pumping = true
		go w.pump()
	}
}

// end delivers ev as the last event and closes the channel after it.
func (w *PersistentWatch) end(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	w.ended = true
	w.pushLocked(ev)
	if !w.pumping {
		close(w.ch)
	}
}

func (w *PersistentWatch) pump() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.pumping = false
			if w.ended {
				close(w.ch)
			}
			w.mu.Unlock()
			return
		}
		ev := w.queue[0]
		w.queue[0] = Event{}
		w.queue = w.queue[1:]
		w.mu.Unlock()
		w.ch <- ev
	}
}
