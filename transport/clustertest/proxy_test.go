package clustertest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every line back on every connection and counts the
// connections it accepted.
type echoServer struct {
	ln       net.Listener
	mu       sync.Mutex
	accepted int
	conns    []net.Conn
	wg       sync.WaitGroup
}

func startEcho(t *testing.T, addr string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.accepted++
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() { defer e.wg.Done(); io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) Addr() string { return e.ln.Addr().String() }

func (e *echoServer) Accepted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepted
}

// ioTimeout bounds every read and write in these tests.
const ioTimeout = 5 * time.Second

// roundTrip sends a line on c and reads it back.
func roundTrip(c net.Conn, line string) error {
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echoed " + got)
	}
	return nil
}

// expectClosed checks that the peer closed c: a read ends with EOF or a
// reset, not with a timeout.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatalf("%s: read a byte, want the connection closed", what)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: still open after %v", what, ioTimeout)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newTestProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	return NewProxy(t, target)
}

func TestProxyForwards(t *testing.T) {
	echo := startEcho(t, "127.0.0.1:0")
	p := newTestProxy(t, echo.Addr())
	c := dial(t, p.Addr())
	for _, line := range []string{"hello", strings.Repeat("x", 100_000)} {
		if err := roundTrip(c, line); err != nil {
			t.Fatalf("through the proxy: %v", err)
		}
	}
	if p.Conns() != 1 || p.Accepted() != 1 {
		t.Errorf("Conns %d Accepted %d, want 1 and 1", p.Conns(), p.Accepted())
	}
	c.Close()
	waitFor(t, "the proxy to drop the closed connection", func() bool { return p.Conns() == 0 })
}

// TestProxyBlock: Block closes the connections it carries, at both ends,
// and turns new ones away before they reach the target; Unblock forwards
// again.
func TestProxyBlock(t *testing.T) {
	echo := startEcho(t, "127.0.0.1:0")
	p := newTestProxy(t, echo.Addr())
	c := dial(t, p.Addr())
	if err := roundTrip(c, "before"); err != nil {
		t.Fatal(err)
	}
	echo.mu.Lock()
	serverSide := echo.conns[0]
	echo.mu.Unlock()

	p.Block()
	if !p.Blocked() {
		t.Fatal("Blocked() is false after Block")
	}
	expectClosed(t, c, "the dialer's side after Block")
	expectClosed(t, serverSide, "the target's side after Block")

	// A new connection is accepted and closed at once; nothing reaches
	// the target, in either direction.
	c2 := dial(t, p.Addr())
	io.WriteString(c2, "during\n")
	expectClosed(t, c2, "a connection made while blocked")
	if n := echo.Accepted(); n != 1 {
		t.Errorf("the target accepted %d connections, want 1: one got through while blocked", n)
	}

	p.Unblock()
	c3 := dial(t, p.Addr())
	if err := roundTrip(c3, "after"); err != nil {
		t.Fatalf("after Unblock: %v", err)
	}
}

// TestProxyTargetDown: a target that does not listen looks, through the
// proxy, like a connection closed at once.
func TestProxyTargetDown(t *testing.T) {
	addrs, err := freeLoopbackAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	p := newTestProxy(t, addrs[0])
	expectClosed(t, dial(t, p.Addr()), "a connection to a target that is down")
	// The target comes up at that address: connections get through.
	startEcho(t, addrs[0])
	if err := roundTrip(dial(t, p.Addr()), "up"); err != nil {
		t.Fatal(err)
	}
}

func TestProxyCloseEndsConnections(t *testing.T) {
	echo := startEcho(t, "127.0.0.1:0")
	p := newTestProxy(t, echo.Addr())
	c := dial(t, p.Addr())
	if err := roundTrip(c, "x"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	expectClosed(t, c, "a connection after Close")
	if _, err := net.DialTimeout("tcp", p.Addr(), ioTimeout); err == nil {
		t.Error("dialed a closed proxy")
	}
}

// TestClusterPartition checks a cluster's links without running servers:
// stand-in listeners at the nodes' real quorum and election addresses, and
// each node's peer traffic dialed through its own links.
func TestClusterPartition(t *testing.T) {
	c := New(t, Options{Kind: Zkx, Servers: 3, Observers: 1, ZkxBinary: "/nonexistent/zkx"})
	for _, n := range c.nodes {
		startEcho(t, n.quorumAddr)
		startEcho(t, n.electionAddr)
	}
	// reach reports whether i's connections to j's quorum and election
	// ports get through.
	reach := func(i, j int) bool {
		l := c.links[i][j]
		q, e := dial(t, l.quorum.Addr()), dial(t, l.election.Addr())
		return roundTrip(q, "q") == nil && roundTrip(e, "e") == nil
	}
	check := func(when string, connected func(i, j int) bool) {
		t.Helper()
		for i := range c.Size() {
			for j := range c.Size() {
				if i == j {
					continue
				}
				if got, want := reach(i, j), connected(i, j); got != want {
					t.Errorf("%s: node %d -> node %d gets through: %v, want %v", when, i, j, got, want)
				}
			}
		}
	}
	check("at first", func(i, j int) bool { return true })

	// A connection open across the cut is closed by it.
	open := dial(t, c.links[0][2].quorum.Addr())
	if err := roundTrip(open, "x"); err != nil {
		t.Fatal(err)
	}
	c.Partition([]int{0, 1}, []int{2})
	expectClosed(t, open, "node 0 -> node 2 across a new partition")
	// Node 3 is in no group: cut off from all.
	check("partition {0,1} {2}", func(i, j int) bool { return i < 2 && j < 2 })

	c.Isolate(1)
	check("isolate 1", func(i, j int) bool { return i != 1 && j != 1 })

	c.Heal()
	check("healed", func(i, j int) bool { return true })
}

// TestClusterConfig checks the zoo.cfg and myid files a cluster writes:
// ZooKeeper's format, each node naming itself at its real peer addresses
// and the others at its proxies to them.
func TestClusterConfig(t *testing.T) {
	c := New(t, Options{Kind: Zkx, Servers: 3, Observers: 1, ZkxBinary: "/nonexistent/zkx",
		Config: map[string]string{"snapCount": "1000"}})
	for i, n := range c.nodes {
		b, err := os.ReadFile(c.ConfigPath(i))
		if err != nil {
			t.Fatal(err)
		}
		cfg := string(b)
		for _, want := range []string{"tickTime=200\n", "initLimit=25\n", "syncLimit=10\n",
			"dataDir=" + c.DataDir(i) + "\n", "clientPort=" + portOf(c.ClientAddr(i)) + "\n",
			"clientPortAddress=127.0.0.1\n", "4lw.commands.whitelist=*\n", "snapCount=1000\n"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("node %d's zoo.cfg lacks %q:\n%s", i, want, cfg)
			}
		}
		if got, want := strings.Contains(cfg, "peerType=observer\n"), n.observer; got != want {
			t.Errorf("node %d: peerType=observer in zoo.cfg: %v, want %v", i, got, want)
		}
		for j, m := range c.nodes {
			q, e := m.quorumAddr, m.electionAddr
			if i != j {
				q, e = c.links[i][j].quorum.Addr(), c.links[i][j].election.Addr()
			}
			want := "server." + strconv.Itoa(j+1) + "=127.0.0.1:" + portOf(q) + ":" + portOf(e)
			if m.observer {
				want += ":observer"
			}
			if !strings.Contains(cfg, want+"\n") {
				t.Errorf("node %d's zoo.cfg lacks %q:\n%s", i, want, cfg)
			}
		}
		myid, err := os.ReadFile(c.DataDir(i) + "/myid")
		if err != nil || string(myid) != strconv.Itoa(i+1)+"\n" {
			t.Errorf("node %d: myid %q, %v", i, myid, err)
		}
	}
}

func TestParseSrvr(t *testing.T) {
	zk := "Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25 08:49 UTC\n" +
		"Latency min/avg/max: 0/0.9583/13\nReceived: 28\nSent: 27\nConnections: 1\nOutstanding: 0\n" +
		"Zxid: 0x200000005\nMode: follower\nNode count: 6\n"
	if st := parseSrvr(zk); st.Mode != "follower" || st.Zxid != 0x200000005 {
		t.Errorf("parseSrvr: %+v", st)
	}
	if st := parseSrvr("This ZooKeeper instance is not currently serving requests\n"); st.Mode != "" {
		t.Errorf("a node that does not serve has Mode %q", st.Mode)
	}
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if !waitUntil(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
