// Package tree is the znode tree: data, Stat, ACLs, children, sequence
// counters, ephemerals by session, containers and TTL nodes, and Apply, which
// applies one committed txn exactly as ZooKeeper's DataTree.processTxn does.
//
// A Tree is not safe for concurrent use: its owner serialises Apply against
// reads (core/server holds a RWMutex; reads may run in parallel with each
// other). Returned data slices are never modified in place and may be kept.
package tree

import (
	"sort"
	"strings"
	"sync/atomic"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/txn"
)

// Stat is a node's metadata as clients see it; its layout equals jute.Stat,
// so callers convert between them for free.
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// node is one znode. Fields are ordered to keep the struct at 96 bytes.
type node struct {
	czxid, mzxid, pzxid int64
	ctime, mtime        int64
	owner               int64
	version, cversion   int32
	aversion            int32
	acl                 aclRef
	data                []byte
	kids                *children
}

// children holds a node's children by name, and a sorted listing built on
// first read after a change (readers share the tree under a read lock, so
// the cache is an atomic pointer).
type children struct {
	m      map[string]*node
	sorted atomic.Pointer[[]string]
}

func (n *node) numChildren() int {
	if n.kids == nil {
		return 0
	}
	return len(n.kids.m)
}

func (n *node) child(name string) *node {
	if n.kids == nil {
		return nil
	}
	return n.kids.m[name]
}

func (n *node) addChild(name string, c *node) {
	if n.kids == nil {
		n.kids = &children{m: make(map[string]*node, 1)}
	}
	n.kids.m[strings.Clone(name)] = c
	n.kids.sorted.Store(nil)
}

func (n *node) removeChild(name string) {
	if n.kids == nil {
		return
	}
	delete(n.kids.m, name)
	n.kids.sorted.Store(nil)
	if len(n.kids.m) == 0 {
		n.kids = nil
	}
}

// rawStat is the stored Stat: Cversion counts child creations (it numbers
// sequential children) and EphemeralOwner keeps the container and TTL
// markers.
func (n *node) rawStat() Stat {
	return Stat{
		Czxid: n.czxid, Mzxid: n.mzxid, Ctime: n.ctime, Mtime: n.mtime,
		Version: n.version, Cversion: n.cversion, Aversion: n.aversion,
		EphemeralOwner: n.owner, DataLength: int32(len(n.data)),
		NumChildren: int32(n.numChildren()), Pzxid: n.pzxid,
	}
}

// stat is the Stat clients see, as ZooKeeper's DataNode.copyStat makes it:
// Cversion counts child creations and deletions (2 x creations - children
// left), and containers and TTL nodes show EphemeralOwner 0.
func (n *node) stat() Stat {
	return ClientStat(n.rawStat())
}

// ClientStat turns a stored Stat into the one clients see.
func ClientStat(st Stat) Stat {
	st.Cversion = st.Cversion*2 - st.NumChildren
	if container, ttl, _ := ownerKind(st.EphemeralOwner); container || ttl {
		st.EphemeralOwner = 0
	}
	return st
}

// sortedChildren returns the children's names in byte order. The slice is
// shared: callers must not modify it.
func (n *node) sortedChildren() []string {
	if n.kids == nil {
		return []string{}
	}
	if p := n.kids.sorted.Load(); p != nil {
		return *p
	}
	names := make([]string, 0, len(n.kids.m))
	for name := range n.kids.m {
		names = append(names, name)
	}
	sort.Strings(names)
	n.kids.sorted.Store(&names)
	return names
}

// Special paths that exist in every tree and that clients may not delete or
// replace (DataTree.isSpecialPath).
const (
	ZookeeperPath = "/zookeeper"
	QuotaPath     = "/zookeeper/quota"
	ConfigPath    = "/zookeeper/config"
)

// IsSpecialPath reports whether path is one of the system nodes.
func IsSpecialPath(path string) bool {
	return path == "/" || path == ZookeeperPath || path == QuotaPath || path == ConfigPath
}

// Tree is the znode tree.
type Tree struct {
	root       *node
	count      int // nodes including the root
	acls       aclTable
	ephemerals map[int64]map[string]struct{}
	containers map[string]struct{}
	ttls       map[string]struct{}
	lastZxid   int64
	dataBytes  int64 // sum of path and data lengths, as mntr's approximate_data_size
}

// New returns a tree holding the system nodes exactly as a fresh ZooKeeper
// 3.8 server shows them: "/", "/zookeeper", "/zookeeper/quota" and
// "/zookeeper/config" (read-only), with empty data. The system nodes were
// not created by txns, so their stored cversion is 0 and clients see
// 0 x 2 - children (-1 for "/", -2 for "/zookeeper"), and
// /zookeeper/config has aversion -1, as in ZooKeeper.
func New() *Tree {
	t := &Tree{
		ephemerals: make(map[int64]map[string]struct{}),
		containers: make(map[string]struct{}),
		ttls:       make(map[string]struct{}),
	}
	t.acls.init()
	t.root = &node{acl: t.acls.ref(acl.OpenUnsafe), data: []byte{}}
	zk := &node{acl: t.acls.ref(acl.OpenUnsafe), data: []byte{}}
	t.root.addChild("zookeeper", zk)
	zk.addChild("quota", &node{acl: t.acls.ref(acl.OpenUnsafe), data: []byte{}})
	zk.addChild("config", &node{acl: t.acls.ref(acl.ReadUnsafe), data: []byte{}, aversion: -1})
	t.count = 4
	t.dataBytes = int64(len(ZookeeperPath) + len(QuotaPath) + len(ConfigPath))
	return t
}

// SetConfig puts an ensemble's membership in /zookeeper/config, as each
// ZooKeeper server does from its own configuration ("server.N=...\n"
// lines and "version=0"): not a txn, so its version stays -1 and its mtime
// is when it was set.
func (t *Tree) SetConfig(data []byte, mtime int64) {
	n := t.lookup(ConfigPath)
	if n == nil {
		return
	}
	t.dataBytes += int64(len(data) - len(n.data))
	n.data = append([]byte(nil), data...)
	n.version = -1
	n.mtime = mtime
}

// lookup walks from the root to path. Paths must be absolute; "" and paths
// that do not start with "/" find nothing.
func (t *Tree) lookup(path string) *node {
	if path == "/" {
		return t.root
	}
	if len(path) < 2 || path[0] != '/' {
		return nil
	}
	n := t.root
	rest := path[1:]
	for n != nil {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return n.child(rest)
		}
		n = n.child(rest[:i])
		rest = rest[i+1:]
	}
	return nil
}

// splitPath returns the parent path and the last component of path.
func splitPath(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/", path[i+1:]
	}
	return path[:i], path[i+1:]
}

// LastZxid is the zxid of the last txn applied.
func (t *Tree) LastZxid() int64 { return t.lastZxid }

// SetLastZxid sets the last applied zxid (after loading a snapshot).
func (t *Tree) SetLastZxid(z int64) { t.lastZxid = z }

// NodeCount returns the number of nodes, the root included.
func (t *Tree) NodeCount() int { return t.count }

// ApproximateDataSize is the sum of the paths' and data's lengths.
func (t *Tree) ApproximateDataSize() int64 { return t.dataBytes }

// Exists returns the node's Stat.
func (t *Tree) Exists(path string) (Stat, bool) {
	n := t.lookup(path)
	if n == nil {
		return Stat{}, false
	}
	return n.stat(), true
}

// Get returns the node's data and Stat.
func (t *Tree) Get(path string) ([]byte, Stat, bool) {
	n := t.lookup(path)
	if n == nil {
		return nil, Stat{}, false
	}
	return n.data, n.stat(), true
}

// Children returns the node's children in byte order (a shared slice that
// must not be modified) and its Stat.
func (t *Tree) Children(path string) ([]string, Stat, bool) {
	n := t.lookup(path)
	if n == nil {
		return nil, Stat{}, false
	}
	return n.sortedChildren(), n.stat(), true
}

// NumChildren returns the node's child count.
func (t *Tree) NumChildren(path string) (int, bool) {
	n := t.lookup(path)
	if n == nil {
		return 0, false
	}
	return n.numChildren(), true
}

// HasChild reports whether the node at parent has a child called name.
func (t *Tree) HasChild(parent, name string) bool {
	n := t.lookup(parent)
	return n != nil && n.child(name) != nil
}

// ACL returns the node's ACL (shared, not to be modified) and Stat.
func (t *Tree) ACL(path string) ([]acl.ACL, Stat, bool) {
	n := t.lookup(path)
	if n == nil {
		return nil, Stat{}, false
	}
	return t.acls.get(n.acl), n.stat(), true
}

// Node returns everything about one node at once: data, Stat and ACL.
func (t *Tree) Node(path string) (data []byte, st Stat, acls []acl.ACL, ok bool) {
	n := t.lookup(path)
	if n == nil {
		return nil, Stat{}, nil, false
	}
	return n.data, n.stat(), t.acls.get(n.acl), true
}

// RawNode is Node with the stored Stat (see rawStat), for prep.
func (t *Tree) RawNode(path string) (data []byte, st Stat, acls []acl.ACL, ok bool) {
	n := t.lookup(path)
	if n == nil {
		return nil, Stat{}, nil, false
	}
	return n.data, n.rawStat(), t.acls.get(n.acl), true
}

// AllChildrenNumber counts the node's descendants.
func (t *Tree) AllChildrenNumber(path string) (int, bool) {
	n := t.lookup(path)
	if n == nil {
		return 0, false
	}
	if n == t.root {
		return t.count - 1, true
	}
	var count func(*node) int
	count = func(n *node) int {
		if n.kids == nil {
			return 0
		}
		c := len(n.kids.m)
		for _, k := range n.kids.m {
			c += count(k)
		}
		return c
	}
	return count(n), true
}

// Ephemerals returns the paths of session's ephemeral nodes, sorted.
func (t *Tree) Ephemerals(session int64) []string {
	set := t.ephemerals[session]
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// EphemeralSessions returns every session that owns ephemerals, with counts.
func (t *Tree) EphemeralSessions() map[int64]int {
	out := make(map[int64]int, len(t.ephemerals))
	for s, set := range t.ephemerals {
		out[s] = len(set)
	}
	return out
}

// EphemeralCount returns the number of ephemeral nodes.
func (t *Tree) EphemeralCount() int {
	c := 0
	for _, set := range t.ephemerals {
		c += len(set)
	}
	return c
}

// Containers returns the container nodes' paths.
func (t *Tree) Containers() []string { return setToSorted(t.containers) }

// TTLs returns the TTL nodes' paths.
func (t *Tree) TTLs() []string { return setToSorted(t.ttls) }

func setToSorted(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Walk calls fn for every node in depth-first order, parents before
// children and siblings in byte order, with the stored Stat. fn must not
// modify the tree.
func (t *Tree) Walk(fn func(path string, data []byte, st Stat, acls []acl.ACL) bool) {
	var walk func(path string, n *node) bool
	walk = func(path string, n *node) bool {
		if !fn(path, n.data, n.rawStat(), t.acls.get(n.acl)) {
			return false
		}
		prefix := path
		if prefix != "/" {
			prefix += "/"
		}
		for _, name := range n.sortedChildren() {
			if !walk(prefix+name, n.kids.m[name]) {
				return false
			}
		}
		return true
	}
	walk("/", t.root)
}

// ownerKind classifies an ephemeralOwner value.
func ownerKind(owner int64) (container, ttl, ephemeral bool) {
	if owner == 0 {
		return false, false, false
	}
	if owner == txn.ContainerOwner {
		return true, false, false
	}
	if _, ok := txn.IsTTLOwner(owner); ok {
		return false, true, false
	}
	return false, false, true
}
