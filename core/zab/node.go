package zab

import (
	"fmt"
	"log/slog"
	"slices"
)

// stepFunc handles a message in the node's current role; tickFunc advances
// the role's timers. becomeLooking, becomeLeader and becomeLearner set
// them.
type (
	stepFunc func(n *Node, m Message) error
	tickFunc func(n *Node)
)

// Node is one server's ZAB state machine. It is not safe for concurrent
// use: the app calls Tick, Step, Propose, Ready and Advance from one
// goroutine.
type Node struct {
	id        int64
	voters    []int64 // sorted
	observers []int64 // sorted
	peers     []int64 // every server but this one, sorted
	observer  bool    // this node is an observer
	storage   Storage
	logger    *slog.Logger

	asyncPersist bool // see Config.AsyncPersist

	electionTicks, finalizeTicks int
	initLimit, syncLimit         int
	heartbeatTicks               int

	hs          HardState // the newest, maybe not yet durable
	readyHS     HardState // the last one handed out in a Ready
	persistedHS HardState // the last one the app made durable (Advance)

	lastZxid   int64   // last entry of the log, durable or not
	stableZxid int64   // last entry known durable
	committed  int64   // last entry the app applied (or will, from a Ready)
	pending    []Entry // logged entries after committed, oldest first
	unstable   []Entry // entries not yet known durable, oldest first

	role        Role
	phase       Phase
	leader      int64
	established bool
	step        stepFunc
	tick        tickFunc

	el  election
	lrn *learnerState // set while following or observing
	ldr *leaderState  // set while leading

	// The next Ready.
	msgs             []Message
	msgsAfterPersist []Message
	rdTruncate       *int64
	rdSnapshot       *SnapshotIn
	rdEntries        []Entry
	rdCommitted      []Entry
	roleChanged      bool

	// resetsInFlight counts handed-out Readys with a Truncate or Snapshot
	// that the app has not yet Advanced.
	resetsInFlight int

	ackScratch []int64
}

// NewNode checks cfg and returns a node that starts looking for a leader:
// its first Ready carries its vote notifications.
func NewNode(cfg Config) (*Node, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		id:             cfg.ID,
		voters:         sortedIDs(cfg.Voters),
		observers:      sortedIDs(cfg.Observers),
		storage:        cfg.Storage,
		asyncPersist:   cfg.AsyncPersist,
		logger:         logger.With("zab-id", cfg.ID),
		electionTicks:  orDefault(cfg.ElectionTicks, DefaultElectionTicks),
		finalizeTicks:  cfg.FinalizeTicks,
		initLimit:      orDefault(cfg.InitLimitTicks, DefaultInitLimitTicks),
		syncLimit:      orDefault(cfg.SyncLimitTicks, DefaultSyncLimitTicks),
		heartbeatTicks: orDefault(cfg.HeartbeatTicks, DefaultHeartbeatTicks),
		hs:             cfg.HardState,
		readyHS:        cfg.HardState,
		persistedHS:    cfg.HardState,
		lastZxid:       cfg.LastZxid,
		stableZxid:     cfg.LastZxid,
		committed:      cfg.LastZxid,
	}
	n.observer = slices.Contains(n.observers, n.id)
	for _, id := range append(slices.Clone(n.voters), n.observers...) {
		if id != n.id {
			n.peers = append(n.peers, id)
		}
	}
	slices.Sort(n.peers)
	if n.heartbeatTicks >= n.syncLimit || n.heartbeatTicks >= n.initLimit {
		return nil, fmt.Errorf("%w: HeartbeatTicks %d must be below SyncLimitTicks %d and InitLimitTicks %d",
			ErrBadConfig, n.heartbeatTicks, n.syncLimit, n.initLimit)
	}
	n.becomeLooking("start")
	return n, nil
}

func checkConfig(cfg *Config) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	if cfg.ID <= 0 {
		return bad("ID %d: server ids must be positive", cfg.ID)
	}
	if cfg.Storage == nil {
		return bad("no Storage")
	}
	if len(cfg.Voters) == 0 {
		return bad("no voters")
	}
	seen := make(map[int64]bool)
	for _, id := range append(slices.Clone(cfg.Voters), cfg.Observers...) {
		if id <= 0 {
			return bad("server id %d: ids must be positive", id)
		}
		if seen[id] {
			return bad("server %d listed twice", id)
		}
		seen[id] = true
	}
	if !seen[cfg.ID] {
		return bad("ID %d is neither a voter nor an observer", cfg.ID)
	}
	for _, t := range []int{cfg.ElectionTicks, cfg.FinalizeTicks, cfg.InitLimitTicks, cfg.SyncLimitTicks, cfg.HeartbeatTicks} {
		if t < 0 {
			return bad("negative timing")
		}
	}
	hs := cfg.HardState
	if hs.CurrentEpoch > hs.AcceptedEpoch {
		return bad("current epoch %d above accepted epoch %d", hs.CurrentEpoch, hs.AcceptedEpoch)
	}
	if hs.AcceptedEpoch >= maxEpoch {
		return bad("accepted epoch %d out of range", hs.AcceptedEpoch)
	}
	if cfg.LastZxid < 0 {
		return bad("negative LastZxid")
	}
	// The log may hold entries of an epoch newer than CurrentEpoch: a crash
	// during a sync, after the entries but before NEWLEADER's current epoch
	// were durable (ZooKeeper keeps a currentEpoch.tmp for this). The node
	// then votes with the older epoch, which only makes it a weaker
	// candidate. Entries of an epoch it never accepted are another matter.
	if e := ZxidEpoch(cfg.LastZxid); e > hs.AcceptedEpoch {
		return bad("last zxid %s is newer than accepted epoch %d", FormatZxid(cfg.LastZxid), hs.AcceptedEpoch)
	}
	return nil
}

// maxEpoch bounds epochs so that zxids stay positive.
const maxEpoch = 1 << 31

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func sortedIDs(ids []int64) []int64 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

func (n *Node) isVoter(id int64) bool {
	_, ok := slices.BinarySearch(n.voters, id)
	return ok
}

func (n *Node) isObserverID(id int64) bool {
	_, ok := slices.BinarySearch(n.observers, id)
	return ok
}

func (n *Node) isQuorum(count int) bool { return count > len(n.voters)/2 }

// Tick advances the node's clock by one tick.
func (n *Node) Tick() { n.tick(n) }

// Step feeds the node a message from a peer. An error says the message was
// not for this node or broke the protocol; the node has already reacted
// (stale messages are ignored without an error).
func (n *Node) Step(m Message) error {
	if m.To != n.id {
		return fmt.Errorf("%w: message for %d stepped into %d", ErrUnknownPeer, m.To, n.id)
	}
	if m.From == n.id || !(n.isVoter(m.From) || n.isObserverID(m.From)) {
		return fmt.Errorf("%w: %d", ErrUnknownPeer, m.From)
	}
	switch m.Type {
	case MsgVote:
		n.stepVote(m)
		return nil
	case MsgPeerDown:
		n.peerDown(m.From)
		return nil
	}
	if m.Type == 0 || m.Type >= msgTypeEnd {
		return fmt.Errorf("%w: message type %d", ErrProtocol, m.Type)
	}
	return n.step(n, m)
}

func (n *Node) peerDown(id int64) {
	switch {
	case n.lrn != nil && id == n.leader:
		n.becomeLooking("lost the link to the leader")
	case n.ldr != nil:
		if n.ldr.learners[id] != nil {
			n.logger.Info("learner link down", "learner", id)
			n.ldr.forgetLearner(n, id)
		}
	}
}

// Propose appends entries at the leader and sends them to its followers.
// Only an established leader takes proposals; their zxids must carry its
// epoch and increase.
func (n *Node) Propose(es []Entry) error {
	if n.role != Leading || !n.established {
		return ErrNotLeader
	}
	if len(es) == 0 {
		return nil
	}
	epoch := n.hs.CurrentEpoch
	prev := n.lastZxid
	for _, e := range es {
		switch {
		case ZxidEpoch(e.Zxid) != epoch:
			return fmt.Errorf("%w: %s is not in epoch %d", ErrBadZxid, FormatZxid(e.Zxid), epoch)
		case e.Zxid <= prev:
			return fmt.Errorf("%w: %s does not follow %s", ErrBadZxid, FormatZxid(e.Zxid), FormatZxid(prev))
		case ZxidCounter(e.Zxid) == 0xffffffff:
			// As ZooKeeper: a used-up counter forces a new epoch.
			n.becomeLooking("zxid counter rolled over")
			return ErrZxidRollover
		}
		prev = e.Zxid
	}
	es = slices.Clone(es)
	n.appendEntries(es)
	n.ldr.forwardProposal(n, es)
	return nil
}

// HasReady reports whether the node has work for the app.
func (n *Node) HasReady() bool {
	return n.hs != n.readyHS || n.rdTruncate != nil || n.rdSnapshot != nil ||
		len(n.rdEntries) > 0 || len(n.msgs) > 0 || len(n.msgsAfterPersist) > 0 ||
		len(n.rdCommitted) > 0 || n.roleChanged
}

// Ready hands out the work accumulated since the last call. Do it as
// doc.go says, then call Advance with it. The slices belong to the app now;
// the byte slices in them are shared and must not be modified.
func (n *Node) Ready() Ready {
	rd := Ready{
		Truncate:             n.rdTruncate,
		Snapshot:             n.rdSnapshot,
		Entries:              n.rdEntries,
		Messages:             n.msgs,
		MessagesAfterPersist: n.msgsAfterPersist,
		Committed:            n.rdCommitted,
		RoleChanged:          n.roleChanged,
	}
	if n.hs != n.readyHS {
		hs := n.hs
		rd.HardState = &hs
		n.readyHS = hs
	}
	if rd.Truncate != nil || rd.Snapshot != nil {
		n.resetsInFlight++
	}
	n.rdTruncate, n.rdSnapshot = nil, nil
	n.rdEntries, n.msgs, n.msgsAfterPersist, n.rdCommitted = nil, nil, nil, nil
	n.roleChanged = false
	return rd
}

// Advance tells the node the app did everything rd asked: its state is
// durable and its committed entries applied. The leader counts its own ack
// for rd's entries here.
func (n *Node) Advance(rd Ready) {
	if rd.HardState != nil {
		n.persistedHS = *rd.HardState
	}
	if rd.Truncate != nil {
		n.stableZxid = min(n.stableZxid, *rd.Truncate)
	}
	if rd.Snapshot != nil {
		n.stableZxid = rd.Snapshot.Zxid
	}
	if (rd.Truncate != nil || rd.Snapshot != nil) && n.resetsInFlight > 0 {
		n.resetsInFlight--
	}
	if len(rd.Entries) > 0 && !n.asyncPersist {
		n.stableZxid = rd.Entries[len(rd.Entries)-1].Zxid
	}
	if len(n.unstable) > 0 {
		i := 0
		for i < len(n.unstable) && n.unstable[i].Zxid <= n.stableZxid {
			i++
		}
		n.unstable = n.unstable[i:]
		if len(n.unstable) == 0 {
			n.unstable = nil
		}
	}
	if n.ldr != nil {
		n.ldr.maybeEstablish(n)
		n.ldr.maybeCommit(n)
	}
}

// Persisted tells a node configured with AsyncPersist that every entry up
// to zxid handed out in Readies (and Advanced) is durable. The leader
// counts its own ack here.
func (n *Node) Persisted(zxid int64) {
	zxid = min(zxid, n.lastZxid)
	if zxid <= n.stableZxid {
		return
	}
	n.stableZxid = zxid
	i := 0
	for i < len(n.unstable) && n.unstable[i].Zxid <= n.stableZxid {
		i++
	}
	n.unstable = n.unstable[i:]
	if len(n.unstable) == 0 {
		n.unstable = nil
	}
	if n.ldr != nil {
		n.ldr.maybeEstablish(n)
		n.ldr.maybeCommit(n)
	}
}

// Status reports the node's state.
func (n *Node) Status() Status {
	st := Status{
		ID:            n.id,
		Role:          n.role,
		Phase:         n.phase,
		Leader:        n.leader,
		Epoch:         n.hs.CurrentEpoch,
		AcceptedEpoch: n.hs.AcceptedEpoch,
		Established:   n.established,
		LastZxid:      n.lastZxid,
		Committed:     n.committed,
		Vote:          n.el.vote,
		ElectionEpoch: n.el.clock,
	}
	if n.ldr != nil {
		for _, l := range n.ldr.learners {
			st.Followers++
			switch {
			case l.phase >= learnerSynced && !l.observer:
				st.SyncedFollowers++
			case l.phase < learnerSynced:
				st.PendingSyncs++
			}
		}
	}
	return st
}

// send queues m. It goes out at once unless something for the same peer
// already waits for the disk: a link's messages must stay in order.
func (n *Node) send(m Message) {
	m.From = n.id
	for i := range n.msgsAfterPersist {
		if n.msgsAfterPersist[i].To == m.To {
			n.msgsAfterPersist = append(n.msgsAfterPersist, m)
			return
		}
	}
	n.msgs = append(n.msgs, m)
}

// sendAfterPersist queues m to go out once this Ready is durable.
func (n *Node) sendAfterPersist(m Message) {
	m.From = n.id
	n.msgsAfterPersist = append(n.msgsAfterPersist, m)
}

// sendDurable sends m once the hard state the node holds now is durable.
func (n *Node) sendDurable(m Message) {
	if n.hs != n.persistedHS {
		n.sendAfterPersist(m)
	} else {
		n.send(m)
	}
}

// appendEntries adds entries (zxids above lastZxid, increasing) to the log.
func (n *Node) appendEntries(es []Entry) {
	if len(es) == 0 {
		return
	}
	n.rdEntries = append(n.rdEntries, es...)
	n.pending = append(n.pending, es...)
	n.unstable = append(n.unstable, es...)
	n.lastZxid = es[len(es)-1].Zxid
}

// commitTo hands every pending entry up to zxid to the app.
func (n *Node) commitTo(zxid int64) {
	i := 0
	for i < len(n.pending) && n.pending[i].Zxid <= zxid {
		i++
	}
	if i == 0 {
		return
	}
	n.rdCommitted = append(n.rdCommitted, n.pending[:i]...)
	n.committed = n.pending[i-1].Zxid
	n.pending = n.pending[i:]
	if len(n.pending) == 0 {
		n.pending = nil
	}
}

// truncateTo obeys a TRUNC: entries after zxid go. The app rebuilds its
// state from the log that is left, so everything up to zxid counts as
// applied (ZooKeeper reloads its database), except entries of this Ready
// that are not logged yet: those are applied after the rebuild.
func (n *Node) truncateTo(zxid int64) {
	keep := func(es []Entry) []Entry {
		i := len(es)
		for i > 0 && es[i-1].Zxid > zxid {
			i--
		}
		if i == 0 {
			return nil
		}
		return es[:i:i]
	}
	n.rdEntries = keep(n.rdEntries)
	n.unstable = keep(n.unstable)
	n.pending = nil
	n.rdCommitted = slices.Clone(n.rdEntries)
	if n.rdSnapshot == nil {
		if n.rdTruncate == nil || *n.rdTruncate > zxid {
			z := zxid
			n.rdTruncate = &z
		}
	}
	n.lastZxid = zxid
	n.committed = zxid
	n.stableZxid = min(n.stableZxid, zxid)
}

// resetPending reports whether a Truncate or Snapshot is not durable yet:
// until it is, the log in Storage is not the node's log.
func (n *Node) resetPending() bool {
	return n.rdTruncate != nil || n.rdSnapshot != nil || n.resetsInFlight > 0
}

// installSnapshot obeys a SNAP: the state becomes data, at zxid.
func (n *Node) installSnapshot(data []byte, zxid int64) {
	n.rdSnapshot = &SnapshotIn{Data: data, Zxid: zxid}
	n.rdTruncate = nil
	n.rdEntries, n.rdCommitted, n.pending, n.unstable = nil, nil, nil, nil
	n.lastZxid, n.committed = zxid, zxid
}

// entriesAfter returns the log's entries in (lo, hi]: the durable ones
// from Storage, the rest from memory.
func (n *Node) entriesAfter(lo, hi int64) ([]Entry, error) {
	if hi <= lo {
		return nil, nil
	}
	var out []Entry
	if lo < n.stableZxid {
		es, err := n.storage.Entries(lo, min(hi, n.stableZxid))
		if err != nil {
			return nil, err
		}
		out = es
	}
	for _, e := range n.unstable {
		if e.Zxid > lo && e.Zxid <= hi && (len(out) == 0 || e.Zxid > out[len(out)-1].Zxid) {
			out = append(out, e)
		}
	}
	return out, nil
}

// hasEntry reports whether the log holds zxid (0, the empty history, is in
// every log). It fails with ErrCompacted if the log no longer tells.
func (n *Node) hasEntry(zxid int64) (bool, error) {
	if zxid == 0 || zxid == n.lastZxid {
		return true, nil
	}
	if zxid > n.lastZxid {
		return false, nil
	}
	if zxid > n.stableZxid {
		_, ok := slices.BinarySearchFunc(n.unstable, zxid, func(e Entry, z int64) int { return cmpInt64(e.Zxid, z) })
		return ok, nil
	}
	es, err := n.storage.Entries(zxid-1, zxid)
	if err == nil {
		return len(es) == 1 && es[0].Zxid == zxid, nil
	}
	// The store may have compacted up to exactly zxid: then zxid is where
	// its history resumes, which is in the log.
	if _, err2 := n.storage.Entries(zxid, zxid); err2 == nil {
		return true, nil
	}
	return false, err
}

// setRole records a role/phase change for Ready.RoleChanged.
func (n *Node) setRole(r Role, p Phase, leader int64) {
	if n.role != r || n.phase != p || n.leader != leader {
		n.roleChanged = true
	}
	n.role, n.phase, n.leader = r, p, leader
}

func (n *Node) setPhase(p Phase) { n.setRole(n.role, p, n.leader) }

func (n *Node) setEstablished(b bool) {
	if n.established != b {
		n.roleChanged = true
	}
	n.established = b
}
