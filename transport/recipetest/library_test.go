package recipetest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/internal/zktest"
	"github.com/zkx-project/zkx/transport/jute"
)

// Waiters at a set barrier are held until it is removed, then all pass.
func TestBarrier(t *testing.T) {
	n := startNode(t)
	admin := connect(t, n.Addr())
	if r := call(t, admin, "barrier", "wait", obj{"path": "/b"}); r["passed"] != true {
		t.Fatalf("wait at a barrier that is not set: %v", r)
	}
	call(t, admin, "barrier", "set", obj{"path": "/b"})
	call(t, admin, "barrier", "set", obj{"path": "/b"}) // idempotent
	var ps []*pending
	for i := 0; i < 3; i++ {
		ps = append(ps, start(ctxFor(t), connect(t, n.Addr()), "barrier", "wait", obj{"path": "/b"}))
	}
	if r := call(t, admin, "barrier", "wait", obj{"path": "/b", "timeout_ms": 100}); r["passed"] != false || r["timedOut"] != true {
		t.Fatalf("wait with timeout_ms at a set barrier: %v", r)
	}
	for _, p := range ps {
		if p.returned() {
			t.Fatal("a waiter passed a barrier that is set")
		}
	}
	call(t, admin, "barrier", "remove", obj{"path": "/b"})
	for _, p := range ps {
		if r := p.result(t); r["passed"] != true {
			t.Fatalf("wait returned %v", r)
		}
	}
}

// Nobody gets through enter until count participants have arrived, and
// nobody gets through leave until all have left.
func TestDoubleBarrier(t *testing.T) {
	n := startNode(t)
	admin := connect(t, n.Addr())
	const count = 4
	var cs []*client.Client
	var enters []*pending
	for i := 0; i < count-1; i++ {
		c := connect(t, n.Addr())
		cs = append(cs, c)
		enters = append(enters, start(ctxFor(t), c, "double_barrier", "enter", obj{"path": "/db", "count": count}))
	}
	eventually(t, "3 participants", func() bool { return len(children(t, admin, "/db")) == count-1 })
	for _, p := range enters {
		if p.returned() {
			t.Fatal("a participant entered before all had arrived")
		}
	}
	last := connect(t, n.Addr())
	cs = append(cs, last)
	if r := call(t, last, "double_barrier", "enter", obj{"path": "/db", "count": count}); r["entered"] != true {
		t.Fatalf("the last to arrive: %v", r)
	}
	for _, p := range enters {
		p.result(t)
	}
	var leaves []*pending
	for _, c := range cs[:count-1] {
		leaves = append(leaves, start(ctxFor(t), c, "double_barrier", "leave", obj{"path": "/db"}))
	}
	eventually(t, "3 to leave", func() bool { return len(children(t, admin, "/db")) == 2 }) // last's node and ready
	for _, p := range leaves {
		if p.returned() {
			t.Fatal("a participant left before all had left")
		}
	}
	call(t, last, "double_barrier", "leave", obj{"path": "/db"})
	for _, p := range leaves {
		p.result(t)
	}
	if kids := children(t, admin, "/db"); len(kids) != 0 {
		t.Fatalf("after everyone left: %v", kids)
	}
}

// Producers and consumers in parallel: every item is taken exactly once,
// and none is lost; one consumer sees them in FIFO order.
func TestQueueExactlyOnce(t *testing.T) {
	n := startNode(t)
	const producers, consumers, each = 4, 4, 50
	var mu sync.Mutex
	taken := map[string]int{}
	var g group
	remaining := producers * each
	for w := 0; w < consumers; w++ {
		c := connect(t, n.Addr())
		g.go_(func() error {
			ctx := ctxFor(t)
			for {
				mu.Lock()
				if remaining == 0 {
					mu.Unlock()
					return nil
				}
				remaining--
				mu.Unlock()
				v, err := try(ctx, c, "queue", "take", obj{"path": "/q"})
				if err != nil {
					return err
				}
				data := v.(obj)["data"].(string)
				mu.Lock()
				taken[data]++
				mu.Unlock()
			}
		})
	}
	for p := 0; p < producers; p++ {
		c := connect(t, n.Addr())
		g.go_(func() error {
			for i := 0; i < each; i++ {
				if _, err := try(ctxFor(t), c, "queue", "put", obj{"path": "/q", "data": fmt.Sprintf("%d-%d", p, i)}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.wait(t)
	if len(taken) != producers*each {
		t.Fatalf("%d distinct items taken, want %d", len(taken), producers*each)
	}
	for item, k := range taken {
		if k != 1 {
			t.Fatalf("item %s taken %d times", item, k)
		}
	}
	// Takes are serialized by the server, but the replies to different
	// consumers race back; FIFO order is checked with one consumer.
	admin := connect(t, n.Addr())
	if r := call(t, admin, "queue", "poll", obj{"path": "/q"}); r != nil {
		t.Fatalf("poll of an empty queue: %v", r)
	}
	for i := 0; i < 5; i++ {
		call(t, admin, "queue", "put", obj{"path": "/q", "data": fmt.Sprint(i)})
	}
	if r := call(t, admin, "queue", "size", obj{"path": "/q"}); num(t, r["size"]) != 5 {
		t.Fatalf("size %v", r)
	}
	if r := call(t, admin, "queue", "peek", obj{"path": "/q"}); r["data"] != "0" {
		t.Fatalf("peek %v", r)
	}
	for i := 0; i < 5; i++ {
		if r := call(t, admin, "queue", "take", obj{"path": "/q"}); r["data"] != fmt.Sprint(i) {
			t.Fatalf("take %d returned %v: not FIFO", i, r)
		}
	}
}

// A take from an empty queue waits for the next put.
func TestQueueTakeWaits(t *testing.T) {
	n := startNode(t)
	a, b := connect(t, n.Addr()), connect(t, n.Addr())
	p := start(ctxFor(t), a, "queue", "take", obj{"path": "/q"})
	if r := call(t, b, "queue", "take", obj{"path": "/q", "timeout_ms": 100}); r != nil {
		t.Fatalf("take with timeout_ms from an empty queue: %v, want null", r)
	}
	if p.returned() {
		t.Fatal("take from an empty queue returned")
	}
	call(t, b, "queue", "put", obj{"path": "/q", "data": "x"})
	if r := p.result(t); r["data"] != "x" {
		t.Fatalf("take returned %v", r)
	}
}

func TestPriorityQueue(t *testing.T) {
	n := startNode(t)
	c := connect(t, n.Addr())
	for _, it := range []struct {
		data string
		prio int
	}{{"e", 5}, {"a1", 1}, {"c", 3}, {"a2", 1}, {"z", 0}} {
		call(t, c, "priority_queue", "put", obj{"path": "/pq", "data": it.data, "priority": it.prio})
	}
	_, err := try(ctxFor(t), c, "priority_queue", "put", obj{"path": "/pq", "data": "x", "priority": -1})
	wantCode(t, "negative priority", err, jute.ErrBadArguments)
	var got []string
	for i := 0; i < 5; i++ {
		got = append(got, call(t, c, "priority_queue", "take", obj{"path": "/pq"})["data"].(string))
	}
	if fmt.Sprint(got) != "[z a1 a2 c e]" {
		t.Fatalf("take order %v, want [z a1 a2 c e]", got)
	}
}

// Concurrent adds lose nothing and each returns the value it produced.
func TestCounter(t *testing.T) {
	n := startNode(t)
	const workers, each = 8, 40
	var mu sync.Mutex
	var values []int64
	var g group
	for w := 0; w < workers; w++ {
		c := connect(t, n.Addr())
		g.go_(func() error {
			for i := 0; i < each; i++ {
				v, err := try(ctxFor(t), c, "counter", "add", obj{"path": "/ctr"})
				if err != nil {
					return err
				}
				mu.Lock()
				values = append(values, int64(v.(obj)["value"].(float64)))
				mu.Unlock()
			}
			return nil
		})
	}
	g.wait(t)
	sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
	for i, v := range values {
		if v != int64(i+1) {
			t.Fatalf("add results %v...: want each of 1..%d once", values[:i+1], workers*each)
		}
	}
	c := connect(t, n.Addr())
	if r := call(t, c, "counter", "add", obj{"path": "/ctr", "delta": -20}); num(t, r["value"]) != workers*each-20 {
		t.Fatalf("add -20: %v", r)
	}
	data, _, err := c.Get(ctxFor(t), "/ctr")
	if err != nil || string(data) != fmt.Sprint(workers*each-20) {
		t.Fatalf("the counter node holds %q (%v)", data, err)
	}
	if r := call(t, c, "counter", "get", obj{"path": "/none"}); num(t, r["value"]) != 0 {
		t.Fatalf("get of a missing counter: %v", r)
	}
}

// Ids are unique and increase for each caller; a batch reserves a range.
func TestIDGen(t *testing.T) {
	n := startNode(t)
	var mu sync.Mutex
	seen := map[int64]bool{}
	var g group
	for w := 0; w < 6; w++ {
		c := connect(t, n.Addr())
		g.go_(func() error {
			last := int64(0)
			for i := 0; i < 30; i++ {
				v, err := try(ctxFor(t), c, "idgen", "next", obj{"path": "/ids", "count": 1 + i%3})
				if err != nil {
					return err
				}
				r := v.(obj)
				id, end := int64(r["id"].(float64)), int64(r["last"].(float64))
				if id <= last || end != id+int64(i%3) {
					return fmt.Errorf("ids %d..%d after %d", id, end, last)
				}
				last = end
				mu.Lock()
				for k := id; k <= end; k++ {
					if seen[k] {
						mu.Unlock()
						return fmt.Errorf("id %d handed out twice", k)
					}
					seen[k] = true
				}
				mu.Unlock()
			}
			return nil
		})
	}
	g.wait(t)
	if len(seen) != 6*(10*1+10*2+10*3) {
		t.Fatalf("%d ids", len(seen))
	}
}

// Instances register as ephemeral nodes; watch answers when the set
// changes, including when an instance's session dies.
func TestRegistry(t *testing.T) {
	n := startNode(t)
	proxy := zktest.NewProxy(t, n.Addr())
	a := connect(t, proxy.Addr(), client.WithSessionTimeout(600*time.Millisecond))
	b := connect(t, n.Addr())
	call(t, a, "registry", "register", obj{"path": "/svc/api", "id": "a", "data": "10.0.0.1:80"})
	call(t, b, "registry", "register", obj{"path": "/svc/api", "id": "b", "data": "10.0.0.2:80"})
	_, err := try(ctxFor(t), b, "registry", "register", obj{"path": "/svc/api", "id": "a", "data": "stolen"})
	wantCode(t, "register another session's id", err, jute.ErrNodeExists)
	l := call(t, b, "registry", "list", obj{"path": "/svc/api"})
	if ins := l["instances"].([]any); len(ins) != 2 || ins[0].(obj)["data"] != "10.0.0.1:80" {
		t.Fatalf("list %v", l)
	}
	// A data change is a change.
	w := start(ctxFor(t), b, "registry", "watch", obj{"path": "/svc/api", "version": l["version"]})
	call(t, b, "registry", "register", obj{"path": "/svc/api", "id": "b", "data": "10.0.0.2:81"})
	r := w.result(t)
	if r["version"] == l["version"] {
		t.Fatalf("watch returned the same version: %v", r)
	}
	// The death of a's session is a change.
	w = start(ctxFor(t), b, "registry", "watch", obj{"path": "/svc/api", "version": r["version"]})
	if r2 := call(t, b, "registry", "watch", obj{"path": "/svc/api", "version": r["version"], "timeout_ms": 50}); r2["timedOut"] != true || r2["version"] != r["version"] {
		t.Fatalf("watch with timeout_ms and nothing changing: %v", r2)
	}
	if w.returned() {
		t.Fatal("watch returned with nothing changed")
	}
	kill(proxy)
	r = w.result(t)
	ins := r["instances"].([]any)
	if len(ins) != 1 || ins[0].(obj)["id"] != "b" || ins[0].(obj)["data"] != "10.0.0.2:81" {
		t.Fatalf("after a died: %v", r)
	}
	call(t, b, "registry", "deregister", obj{"path": "/svc/api", "id": "b"})
	if l := call(t, b, "registry", "list", obj{"path": "/svc/api"}); len(l["instances"].([]any)) != 0 {
		t.Fatalf("after deregister: %v", l)
	}
}

// Compare-and-set: a stale version is refused; watch answers a change.
func TestConfig(t *testing.T) {
	n := startNode(t)
	a, b := connect(t, n.Addr()), connect(t, n.Addr())
	if r := call(t, a, "config", "get", obj{"path": "/cfg/x"}); r != nil {
		t.Fatalf("get of a missing value: %v", r)
	}
	call(t, a, "config", "cas", obj{"path": "/cfg/x", "value": "v1", "version": -1})
	_, err := try(ctxFor(t), b, "config", "cas", obj{"path": "/cfg/x", "value": "v1b", "version": -1})
	wantCode(t, "create of an existing value", err, jute.ErrNodeExists)
	g := call(t, b, "config", "get", obj{"path": "/cfg/x"})
	if g["value"] != "v1" || num(t, g["version"]) != 0 {
		t.Fatalf("get %v", g)
	}
	w := start(ctxFor(t), b, "config", "watch", obj{"path": "/cfg/x", "version": 0})
	call(t, a, "config", "cas", obj{"path": "/cfg/x", "value": "v2", "version": 0})
	_, err = try(ctxFor(t), b, "config", "cas", obj{"path": "/cfg/x", "value": "v2b", "version": 0})
	wantCode(t, "cas with a stale version", err, jute.ErrBadVersion)
	if r := w.result(t); r["value"] != "v2" || num(t, r["version"]) != 1 {
		t.Fatalf("watch returned %v", r)
	}
}
