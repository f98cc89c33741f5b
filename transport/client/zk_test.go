package client

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/internal/zktest"
	"github.com/zkx-project/zkx/transport/jute"
)

// TestZooKeeper runs every request against a real Apache ZooKeeper 3.8. The
// subtests share one server (a JVM start costs about a second) and each
// works under its own path.
func TestZooKeeper(t *testing.T) {
	runServerTests(t, zktest.Start(t, zktest.WithJVMFlag("-Dznode.container.checkIntervalMs=100")))
}

// TestZkx runs the same subtests against an in-process zkx node configured
// as TestZooKeeper's server is.
func TestZkx(t *testing.T) {
	runServerTests(t, startZkx(t, zkxOptions()))
}

func runServerTests(t *testing.T, srv testServer) {
	c := connect(t, srv.Addr())

	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, srv testServer, c *Client)
	}{
		{"Session", testSession},
		{"CreateGetSetDelete", testCreateGetSetDelete},
		{"CreateModes", testCreateModes},
		{"ContainerAndTTL", testContainerAndTTL},
		{"Errors", testErrors},
		{"Children", testChildren},
		{"ACL", testACL},
		{"DigestAuth", testDigestAuth},
		{"AuthFailed", testAuthFailed},
		{"Sync", testSync},
		{"Multi", testMulti},
		{"MultiFailure", testMultiFailure},
		{"MultiRead", testMultiRead},
		{"EphemeralsAndCounts", testEphemeralsAndCounts},
		{"Do", testDo},
		{"CallUnimplemented", testCallUnimplemented},
		{"DataWatch", testDataWatch},
		{"ExistsWatch", testExistsWatch},
		{"ChildWatch", testChildWatch},
		{"DeleteFiresAllWatches", testDeleteFiresAllWatches},
		{"PersistentWatch", testPersistentWatch},
		{"RecursiveWatch", testRecursiveWatch},
		{"RemoveAndCheckWatches", testRemoveAndCheckWatches},
		{"Pipelining", testPipelining},
		{"ServerBehaviour", testServerBehaviour},
		{"Close", testClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			base := "/" + tc.name
			if _, err := c.Create(ctx, base, nil, Persistent, WorldACL(PermAll)); err != nil {
				t.Fatalf("create %s: %v", base, err)
			}
			tc.fn(t, srv, c)
		})
	}
}

func testSession(t *testing.T, srv testServer, c *Client) {
	if c.State() != jute.StateSyncConnected {
		t.Fatalf("State = %s", StateName(c.State()))
	}
	if c.SessionID() == 0 || len(c.SessionPassword()) != 16 {
		t.Fatalf("session id %x password %x", c.SessionID(), c.SessionPassword())
	}
	// tickTime=200 allows 400ms..4s: the 10s default is clamped to 4s.
	if c.SessionTimeout() != 4*time.Second {
		t.Fatalf("SessionTimeout = %v, want 4s (clamped by maxSessionTimeout)", c.SessionTimeout())
	}
	if c.Server() != srv.Addr() {
		t.Fatalf("Server = %q, want %q", c.Server(), srv.Addr())
	}
	before := c.LastZxid()
	_, err := c.Create(testCtx(t), "/Session/z", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	if c.LastZxid() <= before {
		t.Fatalf("LastZxid %d did not advance past %d", c.LastZxid(), before)
	}
	cons, err := srv.FourLetter("cons")
	must(t, err)
	if !strings.Contains(cons, fmt.Sprintf("sid=0x%x", c.SessionID())) {
		t.Fatalf("cons does not list session 0x%x:\n%s", c.SessionID(), cons)
	}
}

func testCreateGetSetDelete(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	p, err := c.Create(ctx, "/CreateGetSetDelete/a", []byte("one"), Persistent, WorldACL(PermAll))
	must(t, err)
	if p != "/CreateGetSetDelete/a" {
		t.Fatalf("Create returned %q", p)
	}
	data, st, err := c.Get(ctx, p)
	must(t, err)
	if string(data) != "one" || st.Version != 0 || st.DataLength != 3 || st.Czxid == 0 || st.Czxid != st.Mzxid {
		t.Fatalf("Get = %q %+v", data, st)
	}
	st2, err := c.Set(ctx, p, []byte("two"), 0)
	must(t, err)
	if st2.Version != 1 || st2.Mzxid <= st.Mzxid || st2.Czxid != st.Czxid {
		t.Fatalf("Set stat %+v after %+v", st2, st)
	}
	_, err = c.Set(ctx, p, []byte("x"), 0)
	expectCode(t, err, ErrBadVersion)
	st3, err := c.Set(ctx, p, nil, -1)
	must(t, err)
	data, _, err = c.Get(ctx, p)
	must(t, err)
	if len(data) != 0 || st3.DataLength != 0 {
		t.Fatalf("after Set(nil): data %q, DataLength %d", data, st3.DataLength)
	}

	p2, st4, err := c.CreateWithStat(ctx, "/CreateGetSetDelete/b", []byte("bee"), Persistent, WorldACL(PermAll))
	must(t, err)
	if p2 != "/CreateGetSetDelete/b" || st4.DataLength != 3 || st4.Version != 0 || st4.Czxid == 0 {
		t.Fatalf("CreateWithStat = %q %+v", p2, st4)
	}
	st5, ok, err := c.Exists(ctx, p2)
	must(t, err)
	if !ok || st5 != st4 {
		t.Fatalf("Exists = %v %+v, want %+v", ok, st5, st4)
	}

	err = c.Delete(ctx, p, 5)
	expectCode(t, err, ErrBadVersion)
	must(t, c.Delete(ctx, p, st3.Version))
	_, ok, err = c.Exists(ctx, p)
	must(t, err)
	if ok {
		t.Fatal("node exists after Delete")
	}
	must(t, c.Delete(ctx, p2, -1))

	// Data up to the limit goes through both ways.
	big := bytes.Repeat([]byte("z"), 1000_000)
	_, err = c.Create(ctx, "/CreateGetSetDelete/big", big, Persistent, WorldACL(PermAll))
	must(t, err)
	data, _, err = c.Get(ctx, "/CreateGetSetDelete/big")
	must(t, err)
	if !bytes.Equal(data, big) {
		t.Fatalf("big node: got %d bytes", len(data))
	}
}

func testCreateModes(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/CreateModes"
	p1, err := c.Create(ctx, base+"/seq-", nil, PersistentSequential, WorldACL(PermAll))
	must(t, err)
	p2, err := c.Create(ctx, base+"/seq-", nil, PersistentSequential, WorldACL(PermAll))
	must(t, err)
	if p1 != base+"/seq-0000000000" || p2 != base+"/seq-0000000001" {
		t.Fatalf("sequential paths %q %q", p1, p2)
	}
	p3, st, err := c.CreateWithStat(ctx, base+"/eph", nil, Ephemeral, WorldACL(PermAll))
	must(t, err)
	if st.EphemeralOwner != c.SessionID() {
		t.Fatalf("ephemeral owner %x, session %x", st.EphemeralOwner, c.SessionID())
	}
	p4, err := c.Create(ctx, base+"/eseq-", nil, EphemeralSequential, WorldACL(PermAll))
	must(t, err)
	// The parent's cversion counts creates, so the next sequence number is 3.
	if p4 != base+"/eseq-0000000003" {
		t.Fatalf("ephemeral sequential path %q", p4)
	}
	_, err = c.Create(ctx, p3+"/child", nil, Persistent, WorldACL(PermAll))
	expectCode(t, err, ErrNoChildrenForEphemerals)
	eph, err := c.GetEphemerals(ctx, base)
	must(t, err)
	if !equalStrings(eph, []string{p3, p4}) {
		t.Fatalf("GetEphemerals = %v", eph)
	}
}

func testContainerAndTTL(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/ContainerAndTTL"
	p, st, err := c.CreateContainer(ctx, base+"/box", []byte("c"), WorldACL(PermAll))
	must(t, err)
	if p != base+"/box" || st.DataLength != 1 || st.EphemeralOwner != 0 {
		t.Fatalf("CreateContainer = %q %+v", p, st)
	}
	// A container is removed once its last child is gone (the server checks
	// every 100ms here, see znode.container.checkIntervalMs).
	_, err = c.Create(ctx, base+"/box/item", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	must(t, c.Delete(ctx, base+"/box/item", -1))
	waitFor(t, "the empty container to be deleted", func() bool {
		_, ok, err := c.Exists(ctx, base+"/box")
		must(t, err)
		return !ok
	})

	p, st, err = c.CreateTTL(ctx, base+"/ttl", []byte("t"), PersistentWithTTL, WorldACL(PermAll), 500*time.Millisecond)
	must(t, err)
	// The server keeps the TTL in the node's ephemeralOwner but shows
	// clients 0 for TTL and container nodes (DataNode.getClientEphemeralOwner).
	if p != base+"/ttl" || st.EphemeralOwner != 0 {
		t.Fatalf("CreateTTL = %q owner %#x", p, st.EphemeralOwner)
	}
	p, _, err = c.CreateTTL(ctx, base+"/ttlseq-", nil, PersistentSequentialWithTTL, WorldACL(PermAll), time.Hour)
	must(t, err)
	// Sequence numbers count the creates under the parent (box, ttl), not
	// the visible Cversion, which ZooKeeper computes as 2*creates-children.
	if p != base+"/ttlseq-0000000002" {
		t.Fatalf("CreateTTL sequential = %q", p)
	}
	waitFor(t, "the TTL node to expire", func() bool {
		_, ok, err := c.Exists(ctx, base+"/ttl")
		must(t, err)
		return !ok
	})
	// TTL with a non-TTL mode, or a zero TTL, is refused by the server.
	_, _, err = c.CreateTTL(ctx, base+"/bad", nil, Persistent, WorldACL(PermAll), time.Second)
	expectCode(t, err, ErrBadArguments)
	_, _, err = c.CreateTTL(ctx, base+"/bad", nil, PersistentWithTTL, WorldACL(PermAll), 0)
	expectCode(t, err, ErrBadArguments)
}

func testErrors(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/Errors"
	_, _, err := c.Get(ctx, base+"/missing")
	expectCode(t, err, ErrNoNode)
	var ze *Error
	if !errors.As(err, &ze) || ze.Op != "getData" || ze.Path != base+"/missing" {
		t.Fatalf("error %#v", err)
	}
	if got, want := err.Error(), "getData: KeeperErrorCode = NoNode for /Errors/missing"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	_, err = c.Create(ctx, base, nil, Persistent, WorldACL(PermAll))
	expectCode(t, err, ErrNodeExists)
	_, err = c.Create(ctx, base+"/no/parent", nil, Persistent, WorldACL(PermAll))
	expectCode(t, err, ErrNoNode)
	_, err = c.Create(ctx, base+"/c", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	expectCode(t, c.Delete(ctx, base, -1), ErrNotEmpty)
	expectCode(t, c.Delete(ctx, base+"/missing", -1), ErrNoNode)
	_, err = c.Set(ctx, base+"/missing", nil, -1)
	expectCode(t, err, ErrNoNode)
	_, err = c.Children(ctx, base+"/missing")
	expectCode(t, err, ErrNoNode)
	_, _, err = c.GetACL(ctx, base+"/missing")
	expectCode(t, err, ErrNoNode)
	_, err = c.Create(ctx, base+"/badacl", nil, Persistent, nil)
	expectCode(t, err, ErrInvalidACL)
	_, err = c.Create(ctx, "no-slash", nil, Persistent, WorldACL(PermAll))
	expectCode(t, err, ErrBadArguments)
	_, err = c.Create(ctx, base+"/", nil, Persistent, WorldACL(PermAll))
	expectCode(t, err, ErrBadArguments)
}

func testChildren(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/Children"
	want := []string{"a", "b", "c"}
	for _, n := range want {
		_, err := c.Create(ctx, base+"/"+n, nil, Persistent, WorldACL(PermAll))
		must(t, err)
	}
	names, err := c.Children(ctx, base)
	must(t, err)
	if !equalStrings(names, want) {
		t.Fatalf("Children = %v", names)
	}
	names, st, err := c.Children2(ctx, base)
	must(t, err)
	if !equalStrings(names, want) || st.NumChildren != 3 || st.Cversion != 3 {
		t.Fatalf("Children2 = %v %+v", names, st)
	}
	names, err = c.Children(ctx, base+"/a")
	must(t, err)
	if names == nil || len(names) != 0 {
		t.Fatalf("Children of a leaf = %#v, want empty", names)
	}
}

func testACL(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	p := "/ACL/ro"
	_, err := c.Create(ctx, p, []byte("x"), Persistent, WorldACL(PermRead))
	must(t, err)
	acl, st, err := c.GetACL(ctx, p)
	must(t, err)
	if len(acl) != 1 || acl[0] != (ACL{Perms: PermRead, Scheme: "world", ID: "anyone"}) || st.Aversion != 0 {
		t.Fatalf("GetACL = %+v %+v", acl, st)
	}
	_, err = c.Set(ctx, p, []byte("y"), -1)
	expectCode(t, err, ErrNoAuth)
	// setACL needs ADMIN, which world:anyone lacks here.
	_, err = c.SetACL(ctx, p, WorldACL(PermAll), -1)
	expectCode(t, err, ErrNoAuth)

	p2 := "/ACL/open"
	_, err = c.Create(ctx, p2, nil, Persistent, WorldACL(PermAll))
	must(t, err)
	_, err = c.SetACL(ctx, p2, WorldACL(PermRead|PermAdmin), 5)
	expectCode(t, err, ErrBadVersion)
	st, err = c.SetACL(ctx, p2, WorldACL(PermRead|PermAdmin), 0)
	must(t, err)
	if st.Aversion != 1 {
		t.Fatalf("SetACL stat %+v", st)
	}
	_, err = c.Create(ctx, p2+"/child", nil, Persistent, WorldACL(PermAll))
	expectCode(t, err, ErrNoAuth)
}

func testDigestAuth(t *testing.T, srv testServer, c *Client) {
	ctx := testCtx(t)
	p := "/DigestAuth/secret"
	_, err := c.Create(ctx, p, []byte("s"), Persistent, DigestACL(PermAll, "alice", "pw"))
	must(t, err)
	_, _, err = c.Get(ctx, p)
	expectCode(t, err, ErrNoAuth)

	// A second client that authenticates at connect time can read it.
	alice := connect(t, srv.Addr(), WithAuth("digest", []byte("alice:pw")))
	data, _, err := alice.Get(ctx, p)
	must(t, err)
	if string(data) != "s" {
		t.Fatalf("Get = %q", data)
	}
	who, err := alice.WhoAmI(ctx)
	must(t, err)
	if !containsInfo(who, "digest", "alice") || !containsInfo(who, "ip", "127.0.0.1") {
		t.Fatalf("WhoAmI = %+v", who)
	}

	// AuthACL expands to the creator's identities; the server computes the
	// same digest id as DigestID.
	_, err = alice.Create(ctx, "/DigestAuth/mine", nil, Persistent, AuthACL(PermAll))
	must(t, err)
	acl, _, err := alice.GetACL(ctx, "/DigestAuth/mine")
	must(t, err)
	if len(acl) != 1 || acl[0].Scheme != "digest" || acl[0].ID != DigestID("alice", "pw") {
		t.Fatalf("auth ACL stored as %+v, want digest %s", acl, DigestID("alice", "pw"))
	}
	// AuthACL without any identity is refused.
	_, err = c.Create(ctx, "/DigestAuth/none", nil, Persistent, AuthACL(PermAll))
	expectCode(t, err, ErrInvalidACL)

	// AddAuth on a live session, a wrong password first.
	bob := connect(t, srv.Addr())
	must(t, bob.AddAuth(ctx, "digest", []byte("alice:wrong")))
	_, _, err = bob.Get(ctx, p)
	expectCode(t, err, ErrNoAuth)
	must(t, bob.AddAuth(ctx, "digest", []byte("alice:pw")))
	_, _, err = bob.Get(ctx, p)
	must(t, err)
}

func containsInfo(infos []jute.ClientInfo, scheme, user string) bool {
	for _, ci := range infos {
		if ci.AuthScheme == scheme && ci.User == user {
			return true
		}
	}
	return false
}

func testAuthFailed(t *testing.T, srv testServer, _ *Client) {
	ctx := testCtx(t)
	var log eventLog
	c := connect(t, srv.Addr(), WithEventCallback(log.add))
	_, ch, err := c.ChildrenW(ctx, "/AuthFailed")
	must(t, err)
	err = c.AddAuth(ctx, "nosuchscheme", []byte("x"))
	expectCode(t, err, ErrAuthFailed)
	// Like the Java client, a refused auth ends the session for this client.
	waitFor(t, "the AuthFailed state", func() bool { return c.State() == jute.StateAuthFailed })
	_, _, err = c.Get(ctx, "/AuthFailed")
	expectCode(t, err, ErrAuthFailed)
	ev := recv(t, ch)
	if ev.Type != jute.EventNone || ev.State != jute.StateAuthFailed || !errors.Is(ev.Err, ErrAuthFailed) {
		t.Fatalf("watch got %v", ev)
	}
	expectClosed(t, ch)
	waitFor(t, "the AuthFailed session event", func() bool { return log.has(jute.StateAuthFailed) })
	must(t, c.Close())
}

func testSync(t *testing.T, _ testServer, c *Client) {
	p, err := c.Sync(testCtx(t), "/Sync")
	must(t, err)
	if p != "/Sync" {
		t.Fatalf("Sync = %q", p)
	}
}

func testMulti(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/Multi"
	_, err := c.Create(ctx, base+"/old", []byte("o"), Persistent, WorldACL(PermAll))
	must(t, err)
	res, err := c.Multi(ctx,
		CreateOp(base+"/a", []byte("a"), Persistent, WorldACL(PermAll)),
		Create2Op(base+"/s-", nil, PersistentSequential, WorldACL(PermAll)),
		SetOp(base+"/a", []byte("a2"), 0),
		CheckOp(base+"/a", 1),
		DeleteOp(base+"/old", 0),
		CreateContainerOp(base+"/box", nil, WorldACL(PermAll)),
		CreateTTLOp(base+"/ttl", nil, PersistentWithTTL, WorldACL(PermAll), time.Hour),
	)
	must(t, err)
	// ZooKeeper 3.8 answers a create2 inside a multi with a plain create
	// result (path, no Stat); createContainer and createTTL get create2.
	want := []jute.OpCode{jute.OpCreate, jute.OpCreate, jute.OpSetData, jute.OpCheck, jute.OpDelete, jute.OpCreate2, jute.OpCreate2}
	if len(res) != len(want) {
		t.Fatalf("%d results: %+v", len(res), res)
	}
	for i, r := range res {
		if r.Type != want[i] || r.Err != jute.ErrOK {
			t.Fatalf("result %d = %+v, want type %s", i, r, want[i])
		}
	}
	if res[0].Path != base+"/a" || res[1].Path != base+"/s-0000000002" || res[1].Stat != (Stat{}) ||
		res[2].Stat.Version != 1 || res[5].Path != base+"/box" || res[6].Path != base+"/ttl" {
		t.Fatalf("results %+v", res)
	}
	// All ops share one zxid.
	if res[5].Stat.Czxid == 0 || res[5].Stat.Czxid != res[2].Stat.Mzxid || res[6].Stat.Czxid != res[2].Stat.Mzxid {
		t.Fatalf("multi ops have different zxids: %+v", res)
	}
	res, err = c.Multi(ctx)
	if res != nil || err != nil {
		t.Fatalf("empty Multi = %v, %v", res, err)
	}
}

func testMultiFailure(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/MultiFailure"
	res, err := c.Multi(ctx,
		CreateOp(base+"/a", nil, Persistent, WorldACL(PermAll)),
		CheckOp(base+"/a", 3),
		CreateOp(base+"/b", nil, Persistent, WorldACL(PermAll)),
	)
	expectCode(t, err, ErrBadVersion)
	var ze *Error
	if !errors.As(err, &ze) || ze.Op != "multi" || ze.Path != base+"/a" {
		t.Fatalf("error %#v", err)
	}
	wantErr := []jute.Err{jute.ErrOK, jute.ErrBadVersion, jute.ErrRuntimeInconsistency}
	if len(res) != 3 {
		t.Fatalf("results %+v", res)
	}
	for i, r := range res {
		if r.Type != jute.OpError || r.Err != wantErr[i] {
			t.Fatalf("result %d = %+v, want error %s", i, r, wantErr[i].Name())
		}
	}
	// Nothing was applied.
	_, ok, err := c.Exists(ctx, base+"/a")
	must(t, err)
	if ok {
		t.Fatal("a failed multi created a node")
	}

	res, err = c.Multi(ctx, DeleteOp(base+"/missing", -1))
	expectCode(t, err, ErrNoNode)
	if len(res) != 1 || res[0].Err != jute.ErrNoNode {
		t.Fatalf("results %+v", res)
	}
}

func testMultiRead(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/MultiRead"
	_, err := c.Create(ctx, base+"/x", []byte("xx"), Persistent, WorldACL(PermAll))
	must(t, err)
	res, err := c.MultiRead(ctx, GetDataOp(base+"/x"), GetChildrenOp(base), GetDataOp(base+"/missing"), GetChildrenOp(base+"/x"))
	must(t, err)
	if len(res) != 4 {
		t.Fatalf("results %+v", res)
	}
	if res[0].Type != jute.OpGetData || string(res[0].Data) != "xx" || res[0].Stat.DataLength != 2 {
		t.Fatalf("result 0 %+v", res[0])
	}
	if res[1].Type != jute.OpGetChildren || !equalStrings(res[1].Children, []string{"x"}) {
		t.Fatalf("result 1 %+v", res[1])
	}
	if res[2].Type != jute.OpError || res[2].Err != jute.ErrNoNode {
		t.Fatalf("result 2 %+v", res[2])
	}
	if res[3].Type != jute.OpGetChildren || len(res[3].Children) != 0 {
		t.Fatalf("result 3 %+v", res[3])
	}
}

func testEphemeralsAndCounts(t *testing.T, srv testServer, c *Client) {
	ctx := testCtx(t)
	base := "/EphemeralsAndCounts"
	other := connect(t, srv.Addr())
	for _, p := range []string{base + "/a", base + "/a/b", base + "/a/b/c", base + "/d"} {
		_, err := c.Create(ctx, p, nil, Persistent, WorldACL(PermAll))
		must(t, err)
	}
	n, err := c.GetAllChildrenNumber(ctx, base)
	must(t, err)
	if n != 4 {
		t.Fatalf("GetAllChildrenNumber = %d, want 4", n)
	}
	_, err = c.GetAllChildrenNumber(ctx, base+"/missing")
	expectCode(t, err, ErrNoNode)

	_, err = c.Create(ctx, base+"/d/mine", nil, Ephemeral, WorldACL(PermAll))
	must(t, err)
	_, err = other.Create(ctx, base+"/d/theirs", nil, Ephemeral, WorldACL(PermAll))
	must(t, err)
	eph, err := c.GetEphemerals(ctx, base+"/d")
	must(t, err)
	if !equalStrings(eph, []string{base + "/d/mine"}) {
		t.Fatalf("GetEphemerals = %v", eph)
	}
	eph, err = c.GetEphemerals(ctx, base+"/nothing-here")
	must(t, err)
	if len(eph) != 0 {
		t.Fatalf("GetEphemerals of an unused prefix = %v", eph)
	}
}

func testDo(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	var resp jute.Create2Response
	h, err := c.Do(ctx, jute.OpCreate2, &jute.CreateRequest{Path: "/Do/raw", Data: []byte("r"), ACL: WorldACL(PermAll)}, &resp)
	must(t, err)
	if h.Xid <= 0 || h.Zxid == 0 || h.Err != jute.ErrOK || resp.Path != "/Do/raw" || resp.Stat.DataLength != 1 {
		t.Fatalf("Do = %+v %+v", h, resp)
	}
	h, err = c.Do(ctx, jute.OpGetData, &jute.PathWatchRequest{Path: "/Do/missing"}, nil)
	expectCode(t, err, ErrNoNode)
	if h.Err != jute.ErrNoNode {
		t.Fatalf("header %+v", h)
	}
	_, err = c.Do(ctx, jute.OpPing, nil, nil)
	expectCode(t, err, ErrBadArguments)
}

func testCallUnimplemented(t *testing.T, srv testServer, _ *Client) {
	ctx := testCtx(t)
	var log eventLog
	c := connect(t, srv.Addr(), WithEventCallback(log.add))
	first := c.liveConn()
	_, err := c.Call(ctx, "lock", "acquire", []byte("{}"))
	if isZkx(srv) {
		// recipeCall is zkx's own opcode (README, "Server-side recipes").
		// This node runs without recipes, as zkx.recipes=false: there is
		// no such recipe, and the connection stays up.
		expectCode(t, err, ErrRecipeNotFound)
		_, _, err = c.Exists(ctx, "/CallUnimplemented")
		must(t, err)
		if c.liveConn() != first {
			t.Fatal("the client reconnected after a recipe call")
		}
		return
	}
	// ZooKeeper answers an unknown opcode with Unimplemented and then drops
	// the connection; the client reconnects and carries on.
	expectCode(t, err, ErrUnimplemented)
	waitFor(t, "a reconnection", func() bool { return log.count(jute.StateSyncConnected) >= 2 })
	_, _, err = c.Exists(ctx, "/CallUnimplemented")
	must(t, err)
}

func testDataWatch(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	p := "/DataWatch/n"
	_, err := c.Create(ctx, p, []byte("1"), Persistent, WorldACL(PermAll))
	must(t, err)
	data, _, ch, err := c.GetW(ctx, p)
	must(t, err)
	if string(data) != "1" {
		t.Fatalf("GetW = %q", data)
	}
	_, err = c.Set(ctx, p, []byte("2"), -1)
	must(t, err)
	// The event is delivered before the reply to the Set completes.
	expectEvent(t, ch, jute.EventNodeDataChanged, p)
	expectClosed(t, ch)
	// GetW on a missing node fails and sets no watch.
	_, _, ch, err = c.GetW(ctx, "/DataWatch/missing")
	expectCode(t, err, ErrNoNode)
	if ch != nil {
		t.Fatal("GetW returned a channel with an error")
	}
	// Two watchers on one path both fire.
	_, _, ch1, err := c.GetW(ctx, p)
	must(t, err)
	_, _, ch2, err := c.GetW(ctx, p)
	must(t, err)
	_, err = c.Set(ctx, p, []byte("3"), -1)
	must(t, err)
	expectEvent(t, ch1, jute.EventNodeDataChanged, p)
	expectEvent(t, ch2, jute.EventNodeDataChanged, p)
}

func testExistsWatch(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	p := "/ExistsWatch/n"
	_, ok, ch, err := c.ExistsW(ctx, p)
	must(t, err)
	if ok || ch == nil {
		t.Fatalf("ExistsW on a missing node: ok %v ch %v", ok, ch)
	}
	_, err = c.Create(ctx, p, nil, Persistent, WorldACL(PermAll))
	must(t, err)
	expectEvent(t, ch, jute.EventNodeCreated, p)
	expectClosed(t, ch)

	_, ok, ch, err = c.ExistsW(ctx, p)
	must(t, err)
	if !ok {
		t.Fatal("ExistsW: node missing")
	}
	must(t, c.Delete(ctx, p, -1))
	expectEvent(t, ch, jute.EventNodeDeleted, p)
}

func testChildWatch(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/ChildWatch"
	_, ch, err := c.ChildrenW(ctx, base)
	must(t, err)
	_, err = c.Create(ctx, base+"/x", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	expectEvent(t, ch, jute.EventNodeChildrenChanged, base)
	expectClosed(t, ch)

	_, _, ch, err = c.Children2W(ctx, base)
	must(t, err)
	// Changing a child's data is not a children change; deleting it is.
	_, err = c.Set(ctx, base+"/x", []byte("d"), -1)
	must(t, err)
	must(t, c.Delete(ctx, base+"/x", -1))
	expectEvent(t, ch, jute.EventNodeChildrenChanged, base)
}

func testDeleteFiresAllWatches(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	p := "/DeleteFiresAllWatches/n"
	_, err := c.Create(ctx, p, nil, Persistent, WorldACL(PermAll))
	must(t, err)
	_, _, dataCh, err := c.GetW(ctx, p)
	must(t, err)
	_, _, existCh, err := c.ExistsW(ctx, p)
	must(t, err)
	_, childCh, err := c.ChildrenW(ctx, p)
	must(t, err)
	must(t, c.Delete(ctx, p, -1))
	for _, ch := range []<-chan Event{dataCh, existCh, childCh} {
		expectEvent(t, ch, jute.EventNodeDeleted, p)
		expectClosed(t, ch)
	}
}

func testPersistentWatch(t *testing.T, srv testServer, c *Client) {
	ctx := testCtx(t)
	p := "/PersistentWatch/n"
	w, err := c.AddWatch(ctx, p, false)
	must(t, err)
	ch := w.Events()
	_, err = c.Create(ctx, p, []byte("a"), Persistent, WorldACL(PermAll))
	must(t, err)
	expectEvent(t, ch, jute.EventNodeCreated, p)
	_, err = c.Set(ctx, p, []byte("b"), -1)
	must(t, err)
	expectEvent(t, ch, jute.EventNodeDataChanged, p)
	_, err = c.Create(ctx, p+"/kid", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	expectEvent(t, ch, jute.EventNodeChildrenChanged, p)
	// A grandchild's change is not seen by a non-recursive watch: the next
	// event is the one after it.
	_, err = c.Set(ctx, p+"/kid", []byte("k"), -1)
	must(t, err)
	must(t, c.Delete(ctx, p+"/kid", -1))
	expectEvent(t, ch, jute.EventNodeChildrenChanged, p)
	must(t, c.Delete(ctx, p, -1))
	expectEvent(t, ch, jute.EventNodeDeleted, p)
	// Still registered after firing.
	_, err = c.Create(ctx, p, nil, Persistent, WorldACL(PermAll))
	must(t, err)
	expectEvent(t, ch, jute.EventNodeCreated, p)

	wchc, err := srv.FourLetter("wchc")
	must(t, err)
	if !strings.Contains(wchc, p) {
		t.Fatalf("server does not list the watch on %s:\n%s", p, wchc)
	}
	must(t, w.Remove(ctx))
	expectEvent(t, ch, jute.EventPersistentWatchRemoved, p)
	expectClosed(t, ch)
	// The server-side watch is gone too.
	expectCode(t, c.CheckWatches(ctx, p, WatcherAny), ErrNoWatcher)
	must(t, w.Remove(ctx))
}

func testRecursiveWatch(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/RecursiveWatch"
	w, err := c.AddWatch(ctx, base, true)
	must(t, err)
	ch := w.Events()
	_, err = c.Create(ctx, base+"/a", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	_, err = c.Create(ctx, base+"/a/b", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	_, err = c.Set(ctx, base+"/a/b", []byte("x"), -1)
	must(t, err)
	must(t, c.Delete(ctx, base+"/a/b", -1))
	_, err = c.Set(ctx, base, []byte("top"), -1)
	must(t, err)
	// Recursive watches get no NodeChildrenChanged events.
	expectEvent(t, ch, jute.EventNodeCreated, base+"/a")
	expectEvent(t, ch, jute.EventNodeCreated, base+"/a/b")
	expectEvent(t, ch, jute.EventNodeDataChanged, base+"/a/b")
	expectEvent(t, ch, jute.EventNodeDeleted, base+"/a/b")
	expectEvent(t, ch, jute.EventNodeDataChanged, base)
	expectNoEvent(t, ch)

	// A one-shot watch on the same path keeps the server watch alive when
	// the recursive one is removed.
	_, _, once, err := c.GetW(ctx, base)
	must(t, err)
	must(t, w.Remove(ctx))
	expectEvent(t, ch, jute.EventPersistentWatchRemoved, base)
	expectClosed(t, ch)
	_, err = c.Set(ctx, base, []byte("again"), -1)
	must(t, err)
	expectEvent(t, once, jute.EventNodeDataChanged, base)
}

func testRemoveAndCheckWatches(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	p := "/RemoveAndCheckWatches/n"
	_, err := c.Create(ctx, p, nil, Persistent, WorldACL(PermAll))
	must(t, err)
	expectCode(t, c.CheckWatches(ctx, p, WatcherAny), ErrNoWatcher)
	expectCode(t, c.RemoveWatches(ctx, p, WatcherAny), ErrNoWatcher)

	_, _, dataCh, err := c.GetW(ctx, p)
	must(t, err)
	_, childCh, err := c.ChildrenW(ctx, p)
	must(t, err)
	must(t, c.CheckWatches(ctx, p, WatcherData))
	must(t, c.CheckWatches(ctx, p, WatcherChildren))
	must(t, c.CheckWatches(ctx, p, WatcherAny))

	must(t, c.RemoveWatches(ctx, p, WatcherData))
	expectEvent(t, dataCh, jute.EventDataWatchRemoved, p)
	expectClosed(t, dataCh)
	expectCode(t, c.CheckWatches(ctx, p, WatcherData), ErrNoWatcher)
	must(t, c.CheckWatches(ctx, p, WatcherChildren))

	must(t, c.RemoveWatches(ctx, p, WatcherAny))
	expectEvent(t, childCh, jute.EventChildWatchRemoved, p)
	expectClosed(t, childCh)
	expectCode(t, c.CheckWatches(ctx, p, WatcherAny), ErrNoWatcher)

	// An exists watch on a missing node is a data watch to removeWatches.
	_, _, existCh, err := c.ExistsW(ctx, p+"/missing")
	must(t, err)
	must(t, c.RemoveWatches(ctx, p+"/missing", WatcherData))
	expectEvent(t, existCh, jute.EventDataWatchRemoved, p+"/missing")
}

func testPipelining(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	const workers, rounds = 32, 100
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			errc <- func() error {
				p := fmt.Sprintf("/Pipelining/w%02d", w)
				if _, err := c.Create(ctx, p, nil, Persistent, WorldACL(PermAll)); err != nil {
					return err
				}
				for i := 0; i < rounds; i++ {
					want := fmt.Sprintf("%s#%d", p, i)
					st, err := c.Set(ctx, p, []byte(want), int32(i))
					if err != nil {
						return fmt.Errorf("set %s v%d: %w", p, i, err)
					}
					if st.Version != int32(i+1) || st.DataLength != int32(len(want)) {
						return fmt.Errorf("set %s: stat %+v", p, st)
					}
					data, st2, err := c.Get(ctx, p)
					if err != nil {
						return err
					}
					if string(data) != want || st2.Version != st.Version {
						return fmt.Errorf("get %s = %q v%d, want %q v%d", p, data, st2.Version, want, st.Version)
					}
					if _, ok, err := c.Exists(ctx, p+"/none"); err != nil || ok {
						return fmt.Errorf("exists %s/none = %v, %v", p, ok, err)
					}
				}
				return nil
			}()
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	names, err := c.Children(ctx, "/Pipelining")
	must(t, err)
	if len(names) != workers {
		t.Fatalf("%d children", len(names))
	}
}

func testClose(t *testing.T, srv testServer, c *Client) {
	ctx := testCtx(t)
	var log eventLog
	d := connect(t, srv.Addr(), WithEventCallback(log.add))
	_, err := d.Create(ctx, "/Close/eph", nil, Ephemeral, WorldACL(PermAll))
	must(t, err)
	_, _, ephCh, err := d.GetW(ctx, "/Close/eph")
	must(t, err)
	_, _, ch, err := d.GetW(ctx, "/Close")
	must(t, err)
	w, err := d.AddWatch(ctx, "/Close", true)
	must(t, err)
	must(t, d.Close())
	// closeSession removed the ephemeral at once...
	_, ok, err := c.Exists(ctx, "/Close/eph")
	must(t, err)
	if ok {
		t.Fatal("ephemeral survived Close")
	}
	// ... and the session's own watches saw that before the reply to
	// closeSession arrived.
	expectEvent(t, ephCh, jute.EventNodeDeleted, "/Close/eph")
	expectClosed(t, ephCh)
	ev := recv(t, ch)
	if ev.Type != jute.EventNone || ev.State != jute.StateClosed || ev.Path != "/Close" || !errors.Is(ev.Err, ErrClosed) {
		t.Fatalf("watch got %v", ev)
	}
	expectClosed(t, ch)
	expectEvent(t, w.Events(), jute.EventNodeDeleted, "/Close/eph")
	ev = recv(t, w.Events())
	if ev.State != jute.StateClosed {
		t.Fatalf("persistent watch got %v", ev)
	}
	expectClosed(t, w.Events())
	if d.State() != jute.StateClosed {
		t.Fatalf("State = %s", StateName(d.State()))
	}
	_, _, err = d.Get(ctx, "/Close")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	must(t, d.Close())
	states := log.states()
	if len(states) != 2 || states[0] != jute.StateSyncConnected || states[1] != jute.StateClosed {
		t.Fatalf("session events %v", states)
	}
}

// testServerBehaviour pins down ZooKeeper answers that are easy to get
// wrong in a reimplementation; zkx is tested against the same expectations.
func testServerBehaviour(t *testing.T, _ testServer, c *Client) {
	ctx := testCtx(t)
	base := "/ServerBehaviour"

	// An empty multi succeeds with no results; a read inside a write multi
	// is a MarshallingError for the whole request.
	var mr jute.MultiResponse
	h, err := c.Do(ctx, jute.OpMulti, &jute.MultiRequest{}, &mr)
	must(t, err)
	if h.Err != jute.ErrOK || len(mr.Results) != 0 {
		t.Fatalf("empty multi: %+v %+v", h, mr)
	}
	_, err = c.Do(ctx, jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpGetData, Req: &jute.PathWatchRequest{Path: base}}}}, &mr)
	expectCode(t, err, jute.ErrMarshallingError)

	// Stat.Cversion counts creates and deletes (ZooKeeper stores creates
	// and reports 2*creates-children); sequence numbers count creates only.
	_, err = c.Create(ctx, base+"/a", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	must(t, c.Delete(ctx, base+"/a", -1))
	st, _, err := c.Exists(ctx, base)
	must(t, err)
	if st.Cversion != 2 || st.NumChildren != 0 {
		t.Fatalf("after a create and a delete: %+v", st)
	}
	p, err := c.Create(ctx, base+"/s-", nil, PersistentSequential, WorldACL(PermAll))
	must(t, err)
	if p != base+"/s-0000000001" {
		t.Fatalf("sequence after a create and a delete: %s", p)
	}

	// TTL modes need the createTTL opcode; the root and /zookeeper cannot
	// be deleted; ACLs are checked before the node's existence; sync of a
	// missing path succeeds.
	_, _, err = c.CreateWithStat(ctx, base+"/ttl", nil, PersistentWithTTL, WorldACL(PermAll))
	expectCode(t, err, ErrBadArguments)
	_, err = c.Create(ctx, base+"/mode", nil, CreateMode(9), WorldACL(PermAll))
	expectCode(t, err, ErrBadArguments)
	expectCode(t, c.Delete(ctx, "/", -1), ErrBadArguments)
	expectCode(t, c.Delete(ctx, "/zookeeper", -1), ErrBadArguments)
	_, err = c.SetACL(ctx, base+"/missing", nil, -1)
	expectCode(t, err, ErrInvalidACL)
	synced, err := c.Sync(ctx, base+"/missing")
	must(t, err)
	if synced != base+"/missing" {
		t.Fatalf("Sync = %q", synced)
	}
	kids, err := c.Children(ctx, "/zookeeper")
	must(t, err)
	if !equalStrings(kids, []string{"config", "quota"}) {
		t.Fatalf("/zookeeper children %v", kids)
	}

	// A persistent watch is a data and a child watch on the server:
	// removeWatches of type Data leaves the child half.
	w, err := c.AddWatch(ctx, base, false)
	must(t, err)
	must(t, c.CheckWatches(ctx, base, WatcherData))
	must(t, c.CheckWatches(ctx, base, WatcherChildren))
	must(t, c.RemoveWatches(ctx, base, WatcherData))
	expectCode(t, c.CheckWatches(ctx, base, WatcherData), ErrNoWatcher)
	must(t, c.CheckWatches(ctx, base, WatcherChildren))
	must(t, w.Remove(ctx))
	expectCode(t, c.CheckWatches(ctx, base, WatcherAny), ErrNoWatcher)
}
