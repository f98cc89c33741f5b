package zab

import (
	"errors"
	"fmt"
	"slices"
)

// learnerPhase is where a learner's handshake with the leader stands.
type learnerPhase uint8

const (
	learnerInfo       learnerPhase = iota // FollowerInfo/ObserverInfo received
	learnerEpochAcked                     // AckEpoch received; synced once a quorum acked the epoch
	learnerSyncing                        // sync sent; waiting for the NEWLEADER ack
	learnerSynced                         // acknowledged NEWLEADER
	learnerUpToDate                       // sent UPTODATE: in broadcast
)

// learnerHandle is the leader's view of one learner (ZooKeeper's
// LearnerHandler).
type learnerHandle struct {
	id            int64
	observer      bool
	phase         learnerPhase
	acceptedEpoch uint32 // as its FollowerInfo said
	lastZxid      int64  // as its FollowerInfo/AckEpoch said
	floor         int64  // as its FollowerInfo said: it cannot truncate below
	acked         int64  // every entry up to this is durable on it
	sent          int64  // the last entry sent to it (sync, proposals, informs)
	silence       int    // ticks since it last said anything
}

// leaderState is the leader's side of discovery, sync and broadcast.
type leaderState struct {
	learners map[int64]*learnerHandle

	newEpoch    uint32         // 0 until a quorum connected
	maxAccepted uint32         // the highest accepted epoch heard before deciding
	connecting  map[int64]bool // voters (this one included) heard before deciding
	// took holds the learners that moved their accepted epoch to newEpoch
	// on this leader's LEADERINFO. Only they count for the epoch and
	// NEWLEADER quorums: each server takes an epoch once, so no two
	// leaders can both gather quorums for the same epoch. (ZooKeeper's
	// learner answers -1 instead of its current epoch for the same reason.)
	took          map[int64]bool
	epochAcks     map[int64]bool // voters that acked newEpoch (this one included)
	epochQuorum   bool
	newLeaderAcks map[int64]bool // voters that acked NEWLEADER

	// The leader's state when it started: no follower may be ahead of it.
	summaryEpoch uint32
	summaryZxid  int64
	histEnd      int64 // the last entry of its initial history

	initElapsed      int
	heartbeatElapsed int
}

func (n *Node) becomeLeader() {
	n.logger.Info("leading", "epoch", n.hs.CurrentEpoch, "accepted-epoch", n.hs.AcceptedEpoch, "last-zxid", FormatZxid(n.lastZxid))
	n.lrn = nil
	ld := &leaderState{
		learners:      make(map[int64]*learnerHandle),
		maxAccepted:   n.hs.AcceptedEpoch,
		connecting:    map[int64]bool{n.id: true},
		took:          make(map[int64]bool),
		epochAcks:     make(map[int64]bool),
		newLeaderAcks: make(map[int64]bool),
		summaryEpoch:  n.hs.CurrentEpoch,
		summaryZxid:   n.lastZxid,
		histEnd:       n.lastZxid,
	}
	n.ldr = ld
	n.setRole(Leading, Discovery, n.id)
	n.setEstablished(false)
	n.step, n.tick = stepLeader, tickLeader
	ld.maybeDecideEpoch(n)
}

func stepLeader(n *Node, m Message) error {
	ld := n.ldr
	if l := ld.learners[m.From]; l != nil {
		l.silence = 0
	}
	switch m.Type {
	case MsgFollowerInfo, MsgObserverInfo:
		return ld.stepLearnerInfo(n, m)
	case MsgAckEpoch:
		return ld.stepAckEpoch(n, m)
	case MsgAck:
		return ld.stepAck(n, m)
	}
	return nil
}

// stepLearnerInfo starts (or restarts) a learner's handshake.
func (ld *leaderState) stepLearnerInfo(n *Node, m Message) error {
	obs := m.Type == MsgObserverInfo
	if obs != n.isObserverID(m.From) {
		return fmt.Errorf("%w: %s from %d, configured as observer=%v", ErrProtocol, m.Type, m.From, !obs)
	}
	l := &learnerHandle{id: m.From, observer: obs, acceptedEpoch: m.Epoch, lastZxid: m.Zxid, floor: m.Floor}
	ld.learners[m.From] = l
	if ld.newEpoch == 0 {
		ld.maxAccepted = max(ld.maxAccepted, m.Epoch)
		if !obs {
			ld.connecting[m.From] = true
		}
		ld.maybeDecideEpoch(n)
		return nil
	}
	if m.Epoch > ld.newEpoch {
		// It promised a newer leader never to follow an older epoch, so it
		// cannot join: make way for an election that picks a newer epoch
		// (ZooKeeper would let it retry forever).
		n.becomeLooking(fmt.Sprintf("learner %d accepted epoch %d, newer than %d", m.From, m.Epoch, ld.newEpoch))
		return nil
	}
	ld.sendLeaderInfo(n, m.From)
	return nil
}

// maybeDecideEpoch proposes the new epoch once a quorum of voters
// connected: one past every accepted epoch heard (ZooKeeper's
// getEpochToPropose).
func (ld *leaderState) maybeDecideEpoch(n *Node) {
	if ld.newEpoch != 0 || !n.isQuorum(len(ld.connecting)) {
		return
	}
	e := uint64(max(ld.maxAccepted, n.hs.AcceptedEpoch)) + 1
	if e >= maxEpoch {
		n.logger.Error("epochs used up", "epoch", e)
		return
	}
	ld.newEpoch = uint32(e)
	n.logger.Info("new epoch", "epoch", ld.newEpoch)
	n.hs = HardState{AcceptedEpoch: ld.newEpoch, CurrentEpoch: n.hs.CurrentEpoch}
	ld.took[n.id] = true
	ld.epochAcks[n.id] = true
	for _, id := range n.peers {
		if l := ld.learners[id]; l != nil && l.phase == learnerInfo {
			ld.sendLeaderInfo(n, id)
		}
	}
	ld.maybeEpochQuorum(n)
}

// sendLeaderInfo proposes the new epoch to a learner, once it is durable
// here. It carries the leader's vote: a learner that joined through a
// vote of an earlier round takes it, so that servers out of election all
// announce the same vote and a restarted server can find the leader.
func (ld *leaderState) sendLeaderInfo(n *Node, to int64) {
	n.sendDurable(Message{Type: MsgLeaderInfo, To: to, Epoch: ld.newEpoch, Vote: n.el.vote, ElectionEpoch: n.el.voteEpoch})
}

func (ld *leaderState) stepAckEpoch(n *Node, m Message) error {
	l := ld.learners[m.From]
	if l == nil || l.phase != learnerInfo || ld.newEpoch == 0 {
		return nil
	}
	if l.acceptedEpoch < ld.newEpoch {
		ld.took[l.id] = true
	}
	l.lastZxid = m.Zxid
	l.phase = learnerEpochAcked
	if !ld.epochQuorum {
		ahead := m.Epoch > ld.summaryEpoch || m.Epoch == ld.summaryEpoch && m.Zxid > ld.summaryZxid
		if ahead && !l.observer {
			// Its history is newer than ours: we must not lead (an election
			// will prefer it). An observer's history may hold what was never
			// committed (nothing needs an observer to commit), so it is
			// synced like any other.
			n.becomeLooking(fmt.Sprintf("learner %d is ahead: epoch %d zxid %s", l.id, m.Epoch, FormatZxid(m.Zxid)))
			return nil
		}
		if ld.took[l.id] && !l.observer {
			ld.epochAcks[l.id] = true
		}
		ld.maybeEpochQuorum(n)
		return nil
	}
	ld.syncLearner(n, l)
	return nil
}

// maybeEpochQuorum ends discovery once a quorum acked the new epoch: the
// leader takes it as its current epoch and syncs the learners.
func (ld *leaderState) maybeEpochQuorum(n *Node) {
	if ld.epochQuorum || ld.newEpoch == 0 || !n.isQuorum(len(ld.epochAcks)) {
		return
	}
	ld.epochQuorum = true
	n.hs = HardState{AcceptedEpoch: ld.newEpoch, CurrentEpoch: ld.newEpoch}
	n.setPhase(Synchronization)
	for _, id := range n.peers {
		if l := ld.learners[id]; l != nil && l.phase == learnerEpochAcked {
			ld.syncLearner(n, l)
		}
	}
}

// Split long DIFFs so that no message gets huge.
const (
	maxDiffBytes   = 4 << 20
	maxDiffEntries = 8192
)

// errNoTruncPoint: the leader cannot tell where a learner's history leaves
// its own; it sends a snapshot.
var errNoTruncPoint = errors.New("zab: no truncation point")

// syncLearner sends a learner what it needs to hold the leader's whole log
// (DIFF, TRUNC+DIFF or SNAP+DIFF), then NEWLEADER. Proposals made later
// follow on the same link.
func (ld *leaderState) syncLearner(n *Node, l *learnerHandle) {
	upTo := n.lastZxid
	msgs, err := ld.syncMessages(n, l, upTo)
	if err != nil {
		n.logger.Error("cannot sync learner", "learner", l.id, "err", err)
		ld.forgetLearner(n, l.id)
		return
	}
	for _, m := range msgs {
		n.sendDurable(m)
	}
	n.sendDurable(Message{Type: MsgNewLeader, To: l.id, Epoch: ld.newEpoch, Zxid: upTo})
	l.phase = learnerSyncing
	l.sent = upTo
}

func (ld *leaderState) syncMessages(n *Node, l *learnerHandle, upTo int64) ([]Message, error) {
	lz := l.lastZxid
	var msgs []Message
	base := lz
	has, err := n.hasEntry(lz)
	switch {
	case err != nil:
	case !has: // the learner has entries we do not (lz past our log's end, too)
		var t int64
		if t, err = ld.truncPoint(n, lz); err == nil && t < l.floor {
			n.logger.Info("learner cannot truncate below its snapshot; sending a snapshot", "learner", l.id, "trunc", FormatZxid(t), "floor", FormatZxid(l.floor))
			err = errNoTruncPoint
		}
		if err == nil {
			base = t
			msgs = append(msgs, Message{Type: MsgTrunc, To: l.id, Epoch: ld.newEpoch, Zxid: t})
		}
	}
	var es []Entry
	if err == nil {
		es, err = n.entriesAfter(base, upTo)
	}
	if err != nil {
		if !errors.Is(err, ErrCompacted) && !errors.Is(err, errNoTruncPoint) {
			return nil, err
		}
		data, s, err := n.storage.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		if s > upTo {
			return nil, fmt.Errorf("snapshot at %s is past the log's end %s", FormatZxid(s), FormatZxid(upTo))
		}
		if es, err = n.entriesAfter(s, upTo); err != nil {
			return nil, fmt.Errorf("entries after the snapshot at %s: %w", FormatZxid(s), err)
		}
		base = s
		msgs = append(msgs[:0], Message{Type: MsgSnap, To: l.id, Epoch: ld.newEpoch, Zxid: s, Snapshot: data})
	}
	n.logger.Info("syncing learner", "learner", l.id, "learner-zxid", FormatZxid(lz), "mode", syncMode(msgs), "base", FormatZxid(base), "entries", len(es))
	for first := true; first || len(es) > 0; first = false {
		k, size := 0, 0
		for k < len(es) && k < maxDiffEntries && (k == 0 || size+len(es[k].Data) <= maxDiffBytes) {
			size += len(es[k].Data)
			k++
		}
		msgs = append(msgs, Message{Type: MsgDiff, To: l.id, Epoch: ld.newEpoch, Zxid: base, Entries: es[:k:k]})
		if k > 0 {
			base = es[k-1].Zxid
		}
		es = es[k:]
	}
	return msgs, nil
}

func syncMode(msgs []Message) string {
	if len(msgs) > 0 {
		switch msgs[0].Type {
		case MsgTrunc:
			return "trunc"
		case MsgSnap:
			return "snap"
		}
	}
	return "diff"
}

// truncPoint finds the leader's greatest zxid below a learner's last zxid
// lz, which the leader does not have. Histories that share a zxid agree up
// to it, so the learner has that one.
func (ld *leaderState) truncPoint(n *Node, lz int64) (int64, error) {
	if lz > n.lastZxid {
		return n.lastZxid, nil
	}
	es, err := n.entriesAfter(MakeZxid(ZxidEpoch(lz), 0), lz)
	if err != nil {
		return 0, err
	}
	if len(es) > 0 {
		return es[len(es)-1].Zxid, nil
	}
	if lz > ld.histEnd {
		// Every entry after histEnd is of the new epoch, newer than lz.
		return ld.histEnd, nil
	}
	return 0, errNoTruncPoint
}

func (ld *leaderState) stepAck(n *Node, m Message) error {
	l := ld.learners[m.From]
	if l == nil || l.phase < learnerSyncing {
		return nil
	}
	if m.Epoch != ld.newEpoch || m.Zxid > l.sent {
		ld.forgetLearner(n, l.id)
		return fmt.Errorf("%w: ack of %s in epoch %d from %d (sent %s, epoch %d)", ErrProtocol, FormatZxid(m.Zxid), m.Epoch, l.id, FormatZxid(l.sent), ld.newEpoch)
	}
	switch l.phase {
	case learnerSyncing:
		// The NEWLEADER ack.
		l.acked = m.Zxid
		l.phase = learnerSynced
		if !n.established {
			if ld.took[l.id] && !l.observer {
				ld.newLeaderAcks[l.id] = true
			}
			ld.maybeEstablish(n)
			return nil
		}
		ld.sendUpToDate(n, l)
		ld.maybeCommit(n)
	case learnerSynced, learnerUpToDate:
		if m.Zxid > l.acked {
			l.acked = m.Zxid
			ld.maybeCommit(n)
		}
	}
	return nil
}

// maybeEstablish ends synchronization once a quorum (this leader included,
// once its current epoch is durable) acked NEWLEADER: the initial history
// is committed.
func (ld *leaderState) maybeEstablish(n *Node) {
	if n.established || !ld.epochQuorum {
		return
	}
	count := len(ld.newLeaderAcks)
	if n.persistedHS.CurrentEpoch == ld.newEpoch && n.stableZxid >= ld.histEnd {
		count++
	}
	if !n.isQuorum(count) {
		return
	}
	n.logger.Info("established", "epoch", ld.newEpoch, "history-end", FormatZxid(ld.histEnd))
	n.setEstablished(true)
	n.setPhase(Broadcast)
	n.commitTo(n.lastZxid)
	for _, id := range n.peers {
		if l := ld.learners[id]; l != nil && l.phase == learnerSynced {
			ld.sendUpToDate(n, l)
		}
	}
	ld.maybeCommit(n)
}

func (ld *leaderState) sendUpToDate(n *Node, l *learnerHandle) {
	n.send(Message{Type: MsgUpToDate, To: l.id, Epoch: ld.newEpoch, Zxid: n.committed})
	l.phase = learnerUpToDate
}

// maybeCommit commits up to the greatest zxid a quorum of voters has
// durably logged, in zxid order.
func (ld *leaderState) maybeCommit(n *Node) {
	if !n.established || n.committed >= n.lastZxid {
		return
	}
	acks := append(n.ackScratch[:0], n.stableZxid)
	for _, id := range n.voters {
		if id == n.id {
			continue
		}
		if l := ld.learners[id]; l != nil && l.phase >= learnerSynced {
			acks = append(acks, l.acked)
		} else {
			acks = append(acks, 0)
		}
	}
	n.ackScratch = acks
	slices.Sort(acks)
	q := acks[len(acks)-(len(n.voters)/2+1)] // the quorum-th largest
	if q <= n.committed {
		return
	}
	from := len(n.rdCommitted)
	n.commitTo(q)
	newly := n.rdCommitted[from:]
	for _, id := range n.peers {
		l := ld.learners[id]
		if l == nil || l.phase < learnerSyncing {
			continue
		}
		if !l.observer {
			n.send(Message{Type: MsgCommit, To: id, Epoch: ld.newEpoch, Zxid: n.committed})
			continue
		}
		i := 0
		for i < len(newly) && newly[i].Zxid <= l.sent {
			i++
		}
		inf := Message{Type: MsgInform, To: id, Epoch: ld.newEpoch, Zxid: n.committed}
		if i < len(newly) {
			inf.Entries = newly[i:len(newly):len(newly)]
			l.sent = inf.Entries[len(inf.Entries)-1].Zxid
		}
		n.send(inf)
	}
}

// forwardProposal sends new entries to the followers past their sync
// point (observers get them when they commit).
func (ld *leaderState) forwardProposal(n *Node, es []Entry) {
	last := es[len(es)-1].Zxid
	for _, id := range n.peers {
		l := ld.learners[id]
		if l == nil || l.observer || l.phase < learnerSyncing {
			continue
		}
		n.send(Message{Type: MsgProposal, To: id, Epoch: ld.newEpoch, Zxid: last, Entries: es})
		l.sent = last
	}
}

// forgetLearner drops a learner's handshake: it has to start over.
func (ld *leaderState) forgetLearner(n *Node, id int64) {
	delete(ld.learners, id)
}

func tickLeader(n *Node) {
	ld := n.ldr
	ld.heartbeatElapsed++
	if ld.heartbeatElapsed >= n.heartbeatTicks {
		ld.heartbeatElapsed = 0
		for _, id := range n.peers {
			if ld.learners[id] != nil {
				n.send(Message{Type: MsgPing, To: id, Epoch: ld.newEpoch})
			}
		}
	}
	alive := 1
	for _, id := range n.peers {
		l := ld.learners[id]
		if l == nil {
			continue
		}
		l.silence++
		limit := n.syncLimit
		if l.phase < learnerSynced {
			limit = n.initLimit
		}
		if l.silence > limit {
			n.logger.Info("learner silent, dropping it", "learner", id, "ticks", l.silence)
			ld.forgetLearner(n, id)
			continue
		}
		if !l.observer && l.silence < n.syncLimit {
			alive++
		}
	}
	if !n.established {
		ld.initElapsed++
		if ld.initElapsed >= n.initLimit {
			n.becomeLooking("no quorum synced within initLimit")
		}
		return
	}
	if !n.isQuorum(alive) {
		n.becomeLooking("lost the quorum of followers")
	}
}
