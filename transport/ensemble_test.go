package transport_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
	"github.com/zkx-project/zkx/wal"
)

func connect(t *testing.T, addrs string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, strings.Split(addrs, ","), opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", addrs, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readEverywhere checks that every running server, after a sync, has path
// with data.
func readEverywhere(t *testing.T, e *zkxtest.Ensemble, ids []int64, path, want string) {
	t.Helper()
	for _, id := range ids {
		if e.Node(id) == nil {
			continue
		}
		c := connect(t, e.Addr(id))
		if _, err := c.Sync(ctxT(t), path); err != nil {
			t.Fatalf("server %d: sync: %v", id, err)
		}
		got, _, err := c.Get(ctxT(t), path)
		if err != nil || string(got) != want {
			t.Fatalf("server %d: get %s = %q, %v; want %q", id, path, got, err, want)
		}
		c.Close()
	}
}

// retryLoss runs op until it does not fail with ConnectionLoss (at most
// for 10s), as a ZooKeeper application retries an idempotent write.
func retryLoss(op func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := op()
		if !errors.Is(err, client.ErrConnectionLoss) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func others(all []int64, not int64) []int64 {
	var out []int64
	for _, id := range all {
		if id != not {
			out = append(out, id)
		}
	}
	return out
}

// A write through a follower is committed by the leader and visible on
// every server; after the leader dies the survivors elect a new one, keep
// every acknowledged write, keep serving, and the old leader catches up
// when it comes back.
func TestEnsembleReplicatesAndFailsOver(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{})
	all := []int64{1, 2, 3}
	leader := e.Leader(10 * time.Second)
	follower := others(all, leader)[0]

	c := connect(t, e.Addr(follower))
	if _, err := c.Create(ctxT(t), "/a", []byte("one"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatalf("create through follower %d: %v", follower, err)
	}
	readEverywhere(t, e, all, "/a", "one")

	// A session's ephemeral node, through the follower.
	eph := connect(t, e.Addrs(), client.WithSessionTimeout(4*time.Second))
	if _, err := eph.Create(ctxT(t), "/eph", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}

	e.Stop(leader)
	newLeader := e.Leader(10 * time.Second)
	if newLeader == leader {
		t.Fatalf("stopped server %d is still leader", leader)
	}
	w := connect(t, e.Addrs())
	if err := retryLoss(func() error { _, err := w.Set(ctxT(t), "/a", []byte("two"), -1); return err }); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	readEverywhere(t, e, others(all, leader), "/a", "two")
	// The ephemeral's session moved to a survivor and is alive.
	if _, ok, err := w.Exists(ctxT(t), "/eph"); err != nil || !ok {
		t.Fatalf("ephemeral after failover: exists=%v err=%v", ok, err)
	}
	if err := retryLoss(func() error { _, err := eph.Set(ctxT(t), "/eph", []byte("still mine"), -1); return err }); err != nil {
		t.Fatalf("ephemeral's session after failover: %v", err)
	}

	e.Start(leader)
	e.WaitServing(15 * time.Second)
	readEverywhere(t, e, all, "/a", "two")
	readEverywhere(t, e, all, "/eph", "still mine")
}

// Observers serve reads, forward writes, and never lead: with the
// observer and one voter stopped, the two remaining voters still form a
// quorum; with two voters stopped nothing is committed.
func TestEnsembleObserver(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 1, zkxtest.Options{})
	if m := e.Mode(4); m != "observer" {
		t.Fatalf("server 4 is %s, want observer", m)
	}
	c := connect(t, e.Addr(4))
	if _, err := c.Create(ctxT(t), "/o", []byte("x"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatalf("create through observer: %v", err)
	}
	readEverywhere(t, e, []int64{1, 2, 3, 4}, "/o", "x")

	leader := e.Leader(5 * time.Second)
	e.Stop(leader)
	nl := e.Leader(10 * time.Second)
	if nl == 4 {
		t.Fatal("the observer became leader")
	}
	// Two voters down of three: no quorum, so no leader and no service.
	e.Stop(nl)
	deadline := time.Now().Add(10 * time.Second)
	for e.Mode(4) != "looking" {
		if time.Now().After(deadline) {
			t.Fatalf("observer still %s with one voter of three", e.Mode(4))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A session that dies through a follower expires on the leader, and its
// ephemeral nodes disappear from every server, with watchers told.
func TestEnsembleSessionExpiryIsEnsembleWide(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{})
	leader := e.Leader(5 * time.Second)
	f := others([]int64{1, 2, 3}, leader)
	owner := connect(t, e.Addr(f[0]), client.WithSessionTimeout(500*time.Millisecond))
	if _, err := owner.Create(ctxT(t), "/lease", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	watcher := connect(t, e.Addr(f[1]))
	_, ok, ch, err := watcher.ExistsW(ctxT(t), "/lease")
	if err != nil || !ok {
		t.Fatalf("exists: %v %v", ok, err)
	}
	owner.Close() // closes the session: the leader commits the close
	select {
	case ev := <-ch:
		if ev.Type != jute.EventNodeDeleted {
			t.Fatalf("event %v, want NodeDeleted", ev.Type)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delete event")
	}

	// Now a session whose client vanishes without closing: the leader
	// alone expires it, after its timeout.
	gone := connect(t, e.Addr(f[0]), client.WithSessionTimeout(500*time.Millisecond))
	if _, err := gone.Create(ctxT(t), "/lease2", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	gone.Abandon()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, ok, err := watcher.Exists(ctxT(t), "/lease2")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ephemeral of an abandoned session never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The lock recipe through followers: contending sessions on different
// servers, each call parked on the leader and answered by its own server,
// mutual exclusion holds.
func TestEnsembleLockRecipeThroughFollowers(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{Recipes: true})
	const workers, rounds = 6, 5
	var mu sync.Mutex
	holders := 0
	errc := make(chan error, workers)
	for i := 0; i < workers; i++ {
		c := connect(t, e.Addr(int64(i%3+1)))
		go func(i int, c *client.Client) {
			for r := 0; r < rounds; r++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				if _, err := c.Call(ctx, "lock", "acquire", []byte(`{"path":"/locks/l"}`)); err != nil {
					cancel()
					errc <- fmt.Errorf("worker %d acquire: %w", i, err)
					return
				}
				mu.Lock()
				holders++
				n := holders
				mu.Unlock()
				if n != 1 {
					cancel()
					errc <- fmt.Errorf("worker %d: %d holders at once", i, n)
					return
				}
				time.Sleep(time.Millisecond)
				mu.Lock()
				holders--
				mu.Unlock()
				if _, err := c.Call(ctx, "lock", "release", []byte(`{"path":"/locks/l"}`)); err != nil {
					cancel()
					errc <- fmt.Errorf("worker %d release: %w", i, err)
					return
				}
				cancel()
			}
			errc <- nil
		}(i, c)
	}
	for i := 0; i < workers; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// A session re-attached at another server moves there: requests through
// the old server's connection fail, the session lives on.
func TestEnsembleSessionMoves(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{})
	c := connect(t, e.Addrs(), client.WithSessionTimeout(5*time.Second))
	if _, err := c.Create(ctxT(t), "/m", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	var on int64
	for id := int64(1); id <= 3; id++ {
		if e.Addr(id) == c.Server() {
			on = id
		}
	}
	if on == 0 {
		t.Fatalf("client on %s, not one of %s", c.Server(), e.Addrs())
	}
	e.Stop(on)
	e.Leader(10 * time.Second)
	// ConnectionLoss is the client's to retry (the server it reconnected
	// to may have been about to notice the leader was gone).
	if err := retryLoss(func() error { _, err := c.Set(ctxT(t), "/m", []byte("moved"), -1); return err }); err != nil {
		t.Fatalf("write after the session moved from server %d: %v", on, err)
	}
	readEverywhere(t, e, others([]int64{1, 2, 3}, on), "/m", "moved")
	// The session is owned by its new server: restarting the old one does
	// not take it back, and the ephemeral stays.
	e.Start(on)
	e.WaitServing(15 * time.Second)
	readEverywhere(t, e, []int64{1, 2, 3}, "/m", "moved")
}

// srvr and mntr report each server's mode, and the leader ZooKeeper's
// quorum metrics, as monitoring built for ZooKeeper expects.
func TestEnsembleFourLetterWords(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 1, zkxtest.Options{})
	leader := e.Leader(10 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mntr := e.Node(leader).FourLetter("mntr")
		if strings.Contains(mntr, "zk_synced_followers\t2\n") {
			for _, want := range []string{"zk_server_state\tleader\n", "zk_followers\t3\n", "zk_pending_syncs\t0\n", "zk_peer_state\tleading - broadcast\n"} {
				if !strings.Contains(mntr, want) {
					t.Fatalf("leader's mntr lacks %q:\n%s", want, mntr)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader's mntr never showed 2 synced followers:\n%s", mntr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for id := int64(1); id <= 4; id++ {
		want := "Mode: follower\n"
		switch id {
		case leader:
			want = "Mode: leader\n"
		case 4:
			want = "Mode: observer\n"
		}
		if srvr := e.Node(id).FourLetter("srvr"); !strings.Contains(srvr, want) {
			t.Errorf("server %d srvr lacks %q:\n%s", id, want, srvr)
		}
		if id != leader && strings.Contains(e.Node(id).FourLetter("mntr"), "zk_followers") {
			t.Errorf("server %d, not the leader, reports zk_followers", id)
		}
	}
}

// A follower that was down while the leader's in-memory log moved past it
// is brought back with a snapshot (SNAP): it installs it, logs it as its
// own snapshot, serves the data, and keeps it across its own restart.
func TestEnsembleSnapSync(t *testing.T) {
	// Restored after the ensemble stops (cleanups run last-in first-out).
	t.Cleanup(transport.SetRecentLogLimit(40))
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{})
	leader := e.Leader(10 * time.Second)
	lagger := leader%3 + 1
	c := connect(t, e.Addr(leader))
	if _, err := c.Create(ctxT(t), "/s", []byte("0"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	e.Stop(lagger)
	for i := 1; i <= 200; i++ {
		if _, err := c.Create(ctxT(t), fmt.Sprintf("/s/n%03d", i), []byte("x"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Set(ctxT(t), "/s", []byte("after"), -1); err != nil {
		t.Fatal(err)
	}
	e.Start(lagger)
	e.WaitServing(15 * time.Second)
	check := func() {
		t.Helper()
		readEverywhere(t, e, []int64{lagger}, "/s", "after")
		lc := connect(t, e.Addr(lagger))
		kids, err := lc.Children(ctxT(t), "/s")
		if err != nil || len(kids) != 200 {
			t.Fatalf("server %d after SNAP: %d children, %v", lagger, len(kids), err)
		}
		lc.Close()
	}
	check()
	// Writes after the snapshot reach it, and a restart recovers from the
	// installed snapshot plus its log.
	if _, err := c.Set(ctxT(t), "/s", []byte("later"), -1); err != nil {
		t.Fatal(err)
	}
	readEverywhere(t, e, []int64{lagger}, "/s", "later")
	e.Stop(lagger)
	e.Start(lagger)
	e.WaitServing(15 * time.Second)
	readEverywhere(t, e, []int64{lagger}, "/s", "later")
}

// A leader that logged a write it could not commit (its followers gone)
// and then died is told to truncate it when it comes back under a new
// leader: the write is nowhere, and what the new leader committed is
// everywhere.
func TestEnsembleTruncatesUncommittedWrite(t *testing.T) {
	testDivergedMemberRejoins(t, false)
}

// A member whose only snapshot holds a write the new leader never had (as
// after a SNAP from a leader that was never established) cannot be
// truncated below that snapshot: the leader must send it a snapshot
// instead, and it rejoins without the write. (ZooKeeper's learner fails
// to load its database here.)
func TestEnsembleResyncsMemberWhoseSnapshotHoldsUncommittedWrite(t *testing.T) {
	testDivergedMemberRejoins(t, true)
}

func testDivergedMemberRejoins(t *testing.T, snapshotTheLostWrite bool) {
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{})
	old := e.Leader(10 * time.Second)
	c := connect(t, e.Addr(old))
	if _, err := c.Create(ctxT(t), "/t", []byte("committed"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	fs := others([]int64{1, 2, 3}, old)
	e.Stop(fs[0])
	e.Stop(fs[1])
	// The leader has not yet noticed it lost its quorum (syncLimit): it
	// logs this write but can never commit it.
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := c.Create(short, "/t/lost", nil, client.Persistent, client.WorldACL(client.PermAll))
	cancel()
	if err == nil {
		t.Fatal("a write was acknowledged by a leader without followers")
	}
	e.Stop(old)
	if snapshotTheLostWrite {
		// Leave the old leader with one snapshot, at its last zxid, and no
		// log before it: the state a SNAP install leaves.
		rec, err := transport.Recover(e.Dir(old), wal.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := rec.Tree.Get("/t/lost"); !ok {
			t.Fatal("the old leader did not log the uncommitted write")
		}
		if err := transport.FinishReset(rec); err != nil {
			t.Fatal(err)
		}
		if err := rec.Log.Close(); err != nil {
			t.Fatal(err)
		}
	}
	e.Start(fs[0])
	e.Start(fs[1])
	nl := e.Leader(15 * time.Second)
	w := connect(t, e.Addr(nl))
	if _, err := w.Set(ctxT(t), "/t", []byte("new epoch"), -1); err != nil {
		t.Fatal(err)
	}
	e.Start(old)
	e.WaitServing(15 * time.Second)
	readEverywhere(t, e, []int64{1, 2, 3}, "/t", "new epoch")
	for id := int64(1); id <= 3; id++ {
		r := connect(t, e.Addr(id))
		if _, err := r.Sync(ctxT(t), "/t"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := r.Exists(ctxT(t), "/t/lost"); err != nil || ok {
			t.Fatalf("server %d: the uncommitted write exists=%v (err %v)", id, ok, err)
		}
		r.Close()
	}
}

// /zookeeper/config holds the membership as ZooKeeper publishes it
// (clients such as Curator's ensemble tracker read it).
func TestEnsembleConfigNode(t *testing.T) {
	e := zkxtest.StartEnsemble(t, 3, 1, zkxtest.Options{})
	for id := int64(1); id <= 4; id++ {
		c := connect(t, e.Addr(id))
		data, st, err := c.Get(ctxT(t), "/zookeeper/config")
		if err != nil {
			t.Fatal(err)
		}
		want := transport.ConfigText(e.Peers, nil)
		if string(data) != want || st.Version != -1 {
			t.Fatalf("server %d: /zookeeper/config %q version %d, want %q version -1", id, data, st.Version, want)
		}
		for _, line := range []string{"server.1=127.0.0.1:", ":participant\n", "server.4=127.0.0.1:", ":observer\n", "\nversion=0"} {
			if !strings.Contains(string(data), line) {
				t.Fatalf("server %d: /zookeeper/config %q lacks %q", id, data, line)
			}
		}
		c.Close()
	}
}
