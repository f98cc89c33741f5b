package tree

import (
	"reflect"
	"testing"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/txn"
)

var open = acl.OpenUnsafe

type applier struct {
	t    *testing.T
	tr   *Tree
	zxid int64
}

func (a *applier) apply(session int64, op txn.Op) (Result, []Event) {
	a.zxid++
	return a.tr.Apply(&txn.Txn{Zxid: a.zxid, Session: session, Time: 1000 + a.zxid, Op: op}, nil)
}

func (a *applier) create(path string, data string, owner int64) Stat {
	a.t.Helper()
	parent, _ := splitPath(path)
	st, ok := a.tr.Exists(parent)
	if !ok {
		a.t.Fatalf("parent of %s missing", path)
	}
	res, _ := a.apply(0, &txn.Create{Path: path, Data: []byte(data), ACL: open, Owner: owner, ParentCversion: st.Cversion + 1})
	if res.Err != 0 {
		a.t.Fatalf("create %s: %d", path, res.Err)
	}
	return res.Stat
}

func TestNewTreeHasSystemNodes(t *testing.T) {
	tr := New()
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"} {
		if _, ok := tr.Exists(p); !ok {
			t.Fatalf("%s missing", p)
		}
	}
	if n, _ := tr.AllChildrenNumber("/"); n != 3 {
		t.Fatalf("AllChildrenNumber(/) = %d, want 3", n)
	}
	// The counters a fresh ZooKeeper 3.8 reports (checked against it by
	// transport/difftest).
	if st, _ := tr.Exists("/"); st.Cversion != -1 || st.NumChildren != 1 {
		t.Fatalf("root stat %+v", st)
	}
	if st, _ := tr.Exists("/zookeeper"); st.Cversion != -2 || st.NumChildren != 2 {
		t.Fatalf("/zookeeper stat %+v", st)
	}
	if _, st, _, _ := tr.RawNode("/"); st.Cversion != 0 {
		t.Fatalf("root's stored cversion %d: its first sequential child is numbered 0", st.Cversion)
	}
	if data, st, _ := tr.Get("/zookeeper/config"); data == nil || st.Aversion != -1 {
		t.Fatalf("/zookeeper/config: data %v stat %+v", data, st)
	}
}

func TestCreateStatAndParentCounters(t *testing.T) {
	a := &applier{t: t, tr: New()}
	st := a.create("/a", "hello", 0)
	want := Stat{Czxid: 1, Mzxid: 1, Pzxid: 1, Ctime: 1001, Mtime: 1001, DataLength: 5}
	if st != want {
		t.Fatalf("create stat %+v, want %+v", st, want)
	}
	a.create("/a/b", "", 0)
	a.create("/a/c", "", 0)
	pst, _ := a.tr.Exists("/a")
	if pst.Cversion != 2 || pst.Pzxid != 3 || pst.NumChildren != 2 || pst.Mzxid != 1 {
		t.Fatalf("parent stat after two creates: %+v", pst)
	}
	// Delete moves pzxid; the stored cversion counts creations only, and
	// clients see creations + deletions (2 x 2 - 1), as ZooKeeper shows it.
	res, events := a.apply(0, &txn.Delete{Path: "/a/b"})
	if res.Err != 0 {
		t.Fatal(res.Err)
	}
	pst, _ = a.tr.Exists("/a")
	if pst.Cversion != 3 || pst.Pzxid != 4 || pst.NumChildren != 1 {
		t.Fatalf("parent stat after delete: %+v", pst)
	}
	if _, raw, _, _ := a.tr.RawNode("/a"); raw.Cversion != 2 {
		t.Fatalf("stored cversion %d, want 2 (creations)", raw.Cversion)
	}
	if len(events) != 2 || events[0].Type != EventNodeDeleted || events[0].Path != "/a/b" ||
		events[1].Type != EventNodeChildrenChanged || events[1].Path != "/a" {
		t.Fatalf("delete events %+v", events)
	}
}

func TestSetDataAndACL(t *testing.T) {
	a := &applier{t: t, tr: New()}
	a.create("/x", "1", 0)
	res, events := a.apply(0, &txn.SetData{Path: "/x", Data: []byte("22"), Version: 1})
	if res.Err != 0 || res.Stat.Version != 1 || res.Stat.Mzxid != 2 || res.Stat.Czxid != 1 || res.Stat.DataLength != 2 {
		t.Fatalf("setData result %+v", res)
	}
	if len(events) != 1 || events[0].Type != EventNodeDataChanged {
		t.Fatalf("setData events %+v", events)
	}
	readOnly := []acl.ACL{{Perms: acl.Read, Scheme: "world", ID: "anyone"}}
	res, _ = a.apply(0, &txn.SetACL{Path: "/x", ACL: readOnly, Version: 1})
	if res.Err != 0 || res.Stat.Aversion != 1 || res.Stat.Mzxid != 2 {
		t.Fatalf("setACL result %+v", res)
	}
	got, _, _ := a.tr.ACL("/x")
	if !reflect.DeepEqual(got, readOnly) {
		t.Fatalf("ACL = %v", got)
	}
	// The ACL table shares lists and forgets unused ones.
	// (two lists for the system nodes: open and read-only)
	before := a.tr.acls.size()
	a.create("/y", "", 0)
	if n := a.tr.acls.size(); n != before {
		t.Fatalf("acl table grew to %d lists for a list it already held", n)
	}
	a.apply(0, &txn.SetACL{Path: "/x", ACL: []acl.ACL{{Perms: acl.Admin, Scheme: "world", ID: "anyone"}}, Version: 2})
	if n := a.tr.acls.size(); n != before+1 {
		t.Fatalf("acl table holds %d lists, want %d", n, before+1)
	}
	a.apply(0, &txn.Delete{Path: "/x"})
	if n := a.tr.acls.size(); n != before {
		t.Fatalf("acl table holds %d lists after delete, want %d", n, before)
	}
}

func TestSequentialParentCversion(t *testing.T) {
	a := &applier{t: t, tr: New()}
	a.create("/q", "", 0)
	// A create whose ParentCversion is behind the parent's does not move it
	// back (replay over a fuzzy snapshot).
	a.create("/q/a", "", 0)
	res, _ := a.apply(0, &txn.Create{Path: "/q/b", ACL: open, ParentCversion: 1})
	if res.Err != 0 {
		t.Fatal(res.Err)
	}
	_, st, _, _ := a.tr.RawNode("/q")
	if st.Cversion != 1 {
		t.Fatalf("cversion %d, want 1", st.Cversion)
	}
	res, _ = a.apply(0, &txn.Create{Path: "/q/c", ACL: open, ParentCversion: -1})
	_, st, _, _ = a.tr.RawNode("/q")
	if res.Err != 0 || st.Cversion != 2 {
		t.Fatalf("ParentCversion -1 must increment: %d %+v", res.Err, st)
	}
}

func TestMultiAllOrNothing(t *testing.T) {
	a := &applier{t: t, tr: New()}
	res, events := a.apply(0, &txn.Multi{Ops: []txn.Op{
		&txn.Create{Path: "/m1", ACL: open, ParentCversion: 1},
		&txn.Error{Code: -101},
		&txn.Error{Code: -2},
	}})
	if _, ok := a.tr.Exists("/m1"); ok || len(events) != 0 {
		t.Fatal("a failed multi must change nothing")
	}
	codes := []int32{res.Multi[0].Err, res.Multi[1].Err, res.Multi[2].Err}
	if !reflect.DeepEqual(codes, []int32{0, -101, -2}) || res.Err != -101 {
		t.Fatalf("failed multi codes %v (err %d); ZooKeeper reports 0, -101, -2", codes, res.Err)
	}
	res, _ = a.apply(0, &txn.Multi{Ops: []txn.Op{
		&txn.Create{Path: "/m1", ACL: open, ParentCversion: 1},
		&txn.SetData{Path: "/m1", Data: []byte("d"), Version: 1},
		&txn.Check{Path: "/m1", Version: 1},
	}})
	if res.Err != 0 || len(res.Multi) != 3 || res.Multi[1].Stat.Version != 1 {
		t.Fatalf("multi result %+v", res)
	}
	st, _ := a.tr.Exists("/m1")
	if st.Czxid != 2 || st.Mzxid != 2 || st.Version != 1 {
		t.Fatalf("all ops of a multi share its zxid: %+v", st)
	}
}

func TestEphemeralsContainersTTL(t *testing.T) {
	a := &applier{t: t, tr: New()}
	const sess = 0x1234
	a.create("/e1", "", sess)
	a.create("/e2", "", sess)
	a.create("/c", "", txn.ContainerOwner)
	a.create("/t", "", txn.TTLOwner(100))
	if got := a.tr.Ephemerals(sess); !reflect.DeepEqual(got, []string{"/e1", "/e2"}) {
		t.Fatalf("ephemerals %v", got)
	}
	if a.tr.EphemeralCount() != 2 || !reflect.DeepEqual(a.tr.Containers(), []string{"/c"}) || !reflect.DeepEqual(a.tr.TTLs(), []string{"/t"}) {
		t.Fatal("containers/TTLs not tracked")
	}
	res, events := a.apply(sess, &txn.CloseSession{Paths: []string{"/e1"}})
	if res.Err != 0 {
		t.Fatal(res.Err)
	}
	// The txn lists /e1; /e2 goes too because the session owned it.
	if _, ok := a.tr.Exists("/e2"); ok || len(a.tr.Ephemerals(sess)) != 0 {
		t.Fatal("closeSession left an ephemeral behind")
	}
	if len(events) != 4 {
		t.Fatalf("closeSession events %+v", events)
	}
	a.apply(0, &txn.Delete{Path: "/c"})
	a.apply(0, &txn.Delete{Path: "/t"})
	if len(a.tr.Containers())+len(a.tr.TTLs()) != 0 {
		t.Fatal("deleted container/TTL still tracked")
	}
}

func TestApplyErrorsChangeNothing(t *testing.T) {
	a := &applier{t: t, tr: New()}
	a.create("/p", "", 0)
	a.create("/p/c", "", 0)
	before := a.tr.NodeCount()
	for _, op := range []txn.Op{
		&txn.Create{Path: "/missing/x", ACL: open},
		&txn.Create{Path: "/p", ACL: open},
		&txn.Delete{Path: "/nope"},
		&txn.Delete{Path: "/p"}, // has a child
		&txn.SetData{Path: "/nope"},
		&txn.SetACL{Path: "/nope", ACL: open},
	} {
		if res, _ := a.apply(0, op); res.Err == 0 {
			t.Fatalf("%T %s applied", op, txn.Path(op))
		}
	}
	if a.tr.NodeCount() != before {
		t.Fatal("failed applies changed the tree")
	}
	if a.tr.LastZxid() != a.zxid {
		t.Fatal("lastZxid must follow every txn, failed or not")
	}
}

func TestChildrenSortedAndCounts(t *testing.T) {
	a := &applier{t: t, tr: New()}
	a.create("/d", "", 0)
	for _, n := range []string{"b", "a", "c10", "c2"} {
		a.create("/d/"+n, "xy", 0)
	}
	a.create("/d/a/deep", "", 0)
	kids, st, _ := a.tr.Children("/d")
	if !reflect.DeepEqual(kids, []string{"a", "b", "c10", "c2"}) || st.NumChildren != 4 {
		t.Fatalf("children %v %+v", kids, st)
	}
	if n, _ := a.tr.AllChildrenNumber("/d"); n != 5 {
		t.Fatalf("AllChildrenNumber = %d", n)
	}
	a.apply(0, &txn.Delete{Path: "/d/b"})
	kids, _, _ = a.tr.Children("/d")
	if !reflect.DeepEqual(kids, []string{"a", "c10", "c2"}) {
		t.Fatalf("children after delete %v (stale sorted cache?)", kids)
	}
	var walked []string
	a.tr.Walk(func(p string, _ []byte, _ Stat, _ []acl.ACL) bool { walked = append(walked, p); return true })
	want := []string{"/", "/d", "/d/a", "/d/a/deep", "/d/c10", "/d/c2", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"}
	if !reflect.DeepEqual(walked, want) {
		t.Fatalf("walk %v", walked)
	}
}

func TestValidPath(t *testing.T) {
	valid := []string{"/", "/a", "/a/b", "/a.b", "/..a", "/a/...", "/\u00e9t\u00e9", "/a b"}
	invalid := []string{"", "a", "/a/", "//a", "/a//b", "/.", "/..", "/a/./b", "/a/../b", "/a\x00b",
		"/a\x01", "/a\u007f", "/a\u0085", "/a\ud7ff\ue000", "/a\ufff0", "/emoji\U0001F600", "/bad\xff"}
	for _, p := range valid {
		if !ValidPath(p) {
			t.Errorf("ValidPath(%q) = false", p)
		}
	}
	for _, p := range invalid {
		if ValidPath(p) {
			t.Errorf("ValidPath(%q) = true", p)
		}
	}
}
