package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for: %s", timeout, fmt.Sprintf(format, args...))
	}
}

func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// leakCheck fails the test if goroutines started during it are still
// running when its cleanups (registered later, so run earlier) are done.
func leakCheck(t testing.TB) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		if !poll(5*time.Second, func() bool { return runtime.NumGoroutine() <= base }) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("goroutine leak: %d running, %d before the test\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
	})
}

// logRecorder keeps every log line of a test, checks that attribute keys
// are kebab-case, and prints the lines if the test fails.
type logRecorder struct {
	mu      sync.Mutex
	lines   []string
	badKeys []string
}

var kebab = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

func newLogRecorder(t testing.TB) *logRecorder {
	r := &logRecorder{}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.badKeys) > 0 {
			t.Errorf("log keys not in kebab-case: %q", r.badKeys)
		}
		if t.Failed() {
			t.Logf("log:\n%s", strings.Join(r.lines, "\n"))
		}
	})
	return r
}

func (r *logRecorder) logger(server int64) *slog.Logger {
	return slog.New(&recordHandler{r: r, prefix: fmt.Sprintf("[%d]", server)})
}

// has reports whether a line at level contains every one of parts.
func (r *logRecorder) has(level slog.Level, parts ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if !strings.Contains(l, " "+level.String()+" ") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

type recordHandler struct {
	r      *logRecorder
	prefix string
	attrs  []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s", rec.Time.Format("15:04:05.000"), h.prefix, rec.Level, rec.Message)
	var bad []string
	add := func(a slog.Attr) bool {
		if !kebab.MatchString(a.Key) {
			bad = append(bad, a.Key)
		}
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	rec.Attrs(add)
	h.r.mu.Lock()
	h.r.lines = append(h.r.lines, b.String())
	h.r.badKeys = append(h.r.badKeys, bad...)
	h.r.mu.Unlock()
	return nil
}

func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{r: h.r, prefix: h.prefix, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }

// freeAddrs returns n distinct loopback addresses that were free a moment
// ago.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var lns []net.Listener
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// cluster is an ensemble of test nodes with ids 1..n on loopback.
type cluster struct {
	t     testing.TB
	log   *logRecorder
	peers map[int64]Addr
	nodes map[int64]*testNode
}

func newCluster(t testing.TB, n int, tweak func(*Config)) *cluster {
	t.Helper()
	leakCheck(t)
	c := &cluster{t: t, log: newLogRecorder(t), peers: map[int64]Addr{}, nodes: map[int64]*testNode{}}
	addrs := freeAddrs(t, 2*n)
	for i := range n {
		c.peers[int64(i+1)] = Addr{Quorum: addrs[2*i], Election: addrs[2*i+1]}
	}
	for id := range c.peers {
		cfg := Config{
			ID:            id,
			Peers:         c.peers,
			Logger:        c.log.logger(id),
			DialTimeout:   2 * time.Second,
			RedialBackoff: 10 * time.Millisecond,
		}
		if tweak != nil {
			tweak(&cfg)
		}
		c.nodes[id] = &testNode{t: t, cfg: cfg}
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.stop()
		}
	})
	return c
}

func (c *cluster) node(id int64) *testNode { return c.nodes[id] }

func (c *cluster) startAll() {
	for _, id := range c.ids() {
		c.nodes[id].start()
	}
}

func (c *cluster) ids() []int64 {
	var ids []int64
	for id := range c.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// waitConnected waits until every pair of running nodes has both links up
// on both ends.
func (c *cluster) waitConnected() {
	c.t.Helper()
	waitFor(c.t, 10*time.Second, func() bool {
		for _, a := range c.nodes {
			for _, b := range c.nodes {
				if a.m == nil || b.m == nil {
					continue
				}
				for ch := range Channel(numChannels) {
					if !a.m.Connected(b.cfg.ID, ch) {
						return false
					}
				}
			}
		}
		return true
	}, "all links up")
}

// testNode runs one Mesh and collects everything it receives.
type testNode struct {
	t   testing.TB
	cfg Config
	m   *Mesh

	pause sync.RWMutex // held (Lock) by a test to stop the collector
	mu    sync.Mutex
	got   map[linkKey][]Inbound
	done  chan struct{}
}

func (n *testNode) start() {
	n.t.Helper()
	m, err := Start(n.cfg)
	if err != nil {
		n.t.Fatalf("start server %d: %v", n.cfg.ID, err)
	}
	n.mu.Lock()
	n.m, n.got, n.done = m, map[linkKey][]Inbound{}, make(chan struct{})
	n.mu.Unlock()
	go n.collect(m, n.done)
}

// startBare starts the Mesh without a collector: the test reads Recv.
func (n *testNode) startBare() {
	n.t.Helper()
	m, err := Start(n.cfg)
	if err != nil {
		n.t.Fatalf("start server %d: %v", n.cfg.ID, err)
	}
	done := make(chan struct{})
	close(done)
	n.mu.Lock()
	n.m, n.got, n.done = m, map[linkKey][]Inbound{}, done
	n.mu.Unlock()
}

func (n *testNode) collect(m *Mesh, done chan struct{}) {
	defer close(done)
	for in := range m.Recv() {
		n.pause.RLock()
		n.pause.RUnlock()
		k := linkKey{in.From, in.Channel}
		n.mu.Lock()
		n.got[k] = append(n.got[k], in)
		n.mu.Unlock()
	}
}

func (n *testNode) stop() {
	if n.m == nil {
		return
	}
	if err := n.m.Close(); err != nil {
		n.t.Errorf("close server %d: %v", n.cfg.ID, err)
	}
	<-n.done
	n.m = nil
}

// received returns what arrived from (from, ch), Downs included.
func (n *testNode) received(from int64, ch Channel) []Inbound {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got[linkKey{from, ch}])
}

// count returns how many Inbounds arrived from (from, ch).
func (n *testNode) count(from int64, ch Channel) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.got[linkKey{from, ch}])
}

// forget drops what was received so far.
func (n *testNode) forget() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.got)
}

func (n *testNode) downs(from int64, ch Channel) int {
	k := 0
	for _, in := range n.received(from, ch) {
		if in.Down {
			k++
		}
	}
	return k
}

// seqs returns the sequence numbers of the payloads from (from, ch), with
// -1 for each Down.
func (n *testNode) seqs(from int64, ch Channel) []int64 {
	var out []int64
	for _, in := range n.received(from, ch) {
		if in.Down {
			out = append(out, -1)
		} else {
			out = append(out, seqOf(in.Payload))
		}
	}
	return out
}

func seqPayload(seq int64, size int) []byte {
	p := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(p, uint64(seq))
	for i := 8; i < len(p); i++ {
		p[i] = byte(seq) + byte(i)
	}
	return p
}

func seqOf(p []byte) int64 {
	if len(p) < 8 {
		return -2
	}
	s := int64(binary.BigEndian.Uint64(p))
	if !bytes.Equal(p, seqPayload(s, len(p))) {
		return -3 // damaged payload
	}
	return s
}

// checkNoGaps checks a seqs() stream: within each connection (between
// Downs) consecutive numbers, and increasing across connections.
func checkNoGaps(t testing.TB, what string, seqs []int64) {
	t.Helper()
	last := int64(-1)
	newConn := true
	for i, s := range seqs {
		switch {
		case s == -1:
			newConn = true
			continue
		case s < -1:
			t.Fatalf("%s: damaged payload at %d", what, i)
		case newConn && s <= last:
			t.Fatalf("%s: %d after %d across a reconnect (index %d)", what, s, last, i)
		case !newConn && s != last+1:
			t.Fatalf("%s: gap or reorder: %d after %d on one connection (index %d)", what, s, last, i)
		}
		last, newConn = s, false
	}
}

// rawPeer is a hand-driven connection that speaks the wire format, posing
// as a server.
type rawPeer struct {
	t  testing.TB
	nc net.Conn
}

func dialRaw(t testing.TB, addr string) *rawPeer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawPeer{t: t, nc: nc}
}

// handshake sends h and returns the answer.
func (r *rawPeer) handshake(h hello) hello {
	r.t.Helper()
	b := h.marshal()
	if _, err := r.nc.Write(b[:]); err != nil {
		r.t.Fatal(err)
	}
	if _, err := io.ReadFull(r.nc, b[:]); err != nil {
		r.t.Fatalf("reading the answer: %v", err)
	}
	a, err := parseHello(b[:])
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

func (r *rawPeer) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func frameBytes(payload []byte) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeFrame(w, payload); err != nil {
		panic(err)
	}
	w.Flush()
	return buf.Bytes()
}

// expectClosed checks that the other end closes the connection (after
// whatever it still sends).
func (r *rawPeer) expectClosed() {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := r.nc.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			r.t.Fatal("connection still open")
		}
		return
	}
}
