package zab

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	simSchedules = flag.Int("sim.schedules", 0, "simulated schedules to run (default 10000, fewer under -race)")
	simSeed      = flag.Uint64("sim.seed", 0, "run only the schedule with this seed")
	simTrace     = flag.Bool("sim.trace", false, "print the event trace of -sim.seed's schedule")
)

// TestSimulation runs many short, seeded schedules of an ensemble under
// faults (message delays, broken connections, partitions, crashes that lose
// what was not durable, restarts, log compaction, skipped ticks) while
// clients propose at the leader. After every step it checks ZAB's
// invariants; after the faults stop it checks that the ensemble recovers.
func TestSimulation(t *testing.T) {
	if *simSeed != 0 {
		s := newSim(*simSeed)
		if *simTrace {
			s.trace = &strings.Builder{}
		}
		err := s.run()
		if s.trace != nil {
			t.Log("\n" + s.trace.String())
		}
		if err != nil {
			t.Fatalf("seed %d: %v", *simSeed, err)
		}
		t.Logf("seed %d: %s", *simSeed, s.summary())
		return
	}
	n := *simSchedules
	if n == 0 {
		n = 10000
		if raceEnabled {
			n = 2000
		}
		if testing.Short() {
			n /= 10
		}
	}
	var (
		next    atomic.Uint64
		failed  atomic.Bool
		mu      sync.Mutex
		stats   simStats
		wg      sync.WaitGroup
		start   = time.Now()
		workers = min(runtime.GOMAXPROCS(0), 4)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := next.Add(1)
				if i > uint64(n) {
					return
				}
				seed := i*0x9e3779b97f4a7c15 + 1
				s := newSim(seed)
				if err := s.run(); err != nil {
					if failed.CompareAndSwap(false, true) {
						t.Errorf("schedule %d failed: %v\nreproduce with: go test ./core/zab -run 'TestSimulation$' -sim.seed=%d -sim.trace -v", i, err, seed)
					}
					return
				}
				mu.Lock()
				stats.add(s.stats)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d schedules in %v: %s", n, time.Since(start).Round(time.Millisecond), stats)
}

type simStats struct {
	schedules, ticks, messages, commits, crashes, breaks, partitions int
	elections, truncs, snaps, diffs                                  int
}

func (a *simStats) add(b simStats) {
	a.schedules++
	a.ticks += b.ticks
	a.messages += b.messages
	a.commits += b.commits
	a.crashes += b.crashes
	a.breaks += b.breaks
	a.partitions += b.partitions
	a.elections += b.elections
	a.truncs += b.truncs
	a.snaps += b.snaps
	a.diffs += b.diffs
}

func (a simStats) String() string {
	return fmt.Sprintf("ticks=%d messages=%d committed-txns=%d crashes=%d broken-links=%d partitions=%d leaders=%d syncs(diff/trunc/snap)=%d/%d/%d",
		a.ticks, a.messages, a.commits, a.crashes, a.breaks, a.partitions, a.elections, a.diffs, a.truncs, a.snaps)
}

// Timing of the simulated nodes, in ticks.
const (
	simElectionTicks  = 2
	simFinalizeTicks  = 1
	simInitLimit      = 20
	simSyncLimit      = 10
	simHeartbeatTicks = 2
	// After the faults stop: a leader with every server in sync within
	// this many ticks, then a proposal applied everywhere within
	// simCommitBound.
	simRecoveryBound = 400
	simCommitBound   = 120
)

// Channels of a connection: votes travel apart from the rest, as in
// ZooKeeper (and the transport).
const (
	chanElection = 0
	chanQuorum   = 1
)

type simMsg struct {
	m   Message
	due int
}

// simLink is one direction of one channel between two servers: a FIFO
// queue, like a TCP stream.
type simLink struct {
	q        []simMsg
	lastSent *Message
	lastDue  int
}

type simNode struct {
	// held are MessagesAfterPersist waiting for the entries up to zxid
	// to be synced (AsyncPersist).
	held     []heldMsgs
	id       int64
	node     *Node // nil while down
	store    *memStore
	upAt     int // restart time while down
	firm     int // applied entries known committed (a prefix)
	verified int // applied entries checked against the global sequence
}

type heldMsgs struct {
	zxid int64
	msgs []Message
}

type sim struct {
	async  bool // nodes use AsyncPersist
	seed   uint64
	rng    *rand.Rand
	now    int
	voters []int64
	obs    []int64
	nodes  map[int64]*simNode
	ids    []int64
	links  []*simLink // by linkIndex
	all    []*simLink // every link, in a fixed order
	size   int64      // ids are 1..size

	group      map[int64]int // partition group; nil: no partition
	healAt     int
	chaosUntil int

	// global is the one sequence every server's applied state must be a
	// prefix of; epochLeader remembers who established each epoch.
	global      []Entry
	epochLeader map[uint32]int64
	proposals   int

	// Fault rates of this schedule.
	pCrash, pBreak, pPartition, pCrashMidReady, pSkipTick, pPropose, pCompact, pDup float64
	pCrashLeader                                                                    float64
	maxDelay                                                                        int

	stats        simStats
	trace        *strings.Builder
	readyScratch []*simLink
}

func newSim(seed uint64) *sim {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	s := &sim{
		seed:        seed,
		rng:         rng,
		nodes:       make(map[int64]*simNode),
		epochLeader: make(map[uint32]int64),
	}
	nv := 3
	if rng.IntN(2) == 0 {
		nv = 5
	}
	for i := 1; i <= nv; i++ {
		s.voters = append(s.voters, int64(i))
	}
	if rng.IntN(3) == 0 {
		s.obs = append(s.obs, int64(nv+1))
	}
	s.ids = append(slices.Clone(s.voters), s.obs...)
	s.chaosUntil = 40 + rng.IntN(120)
	s.pCrash = []float64{0, 0.005, 0.02}[rng.IntN(3)]
	s.pBreak = []float64{0, 0.02, 0.08}[rng.IntN(3)]
	s.pPartition = []float64{0, 0.01, 0.03}[rng.IntN(3)]
	s.pCrashMidReady = []float64{0, 0.003, 0.02}[rng.IntN(3)]
	s.pCrashLeader = []float64{0, 0.02, 0.08}[rng.IntN(3)]
	s.pSkipTick = []float64{0, 0.1, 0.3}[rng.IntN(3)]
	s.pPropose = []float64{0.1, 0.4, 0.9}[rng.IntN(3)]
	s.pCompact = []float64{0, 0.02}[rng.IntN(2)]
	s.pDup = []float64{0, 0.5}[rng.IntN(2)]
	s.maxDelay = []int{0, 1, 3}[rng.IntN(3)]
	// Half the schedules persist entries asynchronously (the transport's
	// way): written at once, fsynced later, acks held until then. Decided
	// by the seed, not the rng, so the other draws stay as they were.
	s.async = seed%2 == 1
	for _, id := range s.ids {
		sn := &simNode{id: id, store: &memStore{}}
		s.nodes[id] = sn
	}
	s.size = int64(len(s.ids))
	s.links = make([]*simLink, (s.size+1)*(s.size+1)*2)
	for _, a := range s.ids {
		for _, b := range s.ids {
			if a != b {
				for ch := 0; ch < 2; ch++ {
					l := &simLink{}
					s.links[s.linkIndex(a, b, ch)] = l
					s.all = append(s.all, l)
				}
			}
		}
	}
	return s
}

func (s *sim) summary() string {
	return fmt.Sprintf("voters=%d observers=%d chaos=%d ticks, %s", len(s.voters), len(s.obs), s.chaosUntil, s.stats)
}

func (s *sim) tracef(format string, args ...any) {
	if s.trace != nil {
		fmt.Fprintf(s.trace, "%4d ", s.now)
		fmt.Fprintf(s.trace, format, args...)
		s.trace.WriteByte('\n')
	}
}

func (s *sim) config(sn *simNode) Config {
	cfg := sn.store.config(sn.id, s.voters, s.obs)
	cfg.ElectionTicks = simElectionTicks
	cfg.FinalizeTicks = simFinalizeTicks
	cfg.InitLimitTicks = simInitLimit
	cfg.SyncLimitTicks = simSyncLimit
	cfg.HeartbeatTicks = simHeartbeatTicks
	cfg.AsyncPersist = s.async
	return cfg
}

func (s *sim) start(sn *simNode) error {
	sn.store.restart()
	n, err := NewNode(s.config(sn))
	if err != nil {
		return fmt.Errorf("restart %d: %w", sn.id, err)
	}
	sn.node = n
	sn.firm, sn.verified = 0, 0
	s.tracef("start %d hs=%d/%d last=%s applied=%d", sn.id, sn.store.hs.AcceptedEpoch, sn.store.hs.CurrentEpoch, FormatZxid(sn.store.lastZxid()), len(sn.store.applied))
	return s.drain(sn)
}

func (s *sim) run() error {
	for _, id := range s.ids {
		if err := s.start(s.nodes[id]); err != nil {
			return err
		}
	}
	for s.now = 1; s.now <= s.chaosUntil; s.now++ {
		if err := s.step(true); err != nil {
			return err
		}
	}
	return s.recover()
}

// step is one tick of simulated time.
func (s *sim) step(chaos bool) error {
	s.stats.ticks++
	if chaos {
		if err := s.faults(); err != nil {
			return err
		}
	}
	for _, id := range s.ids {
		sn := s.nodes[id]
		if sn.node == nil && sn.upAt > 0 && sn.upAt <= s.now && (!chaos || s.rng.IntN(2) == 0) {
			sn.upAt = 0
			if err := s.start(sn); err != nil {
				return err
			}
		}
	}
	if err := s.deliver(); err != nil {
		return err
	}
	for _, id := range s.ids {
		sn := s.nodes[id]
		if sn.node == nil || (chaos && s.rng.Float64() < s.pSkipTick) {
			continue
		}
		sn.node.Tick()
		if s.async && len(sn.held) > 0 && s.rng.Float64() < 0.5 {
			s.flush(sn)
		}
		if err := s.drain(sn); err != nil {
			return err
		}
	}
	if s.rng.Float64() < s.pPropose {
		if err := s.propose(); err != nil {
			return err
		}
	}
	if chaos && s.pCompact > 0 {
		for _, id := range s.ids {
			sn := s.nodes[id]
			if sn.node != nil && s.rng.Float64() < s.pCompact {
				st := sn.node.Status()
				// Only committed state, as doc.go asks: what a node applied
				// in broadcast.
				if st.Phase == Broadcast && len(sn.store.applied) > 0 {
					keep := s.rng.IntN(3)
					if i := len(sn.store.applied) - 1 - keep; i >= 0 {
						sn.store.compact(sn.store.applied[i].Zxid)
						s.tracef("compact %d at %s", id, FormatZxid(sn.store.applied[i].Zxid))
					}
				}
			}
		}
	}
	return s.checkDurable()
}

func (s *sim) faults() error {
	r := s.rng
	if s.pCrash > 0 {
		for _, id := range s.ids {
			sn := s.nodes[id]
			if sn.node != nil && r.Float64() < s.pCrash {
				if err := s.crash(sn); err != nil {
					return err
				}
			}
		}
	}
	if s.pCrashLeader > 0 && r.Float64() < s.pCrashLeader {
		// Leaders are where the interesting histories are made: crash one,
		// established or not.
		for _, id := range s.ids {
			if sn := s.nodes[id]; sn.node != nil && sn.node.Status().Role == Leading {
				if err := s.crash(sn); err != nil {
					return err
				}
				break
			}
		}
	}
	if s.pBreak > 0 && r.Float64() < s.pBreak {
		a := s.ids[r.IntN(len(s.ids))]
		b := s.ids[r.IntN(len(s.ids))]
		if a != b {
			if err := s.breakConn(a, b, r.IntN(2)); err != nil {
				return err
			}
		}
	}
	if s.group != nil && s.now >= s.healAt {
		s.tracef("heal partition")
		s.group = nil
	}
	if s.group == nil && s.pPartition > 0 && r.Float64() < s.pPartition {
		s.group = make(map[int64]int)
		var desc []string
		isolateLeader := r.IntN(2) == 0
		for _, id := range s.ids {
			s.group[id] = r.IntN(2)
			if isolateLeader {
				// The leader (if any) with at most a minority.
				s.group[id] = 0
				if sn := s.nodes[id]; sn.node != nil && sn.node.Status().Role == Leading {
					s.group[id] = 1
				} else if r.IntN(4) == 0 {
					s.group[id] = 1
				}
			}
			desc = append(desc, fmt.Sprintf("%d:%d", id, s.group[id]))
		}
		s.healAt = s.now + 5 + r.IntN(40)
		s.stats.partitions++
		s.tracef("partition %s until %d", strings.Join(desc, " "), s.healAt)
		for _, a := range s.ids {
			for _, b := range s.ids {
				if a < b && s.group[a] != s.group[b] {
					if err := s.breakConn(a, b, chanElection); err != nil {
						return err
					}
					if err := s.breakConn(a, b, chanQuorum); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func (s *sim) crash(sn *simNode) error {
	s.stats.crashes++
	s.tracef("crash %d", sn.id)
	sn.node = nil
	sn.held = nil
	sn.store.crash()
	sn.upAt = s.now + 1 + s.rng.IntN(30)
	// What the crashed server sent is on the wire and still arrives; then
	// its peers see the connection close. What was sent to it is lost.
	for _, id := range s.ids {
		if id == sn.id {
			continue
		}
		for ch := 0; ch < 2; ch++ {
			in := s.link(id, sn.id, ch)
			in.q = in.q[:0]
			if ch == chanQuorum {
				s.enqueue(s.link(sn.id, id, ch), Message{Type: MsgPeerDown, From: sn.id, To: id})
			}
		}
	}
	return nil
}

func (s *sim) linkIndex(from, to int64, ch int) int64 {
	return (from*(s.size+1)+to)*2 + int64(ch)
}

func (s *sim) link(from, to int64, ch int) *simLink {
	return s.links[s.linkIndex(from, to, ch)]
}

// breakConn breaks a connection like TCP: both directions lose what is in
// flight and both ends hear PeerDown (for the quorum channel). A
// transport may then resend its last message on the new connection.
func (s *sim) breakConn(a, b int64, ch int) error {
	la, lb := s.link(a, b, ch), s.link(b, a, ch)
	if len(la.q) == 0 && len(lb.q) == 0 && ch == chanElection {
		return nil
	}
	s.stats.breaks++
	s.tracef("break %d-%d ch=%d (lost %d+%d)", a, b, ch, len(la.q), len(lb.q))
	la.q, lb.q = la.q[:0], lb.q[:0]
	if ch == chanQuorum {
		for _, p := range [][2]int64{{a, b}, {b, a}} {
			if sn := s.nodes[p[0]]; sn.node != nil {
				_ = sn.node.Step(Message{Type: MsgPeerDown, From: p[1], To: p[0]})
				if err := s.drain(sn); err != nil {
					return err
				}
			}
		}
	}
	for _, l := range []*simLink{la, lb} {
		if l.lastSent != nil && s.rng.Float64() < s.pDup && s.nodes[l.lastSent.From].node != nil {
			s.enqueue(l, *l.lastSent)
		}
	}
	return nil
}

func (s *sim) enqueue(l *simLink, m Message) {
	due := s.now
	if s.maxDelay > 0 {
		due += s.rng.IntN(s.maxDelay + 1)
		if s.now <= s.chaosUntil && s.rng.IntN(50) == 0 {
			due += 5 + s.rng.IntN(10) // a slow moment
		}
	}
	due = max(due, l.lastDue)
	l.lastDue = due
	l.q = append(l.q, simMsg{m: m, due: due})
}

func (s *sim) send(m Message) {
	ch := chanQuorum
	if m.Type == MsgVote {
		ch = chanElection
	}
	l := s.link(m.From, m.To, ch)
	mm := m
	l.lastSent = &mm
	if s.nodes[m.To].node == nil || (s.group != nil && s.group[m.From] != s.group[m.To]) {
		return // no connection: lost
	}
	s.enqueue(l, m)
	if s.trace != nil && m.Type != MsgVote {
		s.tracef("send %s (due %d)", m, l.q[len(l.q)-1].due)
	}
}

// deliver steps every message that is due, in random order across links
// and FIFO within each.
func (s *sim) deliver() error {
	ready := s.readyScratch[:0]
	for round := 0; round < 1000; round++ {
		ready = ready[:0]
		for _, l := range s.all {
			if len(l.q) > 0 && l.q[0].due <= s.now {
				ready = append(ready, l)
			}
		}
		if len(ready) == 0 {
			s.readyScratch = ready
			return nil
		}
		s.rng.Shuffle(len(ready), func(i, j int) { ready[i], ready[j] = ready[j], ready[i] })
		for _, l := range ready {
			if len(l.q) == 0 || l.q[0].due > s.now {
				continue // a break emptied it
			}
			m := l.q[0].m
			l.q = l.q[1:]
			sn := s.nodes[m.To]
			if sn.node == nil {
				continue
			}
			s.stats.messages++
			if s.trace != nil {
				s.tracef("deliver %s", m)
			}
			switch m.Type {
			case MsgDiff:
				s.stats.diffs++
			case MsgTrunc:
				s.stats.truncs++
			case MsgSnap:
				s.stats.snaps++
			}
			if err := sn.node.Step(m); err != nil {
				s.tracef("node %d: %v", m.To, err)
			}
			if err := s.drain(sn); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("messages still flowing after 1000 rounds in one tick")
}

// drain carries out a node's Readys as doc.go says, maybe crashing between
// sending and persisting.
func (s *sim) drain(sn *simNode) error {
	for sn.node != nil && sn.node.HasReady() {
		rd := sn.node.Ready()
		for _, m := range rd.Messages {
			if s.async && heldFor(sn, m.To) {
				// As the transport does: behind acks waiting for an fsync.
				sn.held = append(sn.held, heldMsgs{zxid: sn.held[len(sn.held)-1].zxid, msgs: []Message{m}})
				continue
			}
			s.send(m)
		}
		if s.now <= s.chaosUntil && s.pCrashMidReady > 0 && s.rng.Float64() < s.pCrashMidReady {
			s.tracef("crash %d before persisting its ready", sn.id)
			return s.crash(sn)
		}
		async := s.async && rd.HardState == nil && rd.Truncate == nil && rd.Snapshot == nil
		if s.async && !async && len(sn.held) > 0 {
			s.flush(sn) // what is written becomes durable before a reset
		}
		if async {
			if err := sn.store.write(rd.Entries); err != nil {
				return fmt.Errorf("node %d: %w", sn.id, err)
			}
			if len(rd.MessagesAfterPersist) > 0 || len(rd.Entries) > 0 {
				sn.held = append(sn.held, heldMsgs{zxid: sn.store.lastZxid(), msgs: rd.MessagesAfterPersist})
			}
		} else {
			if err := sn.store.persist(rd); err != nil {
				return fmt.Errorf("node %d: %w", sn.id, err)
			}
			for _, m := range rd.MessagesAfterPersist {
				s.send(m)
			}
		}
		if err := sn.store.apply(rd); err != nil {
			return fmt.Errorf("node %d: %w", sn.id, err)
		}
		if rd.Truncate != nil || rd.Snapshot != nil {
			if rd.Truncate != nil {
				s.tracef("node %d truncated to %s", sn.id, FormatZxid(*rd.Truncate))
			}
			sn.firm = min(sn.firm, len(sn.store.applied))
			if rd.Snapshot != nil {
				sn.firm = 0
			}
			sn.verified = min(sn.verified, sn.firm)
		}
		if len(rd.Committed) > 0 {
			sn.firm = len(sn.store.applied)
			if s.trace != nil {
				s.tracef("node %d applied %s", sn.id, zxidList(rd.Committed))
			}
		}
		sn.node.Advance(rd)
		if s.async && !async {
			sn.node.Persisted(sn.store.durable)
		}
		if rd.RoleChanged {
			st := sn.node.Status()
			s.tracef("node %d is %s/%s leader=%d epoch=%d established=%v last=%s committed=%s", sn.id, st.Role, st.Phase, st.Leader, st.Epoch, st.Established, FormatZxid(st.LastZxid), FormatZxid(st.Committed))
			if st.Role == Leading && st.Established {
				s.stats.elections++
			}
		}
		if err := s.checkNode(sn); err != nil {
			return err
		}
	}
	return nil
}

func heldFor(sn *simNode, peer int64) bool {
	for _, h := range sn.held {
		for _, m := range h.msgs {
			if m.To == peer {
				return true
			}
		}
	}
	return false
}

// flush makes what sn wrote durable (its fsync completing), sends the
// messages that waited for it, and tells the node.
func (s *sim) flush(sn *simNode) {
	z := sn.store.sync()
	s.tracef("node %d synced up to %s", sn.id, FormatZxid(z))
	for _, h := range sn.held {
		for _, m := range h.msgs {
			s.send(m)
		}
	}
	sn.held = nil
	sn.node.Persisted(z)
}

// checkNode checks the invariants that concern one node after a Ready.
func (s *sim) checkNode(sn *simNode) error {
	st := sn.node.Status()
	if st.Role == Leading && st.Established {
		if prev, ok := s.epochLeader[st.Epoch]; ok && prev != sn.id {
			return fmt.Errorf("two established leaders in epoch %d: %d and %d", st.Epoch, prev, sn.id)
		}
		s.epochLeader[st.Epoch] = sn.id
	}
	// Every node's applied state is a prefix of one global sequence. What
	// a node loaded at start (or got in a snapshot) may still be undone by
	// a TRUNC, so only what it applied as committed is checked ("firm"),
	// together with everything before it.
	applied := sn.store.applied
	for i := sn.verified; i < sn.firm; i++ {
		e := applied[i]
		if i < len(s.global) {
			g := s.global[i]
			if g.Zxid != e.Zxid || !bytes.Equal(g.Data, e.Data) {
				return fmt.Errorf("node %d applied %s (%q) at position %d, where others applied %s (%q)", sn.id, FormatZxid(e.Zxid), e.Data, i, FormatZxid(g.Zxid), g.Data)
			}
			continue
		}
		s.global = append(s.global, e)
		s.stats.commits++
		// Committed means durable on a quorum already, before anyone
		// applies it.
		if err := s.checkDurableOne(e); err != nil {
			return err
		}
	}
	sn.verified = max(sn.verified, sn.firm)
	if st.Committed != 0 && st.Phase == Broadcast {
		if n := len(applied); n == 0 || applied[n-1].Zxid != st.Committed {
			return fmt.Errorf("node %d says committed %s but applied %d entries", sn.id, FormatZxid(st.Committed), len(applied))
		}
	}
	return nil
}

// checkDurable checks that every committed txn is durable on a quorum.
// Only the newest ones need checking each time: a txn a quorum holds
// stays there unless truncated, and truncation goes from the end.
func (s *sim) checkDurable() error {
	from := max(0, len(s.global)-64)
	if s.now%16 == 0 {
		from = 0
	}
	for _, g := range s.global[from:] {
		if err := s.checkDurableOne(g); err != nil {
			return err
		}
	}
	return nil
}

func (s *sim) checkDurableOne(g Entry) error {
	count := 0
	for _, id := range s.voters {
		if s.nodes[id].store.has(g.Zxid) {
			count++
		}
	}
	if count <= len(s.voters)/2 {
		return fmt.Errorf("committed txn %s is durable on only %d voters", FormatZxid(g.Zxid), count)
	}
	return nil
}

func (s *sim) propose() error {
	for _, id := range s.voters {
		sn := s.nodes[id]
		if sn.node == nil {
			continue
		}
		st := sn.node.Status()
		if st.Role != Leading || !st.Established {
			continue
		}
		es := nextEntries(st, 1+s.rng.IntN(3))
		for i := range es {
			s.proposals++
			es[i].Data = fmt.Appendf(nil, "s%d-%d", s.seed%1000, s.proposals)
		}
		if err := sn.node.Propose(es); err != nil {
			return fmt.Errorf("node %d: propose: %w", id, err)
		}
		s.tracef("propose at %d: %s", id, zxidList(es))
		if err := s.drain(sn); err != nil {
			return err
		}
	}
	return nil
}

// recover ends the faults: every server comes back, the network heals, and
// the ensemble must elect a leader that every server follows, then commit
// a proposal everywhere. (Leftovers of the faults, such as messages still
// delayed, may cost the leader its leadership once more; then the new one
// proposes again.)
func (s *sim) recover() error {
	s.group = nil
	s.tracef("faults end")
	for _, id := range s.ids {
		if sn := s.nodes[id]; sn.node == nil {
			sn.upAt = s.now
		}
	}
	s.pPropose = 0
	deadline := s.now + simRecoveryBound
	var (
		final     int64
		proposer  *simNode
		commitBy  int
		proposals int
	)
	for ; ; s.now++ {
		if s.now > deadline {
			return fmt.Errorf("no proposal applied everywhere %d ticks after the faults ended (%d tried): %s", simRecoveryBound, proposals, s.describe())
		}
		if err := s.step(false); err != nil {
			return err
		}
		if final != 0 {
			done := true
			for _, id := range s.ids {
				a := s.nodes[id].store.applied
				if len(a) == 0 || a[len(a)-1].Zxid != final {
					done = false
				}
			}
			if done {
				break
			}
			if st := proposer.node; st == nil || st.Status().Role != Leading {
				final = 0 // lost with its leader's leadership; try again
			} else if s.now > commitBy {
				return fmt.Errorf("proposal %s of an in-sync leader not applied everywhere within %d ticks: %s", FormatZxid(final), simCommitBound, s.describe())
			}
		}
		if final != 0 {
			continue
		}
		leader := s.allInSync()
		if leader == nil {
			continue
		}
		es := nextEntries(leader.node.Status(), 1)
		es[0].Data = []byte("final")
		if err := leader.node.Propose(es); err != nil {
			return fmt.Errorf("final proposal at %d: %w", leader.id, err)
		}
		proposals++
		final, proposer, commitBy = es[0].Zxid, leader, s.now+simCommitBound
		s.tracef("final proposal at %d: %s", leader.id, FormatZxid(final))
		if err := s.drain(leader); err != nil {
			return err
		}
	}
	return s.checkDurable()
}

// allInSync returns the established leader if every server is in
// broadcast with it.
func (s *sim) allInSync() *simNode {
	var leader *simNode
	for _, id := range s.voters {
		sn := s.nodes[id]
		if sn.node == nil {
			return nil
		}
		if st := sn.node.Status(); st.Role == Leading && st.Established {
			leader = sn
		}
	}
	if leader == nil {
		return nil
	}
	for _, id := range s.ids {
		sn := s.nodes[id]
		if sn.node == nil {
			return nil
		}
		st := sn.node.Status()
		if st.Leader != leader.id || st.Phase != Broadcast {
			return nil
		}
	}
	return leader
}

func (s *sim) describe() string {
	var b strings.Builder
	for _, id := range s.ids {
		sn := s.nodes[id]
		if sn.node == nil {
			fmt.Fprintf(&b, "[%d down] ", id)
			continue
		}
		st := sn.node.Status()
		fmt.Fprintf(&b, "[%d %s/%s leader=%d epoch=%d/%d last=%s committed=%s clock=%d] ", id, st.Role, st.Phase, st.Leader, st.Epoch, st.AcceptedEpoch, FormatZxid(st.LastZxid), FormatZxid(st.Committed), st.ElectionEpoch)
	}
	return b.String()
}
