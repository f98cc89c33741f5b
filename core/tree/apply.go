package tree

import (
	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/txn"
)

// Watch event types produced by Apply; values equal ZooKeeper's EventType.
const (
	EventNodeCreated         int32 = 1
	EventNodeDeleted         int32 = 2
	EventNodeDataChanged     int32 = 3
	EventNodeChildrenChanged int32 = 4
)

// Event is a change that may trigger watches. ACL is the ACL of the node the
// event names (for NodeChildrenChanged, the parent's), so delivery can be
// limited to sessions that may read it.
type Event struct {
	Type int32
	Path string
	ACL  []acl.ACL
	Zxid int64
}

// ZooKeeper error codes that Apply can report (jute.Err values).
const (
	errOK                   int32 = 0
	errRuntimeInconsistency int32 = -2
	errNoNode               int32 = -101
	errNodeExists           int32 = -110
	errNotEmpty             int32 = -111
)

// Result is the outcome of applying one op, from which the server builds
// the reply: Err is 0 or a ZooKeeper error code; Path is the node touched
// (for create, the name created); Stat is the node's Stat after a create,
// setData or setACL; Multi holds a multi's per-op results.
type Result struct {
	Type  txn.Type
	Err   int32
	Path  string
	Stat  Stat
	Multi []Result
}

// Apply applies one txn and appends the watch events it causes to events.
// A txn that does not fit the tree (a create whose parent is missing, say)
// changes nothing and reports the error in the Result; this only happens
// when replaying a log over a snapshot that already holds the change.
func (t *Tree) Apply(x *txn.Txn, events []Event) (Result, []Event) {
	res, events := t.applyOp(x, x.Op, events)
	if x.Zxid > t.lastZxid {
		t.lastZxid = x.Zxid
	}
	return res, events
}

func (t *Tree) applyOp(x *txn.Txn, op txn.Op, events []Event) (Result, []Event) {
	res := Result{Type: op.Type(), Path: txn.Path(op)}
	switch o := op.(type) {
	case *txn.Create:
		res.Stat, res.Err, events = t.createNode(o, x.Zxid, x.Time, events)
	case *txn.Delete:
		res.Err, events = t.deleteNode(o.Path, x.Zxid, events)
	case *txn.SetData:
		res.Stat, res.Err, events = t.setData(o, x.Zxid, x.Time, events)
	case *txn.SetACL:
		res.Stat, res.Err = t.setACL(o)
	case *txn.Check:
	case *txn.Error:
		res.Err = o.Code
	case *txn.Multi:
		res.Multi, events = t.applyMulti(x, o, events)
		for _, r := range res.Multi {
			if r.Err != 0 {
				res.Err = r.Err
				break
			}
		}
	case *txn.CloseSession:
		events = t.killSession(x.Session, o.Paths, x.Zxid, events)
	case *txn.CreateSession, *txn.RecipeResult, *txn.SetSessionOwner:
	}
	return res, events
}

// applyMulti applies every op of m, or, if m holds an Error op, none: each
// op then reports OK if it came before the failure, its own code if it
// failed, and RuntimeInconsistency after it, as ZooKeeper reports them.
func (t *Tree) applyMulti(x *txn.Txn, m *txn.Multi, events []Event) ([]Result, []Event) {
	results := make([]Result, 0, len(m.Ops))
	failed := false
	for _, op := range m.Ops {
		if op.Type() == txn.TypeError {
			failed = true
			break
		}
	}
	if failed {
		postFailed := false
		for _, op := range m.Ops {
			r := Result{Type: txn.TypeError, Path: txn.Path(op)}
			if e, ok := op.(*txn.Error); ok {
				r.Err = e.Code
				postFailed = true
			} else if postFailed {
				r.Err = errRuntimeInconsistency
			}
			results = append(results, r)
		}
		return results, events
	}
	for _, op := range m.Ops {
		var r Result
		r, events = t.applyOp(x, op, events)
		results = append(results, r)
	}
	return results, events
}

func (t *Tree) createNode(c *txn.Create, zxid, time int64, events []Event) (Stat, int32, []Event) {
	parentPath, name := splitPath(c.Path)
	parent := t.lookup(parentPath)
	if parent == nil {
		return Stat{}, errNoNode, events
	}
	if parent.child(name) != nil {
		// Only when replaying the log over a fuzzy snapshot that already
		// holds the node: the parent may still miss the create's counters
		// (ZooKeeper's setCversionPzxid).
		if c.ParentCversion > parent.cversion {
			parent.cversion = c.ParentCversion
			parent.pzxid = zxid
		}
		return Stat{}, errNodeExists, events
	}
	cv := c.ParentCversion
	if cv == -1 {
		cv = parent.cversion + 1
	}
	if cv > parent.cversion {
		parent.cversion = cv
		parent.pzxid = zxid
	}
	n := &node{
		czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: time, mtime: time,
		owner: c.Owner, data: c.Data, acl: t.acls.ref(c.ACL),
	}
	parent.addChild(name, n)
	t.count++
	t.dataBytes += int64(len(c.Path) + len(c.Data))
	container, ttl, ephemeral := ownerKind(c.Owner)
	switch {
	case container:
		t.containers[c.Path] = struct{}{}
	case ttl:
		t.ttls[c.Path] = struct{}{}
	case ephemeral:
		set := t.ephemerals[c.Owner]
		if set == nil {
			set = make(map[string]struct{})
			t.ephemerals[c.Owner] = set
		}
		set[c.Path] = struct{}{}
	}
	events = append(events,
		Event{Type: EventNodeCreated, Path: c.Path, ACL: t.acls.get(n.acl), Zxid: zxid},
		Event{Type: EventNodeChildrenChanged, Path: parentPath, ACL: t.acls.get(parent.acl), Zxid: zxid})
	return n.stat(), errOK, events
}

func (t *Tree) deleteNode(path string, zxid int64, events []Event) (int32, []Event) {
	parentPath, name := splitPath(path)
	parent := t.lookup(parentPath)
	if parent == nil {
		return errNoNode, events
	}
	n := parent.child(name)
	if n == nil {
		// Replay over a fuzzy snapshot that missed the node: the parent
		// still records the delete.
		if zxid > parent.pzxid {
			parent.pzxid = zxid
		}
		return errNoNode, events
	}
	// A node with children is never deleted: prep refuses it, and this
	// keeps a replayed log from orphaning a subtree.
	if n.numChildren() > 0 {
		return errNotEmpty, events
	}
	parent.removeChild(name)
	if zxid > parent.pzxid {
		parent.pzxid = zxid
	}
	nodeACL := t.acls.get(n.acl)
	t.acls.release(n.acl)
	t.count--
	t.dataBytes -= int64(len(path) + len(n.data))
	container, ttl, ephemeral := ownerKind(n.owner)
	switch {
	case container:
		delete(t.containers, path)
	case ttl:
		delete(t.ttls, path)
	case ephemeral:
		if set := t.ephemerals[n.owner]; set != nil {
			delete(set, path)
			if len(set) == 0 {
				delete(t.ephemerals, n.owner)
			}
		}
	}
	events = append(events,
		Event{Type: EventNodeDeleted, Path: path, ACL: nodeACL, Zxid: zxid},
		Event{Type: EventNodeChildrenChanged, Path: parentPath, ACL: t.acls.get(parent.acl), Zxid: zxid})
	return errOK, events
}

func (t *Tree) setData(s *txn.SetData, zxid, time int64, events []Event) (Stat, int32, []Event) {
	n := t.lookup(s.Path)
	if n == nil {
		return Stat{}, errNoNode, events
	}
	t.dataBytes += int64(len(s.Data) - len(n.data))
	n.data = s.Data
	n.mtime = time
	n.mzxid = zxid
	n.version = s.Version
	events = append(events, Event{Type: EventNodeDataChanged, Path: s.Path, ACL: t.acls.get(n.acl), Zxid: zxid})
	return n.stat(), errOK, events
}

func (t *Tree) setACL(s *txn.SetACL) (Stat, int32) {
	n := t.lookup(s.Path)
	if n == nil {
		return Stat{}, errNoNode
	}
	old := n.acl
	n.acl = t.acls.ref(s.ACL)
	t.acls.release(old)
	n.aversion = s.Version
	return n.stat(), errOK
}

// killSession deletes the ephemerals listed in the txn and any others the
// session still owns.
func (t *Tree) killSession(session int64, paths []string, zxid int64, events []Event) []Event {
	for _, p := range paths {
		_, events = t.deleteNode(p, zxid, events)
	}
	for _, p := range t.Ephemerals(session) {
		_, events = t.deleteNode(p, zxid, events)
	}
	delete(t.ephemerals, session)
	return events
}
