package compat

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkx-project/zkx/transport/internal/zktest"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// The tests in this file drive zkx with go-zookeeper v1.0.4 and check what
// its callers see. That version has no addWatch (persistent watches), so
// persistent and recursive watches are covered by the zkCli.sh test.

func TestGoZKCreateModes(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	root := testRoot(t, c)

	t.Run("Persistent", func(t *testing.T) {
		p := root + "/persistent"
		if got := mustCreate(t, c, p, []byte("data"), zk.FlagPersistent); got != p {
			t.Fatalf("create returned %q, want %q", got, p)
		}
		data, st, err := c.Get(p)
		if err != nil || string(data) != "data" {
			t.Fatalf("get: %q %v", data, err)
		}
		if st.Version != 0 || st.Cversion != 0 || st.Aversion != 0 || st.EphemeralOwner != 0 ||
			st.DataLength != 4 || st.NumChildren != 0 {
			t.Errorf("new node's stat: %+v", st)
		}
		if st.Czxid == 0 || st.Mzxid != st.Czxid || st.Pzxid != st.Czxid {
			t.Errorf("a new node's czxid, mzxid and pzxid are its creating zxid: %+v", st)
		}
		if now := time.Now().UnixMilli(); st.Ctime != st.Mtime || st.Ctime < now-60_000 || st.Ctime > now+60_000 {
			t.Errorf("ctime %d / mtime %d are not wall-clock milliseconds near %d", st.Ctime, st.Mtime, now)
		}
		if _, err := c.Create(p, nil, 0, openACL); !errors.Is(err, zk.ErrNodeExists) {
			t.Errorf("second create: %v, want ErrNodeExists", err)
		}
		if _, err := c.Create(root+"/missing/child", nil, 0, openACL); !errors.Is(err, zk.ErrNoNode) {
			t.Errorf("create under a missing parent: %v, want ErrNoNode", err)
		}
		if _, err := c.Create(root+"/noacl", nil, 0, nil); !errors.Is(err, zk.ErrInvalidACL) {
			t.Errorf("create with an empty ACL: %v, want ErrInvalidACL", err)
		}
		if _, err := c.Create(root+"/badscheme", nil, 0, []zk.ACL{{Perms: zk.PermAll, Scheme: "nope", ID: "x"}}); !errors.Is(err, zk.ErrInvalidACL) {
			t.Errorf("create with an unknown ACL scheme: %v, want ErrInvalidACL", err)
		}
		if _, err := c.Create(root+"/authacl", nil, 0, zk.AuthACL(zk.PermAll)); !errors.Is(err, zk.ErrInvalidACL) {
			t.Errorf("create with auth ACL and no authenticated id: %v, want ErrInvalidACL", err)
		}
	})

	t.Run("Ephemeral", func(t *testing.T) {
		p := mustCreate(t, c, root+"/ephemeral", nil, zk.FlagEphemeral)
		if st := mustStat(t, c, p); st.EphemeralOwner != c.SessionID() {
			t.Errorf("ephemeralOwner 0x%x, want the session 0x%x", st.EphemeralOwner, c.SessionID())
		}
		if _, err := c.Create(p+"/kid", nil, 0, openACL); !errors.Is(err, zk.ErrNoChildrenForEphemerals) {
			t.Errorf("create under an ephemeral: %v, want ErrNoChildrenForEphemerals", err)
		}
	})

	t.Run("Sequential", func(t *testing.T) {
		parent := mustCreate(t, c, root+"/seq", nil, 0)
		mustCreate(t, c, parent+"/plain", nil, 0)
		for _, flags := range []int32{zk.FlagSequence, zk.FlagEphemeral | zk.FlagSequence, zk.FlagSequence} {
			cv := mustStat(t, c, parent).Cversion
			got := mustCreate(t, c, parent+"/n-", []byte("x"), flags)
			if want := fmt.Sprintf("%s/n-%010d", parent, cv); got != want {
				t.Errorf("flags %d: created %q, want %q (the suffix is the parent's cversion)", flags, got, want)
			}
			owner := mustStat(t, c, got).EphemeralOwner
			if wantEph := flags&zk.FlagEphemeral != 0; (owner == c.SessionID()) != wantEph || (!wantEph && owner != 0) {
				t.Errorf("flags %d: ephemeralOwner 0x%x", flags, owner)
			}
		}
		// Without a name before the counter, the node is just the counter.
		if got, want := mustCreate(t, c, parent+"/", nil, zk.FlagSequence), parent+"/0000000004"; got != want {
			t.Errorf("sequential create of %q: %q, want %q", parent+"/", got, want)
		}
	})

	t.Run("Container", func(t *testing.T) {
		p, err := c.CreateContainer(root+"/container", []byte("c"), zk.FlagContainer, openACL)
		if err != nil || p != root+"/container" {
			t.Fatalf("CreateContainer: %q %v", p, err)
		}
		unused, err := c.CreateContainer(root+"/unused-container", nil, zk.FlagContainer, openACL)
		if err != nil {
			t.Fatalf("CreateContainer: %v", err)
		}
		// ZooKeeper shows 0 as a container's ephemeralOwner: clients test
		// ephemeralOwner != 0 to find ephemeral nodes.
		if st := mustStat(t, c, p); st.EphemeralOwner != 0 {
			t.Errorf("container's ephemeralOwner 0x%x, want 0 (as ZooKeeper reports it)", uint64(st.EphemeralOwner))
		}
		kid := mustCreate(t, c, p+"/kid", nil, 0)
		ok, _, gone, err := c.ExistsW(p)
		if err != nil || !ok {
			t.Fatalf("exists-watch on the container: %v %v", ok, err)
		}
		if err := c.Delete(kid, -1); err != nil {
			t.Fatal(err)
		}
		if ev := awaitWatch(t, gone, "the server deletes the container once its last child is gone"); ev.Type != zk.EventNodeDeleted {
			t.Fatalf("container watch: %v, want EventNodeDeleted", ev.Type)
		}
		// The sweep that removed the emptied container also saw the one
		// that never had a child, and must have kept it.
		if ok, _, err := c.Exists(unused); err != nil || !ok {
			t.Errorf("a container that never had children was removed: %v %v", ok, err)
		}
	})

	t.Run("TTL", func(t *testing.T) {
		const ttl = 300 * time.Millisecond
		start := time.Now()
		p, err := c.CreateTTL(root+"/ttl", []byte("t"), zk.FlagTTL, openACL, ttl)
		if err != nil || p != root+"/ttl" {
			t.Fatalf("CreateTTL: %q %v", p, err)
		}
		ok, st, gone, err := c.ExistsW(p)
		if err != nil || !ok {
			t.Fatalf("exists-watch on the TTL node: %v %v", ok, err)
		}
		if st.EphemeralOwner != 0 {
			t.Errorf("TTL node's ephemeralOwner 0x%x, want 0 (as ZooKeeper reports it)", uint64(st.EphemeralOwner))
		}
		seqParent := mustCreate(t, c, root+"/ttlseq", nil, 0)
		seq, err := c.CreateTTL(seqParent+"/n-", nil, zk.FlagPersistentSequentialWithTTL, openACL, time.Hour)
		if want := seqParent + "/n-0000000000"; err != nil || seq != want {
			t.Errorf("sequential TTL create: %q %v, want %q", seq, err, want)
		}
		if ev := awaitWatch(t, gone, "the server deletes the TTL node after its TTL"); ev.Type != zk.EventNodeDeleted {
			t.Fatalf("TTL watch: %v, want EventNodeDeleted", ev.Type)
		}
		if elapsed := time.Since(start); elapsed < ttl {
			t.Errorf("TTL node deleted after %v, before its TTL of %v", elapsed, ttl)
		}
		if ok, _, err := c.Exists(seq); err != nil || !ok {
			t.Errorf("TTL node with an hour to live is gone: %v %v", ok, err)
		}
		if _, err := c.CreateTTL(root+"/ttl0", nil, zk.FlagTTL, openACL, 0); !errors.Is(err, zk.ErrBadArguments) {
			t.Errorf("TTL of 0: %v, want ErrBadArguments", err)
		}
	})
}

// TestGoZKTTLDisabled: with extended types off (ZooKeeper's default), a
// TTL create is refused with Unimplemented.
func TestGoZKTTLDisabled(t *testing.T) {
	n := zkxtest.Start(t, zkxtest.Options{DisableExtendedTypes: true, MaxSessionTimeout: 30 * time.Second})
	c := connect(t, n.Addr(), sessionTimeout)
	_, err := c.CreateTTL("/ttl", nil, zk.FlagTTL, openACL, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "-6") {
		t.Fatalf("CreateTTL with TTL nodes disabled: %v, want error code -6 (Unimplemented)", err)
	}
	if ok, _, _ := c.Exists("/ttl"); ok {
		t.Fatalf("refused TTL node exists")
	}
}

func TestGoZKReadWrite(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/node", []byte("v0"), 0)
	created := mustStat(t, c, p)

	st, err := c.Set(p, []byte("version one"), 0)
	if err != nil {
		t.Fatalf("set with the right version: %v", err)
	}
	if st.Version != 1 || st.DataLength != int32(len("version one")) || st.Mzxid <= created.Mzxid ||
		st.Czxid != created.Czxid || st.Mtime < created.Mtime {
		t.Errorf("stat after set: %+v (before: %+v)", st, created)
	}
	if _, err := c.Set(p, []byte("x"), 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("set with a stale version: %v, want ErrBadVersion", err)
	}
	if _, err := c.Set(root+"/missing", nil, -1); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("set of a missing node: %v, want ErrNoNode", err)
	}
	data, gst, err := c.Get(p)
	if err != nil || string(data) != "version one" || *gst != *st {
		t.Errorf("get after set: %q %+v %v, want the set's data and stat %+v", data, gst, err, st)
	}
	if _, _, err := c.Get(root + "/missing"); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("get of a missing node: %v, want ErrNoNode", err)
	}
	if ok, _, err := c.Exists(root + "/missing"); ok || err != nil {
		t.Errorf("exists of a missing node: %v %v", ok, err)
	}

	// Empty data, and data near the frame limit, round trip.
	mustSet(t, c, p, nil)
	if data, st, err := c.Get(p); err != nil || len(data) != 0 || st.DataLength != 0 {
		t.Errorf("get after setting no data: %q %+v %v", data, st, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 60_000) // 960,000 bytes
	mustSet(t, c, p, big)
	if data, st, err := c.Get(p); err != nil || !bytes.Equal(data, big) || st.DataLength != int32(len(big)) {
		t.Errorf("get of %d bytes: got %d bytes, %+v, %v", len(big), len(data), st, err)
	}

	// Children
	for _, k := range []string{"b", "a", "c"} {
		mustCreate(t, c, p+"/"+k, nil, 0)
	}
	kids, cst, err := c.Children(p)
	slices.Sort(kids)
	if err != nil || !slices.Equal(kids, []string{"a", "b", "c"}) || cst.NumChildren != 3 || cst.Cversion != 3 {
		t.Errorf("children: %v %+v %v", kids, cst, err)
	}
	if _, _, err := c.Children(root + "/missing"); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("children of a missing node: %v, want ErrNoNode", err)
	}

	// Delete
	if err := c.Delete(p, -1); !errors.Is(err, zk.ErrNotEmpty) {
		t.Errorf("delete of a node with children: %v, want ErrNotEmpty", err)
	}
	if err := c.Delete(p+"/a", 5); !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("delete with a wrong version: %v, want ErrBadVersion", err)
	}
	if err := c.Delete(p+"/a", 0); err != nil {
		t.Errorf("delete with the right version: %v", err)
	}
	if err := c.Delete(p+"/a", -1); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("delete of a deleted node: %v, want ErrNoNode", err)
	}
	after := mustStat(t, c, p)
	if after.NumChildren != 2 || after.Pzxid <= cst.Pzxid {
		t.Errorf("parent after a child's delete: %+v (before %+v)", after, cst)
	}
}

// TestGoZKCversionCountsDeletes: ZooKeeper's Stat.cversion counts child
// creations and deletions (DataNode.copyStat reports 2*creates-children),
// while a sequential name counts creations only.
func TestGoZKCversionCountsDeletes(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	p := testRoot(t, c)
	a := mustCreate(t, c, p+"/n-", nil, zk.FlagSequence) // n-0000000000
	mustCreate(t, c, p+"/n-", nil, zk.FlagSequence)      // n-0000000001
	if err := c.Delete(a, -1); err != nil {
		t.Fatal(err)
	}
	if st := mustStat(t, c, p); st.Cversion != 3 {
		t.Errorf("cversion after 2 child creates and 1 delete: %d, want 3 (ZooKeeper counts the delete)", st.Cversion)
	}
	if got, want := mustCreate(t, c, p+"/n-", nil, zk.FlagSequence), p+"/n-0000000002"; got != want {
		t.Errorf("next sequential node %q, want %q (creations only)", got, want)
	}
	if st := mustStat(t, c, p); st.Cversion != 4 {
		t.Errorf("cversion after 3 child creates and 1 delete: %d, want 4", st.Cversion)
	}
}

func TestGoZKMulti(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	root := testRoot(t, c)
	mustCreate(t, c, root+"/old", []byte("old"), 0)

	res, err := c.Multi(
		&zk.CreateRequest{Path: root + "/a", Data: []byte("a"), Acl: openACL},
		&zk.CreateRequest{Path: root + "/s-", Acl: openACL, Flags: zk.FlagSequence},
		&zk.SetDataRequest{Path: root + "/a", Data: []byte("a2"), Version: 0},
		&zk.CheckVersionRequest{Path: root + "/old", Version: 0},
		&zk.DeleteRequest{Path: root + "/old", Version: 0},
	)
	if err != nil || len(res) != 5 {
		t.Fatalf("multi: %v %+v", err, res)
	}
	for i, r := range res {
		if r.Error != nil {
			t.Errorf("op %d: %v", i, r.Error)
		}
	}
	if res[0].String != root+"/a" || res[1].String != root+"/s-0000000002" {
		t.Errorf("created paths %q, %q", res[0].String, res[1].String)
	}
	if data, st, err := c.Get(root + "/a"); err != nil || string(data) != "a2" || st.Version != 1 {
		t.Errorf("after multi: %q %+v %v", data, st, err)
	}
	if ok, _, _ := c.Exists(root + "/old"); ok {
		t.Errorf("multi's delete did not happen")
	}

	before := mustStat(t, c, root)
	res, err = c.Multi(
		&zk.CreateRequest{Path: root + "/b", Acl: openACL},
		&zk.SetDataRequest{Path: root + "/a", Data: []byte("x"), Version: 7},
		&zk.DeleteRequest{Path: root + "/a", Version: -1},
	)
	if !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("failed multi returned %v, want ErrBadVersion (the failing op's code)", err)
	}
	if len(res) != 3 || res[0].Error != nil || !errors.Is(res[1].Error, zk.ErrBadVersion) ||
		res[2].Error == nil || !strings.Contains(res[2].Error.Error(), "-2") {
		t.Errorf("failed multi results: %+v, want ok, BadVersion, RuntimeInconsistency (-2)", res)
	}
	if ok, _, _ := c.Exists(root + "/b"); ok {
		t.Errorf("a failed multi created a node")
	}
	if data, _, _ := c.Get(root + "/a"); string(data) != "a2" {
		t.Errorf("a failed multi changed data: %q", data)
	}
	if after := mustStat(t, c, root); after.Cversion != before.Cversion || after.Pzxid != before.Pzxid {
		t.Errorf("a failed multi changed the parent: %+v -> %+v", before, after)
	}
}

func TestGoZKSync(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	root := testRoot(t, c)
	if p, err := c.Sync(root); err != nil || p != root {
		t.Errorf("sync %s: %q %v", root, p, err)
	}
	// sync does not look at the node.
	if p, err := c.Sync(root + "/missing"); err != nil || p != root+"/missing" {
		t.Errorf("sync of a missing node: %q %v", p, err)
	}
}

func TestGoZKACL(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	admin := connect(t, addr, sessionTimeout)
	root := testRoot(t, admin)
	if err := admin.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatalf("add digest auth: %v", err)
	}
	aliceACL := zk.DigestACL(zk.PermAll, "alice", "secret")
	p, err := admin.Create(root+"/secret", []byte("s3cret"), 0, aliceACL)
	if err != nil {
		t.Fatal(err)
	}
	acl, st, err := admin.GetACL(p)
	if err != nil || !slices.Equal(acl, aliceACL) || st.Aversion != 0 {
		t.Errorf("GetACL: %+v %+v %v, want %+v", acl, st, err, aliceACL)
	}
	// An auth ACL takes the creator's authenticated ids.
	ap, err := admin.Create(root+"/auth", nil, 0, zk.AuthACL(zk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	if acl, _, err := admin.GetACL(ap); err != nil || len(acl) != 1 ||
		acl[0] != (zk.ACL{Perms: zk.PermAll, Scheme: "digest", ID: aliceACL[0].ID}) {
		t.Errorf("auth ACL became %+v %v, want alice's digest id", acl, err)
	}

	anon := connect(t, addr, sessionTimeout)
	if _, _, err := anon.Get(p); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("get without auth: %v, want ErrNoAuth", err)
	}
	if _, err := anon.Set(p, nil, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("set without auth: %v, want ErrNoAuth", err)
	}
	if _, _, err := anon.GetACL(p); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("getACL without READ or ADMIN: %v, want ErrNoAuth", err)
	}
	if _, err := anon.SetACL(p, openACL, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("setACL without ADMIN: %v, want ErrNoAuth", err)
	}
	if err := anon.AddAuth("digest", []byte("alice:wrong")); err != nil {
		t.Fatalf("add auth with a wrong password is accepted (it matches no ACL): %v", err)
	}
	if _, _, err := anon.Get(p); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("get with a wrong password: %v, want ErrNoAuth", err)
	}
	if err := anon.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	if data, _, err := anon.Get(p); err != nil || string(data) != "s3cret" {
		t.Errorf("get with alice's auth: %q %v", data, err)
	}

	// SetACL with versions.
	both := append(zk.WorldACL(zk.PermRead), aliceACL...)
	st, err = admin.SetACL(p, both, 0)
	if err != nil || st.Aversion != 1 {
		t.Fatalf("SetACL: %+v %v", st, err)
	}
	if _, err := admin.SetACL(p, aliceACL, 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Errorf("SetACL with a stale version: %v, want ErrBadVersion", err)
	}
	reader := connect(t, addr, sessionTimeout)
	if data, _, err := reader.Get(p); err != nil || string(data) != "s3cret" {
		t.Errorf("world:anyone:r lets anyone read: %q %v", data, err)
	}
	if _, err := reader.Set(p, nil, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("but not write: %v", err)
	}
	// Without ADMIN the digest's hash is not shown (ZooKeeper 3.8 prints x).
	if acl, _, err := reader.GetACL(p); err != nil || len(acl) != 2 || acl[1].ID != "alice:x" {
		t.Errorf("GetACL without ADMIN: %+v %v, want alice's id shown as alice:x", acl, err)
	}

	// An unknown scheme fails authentication, and the server closes the
	// connection as ZooKeeper does.
	bad := connect(t, addr, sessionTimeout)
	mark := bad.events.mark()
	if err := bad.AddAuth("nosuchscheme", []byte("x")); !errors.Is(err, zk.ErrAuthFailed) {
		t.Errorf("AddAuth with an unknown scheme: %v, want ErrAuthFailed", err)
	}
	eventually(t, 10*time.Second, "connection closed after failed auth", func() bool {
		return len(bad.events.since(mark, isState(zk.StateDisconnected))) > 0
	})
}

func TestGoZKEphemeralsVanishWithSession(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	owner := connect(t, addr, sessionTimeout)
	watcher := connect(t, addr, sessionTimeout)
	root := testRoot(t, watcher)
	e1 := mustCreate(t, owner, root+"/e1", nil, zk.FlagEphemeral)
	e2 := mustCreate(t, owner, root+"/e-", nil, zk.FlagEphemeral|zk.FlagSequence)
	_, _, w1, err := watcher.ExistsW(e1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, w2, err := watcher.GetW(e2)
	if err != nil {
		t.Fatal(err)
	}
	_, _, kids, err := watcher.ChildrenW(root)
	if err != nil {
		t.Fatal(err)
	}
	owner.Close()
	for name, ch := range map[string]<-chan zk.Event{"exists-watch on " + e1: w1, "data watch on " + e2: w2} {
		if ev := awaitWatch(t, ch, name); ev.Type != zk.EventNodeDeleted {
			t.Errorf("%s: %v, want EventNodeDeleted", name, ev.Type)
		}
	}
	if ev := awaitWatch(t, kids, "child watch on "+root); ev.Type != zk.EventNodeChildrenChanged {
		t.Errorf("child watch: %v, want EventNodeChildrenChanged", ev.Type)
	}
	if got, _, _ := watcher.Children(root); len(got) != 0 {
		t.Errorf("children after the owner closed its session: %v", got)
	}
}

// TestGoZKWatchEvents sets one-shot watches of each kind and checks the
// event each change delivers: type, path, exactly once, and none where
// ZooKeeper sends none.
func TestGoZKWatchEvents(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	other := connect(t, addr, sessionTimeout)
	root := testRoot(t, c)
	p := mustCreate(t, c, root+"/n", []byte("0"), 0)

	type watchFn func(string) (<-chan zk.Event, error)
	getW := func(p string) (<-chan zk.Event, error) { _, _, ch, err := c.GetW(p); return ch, err }
	existsW := func(p string) (<-chan zk.Event, error) { _, _, ch, err := c.ExistsW(p); return ch, err }
	childrenW := func(p string) (<-chan zk.Event, error) { _, _, ch, err := c.ChildrenW(p); return ch, err }

	del := func(t *testing.T, p string) {
		t.Helper()
		if err := other.Delete(p, -1); err != nil {
			t.Fatalf("delete %s: %v", p, err)
		}
	}
	// Each case sets a watch, makes the change that fires it, then makes
	// the same kind of change again, which must not fire it a second time.
	later := root + "/later"
	cases := []struct {
		name          string
		watch         watchFn
		path          string
		change, again func(t *testing.T)
		want          zk.EventType
	}{
		{"GetW/Set", getW, p,
			func(t *testing.T) { mustSet(t, other, p, []byte("1")) },
			func(t *testing.T) { mustSet(t, other, p, []byte("1b")) }, zk.EventNodeDataChanged},
		{"ExistsW/Set", existsW, p,
			func(t *testing.T) { mustSet(t, other, p, []byte("2")) },
			func(t *testing.T) { mustSet(t, other, p, []byte("2b")) }, zk.EventNodeDataChanged},
		{"ExistsW/Create", existsW, later,
			func(t *testing.T) { mustCreate(t, other, later, nil, 0) },
			func(t *testing.T) { mustSet(t, other, later, []byte("x")) }, zk.EventNodeCreated},
		{"ChildrenW/CreateChild", childrenW, p,
			func(t *testing.T) { mustCreate(t, other, p+"/kid", nil, 0) },
			func(t *testing.T) { mustCreate(t, other, p+"/kid2", nil, 0) }, zk.EventNodeChildrenChanged},
		{"ChildrenW/DeleteChild", childrenW, p,
			func(t *testing.T) { del(t, p+"/kid") },
			func(t *testing.T) { del(t, p+"/kid2") }, zk.EventNodeChildrenChanged},
		{"GetW/Delete", getW, later,
			func(t *testing.T) { del(t, later) },
			func(t *testing.T) { mustCreate(t, other, later, nil, 0) }, zk.EventNodeDeleted},
		{"ChildrenW/DeleteNode", childrenW, later,
			func(t *testing.T) { del(t, later) },
			func(t *testing.T) { mustCreate(t, other, later, nil, 0) }, zk.EventNodeDeleted},
		{"OwnChange", getW, p,
			func(t *testing.T) { mustSet(t, c, p, []byte("own")) },
			func(t *testing.T) { mustSet(t, c, p, []byte("own again")) }, zk.EventNodeDataChanged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := tc.watch(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			mark := c.events.mark()
			tc.change(t)
			ev := awaitWatch(t, ch, tc.name)
			if ev.Type != tc.want || ev.Path != tc.path || ev.State != zk.StateSyncConnected {
				t.Errorf("event %+v, want type %v path %s state SyncConnected", ev, tc.want, tc.path)
			}
			tc.again(t)
			settle(t, c)
			if got := c.events.since(mark, onPath(tc.path)); len(got) != 1 {
				t.Errorf("events for %s: %+v, want exactly one (watches are one-shot)", tc.path, got)
			}
		})
	}

	t.Run("NoEventForOtherKinds", func(t *testing.T) {
		q := mustCreate(t, c, root+"/quiet", nil, 0)
		mark := c.events.mark()
		if _, err := childrenW(q); err != nil {
			t.Fatal(err)
		}
		mustSet(t, other, q, []byte("data changes do not fire child watches"))
		settle(t, c)
		if _, err := getW(q); err != nil {
			t.Fatal(err)
		}
		// The child watch is still armed: this create fires it, and only it.
		mustCreate(t, other, q+"/kid", nil, 0)
		settle(t, c)
		got := c.events.since(mark, onPath(q))
		if len(got) != 1 || got[0].Type != zk.EventNodeChildrenChanged {
			t.Errorf("events for %s: %+v, want only one NodeChildrenChanged", q, got)
		}
	})

	t.Run("OneEventPerSessionAndChange", func(t *testing.T) {
		// Watches of one session on one path are one watch: a change sends
		// one event, however many calls set it.
		q := mustCreate(t, c, root+"/dup", nil, 0)
		mark := c.events.mark()
		ch1, _ := getW(q)
		ch2, _ := getW(q)
		ch3, _ := existsW(q)
		mustSet(t, other, q, []byte("x"))
		for i, ch := range []<-chan zk.Event{ch1, ch2, ch3} {
			if ev := awaitWatch(t, ch, fmt.Sprintf("watch %d", i)); ev.Type != zk.EventNodeDataChanged {
				t.Errorf("watch %d: %v", i, ev.Type)
			}
		}
		settle(t, c)
		if got := c.events.since(mark, onPath(q)); len(got) != 1 {
			t.Errorf("server sent %d events for one change to a path watched 3 times: %+v", len(got), got)
		}
		// A data and a child watch on a node that is deleted: one event.
		mark = c.events.mark()
		chData, _ := getW(q)
		chKids, _ := childrenW(q)
		if err := other.Delete(q, -1); err != nil {
			t.Fatal(err)
		}
		awaitWatch(t, chData, "data watch on delete")
		awaitWatch(t, chKids, "child watch on delete")
		settle(t, c)
		if got := c.events.since(mark, onPath(q)); len(got) != 1 || got[0].Type != zk.EventNodeDeleted {
			t.Errorf("events for a deleted node with a data and a child watch: %+v, want one NodeDeleted", got)
		}
	})
}

// TestGoZKSessionExpiry: a client the server stops hearing from loses its
// session after the timeout; the client learns it when it gets through
// again, and its watches are told they stopped.
func TestGoZKSessionExpiry(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	px := zktest.NewProxy(t, addr)
	c := connect(t, px.Addr(), time.Second)
	observer := connect(t, addr, sessionTimeout)
	root := testRoot(t, observer)
	oldSession := c.SessionID()
	eph := mustCreate(t, c, root+"/eph", nil, zk.FlagEphemeral)
	_, _, pending, err := c.GetW(root)
	if err != nil {
		t.Fatal(err)
	}
	_, _, gone, err := observer.ExistsW(eph)
	if err != nil {
		t.Fatal(err)
	}

	frozen := time.Now()
	px.Freeze(true)
	if ev := awaitWatch(t, gone, "the server expires the silent session and deletes its ephemeral"); ev.Type != zk.EventNodeDeleted {
		t.Fatalf("ephemeral watch: %v", ev.Type)
	}
	// The last ping may have left up to a third of the timeout before the
	// freeze; no server may expire a session sooner than that.
	if silence := time.Since(frozen); silence < time.Second*2/3-50*time.Millisecond {
		t.Errorf("session expired after %v of silence; its timeout is 1s", silence)
	}
	mark := c.events.mark()
	px.Freeze(false)
	eventually(t, 15*time.Second, "client reports StateExpired", func() bool {
		return len(c.events.since(0, isState(zk.StateExpired))) > 0
	})
	if ev := awaitWatch(t, pending, "the expired session's watch"); ev.Type != zk.EventNotWatching || !errors.Is(ev.Err, zk.ErrSessionExpired) {
		t.Errorf("watch of an expired session got %+v, want EventNotWatching with ErrSessionExpired", ev)
	}
	eventually(t, 15*time.Second, "client opens a new session", func() bool {
		return c.State() == zk.StateHasSession && c.SessionID() != 0 && c.SessionID() != oldSession
	})
	if len(c.events.since(mark, isState(zk.StateHasSession))) == 0 {
		t.Errorf("no StateHasSession event for the new session")
	}
	if ok, _, err := c.Exists(eph); ok || err != nil {
		t.Errorf("the expired session's ephemeral: exists=%v err=%v", ok, err)
	}
	mustCreate(t, c, root+"/after", nil, zk.FlagEphemeral)
}

// TestGoZKReattach: a dropped connection does not end the session. The
// client re-attaches (through the same proxy, after it is cut) with its
// session id and password; its ephemerals are still there, and the watches
// it re-registers with SetWatches fire for what changed while it was away,
// and later for what changes after.
func TestGoZKReattach(t *testing.T) {
	addr := startServer(t, zkxtest.Options{MaxSessionTimeout: 10 * time.Second})
	px := zktest.NewProxy(t, addr)
	c := connect(t, px.Addr(), 10*time.Second)
	other := connect(t, addr, sessionTimeout)
	root := testRoot(t, other)
	sid := c.SessionID()
	eph := mustCreate(t, c, root+"/eph", []byte("mine"), zk.FlagEphemeral)
	changed := mustCreate(t, other, root+"/changed", nil, 0)
	deleted := mustCreate(t, other, root+"/deleted", nil, 0)
	quiet := mustCreate(t, other, root+"/quiet", nil, 0)
	parent := mustCreate(t, other, root+"/parent", nil, 0)

	_, _, wChanged, _ := c.GetW(changed)
	_, _, wDeleted, _ := c.GetW(deleted)
	_, _, wCreated, _ := c.ExistsW(root + "/created")
	_, _, wKids, _ := c.ChildrenW(parent)
	_, _, wQuiet, err := c.GetW(quiet)
	if err != nil {
		t.Fatal(err)
	}

	px.Freeze(true)
	px.Cut()
	eventually(t, 10*time.Second, "client notices the dropped connection", func() bool {
		return c.State() != zk.StateHasSession
	})
	mustSet(t, other, changed, []byte("while away"))
	if err := other.Delete(deleted, -1); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, other, root+"/created", nil, 0)
	mustCreate(t, other, parent+"/kid", nil, 0)
	px.Freeze(false)
	eventually(t, 15*time.Second, "client re-attaches its session", func() bool {
		return c.State() == zk.StateHasSession
	})
	if c.SessionID() != sid {
		t.Fatalf("session after re-attach 0x%x, want the same 0x%x", c.SessionID(), sid)
	}
	if len(c.events.since(0, isState(zk.StateExpired))) > 0 {
		t.Fatalf("session expired on a short drop")
	}
	for _, w := range []struct {
		name string
		ch   <-chan zk.Event
		want zk.EventType
	}{
		{"data watch on a node changed while away", wChanged, zk.EventNodeDataChanged},
		{"data watch on a node deleted while away", wDeleted, zk.EventNodeDeleted},
		{"exists watch on a node created while away", wCreated, zk.EventNodeCreated},
		{"child watch on a node that got a child while away", wKids, zk.EventNodeChildrenChanged},
	} {
		if ev := awaitWatch(t, w.ch, w.name); ev.Type != w.want {
			t.Errorf("%s: %+v, want %v", w.name, ev, w.want)
		}
	}
	if st := mustStat(t, other, eph); st.EphemeralOwner != sid {
		t.Errorf("ephemeral owner after re-attach 0x%x, want 0x%x", st.EphemeralOwner, sid)
	}
	// The untouched node's watch was re-registered, not fired ...
	select {
	case ev := <-wQuiet:
		t.Fatalf("watch on an unchanged node fired on re-attach: %+v", ev)
	default:
	}
	// ... and fires on the next change.
	mustSet(t, other, quiet, []byte("now"))
	if ev := awaitWatch(t, wQuiet, "re-registered watch on a later change"); ev.Type != zk.EventNodeDataChanged {
		t.Errorf("re-registered watch: %+v", ev)
	}
	if data, _, err := c.Get(eph); err != nil || string(data) != "mine" {
		t.Errorf("client reads its ephemeral after re-attach: %q %v", data, err)
	}
	if px.Accepted() < 2 {
		t.Errorf("the proxy saw %d connections; the client did not reconnect through it", px.Accepted())
	}
}

// TestGoZKRecipes covers what go-zookeeper builds on the operations:
// protected ephemeral sequential nodes and its Lock.
func TestGoZKRecipes(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	root := testRoot(t, c)

	p, err := c.CreateProtectedEphemeralSequential(root+"/job-", []byte("x"), openACL)
	if err != nil {
		t.Fatalf("CreateProtectedEphemeralSequential: %v", err)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(root) + `/_c_[0-9a-f]{32}-job-0000000000$`).MatchString(p) {
		t.Errorf("protected node %q, want %s/_c_<guid>-job-0000000000", p, root)
	}
	if st := mustStat(t, c, p); st.EphemeralOwner != c.SessionID() {
		t.Errorf("protected node is not ephemeral: %+v", st)
	}

	const contenders, rounds = 4, 5
	lockPath := root + "/lock"
	conns := make([]*client, contenders)
	for i := range conns {
		conns[i] = connect(t, addr, sessionTimeout)
	}
	var inside, maxInside, total atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, contenders*rounds)
	for i := range conns {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			l := zk.NewLock(c.Conn, lockPath, openACL)
			for r := 0; r < rounds; r++ {
				if err := l.LockWithData([]byte("held")); err != nil {
					errs <- fmt.Errorf("lock: %w", err)
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				total.Add(1)
				inside.Add(-1)
				if err := l.Unlock(); err != nil {
					errs <- fmt.Errorf("unlock: %w", err)
					return
				}
			}
		}(conns[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxInside.Load() != 1 || total.Load() != contenders*rounds {
		t.Errorf("go-zookeeper Lock: at most %d holders at once over %d acquisitions, want 1 over %d",
			maxInside.Load(), total.Load(), contenders*rounds)
	}
	if kids, _, err := c.Children(lockPath); err != nil || len(kids) != 0 {
		t.Errorf("lock nodes left: %v %v", kids, err)
	}
}

// TestGoZKReconfig: a standalone server refuses reconfig as ZooKeeper
// does when dynamic reconfiguration is off.
func TestGoZKReconfig(t *testing.T) {
	addr := startServer(t, zkxtest.Options{})
	c := connect(t, addr, sessionTimeout)
	if _, err := c.IncrementalReconfig([]string{"server.2=127.0.0.1:2888:3888"}, nil, -1); !errors.Is(err, zk.ErrReconfigDisabled) {
		t.Errorf("IncrementalReconfig: %v, want ErrReconfigDisabled", err)
	}
	if _, err := c.Reconfig([]string{"server.1=127.0.0.1:2888:3888"}, -1); !errors.Is(err, zk.ErrReconfigDisabled) {
		t.Errorf("Reconfig: %v, want ErrReconfigDisabled", err)
	}
}

// TestGoZKEnsemble runs go-zookeeper's tests again with every session on
// one follower of a 3-node ensemble: each write is forwarded to the leader
// and answered by the follower when it applies it, each read is the
// follower's.
func TestGoZKEnsemble(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{MaxSessionTimeout: 30 * time.Second})
	leader := e.Leader(10 * time.Second)
	ensembleFollower = e.Addr(leader%3 + 1)
	defer func() { ensembleFollower = "" }()
	for name, test := range map[string]func(*testing.T){
		"ReadWrite": TestGoZKReadWrite, "CversionCountsDeletes": TestGoZKCversionCountsDeletes,
		"Multi": TestGoZKMulti, "Sync": TestGoZKSync, "ACL": TestGoZKACL,
		"EphemeralsVanishWithSession": TestGoZKEphemeralsVanishWithSession,
		"WatchEvents":                 TestGoZKWatchEvents, "Recipes": TestGoZKRecipes,
	} {
		t.Run(name, test)
	}
}

// TestGoZKSuperDigest: with a super digest configured
// (DigestAuthenticationProvider.superDigest), a client authenticated as
// that user passes every ACL check, as in ZooKeeper; a wrong password
// gives it nothing.
func TestGoZKSuperDigest(t *testing.T) {
	superID := zk.DigestACL(zk.PermAll, "super", "hunter2")[0].ID // super:base64(sha1(super:hunter2))
	addr := startServer(t, zkxtest.Options{SuperDigest: superID})
	alice := connect(t, addr, sessionTimeout)
	root := testRoot(t, alice)
	if err := alice.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	p, err := alice.Create(root+"/locked", []byte("a"), 0, zk.DigestACL(zk.PermAll, "alice", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Create(p+"/child", nil, 0, zk.DigestACL(zk.PermAll, "alice", "secret")); err != nil {
		t.Fatal(err)
	}

	impostor := connect(t, addr, sessionTimeout)
	if err := impostor.AddAuth("digest", []byte("super:wrong")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := impostor.Get(p); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("get as super with a wrong password: %v, want ErrNoAuth", err)
	}

	super := connect(t, addr, sessionTimeout)
	if err := super.AddAuth("digest", []byte("super:hunter2")); err != nil {
		t.Fatal(err)
	}
	if data, _, err := super.Get(p); err != nil || string(data) != "a" {
		t.Errorf("get as super: %q %v", data, err)
	}
	if _, err := super.Set(p, []byte("b"), -1); err != nil {
		t.Errorf("set as super: %v", err)
	}
	if _, _, err := super.Children(p); err != nil {
		t.Errorf("getChildren as super: %v", err)
	}
	if err := super.Delete(p+"/child", -1); err != nil {
		t.Errorf("delete as super: %v", err)
	}
	if _, err := super.SetACL(p, zk.WorldACL(zk.PermRead), -1); err != nil {
		t.Errorf("setACL as super: %v", err)
	}
	// Super's setACL took effect: now anyone may read, nobody but super write.
	if data, _, err := impostor.Get(p); err != nil || string(data) != "b" {
		t.Errorf("get after super opened the node for reading: %q %v", data, err)
	}
	if _, err := alice.Set(p, []byte("c"), -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("alice's set after super took her rights: %v, want ErrNoAuth", err)
	}
}
