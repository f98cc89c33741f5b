package difftest

import (
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/transport/internal/zktest"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

var (
	seeds   = flag.Int("diff.seeds", 20, "number of random op sequences to compare")
	opsPer  = flag.Int("diff.ops", 500, "ops per sequence")
	seed0   = flag.Int64("diff.seed", 1, "first seed")
	verbose = flag.Bool("diff.v", false, "log every op")
)

const (
	tick        = 100 * time.Millisecond
	longTimeout = 10000 // ms, for actors that never expire
	// shortTimeout is for the actor whose session the test lets expire.
	shortTimeout = 3000
	numActors    = 3
	shortActor   = 2
)

// TestDifferential runs the same random op sequences, through the same
// probe client, against Apache ZooKeeper 3.8 and zkx, and requires the same
// answers: error codes, results, every Stat field (zxids as offsets from the
// sequence's start, times as ctime==mtime relations), session ids mapped to
// actors, and the watch events each session receives, in order.
func TestDifferential(t *testing.T) {
	// Containers and TTL nodes are never cleaned up during a sequence: when
	// that happens is a matter of timing, not of semantics (the compat
	// tests check the cleanup itself).
	zk := zktest.Start(t,
		zktest.WithConfig("tickTime", fmt.Sprint(tick.Milliseconds())),
		zktest.WithConfig("minSessionTimeout", fmt.Sprint(2*tick.Milliseconds())),
		zktest.WithConfig("maxSessionTimeout", "10000"),
		zktest.WithJVMFlag("-Dznode.container.checkIntervalMs=36000000"))
	zx := zkxtest.Start(t, zkxtest.Options{TickTime: tick, MinSessionTimeout: 2 * tick, MaxSessionTimeout: 10 * time.Second,
		ContainerCheckInterval: 10 * time.Hour})
	for i := 0; i < *seeds; i++ {
		seed := *seed0 + int64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runSequence(t, seed, *opsPer, zk.Addr(), zx.Addr())
		})
	}
}

// target is one server as the sequence sees it.
type target struct {
	name   string
	addr   string
	actors [numActors]*probe
	labels map[int64]string // session id -> actor label, for ephemeralOwner
	base   int64            // zxid before the sequence's first write
}

// actor is one client session in the model both servers must agree with.
type actor struct {
	name    string
	gen     int
	timeout int32
	auth    []string
	// watches the actor holds, as the servers told it; re-sent on re-attach.
	// Persistent watches have a data and a child half (see core/watch).
	data, exist, child  map[string]bool
	persData, persChild map[string]bool
	recData, recChild   map[string]bool
}

func (a *actor) persistent(p string) bool { return a.persData[p] || a.persChild[p] }
func (a *actor) recursive(p string) bool  { return a.recData[p] || a.recChild[p] }

// hasWatch reports whether the actor holds a watch of WatcherType typ at p.
func (a *actor) hasWatch(p string, typ int32) bool {
	dataSide := a.data[p] || a.exist[p] || a.persData[p] || a.recData[p]
	childSide := a.child[p] || a.persChild[p] || a.recChild[p]
	switch typ {
	case jute.WatcherData:
		return dataSide
	case jute.WatcherChildren:
		return childSide
	}
	return dataSide || childSide
}

func (a *actor) label() string { return fmt.Sprintf("%s%d", a.name, a.gen) }

func newActor(name string, timeout int32) *actor {
	a := &actor{name: name, timeout: timeout}
	a.resetWatches()
	return a
}

func (a *actor) resetWatches() {
	a.data, a.exist, a.child = map[string]bool{}, map[string]bool{}, map[string]bool{}
	a.persData, a.persChild = map[string]bool{}, map[string]bool{}
	a.recData, a.recChild = map[string]bool{}, map[string]bool{}
}

func (a *actor) sawEvent(ev jute.WatcherEvent) {
	switch ev.Type {
	case jute.EventNodeCreated, jute.EventNodeDataChanged:
		delete(a.data, ev.Path)
		delete(a.exist, ev.Path)
	case jute.EventNodeDeleted:
		delete(a.data, ev.Path)
		delete(a.exist, ev.Path)
		delete(a.child, ev.Path)
	case jute.EventNodeChildrenChanged:
		delete(a.child, ev.Path)
	}
}

type sequence struct {
	t       *testing.T
	rng     *rand.Rand
	root    string
	targets [2]*target
	actors  [numActors]*actor
	paths   []string // path pool
	log     []string
	expired bool // an actor's session has expired in this sequence
}

func runSequence(t *testing.T, seed int64, n int, zkAddr, zxAddr string) {
	sq := &sequence{
		t:    t,
		rng:  rand.New(rand.NewSource(seed)),
		root: fmt.Sprintf("/dt%d", seed),
		targets: [2]*target{
			{name: "zookeeper", addr: zkAddr, labels: map[int64]string{}},
			{name: "zkx", addr: zxAddr, labels: map[int64]string{}},
		},
	}
	for i := range sq.actors {
		timeout := int32(longTimeout)
		if i == shortActor {
			timeout = shortTimeout
		}
		sq.actors[i] = newActor(string(rune('A'+i)), timeout)
	}
	for i := range sq.actors {
		sq.connectNew(i, sq.actors[i].timeout)
	}
	defer func() {
		// Close the sessions, so none expires during the next sequence and
		// shifts the zxids of one server only.
		for _, tg := range sq.targets {
			for _, p := range tg.actors {
				if p != nil && !p.closed {
					p.call(0, jute.OpCloseSession, nil)
					p.drop()
				}
			}
		}
	}()
	// The sequence's root; its zxid is the base both servers count from.
	for _, tg := range sq.targets {
		rh, _, err := tg.actors[0].call(0, jute.OpCreate, &jute.CreateRequest{Path: sq.root, ACL: openACL, TTL: -1})
		if err != nil || rh.Err != 0 {
			t.Fatalf("%s: create root: %v %v", tg.name, err, rh.Err)
		}
		tg.base = rh.Zxid - 1
	}
	for _, name := range []string{"a", "b", "c"} {
		sq.paths = append(sq.paths, sq.root+"/"+name)
	}
	for i := 0; i < n; i++ {
		if i == n/2 && !sq.expired {
			// Every sequence sees an expiry, and the rest of it runs
			// after one: ephemerals gone, watches fired, a new session.
			sq.expire(shortActor)
		}
		sq.step(i)
		if t.Failed() {
			t.Logf("seed %d, last ops:\n%s", seed, strings.Join(lastN(sq.log, 25), "\n"))
			return
		}
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var openACL = []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}

// connectNew opens a new session for actor i on both servers.
func (sq *sequence) connectNew(i int, timeout int32) {
	a := sq.actors[i]
	a.gen++
	a.auth = nil
	a.resetWatches()
	var outs [2]string
	for k, tg := range sq.targets {
		p, resp, err := dialProbe(tg.addr, 0, nil, timeout, 0)
		if err != nil {
			sq.t.Fatalf("%s: connect: %v", tg.name, err)
		}
		tg.actors[i] = p
		tg.labels[resp.SessionID] = a.label()
		outs[k] = fmt.Sprintf("timeout=%d", resp.TimeOut)
	}
	sq.compare(fmt.Sprintf("%s connect(timeout=%d)", a.label(), timeout), outs)
}

func (sq *sequence) compare(what string, outs [2]string) {
	sq.log = append(sq.log, fmt.Sprintf("%s -> %s", what, outs[0]))
	if *verbose {
		sq.t.Logf("%s -> %s", what, outs[0])
	}
	if outs[0] != outs[1] {
		sq.t.Errorf("%s:\n  zookeeper: %s\n  zkx:       %s", what, outs[0], outs[1])
	}
}

// pick returns a path from the pool, or a new child of one.
func (sq *sequence) pick() string {
	r := sq.rng.Intn(10)
	p := sq.paths[sq.rng.Intn(len(sq.paths))]
	switch {
	case r < 6:
		return p
	case r < 9:
		name := []string{"a", "b", "c", "x"}[sq.rng.Intn(4)]
		child := p + "/" + name
		if strings.Count(child, "/") <= 5 {
			sq.addPath(child)
		}
		return child
	default:
		return []string{sq.root, sq.root + "/missing/x", "/zookeeper", sq.root + "/a/"}[sq.rng.Intn(4)]
	}
}

func (sq *sequence) addPath(p string) {
	for _, q := range sq.paths {
		if q == p {
			return
		}
	}
	sq.paths = append(sq.paths, p)
}

func (sq *sequence) data() []byte {
	switch sq.rng.Intn(6) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return []byte(fmt.Sprintf("v%d", sq.rng.Intn(1000)))
}

func (sq *sequence) version() int32 {
	if sq.rng.Intn(3) == 0 {
		return int32(sq.rng.Intn(3))
	}
	return -1
}

func (sq *sequence) acls() []jute.ACL {
	switch sq.rng.Intn(12) {
	case 0:
		return []jute.ACL{{Perms: jute.PermRead, Scheme: "world", ID: "anyone"}}
	case 1:
		return []jute.ACL{{Perms: jute.PermAll, Scheme: "digest", ID: acl.Digest("alice:pw")},
			{Perms: jute.PermRead, Scheme: "world", ID: "anyone"}}
	case 2:
		return []jute.ACL{{Perms: jute.PermAll, Scheme: "auth"}}
	case 3:
		return []jute.ACL{{Perms: jute.PermCreate | jute.PermDelete, Scheme: "world", ID: "anyone"}}
	case 4:
		return []jute.ACL{{Perms: jute.PermAll, Scheme: "ip", ID: "127.0.0.0/8"}}
	case 5:
		return []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "nobody"}}
	}
	return openACL
}

func (sq *sequence) createReq() (jute.OpCode, *jute.CreateRequest) {
	req := &jute.CreateRequest{Path: sq.pick(), Data: sq.data(), ACL: sq.acls(), TTL: -1}
	switch r := sq.rng.Intn(20); {
	case r < 7:
		req.Flags = jute.FlagPersistent
	case r < 10:
		req.Flags = jute.FlagEphemeral
	case r < 12:
		req.Flags = jute.FlagPersistentSequential
	case r < 14:
		req.Flags = jute.FlagEphemeralSequential
	case r < 16:
		req.Flags = jute.FlagContainer
		return jute.OpCreateContainer, req
	case r < 18:
		req.Flags = []int32{jute.FlagPersistentWithTTL, jute.FlagPersistentSequentialWithTTL}[sq.rng.Intn(2)]
		req.HasTTL = true
		req.TTL = []int64{60000, 0, -5}[sq.rng.Intn(3)]
		return jute.OpCreateTTL, req
	default:
		req.Flags = int32(sq.rng.Intn(8)) // includes invalid 7
	}
	op := []jute.OpCode{jute.OpCreate, jute.OpCreate2}[sq.rng.Intn(2)]
	return op, req
}

// request is one generated request.
type request struct {
	op  jute.OpCode
	xid int32
	req jute.Record
}

func (sq *sequence) genRequest() request {
	r := sq.rng.Intn(100)
	switch {
	case r < 22:
		op, req := sq.createReq()
		return request{op: op, req: req}
	case r < 30:
		return request{op: jute.OpDelete, req: &jute.PathVersionRequest{Path: sq.pick(), Version: sq.version()}}
	case r < 40:
		return request{op: jute.OpSetData, req: &jute.SetDataRequest{Path: sq.pick(), Data: sq.data(), Version: sq.version()}}
	case r < 47:
		return request{op: jute.OpExists, req: &jute.PathWatchRequest{Path: sq.pick(), Watch: sq.rng.Intn(2) == 0}}
	case r < 54:
		return request{op: jute.OpGetData, req: &jute.PathWatchRequest{Path: sq.pick(), Watch: sq.rng.Intn(2) == 0}}
	case r < 60:
		op := []jute.OpCode{jute.OpGetChildren, jute.OpGetChildren2}[sq.rng.Intn(2)]
		return request{op: op, req: &jute.PathWatchRequest{Path: sq.pick(), Watch: sq.rng.Intn(2) == 0}}
	case r < 63:
		return request{op: jute.OpGetACL, req: &jute.PathRequest{Path: sq.pick()}}
	case r < 66:
		return request{op: jute.OpSetACL, req: &jute.SetACLRequest{Path: sq.pick(), ACL: sq.acls(), Version: sq.version()}}
	case r < 74:
		return request{op: jute.OpMulti, req: sq.multi()}
	case r < 76:
		m := &jute.MultiRequest{}
		for i := sq.rng.Intn(3) + 1; i > 0; i-- {
			op := []jute.OpCode{jute.OpGetData, jute.OpGetChildren}[sq.rng.Intn(2)]
			m.Ops = append(m.Ops, jute.MultiOp{Type: op, Req: &jute.PathWatchRequest{Path: sq.pick()}})
		}
		if sq.rng.Intn(20) == 0 { // a write in a multiRead, a read in a multi
			m.Ops = append(m.Ops, jute.MultiOp{Type: jute.OpDelete, Req: &jute.PathVersionRequest{Path: sq.pick(), Version: -1}})
		}
		return request{op: jute.OpMultiRead, req: m}
	case r < 77:
		return request{op: jute.OpSync, req: &jute.PathRequest{Path: sq.pick()}}
	case r < 78:
		return request{op: jute.OpGetAllChildrenNumber, req: &jute.PathRequest{Path: sq.pick()}}
	case r < 79:
		prefix := []string{"", "/", sq.root, sq.root + "/a"}[sq.rng.Intn(4)]
		return request{op: jute.OpGetEphemerals, req: &jute.PathRequest{Path: prefix}}
	case r < 80:
		return request{op: jute.OpWhoAmI}
	case r < 82:
		user := []string{"alice:pw", "bob:pw"}[sq.rng.Intn(2)]
		return request{op: jute.OpAuth, xid: jute.XidAuth, req: &jute.AuthPacket{Scheme: "digest", Auth: []byte(user)}}
	case r < 85:
		return request{op: jute.OpAddWatch, req: &jute.PathModeRequest{Path: sq.pick(), Mode: int32(sq.rng.Intn(2))}}
	case r < 87:
		op := []jute.OpCode{jute.OpCheckWatches, jute.OpRemoveWatches}[sq.rng.Intn(2)]
		return request{op: op, req: &jute.PathModeRequest{Path: sq.pick(), Mode: int32(sq.rng.Intn(3) + 1)}}
	case r < 88:
		return request{op: jute.OpReconfig, req: &jute.ReconfigRequest{JoiningServers: "server.9=127.0.0.1:2888:3888", CurConfigID: -1}}
	case r < 89:
		// the pre-3.6 setWatches: data, exist and child watches only
		return request{op: jute.OpSetWatches, xid: jute.XidSetWatches, req: &jute.SetWatchesRequest{
			RelativeZxid: 0, DataWatches: []string{sq.pick()}, ExistWatches: []string{sq.pick()}, ChildWatches: []string{sq.pick()}}}
	}
	return request{op: jute.OpPing, xid: jute.XidPing}
}

func (sq *sequence) multi() *jute.MultiRequest {
	m := &jute.MultiRequest{}
	for i := sq.rng.Intn(4) + 1; i > 0; i-- {
		switch sq.rng.Intn(5) {
		case 0, 1:
			op, req := sq.createReq()
			if req.Flags > jute.FlagPersistentSequentialWithTTL {
				req.Flags = jute.FlagPersistent
			}
			m.Ops = append(m.Ops, jute.MultiOp{Type: op, Req: req})
		case 2:
			m.Ops = append(m.Ops, jute.MultiOp{Type: jute.OpDelete, Req: &jute.PathVersionRequest{Path: sq.pick(), Version: sq.version()}})
		case 3:
			m.Ops = append(m.Ops, jute.MultiOp{Type: jute.OpSetData, Req: &jute.SetDataRequest{Path: sq.pick(), Data: sq.data(), Version: sq.version()}})
		case 4:
			m.Ops = append(m.Ops, jute.MultiOp{Type: jute.OpCheck, Req: &jute.PathVersionRequest{Path: sq.pick(), Version: sq.version()}})
		}
	}
	if sq.rng.Intn(30) == 0 {
		m.Ops = append(m.Ops, jute.MultiOp{Type: jute.OpGetData, Req: &jute.PathWatchRequest{Path: sq.pick()}})
	}
	return m
}

func (sq *sequence) step(i int) {
	ai := sq.rng.Intn(numActors)
	a := sq.actors[ai]
	switch r := sq.rng.Intn(1000); {
	case r < 8:
		sq.closeAndReconnect(ai)
	case r < 16:
		sq.dropAndReattach(ai)
	case r < 19 && ai == shortActor:
		sq.expire(ai)
	case r < 25:
		sq.probeConnect()
	default:
		req := sq.genRequest()
		avoidWatchTrap(a, &req)
		var outs [2]string
		for k, tg := range sq.targets {
			outs[k] = sq.exec(tg, ai, req)
		}
		what := fmt.Sprintf("#%d %s %s", i, a.label(), describe(req))
		if why := sq.knownDifference(ai, req, outs); why != "" {
			sq.log = append(sq.log, fmt.Sprintf("%s -> known difference (%s): zookeeper %s / zkx %s", what, why, outs[0], outs[1]))
			break
		}
		sq.compare(what, outs)
		if req.op == jute.OpAuth {
			a.auth = append(a.auth, string(req.req.(*jute.AuthPacket).Auth))
		}
		sq.noteWatches(a, req, outs[0])
		if i := strings.Index(outs[0], "path="); i >= 0 && strings.HasPrefix(outs[0], "ok") && req.op != jute.OpSync {
			sq.addPath(strings.Fields(outs[0][i+len("path="):])[0])
		}
	}
	sq.barrier(fmt.Sprintf("#%d events", i))
}

// avoidWatchTrap keeps a sequence off ZooKeeper 3.8's watch-mode trap: one
// connection's one-shot and persistent watches on the same path share a
// table entry there, so setting one changes the other's mode. zkx keeps them
// apart (core/watch), so the two servers would rightly differ.
func avoidWatchTrap(a *actor, req *request) {
	switch r := req.req.(type) {
	case *jute.PathWatchRequest:
		if r.Watch && (a.persistent(r.Path) || a.recursive(r.Path)) {
			r.Watch = false
		}
	case *jute.PathModeRequest:
		if req.op != jute.OpAddWatch {
			return
		}
		p := r.Path
		if a.data[p] || a.exist[p] || a.child[p] || a.persistent(p) || a.recursive(p) {
			*req = request{op: jute.OpPing, xid: jute.XidPing}
		}
	}
}

// knownDifference recognises the places where zkx deliberately answers
// differently from Debian's ZooKeeper 3.8.0, and says why (README,
// "Differences from ZooKeeper"):
//   - exists on a node the caller may not read is NoAuth, as in ZooKeeper
//     3.8.4+ (3.8.0 answers it, leaking the Stat); if 3.8.0 set a watch
//     there, it is removed again so both servers keep the same watches;
//   - checkWatches answers for the caller's own watches; ZooKeeper 3.8 says
//     OK if any session watches the path (fixed on ZooKeeper's master). It
//     is accepted only when the model agrees the caller holds no such watch.
func (sq *sequence) knownDifference(ai int, req request, outs [2]string) string {
	a := sq.actors[ai]
	if req.op == jute.OpCheckWatches && strings.HasPrefix(outs[0], "ok") && strings.HasPrefix(outs[1], "err=No such watcher") {
		r := req.req.(*jute.PathModeRequest)
		if !a.hasWatch(r.Path, r.Mode) {
			return "ZooKeeper 3.8 checkWatches counts other sessions' watches"
		}
		return ""
	}
	if req.op != jute.OpExists || !strings.HasPrefix(outs[0], "ok") || !strings.HasPrefix(outs[1], "err=NoAuth") {
		return ""
	}
	r := req.req.(*jute.PathWatchRequest)
	if r.Watch && !a.data[r.Path] && !a.exist[r.Path] {
		zk := sq.targets[0]
		if _, _, err := zk.actors[ai].call(0, jute.OpRemoveWatches, &jute.PathModeRequest{Path: r.Path, Mode: jute.WatcherData}); err != nil {
			sq.t.Fatalf("zookeeper: removeWatches: %v", err)
		}
	}
	return "exists checks READ, as ZooKeeper 3.8.4+ does"
}

// noteWatches updates the model of the actor's watches after a request.
func (sq *sequence) noteWatches(a *actor, req request, out string) {
	ok := strings.HasPrefix(out, "ok")
	switch r := req.req.(type) {
	case *jute.PathWatchRequest:
		if !r.Watch {
			return
		}
		switch req.op {
		case jute.OpExists:
			if ok {
				a.data[r.Path] = true
			} else if strings.HasPrefix(out, "err=NoNode") {
				a.exist[r.Path] = true
			}
		case jute.OpGetData:
			if ok {
				a.data[r.Path] = true
			}
		case jute.OpGetChildren, jute.OpGetChildren2:
			if ok {
				a.child[r.Path] = true
			}
		}
	case *jute.PathModeRequest:
		switch req.op {
		case jute.OpAddWatch:
			if r.Mode == 0 {
				a.persData[r.Path], a.persChild[r.Path] = true, true
			} else {
				a.recData[r.Path], a.recChild[r.Path] = true, true
			}
		case jute.OpRemoveWatches:
			if ok {
				if r.Mode != jute.WatcherChildren {
					delete(a.data, r.Path)
					delete(a.exist, r.Path)
					delete(a.persData, r.Path)
					delete(a.recData, r.Path)
				}
				if r.Mode != jute.WatcherData {
					delete(a.child, r.Path)
					delete(a.persChild, r.Path)
					delete(a.recChild, r.Path)
				}
			}
		}
	}
}

// barrier pings every connected actor on both servers, so every event the
// last op caused has arrived, and compares the events each actor got.
func (sq *sequence) barrier(what string) { sq.barrierOrdered(what, true) }

// barrierOrdered is barrier; with ordered false the events are compared as
// a multiset. That is for the deletions of one closeSession or expiry:
// ZooKeeper deletes a session's ephemerals in Java hash-set order, zkx in
// path order, and no client can rely on either.
func (sq *sequence) barrierOrdered(what string, ordered bool) {
	for ai, a := range sq.actors {
		var outs [2]string
		var evs [2][]jute.WatcherEvent
		for k, tg := range sq.targets {
			p := tg.actors[ai]
			if p == nil || p.closed {
				outs[k] = "(disconnected)"
				continue
			}
			if err := p.ping(); err != nil {
				outs[k] = "ping failed: " + err.Error()
				continue
			}
			evs[k] = p.takeEvents()
			outs[k] = describeEvents(evs[k], ordered)
		}
		if outs[0] != "" || outs[1] != "" {
			sq.compare(fmt.Sprintf("%s %s", what, a.label()), outs)
		}
		for _, ev := range evs[0] {
			a.sawEvent(ev)
		}
	}
}

func describeEvents(evs []jute.WatcherEvent, ordered bool) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, fmt.Sprintf("%s %s (state %d)", eventName(ev.Type), ev.Path, ev.State))
	}
	if !ordered {
		sort.Strings(parts)
	}
	return strings.Join(parts, "; ")
}

func eventName(t int32) string {
	switch t {
	case jute.EventNodeCreated:
		return "NodeCreated"
	case jute.EventNodeDeleted:
		return "NodeDeleted"
	case jute.EventNodeDataChanged:
		return "NodeDataChanged"
	case jute.EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	}
	return fmt.Sprintf("event(%d)", t)
}

// closeAndReconnect closes the actor's session (its ephemerals go) and opens
// a new one.
func (sq *sequence) closeAndReconnect(ai int) {
	a := sq.actors[ai]
	var outs [2]string
	for k, tg := range sq.targets {
		rh, _, err := tg.actors[ai].call(0, jute.OpCloseSession, nil)
		if err != nil {
			outs[k] = "error: " + err.Error()
		} else {
			outs[k] = fmt.Sprintf("err=%s zxid=%s", rh.Err.Name(), tg.zxid(rh.Zxid))
		}
		tg.actors[ai].drop()
	}
	sq.compare(a.label()+" closeSession", outs)
	sq.barrierOrdered(a.label()+" close events", false)
	timeout := a.timeout
	if sq.rng.Intn(4) == 0 && ai != shortActor {
		timeout = []int32{50, 100000}[sq.rng.Intn(2)] // clamped to min/max
	}
	sq.connectNew(ai, timeout)
}

// dropAndReattach drops the actor's connection, lets another actor write,
// then re-attaches the session with setWatches2 for the watches it holds:
// watches whose change was missed fire at once.
func (sq *sequence) dropAndReattach(ai int) {
	a := sq.actors[ai]
	for _, tg := range sq.targets {
		tg.actors[ai].drop()
	}
	other := (ai + 1) % numActors
	req := request{op: jute.OpSetData, req: &jute.SetDataRequest{Path: sq.pick(), Data: sq.data(), Version: -1}}
	if sq.rng.Intn(2) == 0 {
		op, cr := sq.createReq()
		req = request{op: op, req: cr}
	}
	var outs [2]string
	for k, tg := range sq.targets {
		outs[k] = sq.exec(tg, other, req)
	}
	sq.compare(fmt.Sprintf("%s (while %s away) %s", sq.actors[other].label(), a.label(), describe(req)), outs)
	sq.barrier("while away")
	sw := &jute.SetWatchesRequest{V2: true,
		DataWatches: keys(a.data), ExistWatches: keys(a.exist), ChildWatches: keys(a.child),
		PersistentWatches: union(a.persData, a.persChild), PersistentRecursive: union(a.recData, a.recChild)}
	for k, tg := range sq.targets {
		old := tg.actors[ai]
		p, resp, err := dialProbe(tg.addr, old.sid, old.pw, a.timeout, old.lastZxid)
		if err != nil {
			outs[k] = "reattach failed: " + err.Error()
			continue
		}
		tg.actors[ai] = p
		p.lastZxid = old.lastZxid
		sw.RelativeZxid = old.lastZxid
		for _, auth := range a.auth {
			p.call(jute.XidAuth, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte(auth)})
		}
		rh, _, err := p.call(jute.XidSetWatches, jute.OpSetWatches2, sw)
		if err != nil {
			outs[k] = "setWatches2 failed: " + err.Error()
			continue
		}
		outs[k] = fmt.Sprintf("reattach timeout=%d same-session=%v setWatches2 err=%s", resp.TimeOut, resp.SessionID == old.sid, rh.Err.Name())
	}
	sq.compare(a.label()+" reattach", outs)
}

// expire drops the actor's connection and waits, pinging the others, until
// its session has expired on both servers; then the actor tries to re-attach
// (both must refuse) and opens a new session.
func (sq *sequence) expire(ai int) {
	a := sq.actors[ai]
	for _, tg := range sq.targets {
		tg.actors[ai].drop()
	}
	deadline := time.Now().Add(time.Duration(a.timeout)*time.Millisecond + 4*tick)
	for time.Now().Before(deadline) {
		time.Sleep(tick / 2)
		for _, tg := range sq.targets {
			for i, p := range tg.actors {
				if i != ai && p != nil && !p.closed {
					if err := p.ping(); err != nil {
						sq.t.Fatalf("%s: ping while waiting for expiry: %v", tg.name, err)
					}
				}
			}
		}
	}
	sq.barrierOrdered(a.label()+" expiry events", false)
	var outs [2]string
	for k, tg := range sq.targets {
		old := tg.actors[ai]
		p, resp, err := dialProbe(tg.addr, old.sid, old.pw, a.timeout, 0)
		if err != nil {
			outs[k] = "error: " + err.Error()
			continue
		}
		p.drop()
		outs[k] = fmt.Sprintf("timeout=%d session=%x passwd=%x", resp.TimeOut, resp.SessionID, resp.Passwd)
	}
	sq.compare(a.label()+" re-attach after expiry", outs)
	sq.expired = true
	sq.connectNew(ai, a.timeout)
}

// probeConnect opens one more session with a handshake of its own (a
// session timeout below, within or above the bounds, the read-only flag
// or not, the flag's byte left out as pre-3.4 clients do), compares what
// the servers answer, and closes the session again.
func (sq *sequence) probeConnect() {
	timeouts := []int32{-1, 0, 50, 2 * int32(tick.Milliseconds()), 777, longTimeout, 60000}
	req := jute.ConnectRequest{
		TimeOut:     timeouts[sq.rng.Intn(len(timeouts))],
		Passwd:      make([]byte, 16),
		ReadOnly:    sq.rng.Intn(2) == 0,
		HasReadOnly: sq.rng.Intn(4) != 0,
	}
	if !req.HasReadOnly {
		req.ReadOnly = false
	}
	var outs [2]string
	for k, tg := range sq.targets {
		p, resp, err := dialProbeWith(tg.addr, req)
		if err != nil {
			outs[k] = "error: " + err.Error()
			continue
		}
		rh, _, err := p.call(0, jute.OpCloseSession, nil)
		p.drop()
		outs[k] = fmt.Sprintf("protocol=%d timeout=%d readOnly=%v(%v) password=%d bytes; close: %v %s",
			resp.ProtocolVersion, resp.TimeOut, resp.ReadOnly, resp.HasReadOnly, len(resp.Passwd), err, rh.Err.Name())
	}
	sq.compare(fmt.Sprintf("connect(timeout=%d readOnly=%v hasReadOnly=%v) and close", req.TimeOut, req.ReadOnly, req.HasReadOnly), outs)
}

// union lists the paths in either map; setWatches2 re-sets both halves of
// a persistent watch of which one half remains.
func union(a, b map[string]bool) []string {
	m := make(map[string]bool, len(a)+len(b))
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return keys(m)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func describe(r request) string {
	if r.req == nil {
		return r.op.String()
	}
	s := fmt.Sprintf("%v %+v", r.op, r.req)
	if m, ok := r.req.(*jute.MultiRequest); ok {
		var parts []string
		for _, op := range m.Ops {
			parts = append(parts, fmt.Sprintf("%v%+v", op.Type, op.Req))
		}
		s = fmt.Sprintf("%v [%s]", r.op, strings.Join(parts, ", "))
	}
	return s
}

// exec runs one request on one server and describes the answer in a form
// both servers must produce identically.
func (sq *sequence) exec(tg *target, ai int, r request) string {
	p := tg.actors[ai]
	rh, body, err := p.call(r.xid, r.op, r.req)
	if err != nil {
		return "connection error: " + err.Error()
	}
	if rh.Err != 0 {
		return fmt.Sprintf("err=%s zxid=%s", rh.Err.Name(), tg.zxid(rh.Zxid))
	}
	out := "ok zxid=" + tg.zxid(rh.Zxid)
	var resp jute.Record
	switch r.op {
	case jute.OpCreate:
		resp = &jute.CreateResponse{}
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		resp = &jute.Create2Response{}
	case jute.OpSetData, jute.OpSetACL, jute.OpExists:
		resp = &jute.StatResponse{}
	case jute.OpGetData:
		resp = &jute.GetDataResponse{}
	case jute.OpGetChildren, jute.OpGetEphemerals:
		resp = &jute.ChildrenResponse{}
	case jute.OpGetChildren2:
		resp = &jute.Children2Response{}
	case jute.OpGetACL:
		resp = &jute.GetACLResponse{}
	case jute.OpSync:
		resp = &jute.PathRequest{}
	case jute.OpMulti, jute.OpMultiRead:
		resp = &jute.MultiResponse{}
	case jute.OpGetAllChildrenNumber, jute.OpAddWatch:
		resp = &jute.IntResponse{}
	case jute.OpWhoAmI:
		resp = &jute.WhoAmIResponse{}
	}
	if resp == nil {
		if len(body) != 0 {
			out += fmt.Sprintf(" body=%x", body)
		}
		return out
	}
	if err := jute.Decode(body, resp); err != nil {
		return out + " undecodable body: " + err.Error()
	}
	return out + " " + tg.normalize(resp)
}

// zxid describes a zxid as its offset from the sequence's base.
func (tg *target) zxid(z int64) string {
	if z == -1 || z == 0 {
		return fmt.Sprint(z)
	}
	return fmt.Sprintf("+%d", z-tg.base)
}

func (tg *target) stat(s jute.Stat) string {
	owner := fmt.Sprintf("%#x", uint64(s.EphemeralOwner))
	if l, ok := tg.labels[s.EphemeralOwner]; ok {
		owner = l
	}
	// Times differ between servers; what must hold is that a node never
	// set has mtime = ctime and a set one mtime >= ctime.
	times := "times-ok"
	if (s.Version == 0 && s.Mtime != s.Ctime) || s.Mtime < s.Ctime {
		times = fmt.Sprintf("times-wrong(ctime=%d,mtime=%d)", s.Ctime, s.Mtime)
	}
	return fmt.Sprintf("{cz=%s mz=%s pz=%s %s v=%d cv=%d av=%d owner=%s len=%d kids=%d}",
		tg.zxid(s.Czxid), tg.zxid(s.Mzxid), tg.zxid(s.Pzxid), times, s.Version, s.Cversion, s.Aversion,
		owner, s.DataLength, s.NumChildren)
}

func sorted(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}

func (tg *target) normalize(resp jute.Record) string {
	switch r := resp.(type) {
	case *jute.CreateResponse:
		return "path=" + r.Path
	case *jute.Create2Response:
		return "path=" + r.Path + " stat=" + tg.stat(r.Stat)
	case *jute.StatResponse:
		return "stat=" + tg.stat(r.Stat)
	case *jute.GetDataResponse:
		data := "null"
		if r.Data != nil {
			data = fmt.Sprintf("%q", r.Data)
		}
		return "data=" + data + " stat=" + tg.stat(r.Stat)
	case *jute.ChildrenResponse:
		return fmt.Sprintf("children=%v", sorted(r.Children))
	case *jute.Children2Response:
		return fmt.Sprintf("children=%v stat=%s", sorted(r.Children), tg.stat(r.Stat))
	case *jute.GetACLResponse:
		return fmt.Sprintf("acl=%v stat=%s", r.ACL, tg.stat(r.Stat))
	case *jute.PathRequest:
		return "path=" + r.Path
	case *jute.IntResponse:
		return fmt.Sprintf("value=%d", r.Value)
	case *jute.WhoAmIResponse:
		// ZooKeeper lists identities in hash-set order; order is not part
		// of the API.
		ids := make([]string, len(r.ClientInfo))
		for i, c := range r.ClientInfo {
			ids[i] = c.AuthScheme + ":" + c.User
		}
		return fmt.Sprintf("%v", sorted(ids))
	case *jute.MultiResponse:
		var parts []string
		for _, res := range r.Results {
			s := res.Type.String()
			switch res.Type {
			case jute.OpError:
				s += "(" + res.Err.Name() + ")"
			case jute.OpCreate:
				s += "(" + res.Path + ")"
			case jute.OpCreate2:
				s += "(" + res.Path + " " + tg.stat(res.Stat) + ")"
			case jute.OpSetData:
				s += "(" + tg.stat(res.Stat) + ")"
			case jute.OpGetData:
				s += fmt.Sprintf("(%q %s)", res.Data, tg.stat(res.Stat))
			case jute.OpGetChildren:
				s += fmt.Sprintf("(%v)", sorted(res.Children))
			}
			parts = append(parts, s)
		}
		return "results=[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("%+v", resp)
}

var ensembleSeeds = flag.Int("diff.ensemble-seeds", 5, "number of random op sequences to compare against a 3-node zkx ensemble")

// TestDifferentialEnsemble runs the comparison against a 3-node zkx
// ensemble, every session on one follower: each write goes through the
// follower to the leader and back, session expiry is the leader's, and
// the answers must still be ZooKeeper's.
func TestDifferentialEnsemble(t *testing.T) {
	zk := zktest.Start(t,
		zktest.WithConfig("tickTime", fmt.Sprint(tick.Milliseconds())),
		zktest.WithConfig("minSessionTimeout", fmt.Sprint(2*tick.Milliseconds())),
		zktest.WithConfig("maxSessionTimeout", "10000"),
		zktest.WithJVMFlag("-Dznode.container.checkIntervalMs=36000000"))
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{TickTime: tick, MinSessionTimeout: 2 * tick,
		MaxSessionTimeout: 10 * time.Second, ContainerCheckInterval: 10 * time.Hour})
	leader := e.Leader(10 * time.Second)
	follower := leader%3 + 1
	for i := 0; i < *ensembleSeeds; i++ {
		seed := *seed0 + 1000 + int64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runSequence(t, seed, *opsPer, zk.Addr(), e.Addr(follower))
		})
	}
}
