// Package server is zkx's request pipeline, ZooKeeper's design kept:
//
//	conn --decode--> [prep] --txn(zxid)--> [log] --durable--> [apply] --> watches --> reply
//
// Prep runs one request at a time and turns each write into an idempotent txn
// against the prep view (committed tree + outstanding changes): ACL checks,
// version checks and sequence numbers happen there, and a request that fails
// becomes an Error txn. The log stage persists a batch (group commit) and the
// apply stage applies it to the tree, fires watches and answers clients.
// Reads run on the connection's goroutine against the committed tree, but
// never overtake a write of the same session: per session, replies leave in
// request order, and a read waits until that session's earlier writes are
// applied (ZooKeeper's CommitProcessor rule).
//
// The package starts no goroutines and reads no clock: the caller runs
// RunCommit and Tick (see transport.Node), and time and
// randomness come from Config.
package server

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkx-project/zkx/core/session"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/core/watch"
	"github.com/zkx-project/zkx/host"
)

// Config configures a Server. Zero values take ZooKeeper's defaults.
type Config struct {
	ServerID          int64
	TickTime          time.Duration // default 2s
	MinSessionTimeout time.Duration // default 2 x TickTime
	MaxSessionTimeout time.Duration // default 20 x TickTime
	// SuperDigest is "super:<base64 sha1>" (zookeeper.DigestAuthenticationProvider.superDigest).
	SuperDigest string
	// ExtendedTypes enables TTL nodes (zookeeper.extendedTypesEnabled).
	ExtendedTypes bool
	// ContainerCheckInterval is how often empty containers and expired TTL
	// nodes are looked for (znode.container.checkIntervalMs, default 60s).
	ContainerCheckInterval time.Duration
	// ContainerMaxNeverUsed deletes containers that never had a child after
	// this long (znode.container.maxNeverUsedIntervalMs; 0 = never).
	ContainerMaxNeverUsed time.Duration
	// Now returns the wall-clock time; it stamps txns and drives expiry.
	// Required: core reads no clock of its own (the node passes time.Now,
	// tests a clock they move).
	Now func() time.Time
	// Rand supplies session passwords. Required, as Now (crypto/rand.Reader
	// in a node).
	Rand io.Reader
	// Background runs slow work (compiling a recipe module) on a goroutine
	// of the node's, so that it holds up only the requests that need it.
	// Nil: the work runs at once, on the caller's goroutine (tests).
	Background func(func())
	// Log persists txn batches before they are applied (nil: memory only).
	Log Log
	// Runtimes run recipe modules, by kind (none: recipe calls fail).
	Runtimes map[host.Kind]host.Runtime
	// RecipeBudget bounds every recipe call (default host.DefaultBudget); a
	// recipe may lower it, not raise it.
	RecipeBudget host.Budget
	// Peers reaches the other servers of an ensemble (nil: standalone).
	Peers Peers
	// ReadOnlyMode (readonlymode.enabled): an ensemble member without a
	// leader serves reads to clients that allow it, instead of nobody.
	ReadOnlyMode bool
	Logger       *slog.Logger
}

func (c *Config) setDefaults() {
	if c.TickTime <= 0 {
		c.TickTime = 2 * time.Second
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 2 * c.TickTime
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 20 * c.TickTime
	}
	if c.MaxSessionTimeout < c.MinSessionTimeout {
		c.MaxSessionTimeout = c.MinSessionTimeout
	}
	if c.ContainerCheckInterval <= 0 {
		c.ContainerCheckInterval = time.Minute
	}
	if c.Log == nil {
		c.Log = memoryLog{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RecipeBudget == (host.Budget{}) {
		c.RecipeBudget = host.DefaultBudget
	} else {
		c.RecipeBudget = host.DefaultBudget.Min(c.RecipeBudget)
	}
}

// Log is the durability stage, split for group commit: Write appends a
// batch (not yet durable), Sync makes everything written before it durable.
// The pipeline writes the next batch while the previous ones are syncing,
// and applies (and acknowledges) a batch only after a Sync that started
// after its Write returned.
type Log interface {
	Write(batch []*txn.Txn) error
	Sync() error
}

type memoryLog struct{}

func (memoryLog) Write([]*txn.Txn) error { return nil }
func (memoryLog) Sync() error            { return nil }

// Server is one zkx node's request pipeline and state.
type Server struct {
	cfg Config
	log *slog.Logger

	// mu guards the committed tree and the watch table's consistency with
	// it: apply holds it for writing, reads for reading.
	mu      sync.RWMutex
	tree    *tree.Tree
	watchMu sync.Mutex // watches are added under mu.RLock by parallel reads
	watches *watch.Manager

	sessions *session.Table

	// prepMu guards the prep view's outstanding changes, which prep adds
	// and apply prunes.
	prepMu sync.Mutex
	view   *prepView
	zxid   int64 // last zxid issued by prep (prep goroutine only)

	prepLock sync.Mutex // serialises prep; see submit
	// The compile gate (gate.go): requests held behind a module's compile,
	// by session.
	gateMu  sync.Mutex
	held    map[int64][]heldOp
	commitQ chan []*proposal
	outbox  []*proposal // prepped by the current submit, not yet queued

	connMu       sync.Mutex
	conns        map[watch.WatcherID]*Conn
	sessionConns map[int64]*Conn
	nextConnID   atomic.Uint64

	roleMu sync.RWMutex
	role   roleState
	// ensembleConfig is /zookeeper/config's text (guarded by mu).
	ensembleConfig string
	// syncMu guards the learners' syncs waiting for apply (leader).
	syncMu       sync.Mutex
	pendingSyncs []pendingSync
	// learnerAwait: recipe calls of sessions connected here that the
	// leader parked; their reply comes with a later txn (learner).
	learnerAwait map[recipeKey]*Request
	// validating: re-attaches waiting for the leader's word (learner),
	// guarded by connMu.
	validating map[int64]pendingAttach

	lastContainerCheck time.Time
	stats              Stats
	started            time.Time

	// Recipes: compiled modules (prep only), calls waiting for a change
	// (parked), calls that have waited and whose final reply is yet to
	// come (awaiting), and calls woken by a change and not yet run again
	// (reruns).
	recipes        map[string]*compiledRecipe
	modules        moduleCache
	manifestHashes manifestHashes // the gate's (needsCompile)
	parkMu         sync.Mutex
	parked         map[*Request]*parkedCall
	parkedByPath   map[string]map[*Request]struct{}
	awaiting       map[recipeKey]*Request
	reruns         []*Request
}

// proposal is a txn on its way from prep to apply.
type proposal struct {
	txn *txn.Txn
}

// New returns a Server over an empty tree.
func New(cfg Config) *Server {
	return NewWithTree(cfg, tree.New(), nil)
}

// NewWithTree returns a Server over a recovered tree and sessions.
func NewWithTree(cfg Config, t *tree.Tree, sessions []session.Session) *Server {
	if cfg.Now == nil || cfg.Rand == nil {
		panic("server: Config.Now and Config.Rand are required")
	}
	cfg.setDefaults()
	now := cfg.Now()
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		tree:         t,
		watches:      watch.New(),
		sessions:     session.New(cfg.TickTime.Milliseconds(), cfg.ServerID, now.UnixMilli()),
		commitQ:      make(chan []*proposal, 4096),
		conns:        make(map[watch.WatcherID]*Conn),
		sessionConns: make(map[int64]*Conn),
		started:      now,
		recipes:      make(map[string]*compiledRecipe),
		parked:       make(map[*Request]*parkedCall),
		parkedByPath: make(map[string]map[*Request]struct{}),
		awaiting:     make(map[recipeKey]*Request),
		learnerAwait: make(map[recipeKey]*Request),
		validating:   make(map[int64]pendingAttach),
	}
	s.view = newPrepView(s)
	s.stats.lat.reset()
	s.zxid = t.LastZxid()
	for _, ss := range sessions {
		s.sessions.Add(ss, now.UnixMilli())
	}
	s.lastContainerCheck = now
	return s
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// RunCommit runs the log and apply stages until ctx ends: it takes every
// txn prep has issued, writes them as one record (Log.Write), makes it
// durable with one Log.Sync (group commit: what arrives meanwhile waits in
// the queue and forms the next record), then applies the batch and answers
// the clients. Call it on one goroutine. (Applying on a goroutine of its own,
// overlapped with the next fsync, measured slower on two cores: the extra
// handoff costs more than the overlap gains.)
func (s *Server) RunCommit(ctx context.Context) error {
	txns := make([]*txn.Txn, 0, 256)
	for {
		var batch []*proposal
		select {
		case <-ctx.Done():
			return nil
		case ps := <-s.commitQ:
			batch = append(make([]*proposal, 0, 64), ps...)
		}
	fill:
		for {
			select {
			case ps := <-s.commitQ:
				batch = append(batch, ps...)
			default:
				break fill
			}
		}
		txns = txns[:0]
		for _, p := range batch {
			txns = append(txns, p.txn)
		}
		err := s.cfg.Log.Write(txns)
		if err == nil {
			err = s.cfg.Log.Sync()
		}
		if err != nil {
			// A txn that cannot be made durable must not be applied or
			// acknowledged; the node stops rather than diverge.
			s.log.Error("log write failed; stopping", "err", err)
			return err
		}
		s.applyBatch(batch)
	}
}

// Tick expires sessions and removes empty containers and expired TTL nodes.
// Call it every tick (or more often).
func (s *Server) Tick() {
	now := s.cfg.Now()
	if rs := s.currentRole(); !rs.role.prepares() {
		// Only the leader expires sessions and removes containers; a
		// learner reports the sessions it serves.
		s.touchLeader()
		return
	}
	s.expireParked(now)
	s.prepLock.Lock()
	s.runReruns() // any left over by a long chain of wake-ups
	s.flushPrepped()
	s.prepLock.Unlock()
	for _, id := range s.sessions.Expire(now.UnixMilli()) {
		s.log.Info("session expired", "session", hexID(id))
		s.submit(&Request{Op: opCloseSessionInternal, Session: id})
	}
	if now.Sub(s.lastContainerCheck) >= s.cfg.ContainerCheckInterval {
		s.lastContainerCheck = now
		for _, p := range s.containerCandidates(now) {
			s.submit(&Request{Op: opDeleteContainerInternal, Path: p})
		}
	}
}

// CheckContainers looks for empty containers and expired TTL nodes now.
func (s *Server) CheckContainers() {
	for _, p := range s.containerCandidates(s.cfg.Now()) {
		s.submit(&Request{Op: opDeleteContainerInternal, Path: p})
	}
}

func (s *Server) containerCandidates(now time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	nowMs := now.UnixMilli()
	for _, p := range s.tree.Containers() {
		_, st, _, ok := s.tree.RawNode(p)
		if !ok || st.NumChildren > 0 {
			continue
		}
		if st.Cversion > 0 {
			out = append(out, p)
		} else if m := s.cfg.ContainerMaxNeverUsed; m > 0 && nowMs-st.Mtime > m.Milliseconds() {
			out = append(out, p)
		}
	}
	for _, p := range s.tree.TTLs() {
		_, st, _, ok := s.tree.RawNode(p)
		if !ok || st.NumChildren > 0 {
			continue
		}
		if ttl, isTTL := txn.IsTTLOwner(st.EphemeralOwner); isTTL && ttl != 0 && nowMs-st.Mtime > ttl {
			out = append(out, p)
		}
	}
	return out
}

// submit preps r on the calling goroutine. Prep is one stage, serialised
// by prepLock: the order requests take it is the order of their zxids, and
// each connection submits its requests in order from its own goroutine.
// Running it here instead of on a prep goroutine saves a wakeup per write.
func (s *Server) submit(r *Request) {
	s.prepLock.Lock()
	s.prep(r)
	s.runReruns()
	s.flushPrepped()
	s.prepLock.Unlock()
}

// flushPrepped hands what prep issued to the commit stage in one piece, so
// that a txn and the re-runs it woke land in the same group commit. The
// caller holds prepLock.
func (s *Server) flushPrepped() {
	if len(s.outbox) > 0 {
		s.commitQ <- s.outbox
		s.outbox = nil
	}
}

// LastZxid returns the zxid of the last applied txn.
func (s *Server) LastZxid() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.LastZxid()
}

// WithTree runs fn with the committed tree locked for reading.
func (s *Server) WithTree(fn func(t *tree.Tree)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.tree)
}

// Sessions returns the live sessions.
func (s *Server) Sessions() []session.Session { return s.sessions.List() }

// Batch is what prep hands the commit stage in one piece.
type Batch = []*proposal

// Proposals is the queue of what prep issued (the leader's proposals), for
// an ensemble driver that waits on it together with its other inputs; it
// replicates the txns and hands them back to ApplyCommitted once a quorum
// has them. (A standalone server's RunCommit reads the same queue.)
func (s *Server) Proposals() <-chan Batch { return s.commitQ }

// TxnsOf returns a batch's txns, in zxid order.
func TxnsOf(b Batch) []*txn.Txn {
	out := make([]*txn.Txn, len(b))
	for i, p := range b {
		out[i] = p.txn
	}
	return out
}
