package server

import (
	"strings"
	"sync"
	"testing"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/transport/jute"
)

// countingRuntime counts compiles.
type countingRuntime struct {
	host.Runtime
	mu       sync.Mutex
	compiles int
}

func (c *countingRuntime) Compile(name string, src []byte) (host.Module, error) {
	c.mu.Lock()
	c.compiles++
	c.mu.Unlock()
	return c.Runtime.Compile(name, src)
}

// gateBed is a recipe bed whose modules are not compiled yet (as after a
// restart, before WarmRecipes got to them) and whose background work
// waits until the test runs it.
func gateBed(t *testing.T) (*bed, *countingRuntime, *[]func()) {
	b := newBed(t)
	rt := &countingRuntime{Runtime: &goRuntime{mods: testModules}}
	b.s.cfg.Runtimes = map[host.Kind]host.Runtime{host.KindJS: rt}
	b.s.cfg.RecipeBudget = host.Budget{Time: 1e9, Ops: 50, Bytes: 1 << 20}
	b.s.InstallBuiltins([]Builtin{{Name: "kv", Module: []byte("go:kv")}})
	b.step()
	b.s.modules = moduleCache{}
	rt.compiles = 0
	var background []func()
	b.s.cfg.Background = func(f func()) { background = append(background, f) }
	return b, rt, &background
}

func runAll(fs *[]func()) {
	for len(*fs) > 0 {
		f := (*fs)[0]
		*fs = (*fs)[1:]
		f()
	}
}

func xids(rs []reply) []int32 {
	var out []int32
	for _, r := range rs {
		out = append(out, r.hdr.Xid)
	}
	return out
}

// TestCompileHoldsOnlyItsSession: while the module a recipe call needs
// compiles, its session's ping is answered and its later requests wait in
// order; other sessions' writes go through prep; however many calls need
// the module, it is compiled once.
func TestCompileHoldsOnlyItsSession(t *testing.T) {
	b, rt, background := gateBed(t)
	a := b.connect(0, nil)
	other := b.connect(0, nil)
	third := b.connect(0, nil)

	callXid := a.send(jute.OpRecipeCall, &jute.RecipeCallRequest{Name: "kv", Function: "put", Args: []byte(`{"Path":"/x","Data":"1"}`)})
	b.step()
	if rs := a.replies(); len(rs) != 0 {
		t.Fatalf("answered before its module compiled: %+v", rs)
	}
	if len(*background) != 1 {
		t.Fatalf("%d compiles started, want 1 in the background", len(*background))
	}
	a.send(jute.OpPing, nil)
	if rs := a.replies(); len(rs) != 1 || rs[0].hdr.Xid != jute.XidPing {
		t.Fatalf("a ping behind a compiling call: %+v, want its answer at once", rs)
	}
	afterXid := a.send(jute.OpCreate, &jute.CreateRequest{Path: "/after", ACL: openACL, TTL: -1})
	readXid := a.send(jute.OpExists, &jute.PathWatchRequest{Path: "/x"})
	b.step()
	if rs := a.replies(); len(rs) != 0 {
		t.Fatalf("requests behind a compiling call were answered first: %+v", rs)
	}
	if got := b.s.heldCount(); got != 2 {
		t.Fatalf("%d requests held, want the call and the create", got)
	}

	// Another session is not held up.
	if _, errc := other.create("/other", 0); errc != 0 {
		t.Fatalf("another session's create while a module compiles: %v", errc)
	}
	// A third session calling the same recipe waits for the same compile.
	thirdXid := third.send(jute.OpRecipeCall, &jute.RecipeCallRequest{Name: "kv", Function: "put", Args: []byte(`{"Path":"/y","Data":"3"}`)})

	runAll(background)
	b.step()
	rs := a.replies()
	if got := xids(rs); len(got) != 3 || got[0] != callXid || got[1] != afterXid || got[2] != readXid {
		t.Fatalf("replies %v, want the call, the create and the read in order (%d %d %d)", got, callXid, afterXid, readXid)
	}
	for _, r := range rs {
		if r.hdr.Err != 0 {
			t.Errorf("xid %d: %v", r.hdr.Xid, r.hdr.Err)
		}
	}
	if rs := third.replies(); len(rs) != 1 || rs[0].hdr.Xid != thirdXid || rs[0].hdr.Err != 0 {
		t.Fatalf("the third session's call: %+v", rs)
	}
	if rt.compiles != 1 {
		t.Errorf("the module was compiled %d times, want once", rt.compiles)
	}
	var x, after jute.StatResponse
	a.call(jute.OpExists, &jute.PathWatchRequest{Path: "/x"}, &x)
	a.call(jute.OpExists, &jute.PathWatchRequest{Path: "/after"}, &after)
	if x.Stat.Czxid >= after.Stat.Czxid {
		t.Errorf("the call's write (zxid %d) is not before the create sent after it (zxid %d)", x.Stat.Czxid, after.Stat.Czxid)
	}
	if b.s.heldCount() != 0 || len(b.s.held) != 0 {
		t.Errorf("requests still held: %v", b.s.held)
	}
}

// TestLeaderCompilesForLearnersInTheBackground: on a leader, a learner's
// recipe call that needs a compile does not hold up the learner's other
// sessions, and a sync of the calling session is answered only after the
// call's txn.
func TestLeaderCompilesForLearnersInTheBackground(t *testing.T) {
	b, _, background := gateBed(t)
	peers := &capture{}
	b.s.cfg.Peers = peers
	b.s.SetRole(RoleLeader, 1, 1)

	// What a follower sends for its clients' requests.
	learner := New(Config{Logger: b.s.log, Peers: &capture{}, Now: b.s.cfg.Now, Rand: strings.NewReader(strings.Repeat("p", 64))})
	learner.SetRole(RoleFollower, 1, 1)
	forwarded := func(r *Request, body jute.Record) []byte {
		e := jute.NewEncoder(nil)
		if body != nil {
			body.Encode(e)
		}
		sent := &learner.cfg.Peers.(*capture).sent
		*sent = nil
		learner.forward(r, e.Bytes())
		return (*sent)[0]
	}
	world := []acl.Id{{Scheme: "ip", ID: "127.0.0.1"}}
	for _, sid := range []int64{0x100, 0x200} {
		msg := forwarded(&Request{Session: sid, Op: jute.OpCreateSession, Timeout: 10000, Password: make([]byte, 16)}, nil)
		if err := b.s.HandleApp(2, msg); err != nil {
			t.Fatal(err)
		}
	}
	b.step()

	call := forwarded(&Request{Session: 0x100, Xid: 1, Op: jute.OpRecipeCall, Auth: world},
		&jute.RecipeCallRequest{Name: "kv", Function: "put", Args: []byte(`{"Path":"/x","Data":"1"}`)})
	if err := b.s.HandleApp(2, call); err != nil {
		t.Fatal(err)
	}
	if len(b.s.commitQ) != 0 {
		t.Fatal("the call went to prep before its module compiled")
	}
	w := appWriter{b: []byte{appSync}}
	w.varint(0x100)
	w.varint(2)
	peers.sent = nil
	if err := b.s.HandleApp(2, w.b); err != nil {
		t.Fatal(err)
	}
	if len(peers.sent) != 0 {
		t.Fatalf("a sync behind a compiling call was answered first: %v", peers.sent)
	}
	create := forwarded(&Request{Session: 0x200, Xid: 1, Op: jute.OpCreate, Auth: world},
		&jute.CreateRequest{Path: "/other", ACL: openACL, TTL: -1})
	if err := b.s.HandleApp(2, create); err != nil {
		t.Fatal(err)
	}
	if len(b.s.commitQ) != 1 {
		t.Fatal("another session's write waited for the compile")
	}
	b.step()

	runAll(background)
	if len(b.s.commitQ) != 1 {
		t.Fatal("the call did not go to prep after its module compiled")
	}
	if len(peers.sent) != 0 {
		t.Fatal("the sync was answered before the call's txn was applied")
	}
	b.step()
	if len(peers.sent) != 1 || peers.sent[0][0] != appSyncDone {
		t.Fatalf("after the call's txn: sent %v, want the sync's answer", peers.sent)
	}
}

// TestLeaderSyncWaitsForIssuedWrites: on a leader, a client's sync is
// answered only once every write the leader has issued is applied, so the
// read after it sees a write a follower may already have acknowledged (a
// leader sends COMMIT before it applies). Found by the linearizability
// checker (sync+getData returned the value before an acknowledged write).
func TestLeaderSyncWaitsForIssuedWrites(t *testing.T) {
	b := newBed(t)
	b.s.cfg.Peers = &capture{}
	b.s.SetRole(RoleLeader, 1, 1)
	writer, reader := b.connect(0, nil), b.connect(0, nil)

	writer.send(jute.OpCreate, &jute.CreateRequest{Path: "/w", ACL: openACL, TTL: -1}) // issued, not applied
	syncXid := reader.send(jute.OpSync, &jute.PathRequest{Path: "/"})
	readXid := reader.send(jute.OpExists, &jute.PathWatchRequest{Path: "/w"})
	if rs := reader.replies(); len(rs) != 0 {
		t.Fatalf("sync answered before the write issued ahead of it was applied: %+v", rs)
	}
	b.step()
	rs := reader.replies()
	if got := xids(rs); len(got) != 2 || got[0] != syncXid || got[1] != readXid {
		t.Fatalf("replies %v, want the sync then the read", got)
	}
	if rs[0].hdr.Err != 0 || rs[1].hdr.Err != 0 {
		t.Fatalf("sync %v, exists after it %v (want the write seen)", rs[0].hdr.Err, rs[1].hdr.Err)
	}

	// With nothing outstanding the sync is answered at once.
	syncXid = reader.send(jute.OpSync, &jute.PathRequest{Path: "/"})
	if rs := reader.replies(); len(rs) != 1 || rs[0].hdr.Xid != syncXid || rs[0].hdr.Err != 0 {
		t.Fatalf("sync with nothing outstanding: %+v", rs)
	}
}

// The gate decodes a recipe's manifest once per version: a new version
// (a new mzxid) is read again, a deleted recipe is forgotten.
func TestManifestHashesFollowVersions(t *testing.T) {
	var h manifestHashes
	v1 := []byte(`{"kind":"js","sha256":"aaa"}`)
	v2 := []byte(`{"kind":"js","sha256":"bbb"}`)
	if sha, ok := h.lookup("r", true, 10, v1); !ok || sha != "aaa" {
		t.Fatalf("first version: %q %v", sha, ok)
	}
	if sha, ok := h.lookup("r", true, 10, []byte("not read again")); !ok || sha != "aaa" {
		t.Fatalf("same version, cached: %q %v", sha, ok)
	}
	if sha, ok := h.lookup("r", true, 11, v2); !ok || sha != "bbb" {
		t.Fatalf("new version: %q %v", sha, ok)
	}
	if _, ok := h.lookup("r", true, 12, []byte("{bad")); ok {
		t.Fatal("a manifest that does not decode is valid")
	}
	if _, ok := h.lookup("r", false, 0, nil); ok || len(h.m) != 0 {
		t.Fatalf("deleted recipe: ok=%v, %d cached", ok, len(h.m))
	}
}
