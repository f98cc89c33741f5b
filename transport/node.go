// Package transport connects zkx to the network: the client listener
// (ZooKeeper's wire protocol and four-letter words on the client port) and
// Node, which runs one server's pipeline goroutines around core/server.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/core/zab"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/peer"
	"github.com/zkx-project/zkx/wal"
)

// DefaultFourLetterWhitelist is the set of four-letter words enabled when
// 4lw.commands.whitelist is not set.
var DefaultFourLetterWhitelist = []string{"ruok", "srvr", "stat", "mntr", "conf", "isro"}

// NodeConfig configures a Node.
type NodeConfig struct {
	// ClientAddr is the client port's listen address (default 127.0.0.1:2181).
	ClientAddr string
	// FourLetterWhitelist lists the enabled four-letter words; "*" enables
	// all. Nil means DefaultFourLetterWhitelist.
	FourLetterWhitelist []string
	// MaxBuffer is jute.maxbuffer: the largest frame accepted.
	MaxBuffer int
	// AdminAddr is the admin HTTP server's address ("" disables it).
	AdminAddr string
	// DataDir and DataLogDir are reported by conf.
	DataDir    string
	DataLogDir string
	// WAL is the node's write-ahead log (the Log of the server's Config),
	// for background snapshots and purges; nil for a memory-only node.
	WAL *wal.Log
	// SnapCount is about how many txns go between snapshots (ZooKeeper's
	// snapCount, default 100000); SnapRetainCount and PurgeInterval are
	// autopurge.snapRetainCount and autopurge.purgeInterval (0: no purge).
	SnapCount       int
	SnapRetainCount int
	PurgeInterval   time.Duration
	Server          server.Config
	Logger          *slog.Logger
	// Ensemble makes the node a member of a replicated ensemble (nil:
	// standalone). Its log is WAL.
	Ensemble *EnsembleConfig
	// Builtins are installed (or upgraded) before the first client is
	// served; see server.InstallBuiltins. The node closes the recipe
	// runtimes of Server when it stops.
	Builtins []server.Builtin
}

// Node is one running zkx server: pipeline, ticker and client listener.
type Node struct {
	cfg       NodeConfig
	core      *server.Server
	log       *slog.Logger
	ln        net.Listener
	maxBuffer int32
	whitelist map[string]bool

	stopping chan struct{}
	stopOnce sync.Once
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	connWG   sync.WaitGroup
	errMu    sync.Mutex
	err      error

	admin     *http.Server
	adminAddr string
	snaps     *snapshotter
	ens       *ensemble
	mesh      *peer.Mesh
}

// StartNode starts a standalone node over core and begins serving clients.
func StartNode(cfg NodeConfig, core *server.Server) (*Node, error) {
	if cfg.ClientAddr == "" {
		cfg.ClientAddr = "127.0.0.1:2181"
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = jute.MaxBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on client port: %w", err)
	}
	n := &Node{
		cfg:       cfg,
		core:      core,
		log:       cfg.Logger,
		ln:        ln,
		maxBuffer: int32(cfg.MaxBuffer),
		whitelist: make(map[string]bool),
		stopping:  make(chan struct{}),
	}
	wl := cfg.FourLetterWhitelist
	if wl == nil {
		wl = DefaultFourLetterWhitelist
	}
	for _, w := range wl {
		n.whitelist[strings.TrimSpace(w)] = true
	}
	if cfg.WAL != nil {
		n.snaps = newSnapshotter(core, cfg.WAL, n.log, cfg.SnapCount, cfg.SnapRetainCount, cfg.PurgeInterval)
	}
	if cfg.Ensemble != nil {
		if err := n.joinEnsemble(); err != nil {
			ln.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		var err error
		if n.ens != nil {
			err = n.ens.run(ctx)
		} else {
			err = core.RunCommit(ctx)
		}
		if err != nil {
			n.fail(err)
		}
	}()
	if len(cfg.Builtins) > 0 && n.ens == nil {
		// Prepped before any client request: none can miss a builtin. (An
		// ensemble's leader installs them when it is established.)
		core.InstallBuiltins(cfg.Builtins)
	}
	if len(cfg.Server.Runtimes) > 0 {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); core.WarmRecipes() }()
	}
	go func() { defer n.wg.Done(); n.tickLoop(ctx) }()
	go func() { defer n.wg.Done(); n.acceptLoop() }()
	if cfg.AdminAddr != "" {
		n.startAdmin(cfg.AdminAddr)
	}
	mode := "standalone"
	if n.ens != nil {
		mode = "ensemble"
	}
	n.log.Info("serving clients", "addr", ln.Addr().String(), "mode", mode)
	return n, nil
}

// joinEnsemble starts the peer links and the ZAB driver.
func (n *Node) joinEnsemble() error {
	ec := n.cfg.Ensemble
	if n.cfg.WAL == nil {
		return fmt.Errorf("transport: an ensemble member needs a write-ahead log")
	}
	mesh, err := peer.Start(peer.Config{ID: ec.ID, Peers: ec.Peers, Logger: n.log, Secret: ec.QuorumSecret})
	if err != nil {
		return fmt.Errorf("transport: peer links: %w", err)
	}
	n.core.SetPeers(peerSender{mesh: mesh})
	ens, err := newEnsemble(*ec, n.core, n.cfg.WAL, mesh, n.log)
	if err != nil {
		mesh.Close()
		return err
	}
	ens.builtins = n.cfg.Builtins
	ens.snaps = n.snaps
	if n.snaps != nil {
		n.snaps.allowed = func() bool { r, _ := n.core.Role(); return r != server.RoleLooking }
	}
	n.ens, n.mesh = ens, mesh
	return nil
}

// EnsembleStatus returns the node's ZAB status, and false if it is
// standalone.
func (n *Node) EnsembleStatus() (zab.Status, bool) {
	if n.ens == nil {
		return zab.Status{}, false
	}
	return n.ens.Status(), true
}

func (n *Node) fail(err error) {
	n.errMu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.errMu.Unlock()
	go n.Stop()
}

// Err returns the error that stopped the node, if any.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// Addr returns the client port's address.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Core returns the node's pipeline.
func (n *Node) Core() *server.Server { return n.core }

// Done is closed when the node has begun stopping.
func (n *Node) Done() <-chan struct{} { return n.stopping }

func (n *Node) tickLoop(ctx context.Context) {
	period := n.core.Config().TickTime / 4
	if period > 250*time.Millisecond {
		period = 250 * time.Millisecond
	}
	if period < 5*time.Millisecond {
		period = 5 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.core.Tick()
			if n.snaps != nil {
				n.snaps.tick()
			}
		}
	}
}

func (n *Node) acceptLoop() {
	for {
		nc, err := n.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Warn("accept failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n.connWG.Add(1)
		go func() {
			defer n.connWG.Done()
			n.serveConn(nc)
		}()
	}
}

// Stop closes the listener and every connection and stops the pipeline.
// Sessions are not closed: clients reconnect elsewhere or after a restart.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		close(n.stopping)
		n.ln.Close()
		if n.admin != nil {
			n.admin.Close()
		}
		n.core.CloseConnections()
		n.connWG.Wait()
		n.cancel()
		n.wg.Wait()
		if n.mesh != nil {
			n.mesh.Close()
		}
		for _, rt := range n.cfg.Server.Runtimes {
			if err := rt.Close(); err != nil {
				n.log.Warn("closing a recipe runtime", "kind", rt.Kind(), "err", err)
			}
		}
		if n.snaps != nil {
			n.snaps.wait()
			w := n.cfg.WAL
			if n.ens != nil {
				w = n.ens.wal // reopened if a truncation reset it
			}
			if err := w.Close(); err != nil {
				n.log.Error("closing the log", "err", err)
			}
		}
	})
}

// TakeSnapshot writes a snapshot now (the zkx snapshot command, tests).
func (n *Node) TakeSnapshot() (wal.SnapshotInfo, error) {
	if n.snaps == nil {
		return wal.SnapshotInfo{}, fmt.Errorf("transport: node has no write-ahead log")
	}
	return n.snaps.take()
}

func hexID(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }

func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
