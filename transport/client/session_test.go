package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/internal/zktest"
	"github.com/zkx-project/zkx/transport/jute"
)

func (c *Client) pendingLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending.len()
}

// TestSessionSurvivesRestart restarts the server under a client: the
// client re-attaches its session, its ephemerals survive, and its watches
// are re-registered with setWatches2 and fire for changes made while it
// was disconnected.
func TestSessionSurvivesRestart(t *testing.T) {
	forEachServer(t, time.Minute, testSessionSurvivesRestart)
}

func testSessionSurvivesRestart(t *testing.T, srv testServer) {
	// The client goes through a proxy so the test can keep it away while it
	// changes things after the restart.
	proxy := zktest.NewProxy(t, srv.Addr())
	var log eventLog
	c := connect(t, proxy.Addr(), WithSessionTimeout(30*time.Second), WithEventCallback(log.add),
		WithAuth("digest", []byte("carol:pw")))
	ctx := testCtx(t)

	_, err := c.Create(ctx, "/r", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	_, err = c.Create(ctx, "/r/data", []byte("v1"), Persistent, WorldACL(PermAll))
	must(t, err)
	_, err = c.Create(ctx, "/r/secret", []byte("s"), Persistent, DigestACL(PermAll, "carol", "pw"))
	must(t, err)
	_, err = c.Create(ctx, "/r/eph", nil, Ephemeral, WorldACL(PermAll))
	must(t, err)
	_, _, dataCh, err := c.GetW(ctx, "/r/data")
	must(t, err)
	_, _, existCh, err := c.ExistsW(ctx, "/r/new")
	must(t, err)
	_, childCh, err := c.ChildrenW(ctx, "/r")
	must(t, err)
	_, _, quietCh, err := c.GetW(ctx, "/r/secret")
	must(t, err)
	pw, err := c.AddWatch(ctx, "/r/p", false)
	must(t, err)
	rw, err := c.AddWatch(ctx, "/r", true)
	must(t, err)
	sid, passwd := c.SessionID(), c.SessionPassword()

	proxy.Refuse(true)
	srv.Restart()
	waitFor(t, "the client to notice the restart", func() bool { return c.State() == jute.StateDisconnected })
	for _, w := range []*PersistentWatch{pw, rw} {
		ev := recv(t, w.Events())
		if ev.Type != jute.EventNone || ev.State != jute.StateDisconnected {
			t.Fatalf("persistent watch got %v, want Disconnected", ev)
		}
	}

	// A request made while disconnected waits for the reconnection.
	waiting := make(chan error, 1)
	go func() {
		data, _, err := c.Get(ctx, "/r/data")
		if err == nil && string(data) != "v2" {
			err = fmt.Errorf("read %q after reconnecting, want v2", data)
		}
		waiting <- err
	}()

	other := connect(t, srv.Addr())
	_, err = other.Set(ctx, "/r/data", []byte("v2"), -1)
	must(t, err)
	_, err = other.Create(ctx, "/r/new", nil, Persistent, WorldACL(PermAll))
	must(t, err)
	// The session and its ephemeral outlived the restart.
	st, ok, err := other.Exists(ctx, "/r/eph")
	must(t, err)
	if !ok || st.EphemeralOwner != sid {
		t.Fatalf("ephemeral after restart: exists %v owner %x, want %x", ok, st.EphemeralOwner, sid)
	}
	select {
	case err := <-waiting:
		t.Fatalf("request made while disconnected finished early: %v", err)
	default:
	}

	proxy.Refuse(false)
	waitFor(t, "the session to re-attach", func() bool { return c.State() == jute.StateSyncConnected })
	if c.SessionID() != sid || string(c.SessionPassword()) != string(passwd) {
		t.Fatalf("session changed: %x -> %x", sid, c.SessionID())
	}
	must(t, <-waiting)
	// setWatches2 carried the last zxid the client had seen, so the server
	// fired the watches whose nodes changed since.
	expectEvent(t, dataCh, jute.EventNodeDataChanged, "/r/data")
	expectEvent(t, existCh, jute.EventNodeCreated, "/r/new")
	expectEvent(t, childCh, jute.EventNodeChildrenChanged, "/r")
	expectNoEvent(t, quietCh)
	for _, w := range []*PersistentWatch{pw, rw} {
		ev := recv(t, w.Events())
		if ev.Type != jute.EventNone || ev.State != jute.StateSyncConnected {
			t.Fatalf("persistent watch got %v, want SyncConnected", ev)
		}
	}
	// Persistent watches are registered again. The server replays nothing
	// for them, but like the Java client the recursive watch on /r also
	// sees the events the server sent for the one-shot watches below it.
	_, err = other.Create(ctx, "/r/p", []byte("p"), Persistent, WorldACL(PermAll))
	must(t, err)
	expectEvent(t, pw.Events(), jute.EventNodeCreated, "/r/p")
	replayed := map[string]bool{
		"NodeDataChanged /r/data": true, "NodeCreated /r/new": true, "NodeChildrenChanged /r": true,
	}
	for {
		ev := recv(t, rw.Events())
		if ev.Type == jute.EventNodeCreated && ev.Path == "/r/p" {
			break
		}
		if key := eventNames[ev.Type] + " " + ev.Path; !replayed[key] {
			t.Fatalf("recursive watch got %v", ev)
		}
	}
	// The remembered auth was sent again.
	data, _, err := c.Get(ctx, "/r/secret")
	must(t, err)
	if string(data) != "s" {
		t.Fatalf("secret = %q", data)
	}
	// The still-pending one-shot watch on /r/secret was re-registered too.
	_, err = other.Set(ctx, "/r/data", []byte("v3"), -1)
	must(t, err)
	_, err = c.SetACL(ctx, "/r/secret", WorldACL(PermAll), -1)
	must(t, err)
	_, err = other.Set(ctx, "/r/secret", []byte("t"), -1)
	must(t, err)
	expectEvent(t, quietCh, jute.EventNodeDataChanged, "/r/secret")
	eph, err := c.GetEphemerals(ctx, "/r")
	must(t, err)
	if !equalStrings(eph, []string{"/r/eph"}) {
		t.Fatalf("GetEphemerals = %v", eph)
	}
	if n := log.count(jute.StateSyncConnected); n != 2 || log.count(jute.StateDisconnected) != 1 {
		t.Fatalf("session events %v", log.states())
	}
}

// TestSessionExpiry keeps a client away until the server expires its
// session: on its next connection it learns so, every watch ends with an
// Expired event, and every request fails with SessionExpired.
func TestSessionExpiry(t *testing.T) { forEachServer(t, 0, testSessionExpiry) }

func testSessionExpiry(t *testing.T, srv testServer) {
	proxy := zktest.NewProxy(t, srv.Addr())
	var log eventLog
	c := connect(t, proxy.Addr(), WithSessionTimeout(time.Second), WithEventCallback(log.add))
	observer := connect(t, srv.Addr())
	ctx := testCtx(t)
	if c.SessionTimeout() != time.Second {
		t.Fatalf("SessionTimeout = %v", c.SessionTimeout())
	}
	_, err := c.Create(ctx, "/x", nil, Ephemeral, WorldACL(PermAll))
	must(t, err)
	_, _, ch, err := c.GetW(ctx, "/x")
	must(t, err)
	w, err := c.AddWatch(ctx, "/", true)
	must(t, err)

	proxy.Refuse(true)
	proxy.Cut()
	waitFor(t, "the server to expire the session", func() bool {
		_, ok, err := observer.Exists(ctx, "/x")
		must(t, err)
		return !ok
	})
	waiting := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, "/")
		waiting <- err
	}()
	proxy.Refuse(false)

	waitFor(t, "the Expired state", func() bool { return c.State() == jute.StateExpired })
	expectCode(t, <-waiting, ErrSessionExpired)
	_, err = c.Create(ctx, "/y", nil, Persistent, WorldACL(PermAll))
	expectCode(t, err, ErrSessionExpired)
	var ze *Error
	if !errors.As(err, &ze) || ze.Code != jute.ErrSessionExpired {
		t.Fatalf("error %#v", err)
	}
	ev := recv(t, ch)
	if ev.Type != jute.EventNone || ev.State != jute.StateExpired || !errors.Is(ev.Err, ErrSessionExpired) {
		t.Fatalf("one-shot watch got %v", ev)
	}
	expectClosed(t, ch)
	var last Event
	for ev := range w.Events() {
		last = ev
	}
	if last.State != jute.StateExpired {
		t.Fatalf("persistent watch ended with %v", last)
	}
	waitFor(t, "the Expired session event", func() bool { return log.has(jute.StateExpired) })
	states := log.states()
	want := []int32{jute.StateSyncConnected, jute.StateDisconnected, jute.StateExpired}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("session events %v, want %v", states, want)
	}
	must(t, c.Close())
	if c.State() != jute.StateExpired {
		t.Fatalf("State after Close = %s", StateName(c.State()))
	}
}

// TestConnectionLossInFlight drops the connection while requests are
// outstanding: they fail with ConnectionLoss although the server applied
// them, and the client reconnects.
func TestConnectionLossInFlight(t *testing.T) { forEachServer(t, 0, testConnectionLossInFlight) }

func testConnectionLossInFlight(t *testing.T, srv testServer) {
	proxy := zktest.NewProxy(t, srv.Addr())
	c := connect(t, proxy.Addr())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/loss", nil, Persistent, WorldACL(PermAll))
	must(t, err)

	proxy.HoldReplies(true)
	const n = 20
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := c.Create(ctx, fmt.Sprintf("/loss/n%02d", i), nil, Persistent, WorldACL(PermAll))
			errc <- err
		}()
	}
	// All of them are on the wire at once (pipelined), none answered, and
	// the server has applied them all.
	waitFor(t, "all requests to be outstanding", func() bool { return c.pendingLen() == n })
	observer := connect(t, srv.Addr())
	waitFor(t, "the server to apply them", func() bool {
		names, err := observer.Children(ctx, "/loss")
		must(t, err)
		return len(names) == n
	})
	proxy.Cut()
	// ConnectionLoss means "maybe applied": here all of them were.
	for i := 0; i < n; i++ {
		expectCode(t, <-errc, ErrConnectionLoss)
	}
	proxy.HoldReplies(false)
	waitFor(t, "the client to reconnect", func() bool { return c.State() == jute.StateSyncConnected })

	// A request made while no server can be reached waits, and gives up
	// only when its context ends.
	proxy.Refuse(true)
	proxy.Cut()
	waitFor(t, "the client to notice", func() bool { return c.State() == jute.StateDisconnected })
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, _, err = c.Get(short, "/loss")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get while disconnected: %v, want the context's deadline", err)
	}
	proxy.Refuse(false)
	_, _, err = c.Get(ctx, "/loss")
	must(t, err)
}

// TestFailover gives the client two addresses for the same ensemble (two
// proxies to one server): when its server goes away it moves to the other
// one with the same session, and Connect skips an address that refuses.
func TestFailover(t *testing.T) { forEachServer(t, 0, testFailover) }

func testFailover(t *testing.T, srv testServer) {
	p1, p2 := zktest.NewProxy(t, srv.Addr()), zktest.NewProxy(t, srv.Addr())
	proxies := map[string]*zktest.Proxy{p1.Addr(): p1, p2.Addr(): p2}
	p1.Refuse(true)
	c := connect(t, p1.Addr()+","+p2.Addr())
	if c.Server() != p2.Addr() {
		t.Fatalf("connected through %s, want %s (the other refuses)", c.Server(), p2.Addr())
	}
	p1.Refuse(false)
	ctx := testCtx(t)
	sid := c.SessionID()
	for i := 0; i < 3; i++ {
		cur := c.Server()
		proxies[cur].Refuse(true)
		proxies[cur].Cut()
		waitFor(t, "a move to the other server", func() bool {
			return c.State() == jute.StateSyncConnected && c.Server() != cur
		})
		proxies[cur].Refuse(false)
		if _, _, err := c.Exists(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		if c.SessionID() != sid {
			t.Fatalf("session changed from %x to %x", sid, c.SessionID())
		}
	}

	// Servers that accept and hang up (as an ensemble member without a
	// leader does) are tried again until the caller's deadline.
	p1.Refuse(true)
	p2.Refuse(true)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := Connect(short, []string{p1.Addr(), p2.Addr()})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect with every server refusing: %v, want the deadline", err)
	}
}
