package recipetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/internal/zktest"
	"github.com/zkx-project/zkx/transport/jute"
)

// 32 sessions take turns at a lock. Under it each does a read-modify-write
// of a counter with plain getData/setData, which loses updates unless the
// lock really excludes; the fencing tokens must grow with every grant.
func TestLockExcludesAndTokensGrow(t *testing.T) {
	n := startNode(t)
	const sessions, rounds = 32, 4
	admin := connect(t, n.Addr())
	if _, err := admin.Create(ctxFor(t), "/count", []byte("0"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var tokens []int64
	inside := 0
	var g group
	for i := 0; i < sessions; i++ {
		c := connect(t, n.Addr())
		g.go_(func() error {
			ctx := ctxFor(t)
			for r := 0; r < rounds; r++ {
				v, err := try(ctx, c, "lock", "acquire", obj{"path": "/locks/a"})
				if err != nil {
					return err
				}
				grant := v.(obj)
				mu.Lock()
				inside++
				if inside != 1 {
					mu.Unlock()
					return fmt.Errorf("%d holders at once", inside)
				}
				tokens = append(tokens, int64(grant["token"].(float64)))
				mu.Unlock()
				data, _, err := c.Get(ctx, "/count")
				if err != nil {
					return err
				}
				k, _ := strconv.Atoi(string(data))
				if _, err := c.Set(ctx, "/count", []byte(strconv.Itoa(k+1)), -1); err != nil {
					return err
				}
				mu.Lock()
				inside--
				mu.Unlock()
				if _, err := try(ctx, c, "lock", "release", obj{"path": "/locks/a"}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.wait(t)
	data, _, err := admin.Get(ctxFor(t), "/count")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != strconv.Itoa(sessions*rounds) {
		t.Fatalf("counter is %s after %d locked increments: the lock let holders overlap", data, sessions*rounds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("grant %d has token %d after %d: fencing tokens must grow", i, tokens[i], tokens[i-1])
		}
	}
	if kids := children(t, admin, "/locks/a"); len(kids) != 0 {
		t.Fatalf("after every release the lock still has nodes %v", kids)
	}
}

// Waiters are granted in the order they asked, and a holder's session
// that dies (its connections cut, so it expires) hands the lock on.
func TestLockIsFairAndSurvivesAHolderDying(t *testing.T) {
	n := startNode(t)
	proxy := zktest.NewProxy(t, n.Addr())
	holder := connect(t, proxy.Addr(), client.WithSessionTimeout(600*time.Millisecond))
	first := call(t, holder, "lock", "acquire", obj{"path": "/l"})
	if first["acquired"] != true {
		t.Fatalf("uncontended acquire: %v", first)
	}
	again := call(t, holder, "lock", "acquire", obj{"path": "/l"})
	if again["node"] != first["node"] || again["token"] != first["token"] {
		t.Fatalf("acquire by the holder returned %v, want the same grant %v", again, first)
	}
	h := call(t, holder, "lock", "holder", obj{"path": "/l"})
	if sessionOf(t, h["session"]) != holder.SessionID() {
		t.Fatalf("holder %v, want session %#x", h, holder.SessionID())
	}

	admin := connect(t, n.Addr())
	var waiters []*client.Client
	var calls []*pending
	for i := 0; i < 3; i++ {
		c := connect(t, n.Addr())
		waiters = append(waiters, c)
		calls = append(calls, start(ctxFor(t), c, "lock", "acquire", obj{"path": "/l"}))
		eventually(t, "the waiter to queue", func() bool { return len(children(t, admin, "/l")) == i+2 })
	}
	if _, err := try(ctxFor(t), waiters[1], "lock", "release", obj{"path": "/nope"}); codeOf(err) != jute.ErrRecipeFailed {
		t.Fatalf("release of a lock never asked for: %v, want RecipeFailed", err)
	}

	kill(proxy)
	g := calls[0].result(t)
	if g["acquired"] != true || int64(g["token"].(float64)) <= int64(first["token"].(float64)) {
		t.Fatalf("after the holder died the first waiter got %v (first grant %v)", g, first)
	}
	for _, p := range calls[1:] {
		if p.returned() {
			t.Fatal("a later waiter was granted the lock together with the first")
		}
	}
	call(t, waiters[0], "lock", "release", obj{"path": "/l"})
	calls[1].result(t)
	if calls[2].returned() {
		t.Fatal("the third waiter was granted the lock before the second released it")
	}
	call(t, waiters[1], "lock", "release", obj{"path": "/l"})
	calls[2].result(t)
	h = call(t, admin, "lock", "holder", obj{"path": "/l"})
	if sessionOf(t, h["session"]) != waiters[2].SessionID() {
		t.Fatalf("holder %v, want the third waiter %#x", h, waiters[2].SessionID())
	}
}

// A waiter that gives up (timeout_ms, or its context's deadline) gets a
// negative answer and leaves nothing behind: it is never granted the lock
// later.
func TestLockTimeoutLeavesNoWaiter(t *testing.T) {
	n := startNode(t)
	holder := connect(t, n.Addr())
	call(t, holder, "lock", "acquire", obj{"path": "/l"})
	waiter := connect(t, n.Addr())

	r := call(t, waiter, "lock", "acquire", obj{"path": "/l", "timeout_ms": 200})
	if r["acquired"] != false || r["timedOut"] != true {
		t.Fatalf("acquire of a held lock with timeout_ms: %v, want acquired false, timedOut true", r)
	}
	if kids := children(t, holder, "/l"); len(kids) != 1 {
		t.Fatalf("after the timeout the lock has nodes %v, want only the holder's", kids)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The client passes its deadline on as timeout_ms, so the answer is
	// either the server's timedOut (if it wins the race) or the context's
	// error; never a grant.
	if r, err := try(ctx, waiter, "lock", "acquire", obj{"path": "/l"}); err == nil {
		if o, ok := r.(obj); !ok || o["acquired"] != false || o["timedOut"] != true {
			t.Fatalf("acquire of a held lock before its context's deadline answered %v", r)
		}
	}
	eventually(t, "the abandoned waiter's node to go", func() bool { return len(children(t, holder, "/l")) == 1 })
	call(t, holder, "lock", "release", obj{"path": "/l"})
	if h := call(t, holder, "lock", "holder", obj{"path": "/l"}); h != nil {
		t.Fatalf("a waiter that gave up holds the lock: %v", h)
	}
}

// Readers share a read-write lock; a writer excludes everyone; a reader
// that arrives after a waiting writer waits for it (no writer starvation).
func TestRWLock(t *testing.T) {
	n := startNode(t)
	admin := connect(t, n.Addr())
	r1, r2, w, r3 := connect(t, n.Addr()), connect(t, n.Addr()), connect(t, n.Addr()), connect(t, n.Addr())
	call(t, r1, "rwlock", "acquireRead", obj{"path": "/rw"})
	call(t, r2, "rwlock", "acquireRead", obj{"path": "/rw"})
	wp := start(ctxFor(t), w, "rwlock", "acquireWrite", obj{"path": "/rw"})
	eventually(t, "the writer to queue", func() bool { return len(children(t, admin, "/rw")) == 3 })
	rp := start(ctxFor(t), r3, "rwlock", "acquireRead", obj{"path": "/rw"})
	eventually(t, "the late reader to queue", func() bool { return len(children(t, admin, "/rw")) == 4 })
	call(t, r1, "rwlock", "release", obj{"path": "/rw"})
	if wp.returned() {
		t.Fatal("the writer got the lock while a reader held it")
	}
	call(t, r2, "rwlock", "release", obj{"path": "/rw"})
	wp.result(t)
	if rp.returned() {
		t.Fatal("a reader got the lock while the writer held it")
	}
	call(t, w, "rwlock", "release", obj{"path": "/rw"})
	rp.result(t)
}

// A semaphore lets exactly N holders in; the next is admitted when one
// releases.
func TestSemaphore(t *testing.T) {
	n := startNode(t)
	admin := connect(t, n.Addr())
	var cs []*client.Client
	for i := 0; i < 4; i++ {
		cs = append(cs, connect(t, n.Addr()))
	}
	for _, c := range cs[:3] {
		call(t, c, "semaphore", "acquire", obj{"path": "/sem", "permits": 3})
	}
	p := start(ctxFor(t), cs[3], "semaphore", "acquire", obj{"path": "/sem", "permits": 3})
	eventually(t, "the fourth to queue", func() bool { return len(children(t, admin, "/sem")) == 4 })
	h := call(t, admin, "semaphore", "holders", obj{"path": "/sem"})
	if len(h["holders"].([]any)) != 3 || num(t, h["permits"]) != 3 {
		t.Fatalf("holders %v, want 3 of 3 permits", h)
	}
	if _, err := try(ctxFor(t), admin, "semaphore", "acquire", obj{"path": "/sem", "permits": 5}); codeOf(err) != jute.ErrBadArguments {
		t.Fatalf("acquire with a different permit count: %v, want BadArguments", err)
	}
	if p.returned() {
		t.Fatal("a fourth holder got into a semaphore of 3")
	}
	call(t, cs[1], "semaphore", "release", obj{"path": "/sem"})
	p.result(t)
	h = call(t, admin, "semaphore", "holders", obj{"path": "/sem"})
	got := map[int64]bool{}
	for _, s := range h["holders"].([]any) {
		got[sessionOf(t, s)] = true
	}
	if len(got) != 3 || !got[cs[0].SessionID()] || !got[cs[2].SessionID()] || !got[cs[3].SessionID()] {
		t.Fatalf("holders %v after one release", h)
	}
}

// The first candidate leads; when its session expires the next one is
// elected (its campaign call returns), and leader names it.
func TestElectionHandsOverWhenTheLeaderDies(t *testing.T) {
	n := startNode(t)
	proxy := zktest.NewProxy(t, n.Addr())
	a := connect(t, proxy.Addr(), client.WithSessionTimeout(600*time.Millisecond))
	b, c := connect(t, n.Addr()), connect(t, n.Addr())
	ra := call(t, a, "election", "campaign", obj{"path": "/e", "id": "a"})
	if ra["leader"] != true {
		t.Fatalf("the only candidate: %v", ra)
	}
	pb := start(ctxFor(t), b, "election", "campaign", obj{"path": "/e", "id": "b"})
	eventually(t, "b to stand", func() bool { return len(children(t, c, "/e")) == 2 })
	pc := start(ctxFor(t), c, "election", "campaign", obj{"path": "/e", "id": "c"})
	eventually(t, "c to stand", func() bool { return len(children(t, c, "/e")) == 3 })
	if l := call(t, c, "election", "leader", obj{"path": "/e"}); l["id"] != "a" {
		t.Fatalf("leader %v, want a", l)
	}
	kill(proxy)
	rb := pb.result(t)
	if rb["leader"] != true || num(t, rb["token"]) <= num(t, ra["token"]) {
		t.Fatalf("b's campaign returned %v", rb)
	}
	if l := call(t, c, "election", "leader", obj{"path": "/e"}); l["id"] != "b" || sessionOf(t, l["session"]) != b.SessionID() {
		t.Fatalf("leader %v, want b", l)
	}
	if pc.returned() {
		t.Fatal("c was elected while b leads")
	}
	call(t, b, "election", "resign", obj{"path": "/e"})
	if rc := pc.result(t); rc["leader"] != true {
		t.Fatalf("c's campaign returned %v", rc)
	}
}
