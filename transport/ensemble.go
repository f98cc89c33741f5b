package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/core/session"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/core/zab"
	"github.com/zkx-project/zkx/transport/peer"
	"github.com/zkx-project/zkx/wal"
)

// EnsembleConfig makes a Node a member of a replicated ensemble.
type EnsembleConfig struct {
	ID    int64
	Peers map[int64]peer.Addr // every server, this one included
	// InitLimit and SyncLimit are in ticks of the server's TickTime, as in
	// zoo.cfg (defaults 10 and 5).
	InitLimit, SyncLimit int
	// DataDir holds the acceptedEpoch and currentEpoch files.
	DataDir string
	// LogDir and LogOptions reopen the log after a truncation.
	LogDir     string
	LogOptions wal.Options
	// Recent is the replay of the log at start (Recovered.Recent): the
	// entries a lagging follower can be sent instead of a snapshot;
	// RecentBase is the zxid just before them.
	Recent     []zab.Entry
	RecentBase int64
	// ConfigText is /zookeeper/config's content, ZooKeeper's format
	// ("server.N=host:quorum:election:participant[;client]" lines, then
	// "version=0"); empty: made from Peers.
	ConfigText string
	// QuorumSecret, if set, is shared by every member: peer links come up
	// only between members that prove they hold it (peer.Config.Secret).
	QuorumSecret []byte
}

// ConfigText is the /zookeeper/config text of an ensemble of peers.
func ConfigText(peers map[int64]peer.Addr, clientAddrs map[int64]string) string {
	var b strings.Builder
	for _, id := range sortedKeys(peers) {
		a := peers[id]
		host, qport, _ := net.SplitHostPort(a.Quorum)
		_, eport, _ := net.SplitHostPort(a.Election)
		role := "participant"
		if a.Observer {
			role = "observer"
		}
		fmt.Fprintf(&b, "server.%d=%s:%s:%s:%s", id, host, qport, eport, role)
		if c := clientAddrs[id]; c != "" {
			b.WriteString(";" + c)
		}
		b.WriteByte('\n')
	}
	b.WriteString("version=0")
	return b.String()
}

// Ensemble-side timing: zab ticks every driverTick; limits given in the
// server's ticks are converted.
const driverTick = 50 * time.Millisecond

// kindZab and kindApp prefix every quorum-channel payload.
const (
	kindZab byte = 0
	kindApp byte = 1
)

// ensemble runs one server's ZAB node: it feeds the node messages, ticks
// and the leader's proposals, and carries out its Ready (send, persist,
// apply, change role).
type ensemble struct {
	cfg      EnsembleConfig
	core     *server.Server
	log      *slog.Logger
	mesh     *peer.Mesh
	node     *zab.Node
	store    *entryStore
	wal      *wal.Log
	builtins []server.Builtin

	// own maps the zxids of this leader's proposals to their txns, so they
	// are not decoded again to be logged and applied; received does the
	// same for a learner's proposals between logging and commit.
	own      map[int64]*txn.Txn
	received map[int64]*txn.Txn
	appQ     chan peer.Inbound // learners' requests, for prep

	// Asynchronous persistence (zab.Config.AsyncPersist): entries written
	// up to written, durable up to synced, one fsync at a time in the
	// background, and the acks that wait for it.
	written, synced int64
	syncing         bool
	syncDone        chan syncResult
	held            []heldMsgs

	pendingInfo *zab.Message // a learner handshake waiting for its link
	proposing   []*txn.Txn   // prep's txns gathered for the next Propose

	statusMu sync.Mutex
	status   zab.Status
	role     server.Role
	// snaps is the node's snapshotter, kept out while the log is reset and
	// pointed at the reopened log after a truncation.
	snaps *snapshotter
}

// peerSender is core/server's Peers over the mesh.
type peerSender struct{ mesh *peer.Mesh }

func (p peerSender) SendApp(to int64, payload []byte) {
	b := make([]byte, 0, len(payload)+1)
	b = append(b, kindApp)
	p.mesh.Send(to, peer.Quorum, append(b, payload...))
}

// newEnsemble makes the ZAB node for core over mesh (core's Peers must
// send through the same mesh: see Node.joinEnsemble).
func newEnsemble(cfg EnsembleConfig, core *server.Server, w *wal.Log, mesh *peer.Mesh, logger *slog.Logger) (*ensemble, error) {
	if cfg.InitLimit <= 0 {
		cfg.InitLimit = 10
	}
	if cfg.SyncLimit <= 0 {
		cfg.SyncLimit = 5
	}
	hs, err := readHardState(cfg.DataDir, w.LastZxid())
	if err != nil {
		return nil, err
	}
	e := &ensemble{
		cfg:      cfg,
		core:     core,
		log:      logger,
		mesh:     mesh,
		wal:      w,
		own:      make(map[int64]*txn.Txn),
		received: make(map[int64]*txn.Txn),
		appQ:     make(chan peer.Inbound, 65536),
		syncDone: make(chan syncResult, 1),
	}
	e.written, e.synced = w.LastZxid(), w.LastZxid()
	e.store = &entryStore{core: core, floor: e.snapshotFloor}
	e.store.reset(cfg.Recent, cfg.RecentBase)
	var voters, observers []int64
	for id, a := range cfg.Peers {
		if a.Observer {
			observers = append(observers, id)
		} else {
			voters = append(voters, id)
		}
	}
	tick := core.Config().TickTime
	ticks := func(n int) int {
		t := int(time.Duration(n) * tick / driverTick)
		if t < 2 {
			t = 2
		}
		return t
	}
	node, err := zab.NewNode(zab.Config{
		ID:             cfg.ID,
		Voters:         voters,
		Observers:      observers,
		Storage:        e.store,
		HardState:      hs,
		LastZxid:       w.LastZxid(),
		ElectionTicks:  4, // 200ms: FastLeaderElection's first notification timeout
		FinalizeTicks:  4, // 200ms: finalizeWait
		InitLimitTicks: ticks(cfg.InitLimit),
		SyncLimitTicks: ticks(cfg.SyncLimit),
		HeartbeatTicks: max(1, ticks(1)/2),
		AsyncPersist:   true,
		Logger:         logger,
	})
	if err != nil {
		return nil, err
	}
	e.node = node
	e.role = server.RoleLooking
	core.SetRole(server.RoleLooking, 0, 0)
	if cfg.ConfigText == "" {
		cfg.ConfigText = ConfigText(cfg.Peers, nil)
	}
	core.SetEnsembleConfig(cfg.ConfigText)
	return e, nil
}

// run drives the node until ctx ends; an error is a failure to make state
// durable, after which the server must stop.
func (e *ensemble) run(ctx context.Context) error {
	props := e.core.Proposals()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case in := <-e.appQ:
				e.handleApp(in.From, in.Payload)
			}
		}
	}()
	ticker := time.NewTicker(driverTick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case in := <-e.mesh.Recv():
			if err := e.handle(in); err != nil {
				return err
			}
		case b := <-props:
			e.proposing = append(e.proposing, server.TxnsOf(b)...)
		case <-ticker.C:
			e.node.Tick()
			e.sendPendingInfo()
		case r := <-e.syncDone:
			if err := e.onSynced(r); err != nil {
				return err
			}
		}
		// Take in whatever else has arrived before doing the node's work:
		// the proposals, acks and commits of many clients then share one
		// Ready, one log write and one fsync (group commit on every
		// member, not just the leader).
		if err := e.gather(props); err != nil {
			return err
		}
		if err := e.drain(); err != nil {
			return err
		}
	}
}

// maxGather bounds the events folded into one Ready.
const maxGather = 1024

func (e *ensemble) gather(props <-chan server.Batch) error {
	for i := 0; i < maxGather; i++ {
		select {
		case in := <-e.mesh.Recv():
			if err := e.handle(in); err != nil {
				return err
			}
		case b := <-props:
			e.proposing = append(e.proposing, server.TxnsOf(b)...)
		default:
			return e.flushProposals()
		}
	}
	return e.flushProposals()
}

// flushProposals proposes what prep issued since the last Ready, as one
// batch (one Proposal message per learner).
func (e *ensemble) flushProposals() error {
	if len(e.proposing) == 0 {
		return nil
	}
	b := e.proposing
	e.proposing = nil
	return e.propose(b)
}

func (e *ensemble) handle(in peer.Inbound) error {
	if in.Down {
		return e.node.Step(zab.Message{Type: zab.MsgPeerDown, From: in.From, To: e.cfg.ID})
	}
	payload := in.Payload
	if in.Channel == peer.Quorum {
		if len(payload) == 0 {
			e.log.Warn("empty message from a peer", "peer", in.From)
			return nil
		}
		if payload[0] == kindApp {
			if server.AppFromLeader(payload[1:]) {
				// After everything the node has to do first: a sync's
				// answer must follow the commits that arrived before it.
				if err := e.drain(); err != nil {
					return err
				}
				e.handleApp(in.From, payload[1:])
				return nil
			}
			// A learner's request: prep (which may run a recipe for up to
			// its time budget) must not hold up the protocol, so it runs
			// on its own goroutine, in arrival order. (The queue is deep; a
			// full one holds the driver back, which slows the learners.)
			e.appQ <- peer.Inbound{From: in.From, Payload: payload[1:]}
			return nil
		}
		payload = payload[1:]
	}
	m, err := zab.UnmarshalMessage(payload)
	if err != nil {
		e.log.Warn("bad zab message from a peer", "peer", in.From, "channel", in.Channel.String(), "err", err)
		return nil
	}
	if m.From != in.From {
		e.log.Warn("zab message claims another sender", "peer", in.From, "claims", m.From)
		return nil
	}
	if err := e.node.Step(m); err != nil {
		e.log.Debug("zab step", "type", m.Type, "from", m.From, "err", err)
	}
	return nil
}

func (e *ensemble) handleApp(from int64, payload []byte) {
	if err := e.core.HandleApp(from, payload); err != nil {
		e.log.Warn("bad message from a peer", "peer", from, "err", err)
	}
}

// propose hands a batch the leader's prep issued to the node. If this
// server is no longer leader the txns are dropped: their clients'
// connections were closed when the role changed.
func (e *ensemble) propose(batch []*txn.Txn) error {
	es := make([]zab.Entry, len(batch))
	for i, t := range batch {
		es[i] = zab.Entry{Zxid: t.Zxid, Data: txn.Marshal(nil, t)}
	}
	if err := e.node.Propose(es); err != nil {
		e.log.Debug("proposal dropped", "first-zxid", fmt.Sprintf("%#x", batch[0].Zxid), "err", err)
		return nil
	}
	for _, t := range batch {
		e.own[t.Zxid] = t
	}
	return nil
}

// drain carries out every Ready the node has, in the order doc.go of
// core/zab prescribes.
func (e *ensemble) drain() error {
	for e.node.HasReady() {
		rd := e.node.Ready()
		for _, m := range rd.Messages {
			if e.heldFor(m.To) {
				// Behind acks still waiting for their fsync: a link's
				// messages stay in the order the node emitted them.
				e.held = append(e.held, heldMsgs{zxid: e.held[len(e.held)-1].zxid, msgs: []zab.Message{m}})
				continue
			}
			e.send(m)
		}
		// Committed txns this server logged in an earlier Ready are applied
		// (and their clients answered) before this Ready's fsync, not
		// after it; the rest wait for it, as doc.go of core/zab requires.
		early := 0
		if rd.Truncate == nil && rd.Snapshot == nil {
			for early < len(rd.Committed) && rd.Committed[early].Zxid <= e.wal.LastZxid() && !e.inReady(rd, rd.Committed[early].Zxid) {
				early++
			}
		}
		if err := e.apply(rd.Committed[:early]); err != nil {
			return err
		}
		whole := rd.HardState != nil || rd.Truncate != nil || rd.Snapshot != nil
		if whole {
			if err := e.waitSync(); err != nil {
				return err
			}
		}
		if err := e.persist(rd); err != nil {
			return err
		}
		if whole {
			// Durable before Advance, entries included.
			if e.written > e.synced {
				if err := e.wal.Sync(); err != nil {
					return err
				}
			}
			e.synced = max(e.synced, e.written)
			if rd.Truncate != nil || rd.Snapshot != nil {
				e.written, e.synced = e.wal.LastZxid(), e.wal.LastZxid()
			}
			for _, m := range rd.MessagesAfterPersist {
				e.send(m)
			}
		} else if len(rd.MessagesAfterPersist) > 0 {
			if e.written <= e.synced {
				for _, m := range rd.MessagesAfterPersist {
					e.send(m)
				}
			} else {
				e.held = append(e.held, heldMsgs{zxid: e.written, msgs: rd.MessagesAfterPersist})
			}
		}
		if err := e.apply(rd.Committed[early:]); err != nil {
			return err
		}
		e.node.Advance(rd)
		if whole {
			e.node.Persisted(e.synced)
		}
		e.startSync()
		e.updateRole()
	}
	return nil
}

// inReady reports whether rd itself carries the entry zxid to log.
func (e *ensemble) inReady(rd zab.Ready, zxid int64) bool {
	return len(rd.Entries) > 0 && zxid >= rd.Entries[0].Zxid
}

func (e *ensemble) send(m zab.Message) {
	if m.To == e.cfg.ID {
		if err := e.node.Step(m); err != nil {
			e.log.Debug("zab self step", "type", m.Type, "err", err)
		}
		return
	}
	if m.Type == zab.MsgVote {
		e.mesh.Send(m.To, peer.Election, m.Marshal(nil))
		return
	}
	if (m.Type == zab.MsgFollowerInfo || m.Type == zab.MsgObserverInfo) && !e.mesh.Connected(m.To, peer.Quorum) {
		// A server that just started learns its leader from votes before
		// its quorum link to it is up; a handshake sent now would be lost
		// and the learner would wait initLimit for an answer. Sent when
		// the link comes up (ZooKeeper's learner connects, then sends).
		e.pendingInfo = &m
		return
	}
	e.mesh.Send(m.To, peer.Quorum, m.Marshal([]byte{kindZab}))
}

// sendPendingInfo sends a held learner handshake once its link is up, if
// the node still waits for that leader.
func (e *ensemble) sendPendingInfo() {
	m := e.pendingInfo
	if m == nil {
		return
	}
	st := e.node.Status()
	if st.Phase != zab.Discovery || st.Leader != m.To {
		e.pendingInfo = nil
		return
	}
	if e.mesh.Connected(m.To, peer.Quorum) {
		e.pendingInfo = nil
		e.mesh.Send(m.To, peer.Quorum, m.Marshal([]byte{kindZab}))
	}
}

func (e *ensemble) persist(rd zab.Ready) error {
	if rd.Truncate != nil {
		if err := e.truncate(*rd.Truncate); err != nil {
			return err
		}
	}
	if rd.Snapshot != nil {
		if err := e.installSnapshot(rd.Snapshot.Data, rd.Snapshot.Zxid); err != nil {
			return err
		}
	}
	if rd.HardState != nil {
		if err := writeHardState(e.cfg.DataDir, *rd.HardState, !e.cfg.LogOptions.NoSync); err != nil {
			return err
		}
	}
	if len(rd.Entries) == 0 {
		return nil
	}
	batch := make([]*txn.Txn, 0, len(rd.Entries))
	for _, en := range rd.Entries {
		t := e.own[en.Zxid]
		if t == nil {
			var err error
			if t, _, err = txn.Unmarshal(en.Data); err != nil {
				return fmt.Errorf("transport: undecodable proposal %#x from the leader: %w", en.Zxid, err)
			}
			e.received[en.Zxid] = t
		}
		batch = append(batch, t)
	}
	if err := e.wal.Write(batch); err != nil {
		return err
	}
	e.store.append(rd.Entries)
	e.written = rd.Entries[len(rd.Entries)-1].Zxid
	return nil
}

// heldMsgs are a Ready's MessagesAfterPersist, waiting for the fsync that
// covers the entries written up to zxid.
type heldMsgs struct {
	zxid int64
	msgs []zab.Message
}

// syncResult is the background fsync's report: everything written up to
// zxid is durable (or err).
type syncResult struct {
	zxid int64
	err  error
}

// startSync fsyncs in the background what has been written, unless a
// sync is already running (then the next one starts when it ends). The
// driver meanwhile goes on: the next batch is written while this one is
// being fsynced, and commits of earlier ones are applied.
func (e *ensemble) startSync() {
	if e.syncing || e.written <= e.synced {
		return
	}
	e.syncing = true
	w, upTo := e.wal, e.written
	go func() {
		err := w.Sync()
		e.syncDone <- syncResult{zxid: upTo, err: err}
	}()
}

// onSynced handles the end of a background fsync and starts the next.
func (e *ensemble) onSynced(r syncResult) error {
	e.syncing = false
	if r.err != nil {
		return r.err
	}
	e.markSynced(r.zxid)
	e.startSync()
	return nil
}

// heldFor reports whether messages to peer wait for an fsync.
func (e *ensemble) heldFor(peer int64) bool {
	for _, h := range e.held {
		for _, m := range h.msgs {
			if m.To == peer {
				return true
			}
		}
	}
	return false
}

// markSynced records that the log is durable up to zxid: the acks that
// waited for it go out, and the node counts it (the leader's own ack).
func (e *ensemble) markSynced(zxid int64) {
	e.synced = max(e.synced, zxid)
	keep := e.held[:0]
	for _, h := range e.held {
		if h.zxid <= e.synced {
			for _, m := range h.msgs {
				e.send(m)
			}
		} else {
			keep = append(keep, h)
		}
	}
	e.held = keep
	e.node.Persisted(e.synced)
}

// waitSync waits for the running fsync, and makes everything written
// durable, before a Ready that must be durable as a whole (epochs,
// truncation, snapshot).
func (e *ensemble) waitSync() error {
	if e.syncing {
		r := <-e.syncDone
		e.syncing = false
		if r.err != nil {
			return r.err
		}
	}
	if err := e.wal.Sync(); err != nil {
		return err
	}
	e.markSynced(e.written)
	return nil
}

func (e *ensemble) apply(committed []zab.Entry) error {
	if len(committed) == 0 {
		return nil
	}
	last := e.core.LastZxid()
	txns := make([]*txn.Txn, 0, len(committed))
	for _, en := range committed {
		if en.Zxid <= last {
			continue // loaded at start, before the node knew it was committed
		}
		t := e.own[en.Zxid]
		if t != nil {
			delete(e.own, en.Zxid)
		} else if t = e.received[en.Zxid]; t != nil {
			delete(e.received, en.Zxid)
		} else {
			var err error
			if t, _, err = txn.Unmarshal(en.Data); err != nil {
				return fmt.Errorf("transport: undecodable committed txn %#x: %w", en.Zxid, err)
			}
		}
		txns = append(txns, t)
	}
	if len(txns) > 0 {
		e.core.ApplyCommitted(txns)
	}
	return nil
}

// updateRole tells core/server about a role change: it serves clients as
// leader once a quorum follows it, as follower or observer once it is in
// sync with its leader, and nobody otherwise.
func (e *ensemble) updateRole() {
	st := e.node.Status()
	role := server.RoleLooking
	if st.Established {
		switch st.Role {
		case zab.Leading:
			role = server.RoleLeader
		case zab.Following:
			role = server.RoleFollower
		case zab.Observing:
			role = server.RoleObserver
		}
	}
	e.statusMu.Lock()
	prev, prevRole := e.status, e.role
	e.status, e.role = st, role
	e.statusMu.Unlock()
	if role == prevRole && (role == server.RoleLooking || st.Leader == prev.Leader && st.Epoch == prev.Epoch) {
		return
	}
	if role != server.RoleLeader {
		clear(e.own)
	}
	if role == server.RoleLooking {
		// Proposals logged but not committed come back, if they are
		// committed, from the node (with their data) after the next sync.
		clear(e.received)
	}
	e.core.SetRole(role, st.Leader, st.Epoch)
	if role == server.RoleLeader && len(e.builtins) > 0 {
		go e.core.InstallBuiltins(e.builtins)
	}
}

// Status is the node's ZAB status (for srvr, mntr and tests).
func (e *ensemble) Status() zab.Status {
	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	return e.status
}

// truncate obeys the leader's TRUNC: drop the logged txns after zxid and
// rebuild the state from what is left, as ZooKeeper reloads its database.
// The log is reset through its crash-safe path: recovery up to zxid, then
// a snapshot there.
func (e *ensemble) truncate(zxid int64) error {
	e.log.Warn("truncating the log at the leader's request", "zxid", fmt.Sprintf("%#x", zxid), "last-zxid", fmt.Sprintf("%#x", e.wal.LastZxid()))
	if e.snaps != nil {
		e.snaps.gate.Lock()
		defer e.snaps.gate.Unlock()
	}
	if err := e.wal.BeginReset(zxid); err != nil {
		return err
	}
	if err := e.wal.Close(); err != nil {
		return err
	}
	rec, err := Recover(e.cfg.LogDir, e.cfg.LogOptions)
	if err != nil {
		return fmt.Errorf("transport: recovery after truncation: %w", err)
	}
	if _, err := rec.Log.Reset(zxid, snapshotOf(rec.Tree, rec.Sessions)); err != nil {
		return err
	}
	e.wal = rec.Log
	if e.snaps != nil {
		e.snaps.log = rec.Log
	}
	e.core.ResetState(rec.Tree, rec.Sessions)
	e.store.reset(nil, zxid)
	clear(e.received)
	return nil
}

// snapshotOf writes a snapshot body of a tree nobody else uses.
func snapshotOf(t *tree.Tree, sessions []session.Session) wal.SnapshotWriter {
	return func(w io.Writer) (int64, uint64, error) {
		var ss []tree.SnapshotSession
		for _, s := range sessions {
			ss = append(ss, tree.SnapshotSession{ID: s.ID, Timeout: s.Timeout, Password: s.Password, Owner: s.Owner})
		}
		sw, err := tree.NewSnapshotWriter(w, ss)
		if err != nil {
			return 0, 0, err
		}
		for {
			done, err := sw.Next(t, 1<<30)
			if err != nil {
				return 0, 0, err
			}
			if done {
				return sw.Nodes(), sw.Digest(), nil
			}
		}
	}
}

// installSnapshot replaces the state with the leader's (SNAP).
func (e *ensemble) installSnapshot(data []byte, zxid int64) error {
	t, sum, err := tree.ReadSnapshot(bytes.NewReader(data), zxid)
	if err != nil {
		return fmt.Errorf("transport: snapshot from the leader: %w", err)
	}
	if e.snaps != nil {
		e.snaps.gate.Lock()
		defer e.snaps.gate.Unlock()
	}
	if _, err := e.wal.Reset(zxid, func(w io.Writer) (int64, uint64, error) {
		_, err := w.Write(data)
		return int64(t.NodeCount()), 0, err
	}); err != nil {
		return err
	}
	var sessions []session.Session
	for _, s := range sum.Sessions {
		sessions = append(sessions, session.Session{ID: s.ID, Timeout: s.Timeout, Password: s.Password, Owner: s.Owner})
	}
	e.core.ResetState(t, sessions)
	e.store.reset(nil, zxid)
	clear(e.received)
	e.log.Info("installed the leader's snapshot", "zxid", fmt.Sprintf("%#x", zxid), "nodes", t.NodeCount(), "bytes", len(data))
	return nil
}

// entryStore is zab.Storage over the recent log kept in memory: a lagging
// follower within it gets a DIFF, one further behind a SNAP.
type entryStore struct {
	mu      sync.Mutex
	base    int64 // the zxid just before entries[0] (or the last, if empty)
	entries []zab.Entry
	bytes   int
	core    *server.Server
	floor   func() int64
}

// Bounds of the in-memory log (ZooKeeper keeps 500 committed proposals in
// memory and reads further back from its txn log up to a size factor).
// (Variables so that tests can make a lagging follower need a snapshot.)
var (
	maxStoreEntries = 200000
	maxStoreBytes   = 64 << 20
)

func (s *entryStore) reset(recent []zab.Entry, base int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = base
	s.entries = nil
	s.bytes = 0
	s.appendLocked(recent)
}

func (s *entryStore) append(es []zab.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(es)
}

func (s *entryStore) appendLocked(es []zab.Entry) {
	for _, en := range es {
		s.entries = append(s.entries, en)
		s.bytes += len(en.Data) + 16
	}
	if len(s.entries) <= maxStoreEntries && s.bytes <= maxStoreBytes {
		return
	}
	// Over a limit: drop the oldest down to three quarters of both, so
	// the copy happens once per quarter of the store, not per append.
	drop := 0
	for drop < len(s.entries) && (len(s.entries)-drop > maxStoreEntries*3/4 || s.bytes > maxStoreBytes*3/4) {
		s.bytes -= len(s.entries[drop].Data) + 16
		s.base = s.entries[drop].Zxid
		drop++
	}
	s.entries = append([]zab.Entry(nil), s.entries[drop:]...)
}

// Entries implements zab.Storage.
func (s *entryStore) Entries(lo, hi int64) ([]zab.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lo < s.base {
		return nil, zab.ErrCompacted
	}
	var out []zab.Entry
	for _, en := range s.entries {
		if en.Zxid > lo && en.Zxid <= hi {
			out = append(out, en)
		}
	}
	return out, nil
}

// Floor implements zab.Storage.
func (s *entryStore) Floor() int64 { return s.floor() }

// snapshotFloor is the lowest zxid a truncation can rebuild the state at:
// recovery starts from a snapshot at or below it, so the oldest snapshot
// on disk. It runs on the driver's goroutine, like truncate, which
// replaces e.wal.
func (e *ensemble) snapshotFloor() int64 {
	z, err := e.wal.OldestSnapshot()
	if err != nil {
		// Claim the newest state, so that a leader sends a snapshot
		// rather than a truncation this member might not carry out.
		e.log.Warn("cannot list snapshots; asking for a snapshot if the leader's history differs", "err", err)
		return e.wal.LastZxid()
	}
	return z
}

// Snapshot implements zab.Storage: the applied state, encoded as a
// snapshot body. It runs on the driver's goroutine, which is also the one
// that applies, so the state does not move under it.
func (s *entryStore) Snapshot() ([]byte, int64, error) {
	var buf bytes.Buffer
	zxid := s.core.LastZxid()
	if _, _, err := s.core.SnapshotBody(&buf); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), zxid, nil
}

// The acceptedEpoch and currentEpoch files, as ZooKeeper keeps them in
// dataDir: the epoch in decimal and a newline.
func readHardState(dir string, lastZxid int64) (zab.HardState, error) {
	def := uint32(lastZxid >> 32)
	read := func(name string) (uint32, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return def, nil
		}
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("transport: %s: %w", filepath.Join(dir, name), err)
		}
		return uint32(v), nil
	}
	acc, err := read("acceptedEpoch")
	if err != nil {
		return zab.HardState{}, err
	}
	cur, err := read("currentEpoch")
	if err != nil {
		return zab.HardState{}, err
	}
	return zab.HardState{AcceptedEpoch: acc, CurrentEpoch: cur}, nil
}

func writeHardState(dir string, hs zab.HardState, sync bool) error {
	for _, f := range []struct {
		name string
		v    uint32
	}{{"acceptedEpoch", hs.AcceptedEpoch}, {"currentEpoch", hs.CurrentEpoch}} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), []byte(strconv.FormatUint(uint64(f.v), 10)+"\n"), sync); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic replaces path with data: write a temporary file, fsync
// it, rename it over path, fsync the directory.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
