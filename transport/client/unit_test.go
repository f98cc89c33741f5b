package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

func TestParseServers(t *testing.T) {
	got, err := ParseServers(" a:2181, b:2182 ,,[::1]:2183")
	must(t, err)
	if fmt.Sprint(got) != "[a:2181 b:2182 [::1]:2183]" {
		t.Fatalf("ParseServers = %v", got)
	}
	for _, bad := range []string{"", ",", "a", "a:1/chroot"} {
		if _, err := ParseServers(bad); err == nil {
			t.Errorf("ParseServers(%q) accepted", bad)
		}
	}
}

func TestDigestID(t *testing.T) {
	// The example from ZooKeeper's administrator guide (super:test).
	if got := DigestID("super", "test"); got != "super:D/InIHSb7yEEbrWz8b9l71RjZJU=" {
		t.Fatalf("DigestID = %q", got)
	}
	acl := DigestACL(PermRead, "super", "test")
	if len(acl) != 1 || acl[0].Scheme != "digest" || acl[0].Perms != PermRead {
		t.Fatalf("DigestACL = %+v", acl)
	}
}

func TestErrorMatching(t *testing.T) {
	var err error = &Error{Code: jute.ErrNoNode, Op: "delete", Path: "/a"}
	if !errors.Is(err, jute.ErrNoNode) || !errors.Is(err, ErrNoNode) || errors.Is(err, ErrNodeExists) {
		t.Fatal("errors.Is does not see the code")
	}
	wrapped := fmt.Errorf("cleanup: %w", err)
	var code jute.Err
	if !errors.As(wrapped, &code) || code != jute.ErrNoNode {
		t.Fatalf("errors.As = %v", code)
	}
	if got := err.Error(); got != "delete: KeeperErrorCode = NoNode for /a" {
		t.Fatalf("Error() = %q", got)
	}
	loss := &Error{Code: jute.ErrConnectionLoss, Op: "getData", Path: "/x"}
	if errors.Is(loss, ErrSessionExpired) || errors.Is(loss, ErrClosed) || !errors.Is(loss, ErrConnectionLoss) {
		t.Fatal("ConnectionLoss is not distinct")
	}
	msg := &Error{Code: jute.ErrRecipeFailed, Op: "recipeCall", Path: "lock.acquire", Message: "boom"}
	if got := msg.Error(); got != "recipeCall: KeeperErrorCode = Recipe failed for lock.acquire: boom" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestSetWatchesBatches(t *testing.T) {
	var l watchLists
	path := func(kind string, i int) string { return fmt.Sprintf("/%s/%0100d", kind, i) }
	for i := 0; i < 2000; i++ {
		l.data = append(l.data, path("d", i))
		l.child = append(l.child, path("c", i))
	}
	for i := 0; i < 10; i++ {
		l.recursive = append(l.recursive, path("r", i))
	}
	batches := setWatchesBatches(l, 42)
	// 4010 paths of 103 bytes: just over three batches of 128 KiB.
	if len(batches) != 4 {
		t.Fatalf("%d batches", len(batches))
	}
	seen := map[string]bool{}
	for _, b := range batches {
		size := 0
		for _, list := range [][]string{b.DataWatches, b.ExistWatches, b.ChildWatches, b.PersistentWatches, b.PersistentRecursive} {
			if list == nil {
				t.Fatal("nil list; ZooKeeper clients send empty ones")
			}
			for _, p := range list {
				size += len(p)
				seen[p] = true
			}
		}
		if b.RelativeZxid != 42 || !b.V2 || size > maxSetWatchesBytes+103 {
			t.Fatalf("batch zxid %d v2 %v size %d", b.RelativeZxid, b.V2, size)
		}
		var e jute.Encoder
		b.Encode(&e)
		if e.Len() > jute.MaxBuffer {
			t.Fatalf("batch of %d bytes", e.Len())
		}
	}
	if len(seen) != 4010 {
		t.Fatalf("%d distinct paths re-registered", len(seen))
	}
	for _, p := range batches[0].DataWatches {
		if !strings.HasPrefix(p, "/d/") {
			t.Fatalf("data list holds %s", p)
		}
	}
	if setWatchesBatches(watchLists{}, 1) != nil {
		t.Fatal("batches for no watches")
	}
}

func TestCallQueue(t *testing.T) {
	var q callQueue
	calls := make([]*call, 200)
	for i := range calls {
		calls[i] = &call{xid: int32(i)}
	}
	next := 0
	for round := 0; round < 10; round++ {
		for i := 0; i < 20; i++ {
			q.push(calls[(round*20+i)%200])
		}
		for i := 0; i < 15; i++ {
			if c := q.pop(); c.xid != int32(next%200) {
				t.Fatalf("pop %d, want %d", c.xid, next)
			}
			next++
		}
	}
	front := &call{xid: -1}
	q.pushFront(front)
	if q.pop() != front {
		t.Fatal("pushFront is not first out")
	}
	rest := q.drain()
	if len(rest) != 50 || q.len() != 0 || q.pop() != nil {
		t.Fatalf("drain left %d, len %d", len(rest), q.len())
	}
}

// TestWatchTableRules checks which watchers an event reaches, as in
// ZKWatchManager.materialize.
func TestWatchTableRules(t *testing.T) {
	tbl := newWatchTable()
	reg := func(kind watchKind, path string, code jute.Err) chan Event {
		ch := make(chan Event, 1)
		tbl.onReply(&watchReg{kind: kind, path: path, ch: ch}, code)
		return ch
	}
	data := reg(watchData, "/a", jute.ErrOK)
	existOK := reg(watchExists, "/a", jute.ErrOK)      // data table
	existNo := reg(watchExists, "/b", jute.ErrNoNode)  // exist table
	existErr := reg(watchExists, "/c", jute.ErrNoAuth) // not registered
	child := reg(watchChild, "/a", jute.ErrOK)
	failed := reg(watchData, "/a", jute.ErrNoNode) // not registered
	l := tbl.lists()
	if fmt.Sprint(l.data, l.exist, l.child) != "[/a] [/b] [/a]" {
		t.Fatalf("lists %+v", l)
	}
	pw := newPersistentWatch(nil, "/a", false)
	tbl.onReply(&watchReg{kind: watchPersistent, path: "/a", pw: pw}, jute.ErrOK)
	rw := newPersistentWatch(nil, "/", true)
	tbl.onReply(&watchReg{kind: watchRecursive, path: "/", pw: rw}, jute.ErrOK)

	tbl.trigger(Event{Type: jute.EventNodeChildrenChanged, Path: "/a"})
	if ev := <-child; ev.Type != jute.EventNodeChildrenChanged {
		t.Fatalf("child watch got %v", ev)
	}
	if len(data) != 0 || len(existOK) != 0 {
		t.Fatal("children change fired a data watch")
	}
	tbl.trigger(Event{Type: jute.EventNodeDataChanged, Path: "/a"})
	for _, ch := range []chan Event{data, existOK} {
		if ev, ok := <-ch; !ok || ev.Type != jute.EventNodeDataChanged {
			t.Fatalf("data watch got %v", ev)
		}
		if _, ok := <-ch; ok {
			t.Fatal("one-shot watch not closed")
		}
	}
	tbl.trigger(Event{Type: jute.EventNodeCreated, Path: "/b/c"})
	if len(existNo) != 0 {
		t.Fatal("event on /b/c fired a watch on /b")
	}
	if len(existErr) != 0 || len(failed) != 0 {
		t.Fatal("a watch registered by a failed request fired")
	}
	// Persistent: children changed, data changed on /a; recursive: those
	// two plus /b/c.
	for _, want := range []string{"NodeChildrenChanged /a", "NodeDataChanged /a"} {
		if ev := <-pw.ch; eventNames[ev.Type]+" "+ev.Path != want {
			t.Fatalf("persistent got %v, want %s", ev, want)
		}
	}
	for _, want := range []string{"NodeChildrenChanged /a", "NodeDataChanged /a", "NodeCreated /b/c"} {
		if ev := <-rw.ch; eventNames[ev.Type]+" "+ev.Path != want {
			t.Fatalf("recursive got %v, want %s", ev, want)
		}
	}
	// End of session: everything left gets the event and closes; later
	// registrations get it at once.
	end := Event{Type: jute.EventNone, State: jute.StateExpired, Err: ErrSessionExpired}
	tbl.closeAll(end)
	if ev := <-existNo; ev.State != jute.StateExpired || ev.Path != "/b" {
		t.Fatalf("exist watch got %v", ev)
	}
	late := reg(watchData, "/z", jute.ErrOK)
	if ev := <-late; ev.State != jute.StateExpired {
		t.Fatalf("late watch got %v", ev)
	}
	for _, w := range []*PersistentWatch{pw, rw} {
		var last Event
		for ev := range w.ch {
			last = ev
		}
		if last.State != jute.StateExpired {
			t.Fatalf("persistent watch ended with %v", last)
		}
	}
}

// TestPersistentWatchQueue: a watch whose reader is slow queues events
// without blocking the sender, in order, and closes after the last.
func TestPersistentWatchQueue(t *testing.T) {
	w := newPersistentWatch(nil, "/q", true)
	const n = 10 * persistentBuffer
	for i := 0; i < n; i++ {
		w.push(Event{Type: jute.EventNodeCreated, Path: fmt.Sprintf("/q/%d", i)})
	}
	w.end(Event{Type: jute.EventPersistentWatchRemoved, Path: "/q"})
	w.push(Event{Type: jute.EventNodeCreated, Path: "/q/after-end"})
	i := 0
	for ev := range w.Events() {
		want := fmt.Sprintf("/q/%d", i)
		if i == n {
			want = "/q"
		}
		if ev.Path != want {
			t.Fatalf("event %d = %v, want path %s", i, ev, want)
		}
		i++
	}
	if i != n+1 {
		t.Fatalf("%d events", i)
	}
}

func TestParent(t *testing.T) {
	for in, want := range map[string]string{"/a/b/c": "/a/b", "/a": "/", "/": "/"} {
		if got := parent(in); got != want {
			t.Errorf("parent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventString(t *testing.T) {
	ev := Event{Type: jute.EventNodeDeleted, State: jute.StateSyncConnected, Path: "/x"}
	if got := ev.String(); got != "WatchedEvent state:SyncConnected type:NodeDeleted path:/x" {
		t.Fatalf("String = %q", got)
	}
}

func TestCallPassesTheDeadlineAsTimeout(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"path":"/l"}`, `{"timeout_ms":1500,"path":"/l"}`},
		{` { } `, `{"timeout_ms":1500}`},
		{`{"path":"/l","timeout_ms":20}`, `{"path":"/l","timeout_ms":20}`}, // the caller's own wins
		{`[1,2]`, `[1,2]`},
		{`not json`, `not json`},
		{``, ``},
	} {
		got := string(withTimeout([]byte(c.in), 1500*time.Millisecond))
		if got != c.want {
			t.Errorf("withTimeout(%s) = %s, want %s", c.in, got, c.want)
		}
		if c.want != c.in && !json.Valid([]byte(got)) {
			t.Errorf("withTimeout(%s) is not JSON: %s", c.in, got)
		}
	}
}

// TestReconnectBackoff: between rounds of failed reconnections the wait
// doubles up to a second while no server can be reached, but only up to
// 200ms while servers answer and turn the client away (members without a
// leader during an election), so that the client is back soon after the
// election ends.
func TestReconnectBackoff(t *testing.T) {
	b := minBackoff
	var unreachable, refused []time.Duration
	for range 6 {
		b = nextBackoff(b, false)
		unreachable = append(unreachable, b)
	}
	if unreachable[len(unreachable)-1] != maxBackoff || unreachable[0] != 2*minBackoff {
		t.Errorf("unreachable servers: backoffs %v, want doubling from %v to %v", unreachable, 2*minBackoff, maxBackoff)
	}
	for range 6 {
		b = nextBackoff(b, true)
		refused = append(refused, b)
	}
	for _, d := range refused {
		if d != maxRefusedBackoff {
			t.Errorf("after a long outage, servers that answer: backoffs %v, want %v each", refused, maxRefusedBackoff)
			break
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = (&net.Dialer{}).Dial("tcp", addr)
	if err == nil || !isDialError(err) {
		t.Errorf("connecting to a closed port: %v, isDialError = false", err)
	}
	if isDialError(io.EOF) || isDialError(errors.New("refused at handshake")) {
		t.Error("an answer from a server counted as a dial error")
	}
}
