package zkxtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/transport/peer"
)

// Ensemble is an in-process ensemble of zkx nodes on loopback, each with
// its own data directory, stopped when the test ends.
type Ensemble struct {
	t     testing.TB
	opts  Options
	Peers map[int64]peer.Addr
	addrs map[int64]string // client addresses (kept across restarts)
	dirs  map[int64]string

	mu    sync.Mutex
	nodes map[int64]*transport.Node
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, below the kernel's ephemeral range (32768-60999 by default) so that
// no outgoing connection takes it before a server binds it (or binds it
// again after a restart). A port is handed out once per process: a test
// that asks for several addresses before it binds any (an ensemble's nine)
// never gets one twice, nor one another test is about to bind.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedMu.Lock()
	defer handedMu.Unlock()
	for tries := 0; tries < 1000; tries++ {
		port := 10000 + rand.IntN(32768-10000)
		if handed[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		defer ln.Close()
		handed[port] = true
		return ln.Addr().String()
	}
	t.Fatal("zkxtest: no free port in 10000-32767")
	return ""
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// StartEnsemble starts voters servers (ids 1..voters) and observers more
// (ids after them) and waits until a leader serves and every server is in
// sync with it.
func StartEnsemble(t testing.TB, voters, observers int, opts Options) *Ensemble {
	t.Helper()
	e := &Ensemble{t: t, opts: opts, Peers: map[int64]peer.Addr{}, addrs: map[int64]string{},
		dirs: map[int64]string{}, nodes: map[int64]*transport.Node{}}
	base := t.TempDir()
	for id := int64(1); id <= int64(voters+observers); id++ {
		e.Peers[id] = peer.Addr{Quorum: FreeAddr(t), Election: FreeAddr(t), Observer: id > int64(voters)}
		e.addrs[id] = FreeAddr(t)
		e.dirs[id] = filepath.Join(base, fmt.Sprintf("node%d", id))
	}
	for id := range e.Peers {
		e.Start(id)
	}
	t.Cleanup(e.StopAll)
	e.WaitServing(30 * time.Second)
	return e
}

// Start starts (or restarts, on its data) server id.
func (e *Ensemble) Start(id int64) {
	e.t.Helper()
	opts := e.opts
	opts.Addr = e.addrs[id]
	opts.DataDir = e.dirs[id]
	opts.serverID = id
	opts.ensemble = &transport.EnsembleConfig{ID: id, Peers: e.Peers, InitLimit: 10, SyncLimit: 5}
	n := start(e.t, opts)
	e.mu.Lock()
	e.nodes[id] = n
	e.mu.Unlock()
}

// Stop stops server id (its data is kept).
func (e *Ensemble) Stop(id int64) {
	e.mu.Lock()
	n := e.nodes[id]
	delete(e.nodes, id)
	e.mu.Unlock()
	if n != nil {
		n.Stop()
	}
}

// StopAll stops every server.
func (e *Ensemble) StopAll() {
	for id := range e.Peers {
		e.Stop(id)
	}
}

// Node returns server id, nil if stopped.
func (e *Ensemble) Node(id int64) *transport.Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nodes[id]
}

// Dir returns server id's data directory (its log and snapshots).
func (e *Ensemble) Dir(id int64) string { return e.dirs[id] }

// Addr returns server id's client address.
func (e *Ensemble) Addr(id int64) string { return e.addrs[id] }

// Addrs returns every server's client address, comma-separated, as the
// client and the CLI take them.
func (e *Ensemble) Addrs() string {
	var out []string
	for id := int64(1); id <= int64(len(e.Peers)); id++ {
		out = append(out, e.addrs[id])
	}
	return strings.Join(out, ",")
}

// Mode returns server id's role ("leader", "follower", "observer",
// "looking", or "stopped").
func (e *Ensemble) Mode(id int64) string {
	n := e.Node(id)
	if n == nil {
		return "stopped"
	}
	r, _ := n.Core().Role()
	return r.String()
}

// Leader waits until one running server is an established leader and the
// running others serve, and returns its id.
func (e *Ensemble) Leader(within time.Duration) int64 {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		leader, serving, running := int64(0), 0, 0
		for id := range e.Peers {
			switch e.Mode(id) {
			case "leader":
				leader = id
				serving++
				running++
			case "follower", "observer":
				serving++
				running++
			case "looking":
				running++
			}
		}
		if leader != 0 && serving == running {
			return leader
		}
		if time.Now().After(deadline) {
			var modes []string
			for id := int64(1); id <= int64(len(e.Peers)); id++ {
				modes = append(modes, fmt.Sprintf("%d:%s", id, e.Mode(id)))
			}
			e.t.Fatalf("zkxtest: no serving ensemble after %v: %s", within, strings.Join(modes, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitServing waits until a leader serves with every running server.
func (e *Ensemble) WaitServing(within time.Duration) { e.Leader(within) }

// Core returns server id's pipeline.
func (e *Ensemble) Core(id int64) *server.Server { return e.Node(id).Core() }
