package compat

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkx-project/zkx/transport/zkxtest"
)

// serverEnv names an external server that the tests starting their node
// with startServer use instead of zkx, so that what they expect can be
// checked against Apache ZooKeeper itself (see the package comment).
// Tests that need a node option (a restricted whitelist, TTL nodes off)
// always start zkx.
const serverEnv = "ZKX_COMPAT_SERVER"

// startServer returns the address of a fresh zkx node, or of the server
// named by ZKX_COMPAT_SERVER. Sessions may last up to 30s unless opts say
// otherwise, so that a client's pings are not late on a loaded machine.
func startServer(t *testing.T, opts zkxtest.Options) string {
	t.Helper()
	if addr := os.Getenv(serverEnv); addr != "" {
		return addr
	}
	if ensembleFollower != "" {
		return ensembleFollower
	}
	if opts.MaxSessionTimeout == 0 {
		opts.MaxSessionTimeout = 30 * time.Second
	}
	return zkxtest.Start(t, opts).Addr()
}

// ensembleFollower, while set, is the server startServer hands out: a
// follower of a 3-node ensemble (see TestGoZKEnsemble).
var ensembleFollower string

// sessionTimeout is what ordinary test clients ask for.
const sessionTimeout = 30 * time.Second

// eventually polls cond every few milliseconds until it holds or timeout
// passes, and then fails the test naming what it waited for.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventLog records every event a go-zookeeper connection reports, in the
// order its receive loop saw them (session events and watch events alike).
type eventLog struct {
	mu  sync.Mutex
	evs []zk.Event
}

func (l *eventLog) add(ev zk.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

func (l *eventLog) all() []zk.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]zk.Event(nil), l.evs...)
}

// mark returns a position in the log to look for events after.
func (l *eventLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.evs)
}

// since returns the events after mark that match.
func (l *eventLog) since(mark int, match func(zk.Event) bool) []zk.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []zk.Event
	for _, ev := range l.evs[mark:] {
		if match(ev) {
			out = append(out, ev)
		}
	}
	return out
}

func isState(s zk.State) func(zk.Event) bool {
	return func(ev zk.Event) bool { return ev.Type == zk.EventSession && ev.State == s }
}

func onPath(p string) func(zk.Event) bool {
	return func(ev zk.Event) bool { return ev.Type != zk.EventSession && ev.Path == p }
}

// logBuffer keeps go-zookeeper's log lines and prints them if the test
// fails (its goroutines may log after the test ends, when t.Logf panics).
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) Printf(format string, args ...any) {
	b.mu.Lock()
	b.lines = append(b.lines, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

// client is a go-zookeeper connection with its event log.
type client struct {
	*zk.Conn
	events *eventLog
}

// connect opens a go-zookeeper session to addr and waits until the server
// has answered the handshake.
func connect(t *testing.T, addr string, sessionTimeout time.Duration) *client {
	t.Helper()
	return connectWithDialer(t, addr, sessionTimeout, net.DialTimeout)
}

// connectWithDialer is connect with the dialer go-zookeeper uses.
func connectWithDialer(t *testing.T, addr string, sessionTimeout time.Duration, dialer zk.Dialer) *client {
	t.Helper()
	events := &eventLog{}
	logs := &logBuffer{}
	c, _, err := zk.Connect([]string{addr}, sessionTimeout,
		zk.WithEventCallback(events.add), zk.WithLogger(logs), zk.WithDialer(dialer))
	if err != nil {
		t.Fatalf("go-zookeeper connect to %s: %v", addr, err)
	}
	t.Cleanup(func() {
		c.Close()
		logs.mu.Lock()
		defer logs.mu.Unlock()
		if t.Failed() && len(logs.lines) > 0 {
			t.Logf("go-zookeeper log (session 0x%x):\n%s", c.SessionID(), strings.Join(logs.lines, "\n"))
		}
	})
	eventually(t, 10*time.Second, "go-zookeeper session established with "+addr, func() bool {
		return c.State() == zk.StateHasSession
	})
	return &client{Conn: c, events: events}
}

var nonPath = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// testRoot creates a fresh node named after the test for it to work
// under, so tests can share an external server.
func testRoot(t *testing.T, c *client) string {
	t.Helper()
	root := "/" + nonPath.ReplaceAllString(t.Name(), "_")
	if ok, _, err := c.Exists(root); err == nil && ok {
		deleteAll(t, c, root)
	}
	mustCreate(t, c, root, nil, 0)
	return root
}

func deleteAll(t *testing.T, c *client, p string) {
	t.Helper()
	kids, _, err := c.Children(p)
	if errors.Is(err, zk.ErrNoNode) {
		return
	}
	if err != nil {
		t.Fatalf("children of %s: %v", p, err)
	}
	for _, k := range kids {
		deleteAll(t, c, p+"/"+k)
	}
	if err := c.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("delete %s: %v", p, err)
	}
}

var openACL = zk.WorldACL(zk.PermAll)

var markerSeq atomic.Int64

func mustCreate(t *testing.T, c *client, p string, data []byte, flags int32) string {
	t.Helper()
	got, err := c.Create(p, data, flags, openACL)
	if err != nil {
		t.Fatalf("create %s (flags %d): %v", p, flags, err)
	}
	return got
}

func mustSet(t *testing.T, c *client, p string, data []byte) *zk.Stat {
	t.Helper()
	st, err := c.Set(p, data, -1)
	if err != nil {
		t.Fatalf("set %s: %v", p, err)
	}
	return st
}

func mustStat(t *testing.T, c *client, p string) *zk.Stat {
	t.Helper()
	ok, st, err := c.Exists(p)
	if err != nil || !ok {
		t.Fatalf("exists %s: %v %v", p, ok, err)
	}
	return st
}

// awaitWatch waits for a one-shot watch channel to deliver its event.
func awaitWatch(t *testing.T, ch <-chan zk.Event, what string) zk.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("%s: watch channel closed without an event", what)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out after 10s waiting for the watch event: %s", what)
	}
	return zk.Event{}
}

// settle waits until every event the server owed c has been received: it
// sets an exists watch on a fresh top-level path, creates the path, and
// waits for that watch's NodeCreated. Events on one connection arrive in
// order, so an event that was due before is in c.events after settle.
func settle(t *testing.T, c *client) {
	t.Helper()
	marker := fmt.Sprintf("/compat-marker-%d", markerSeq.Add(1))
	ok, _, ch, err := c.ExistsW(marker)
	if err != nil || ok {
		t.Fatalf("exists-watch on marker %s: %v %v", marker, ok, err)
	}
	mustCreate(t, c, marker, nil, 0)
	if ev := awaitWatch(t, ch, "marker created"); ev.Type != zk.EventNodeCreated {
		t.Fatalf("marker watch: got %v, want EventNodeCreated", ev.Type)
	}
	if err := c.Delete(marker, -1); err != nil {
		t.Fatalf("delete marker: %v", err)
	}
}
