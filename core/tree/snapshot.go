package tree

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"strings"

	"github.com/zkx-project/zkx/core/acl"
)

// Snapshot body format (inside the wal's compressed frame; part of the
// on-disk format):
//
//	body     = "ZKXT" version:uvarint(1) sessions nodes
//	sessions = count:uvarint { id:varint timeout:varint password:bytes owner:varint }
//	nodes    = { node } 0
//	node     = pathlen:uvarint(>0) path acl czxid mzxid pzxid ctime mtime
//	           version cversion aversion owner (all varint) data
//	acl      = index:uvarint, then if index == table size, a new list:
//	           count:uvarint { perms:varint scheme:string id:string }
//	bytes    = uvarint(len+1) data (0 encodes nil); string = uvarint(len) data
//
// Nodes come parents first (depth-first, children in byte order); Cversion
// and EphemeralOwner are the stored values (see rawStat).

const snapshotMagic = "ZKXT"

var crcTable64 = crc64.MakeTable(crc64.ECMA)

// SnapshotSession is a session as a snapshot records it.
type SnapshotSession struct {
	ID       int64
	Timeout  int32
	Password []byte
	Owner    int64
}

// nodeHash is one node's contribution to a digest.
func nodeHash(path string, data []byte, st Stat) uint64 {
	var b [9 * 8]byte
	for i, v := range []int64{st.Czxid, st.Mzxid, st.Pzxid, st.Ctime, st.Mtime,
		int64(st.Version), int64(st.Cversion), int64(st.Aversion), st.EphemeralOwner} {
		binary.LittleEndian.PutUint64(b[i*8:], uint64(v))
	}
	h := crc64.Update(0, crcTable64, []byte(path))
	h = crc64.Update(h, crcTable64, data)
	h = crc64.Update(h, crcTable64, b[:])
	return h*0x9e3779b97f4a7c15 + uint64(len(path)) // spread before summing
}

// Digest is an order-independent hash of every node's path, data and stored
// Stat: two trees have the same digest when they hold the same nodes.
func (t *Tree) Digest() uint64 {
	var sum uint64
	t.Walk(func(path string, data []byte, st Stat, _ []acl.ACL) bool {
		sum += nodeHash(path, data, st)
		return true
	})
	return sum
}

// SnapshotWriter writes a snapshot of a tree that may change between calls
// to Next: each call writes up to n nodes and needs the tree only for its
// duration (the caller holds the tree's read lock around it). Changes made
// between calls may or may not be in the snapshot; replaying the log from
// the zxid the snapshot started at repairs that.
type SnapshotWriter struct {
	w        *bufio.Writer
	stack    []snapFrame
	acls     map[aclRef]uint64 // ACL list -> index in the snapshot's table
	aclLists [][]acl.ACL
	nodes    int64
	digest   uint64
	buf      []byte
	done     bool
}

func sameACL(a, b []acl.ACL) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type snapFrame struct {
	prefix string   // the parent's path with a trailing slash
	kids   []string // the parent's children (a shared, immutable listing)
	next   int
}

// NewSnapshotWriter starts a snapshot on w with the given sessions.
func NewSnapshotWriter(w io.Writer, sessions []SnapshotSession) (*SnapshotWriter, error) {
	sw := &SnapshotWriter{w: bufio.NewWriterSize(w, 1<<16), acls: make(map[aclRef]uint64)}
	b := append([]byte(snapshotMagic), 1)
	b = binary.AppendUvarint(b, uint64(len(sessions)))
	for _, s := range sessions {
		b = binary.AppendVarint(b, s.ID)
		b = binary.AppendVarint(b, int64(s.Timeout))
		b = appendBytes(b, s.Password)
		b = binary.AppendVarint(b, s.Owner)
	}
	if _, err := sw.w.Write(b); err != nil {
		return nil, err
	}
	sw.stack = []snapFrame{{prefix: "", kids: []string{"/"}}}
	return sw, nil
}

// Nodes and Digest describe what was written so far.
func (sw *SnapshotWriter) Nodes() int64   { return sw.nodes }
func (sw *SnapshotWriter) Digest() uint64 { return sw.digest }

// Next writes up to n more nodes of t and reports whether the snapshot is
// complete (then the body is flushed).
func (sw *SnapshotWriter) Next(t *Tree, n int) (bool, error) {
	if sw.done {
		return true, nil
	}
	for written := 0; written < n; {
		if len(sw.stack) == 0 {
			sw.done = true
			if _, err := sw.w.Write([]byte{0}); err != nil {
				return false, err
			}
			return true, sw.w.Flush()
		}
		top := &sw.stack[len(sw.stack)-1]
		if top.next >= len(top.kids) {
			sw.stack = sw.stack[:len(sw.stack)-1]
			continue
		}
		path := top.prefix + top.kids[top.next]
		top.next++
		node := t.lookup(path)
		if node == nil {
			continue // deleted since its parent was listed
		}
		if err := sw.writeNode(t, path, node); err != nil {
			return false, err
		}
		written++
		if node.kids != nil {
			prefix := path + "/"
			if path == "/" {
				prefix = "/"
			}
			sw.stack = append(sw.stack, snapFrame{prefix: prefix, kids: node.sortedChildren()})
		}
	}
	return false, nil
}

func (sw *SnapshotWriter) writeNode(t *Tree, path string, n *node) error {
	st := n.rawStat()
	b := sw.buf[:0]
	b = binary.AppendUvarint(b, uint64(len(path)))
	b = append(b, path...)
	// A reference names one list for the whole snapshot: the table never
	// reuses a reference while a node holds it, and the snapshot only ever
	// sees nodes that hold theirs (a list released and re-created between
	// chunks gets a new entry, which is harmless).
	acls := t.acls.get(n.acl)
	if idx, ok := sw.acls[n.acl]; ok && sameACL(sw.aclLists[idx], acls) {
		b = binary.AppendUvarint(b, idx)
	} else {
		idx = uint64(len(sw.aclLists))
		sw.acls[n.acl] = idx
		sw.aclLists = append(sw.aclLists, acls)
		b = binary.AppendUvarint(b, idx)
		b = binary.AppendUvarint(b, uint64(len(acls)))
		for _, a := range acls {
			b = binary.AppendVarint(b, int64(a.Perms))
			b = appendString(b, a.Scheme)
			b = appendString(b, a.ID)
		}
	}
	for _, v := range []int64{st.Czxid, st.Mzxid, st.Pzxid, st.Ctime, st.Mtime,
		int64(st.Version), int64(st.Cversion), int64(st.Aversion), st.EphemeralOwner} {
		b = binary.AppendVarint(b, v)
	}
	b = appendBytes(b, n.data)
	sw.buf = b
	sw.nodes++
	sw.digest += nodeHash(path, n.data, st)
	_, err := sw.w.Write(b)
	return err
}

func appendBytes(b, d []byte) []byte {
	if d == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(d))+1)
	return append(b, d...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ErrBadSnapshot reports a snapshot body that does not decode.
var ErrBadSnapshot = errors.New("tree: bad snapshot")

// SnapshotSummary describes a decoded snapshot.
type SnapshotSummary struct {
	Nodes    int64
	Digest   uint64
	Sessions []SnapshotSession
}

// ReadSnapshot decodes a snapshot body into a new tree whose LastZxid is
// zxid. The nodes' digest is returned so a caller can compare it with the
// one the writer recorded.
func ReadSnapshot(r io.Reader, zxid int64) (*Tree, SnapshotSummary, error) {
	var sum SnapshotSummary
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReader(r)
	}
	rd := &snapReader{r: br.(interface {
		io.ByteReader
		io.Reader
	})}
	magic := make([]byte, 4)
	rd.full(magic)
	if rd.err == nil && string(magic) != snapshotMagic {
		return nil, sum, fmt.Errorf("%w: magic %q", ErrBadSnapshot, magic)
	}
	if v := rd.uvarint(); rd.err == nil && v != 1 {
		return nil, sum, fmt.Errorf("%w: version %d", ErrBadSnapshot, v)
	}
	nsess := rd.count(1 << 24)
	for i := 0; i < nsess && rd.err == nil; i++ {
		s := SnapshotSession{ID: rd.varint(), Timeout: int32(rd.varint()), Password: rd.bytes(), Owner: rd.varint()}
		sum.Sessions = append(sum.Sessions, s)
	}
	t := &Tree{
		ephemerals: make(map[int64]map[string]struct{}),
		containers: make(map[string]struct{}),
		ttls:       make(map[string]struct{}),
	}
	t.acls.init()
	var table [][]acl.ACL
	for rd.err == nil {
		plen := rd.uvarint()
		if rd.err != nil || plen == 0 {
			break
		}
		if plen > 1<<20 {
			return nil, sum, fmt.Errorf("%w: path of %d bytes", ErrBadSnapshot, plen)
		}
		pb := make([]byte, plen)
		rd.full(pb)
		path := string(pb)
		idx := rd.uvarint()
		switch {
		case rd.err != nil:
		case idx == uint64(len(table)):
			n := rd.count(1 << 16)
			list := make([]acl.ACL, 0, n)
			for i := 0; i < n && rd.err == nil; i++ {
				list = append(list, acl.ACL{Perms: int32(rd.varint()), Scheme: rd.string(), ID: rd.string()})
			}
			table = append(table, list)
		case idx > uint64(len(table)):
			return nil, sum, fmt.Errorf("%w: ACL index %d of %d", ErrBadSnapshot, idx, len(table))
		}
		var v [9]int64
		for i := range v {
			v[i] = rd.varint()
		}
		data := rd.bytes()
		if rd.err != nil {
			break
		}
		n := &node{czxid: v[0], mzxid: v[1], pzxid: v[2], ctime: v[3], mtime: v[4],
			version: int32(v[5]), cversion: int32(v[6]), aversion: int32(v[7]), owner: v[8],
			data: data, acl: t.acls.ref(table[idx])}
		if err := t.insertLoaded(path, n); err != nil {
			return nil, sum, err
		}
		sum.Nodes++
		sum.Digest += nodeHash(path, data, n.rawStat())
	}
	if rd.err != nil {
		return nil, sum, fmt.Errorf("%w: %v", ErrBadSnapshot, rd.err)
	}
	if t.root == nil {
		return nil, sum, fmt.Errorf("%w: no root node", ErrBadSnapshot)
	}
	t.lastZxid = zxid
	return t, sum, nil
}

// insertLoaded adds a node read from a snapshot; its parent came before it.
func (t *Tree) insertLoaded(path string, n *node) error {
	if path == "/" {
		if t.root != nil {
			return fmt.Errorf("%w: root twice", ErrBadSnapshot)
		}
		t.root = n
		t.count = 1
		return nil
	}
	if t.root == nil || !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%w: node %q before the root", ErrBadSnapshot, path)
	}
	parentPath, name := splitPath(path)
	parent := t.lookup(parentPath)
	if parent == nil || name == "" || parent.child(name) != nil {
		return fmt.Errorf("%w: node %q without its parent, or twice", ErrBadSnapshot, path)
	}
	parent.addChild(name, n)
	t.count++
	t.dataBytes += int64(len(path) + len(n.data))
	container, ttl, ephemeral := ownerKind(n.owner)
	switch {
	case container:
		t.containers[path] = struct{}{}
	case ttl:
		t.ttls[path] = struct{}{}
	case ephemeral:
		set := t.ephemerals[n.owner]
		if set == nil {
			set = make(map[string]struct{})
			t.ephemerals[n.owner] = set
		}
		set[path] = struct{}{}
	}
	return nil
}

type snapReader struct {
	r interface {
		io.ByteReader
		io.Reader
	}
	err error
}

func (s *snapReader) full(b []byte) {
	if s.err == nil {
		_, s.err = io.ReadFull(s.r, b)
	}
}

func (s *snapReader) uvarint() uint64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(s.r)
	s.err = err
	return v
}

func (s *snapReader) varint() int64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(s.r)
	s.err = err
	return v
}

func (s *snapReader) count(max uint64) int {
	n := s.uvarint()
	if s.err == nil && n > max {
		s.err = fmt.Errorf("count %d over %d", n, max)
	}
	return int(n)
}

func (s *snapReader) string() string {
	n := s.count(1 << 20)
	b := make([]byte, n)
	s.full(b)
	return string(b)
}

func (s *snapReader) bytes() []byte {
	n := s.uvarint()
	if s.err != nil || n == 0 {
		return nil
	}
	if n > 64<<20 {
		s.err = fmt.Errorf("data of %d bytes", n-1)
		return nil
	}
	b := make([]byte, n-1)
	s.full(b)
	return b
}
