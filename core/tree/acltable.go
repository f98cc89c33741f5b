package tree

import (
	"strconv"
	"strings"

	"github.com/zkx-project/zkx/core/acl"
)

// aclRef indexes the tree's ACL table. Nodes share identical ACL lists, as
// ZooKeeper's ReferenceCountedACLCache does: a million nodes with the default
// ACL hold one list.
type aclRef uint32

type aclEntry struct {
	acls  []acl.ACL
	key   string
	count int
}

type aclTable struct {
	entries []aclEntry
	byKey   map[string]aclRef
	free    []aclRef
}

func (t *aclTable) init() {
	t.byKey = make(map[string]aclRef)
}

func aclKey(acls []acl.ACL) string {
	var b strings.Builder
	for _, a := range acls {
		b.WriteString(strconv.Itoa(int(a.Perms)))
		b.WriteByte(0)
		b.WriteString(a.Scheme)
		b.WriteByte(0)
		b.WriteString(a.ID)
		b.WriteByte(0)
	}
	return b.String()
}

// ref returns a reference to acls, adding one use.
func (t *aclTable) ref(acls []acl.ACL) aclRef {
	key := aclKey(acls)
	if r, ok := t.byKey[key]; ok {
		t.entries[r].count++
		return r
	}
	cp := append([]acl.ACL(nil), acls...)
	e := aclEntry{acls: cp, key: key, count: 1}
	var r aclRef
	if n := len(t.free); n > 0 {
		r = t.free[n-1]
		t.free = t.free[:n-1]
		t.entries[r] = e
	} else {
		r = aclRef(len(t.entries))
		t.entries = append(t.entries, e)
	}
	t.byKey[key] = r
	return r
}

// release drops one use of r.
func (t *aclTable) release(r aclRef) {
	e := &t.entries[r]
	e.count--
	if e.count == 0 {
		delete(t.byKey, e.key)
		*e = aclEntry{}
		t.free = append(t.free, r)
	}
}

func (t *aclTable) get(r aclRef) []acl.ACL { return t.entries[r].acls }

// size returns the number of distinct ACL lists in use.
func (t *aclTable) size() int { return len(t.byKey) }
