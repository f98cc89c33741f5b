package zab

import "fmt"

// learnerState is a follower's or observer's side of the handshake and of
// broadcast.
type learnerState struct {
	newEpoch     uint32 // the leader's epoch, from LEADERINFO (0 before)
	gotNewLeader bool   // the sync is complete and acknowledged
	commitMark   int64  // the highest commit the leader announced
	silence      int    // ticks since the leader last said anything
	elapsed      int    // ticks since the handshake began
}

// becomeLearner follows (or, for an observer, observes) leader: it opens
// the handshake with FOLLOWERINFO (OBSERVERINFO).
func (n *Node) becomeLearner(leader int64) {
	role, info := Following, MsgFollowerInfo
	if n.observer {
		role, info = Observing, MsgObserverInfo
	}
	n.logger.Info("following", "leader", leader, "role", role.String(), "accepted-epoch", n.hs.AcceptedEpoch, "last-zxid", FormatZxid(n.lastZxid))
	n.ldr = nil
	n.lrn = &learnerState{}
	n.setRole(role, Discovery, leader)
	n.setEstablished(false)
	n.step, n.tick = stepLearner, tickLearner
	n.send(Message{Type: info, To: leader, Epoch: n.hs.AcceptedEpoch, Zxid: n.lastZxid, Floor: n.storage.Floor()})
}

// learnerProtocolError gives up on a leader that broke the protocol.
func (n *Node) learnerProtocolError(m Message, why string) error {
	n.becomeLooking(fmt.Sprintf("bad %s from the leader: %s", m.Type, why))
	return fmt.Errorf("%w: %s from %d: %s", ErrProtocol, m.Type, m.From, why)
}

func stepLearner(n *Node, m Message) error {
	if m.From != n.leader {
		return nil // a former leader's stragglers, or a peer that thinks we lead
	}
	lr := n.lrn
	lr.silence = 0
	switch m.Type {
	case MsgPing:
		n.send(Message{Type: MsgPing, To: n.leader, Epoch: lr.newEpoch})
		return nil
	case MsgLeaderInfo:
		return n.stepLeaderInfo(m)
	}
	if n.phase == Discovery {
		// The leader's answer to our FOLLOWERINFO is LEADERINFO; anything
		// before it belongs to an earlier handshake on the same link.
		return nil
	}
	switch m.Type {
	case MsgTrunc, MsgSnap, MsgDiff, MsgNewLeader:
		if n.phase != Synchronization || lr.gotNewLeader || m.Epoch != lr.newEpoch {
			return n.learnerProtocolError(m, "not syncing")
		}
		return n.stepSync(m)
	case MsgProposal, MsgCommit, MsgUpToDate, MsgInform:
		if !lr.gotNewLeader || m.Epoch != lr.newEpoch {
			return n.learnerProtocolError(m, "not synced")
		}
		return n.stepBroadcast(m)
	}
	return nil
}

func (n *Node) stepLeaderInfo(m Message) error {
	lr := n.lrn
	if n.phase != Discovery {
		return n.learnerProtocolError(m, "handshake already past discovery")
	}
	e := m.Epoch
	switch {
	case e >= maxEpoch:
		return n.learnerProtocolError(m, "epoch out of range")
	case e < n.hs.AcceptedEpoch:
		n.becomeLooking(fmt.Sprintf("leader's epoch %d is older than our accepted epoch %d", e, n.hs.AcceptedEpoch))
		return nil
	case e > n.hs.AcceptedEpoch:
		n.hs = HardState{AcceptedEpoch: e, CurrentEpoch: n.hs.CurrentEpoch}
	}
	lr.newEpoch = e
	if m.Vote.Leader == n.leader {
		n.el.vote, n.el.voteEpoch = m.Vote, m.ElectionEpoch
	}
	n.setPhase(Synchronization)
	n.sendAfterPersist(Message{Type: MsgAckEpoch, To: n.leader, Epoch: n.hs.CurrentEpoch, Zxid: n.lastZxid})
	return nil
}

// stepSync handles the sync payload: TRUNC or SNAP, DIFFs, NEWLEADER.
func (n *Node) stepSync(m Message) error {
	switch m.Type {
	case MsgTrunc:
		if m.Zxid > n.lastZxid || n.rdSnapshot != nil && m.Zxid < n.rdSnapshot.Zxid {
			return n.learnerProtocolError(m, fmt.Sprintf("cannot truncate to %s, log ends at %s", FormatZxid(m.Zxid), FormatZxid(n.lastZxid)))
		}
		n.logger.Info("truncating at the leader's request", "zxid", FormatZxid(m.Zxid), "last-zxid", FormatZxid(n.lastZxid))
		n.truncateTo(m.Zxid)
	case MsgSnap:
		n.logger.Info("installing the leader's snapshot", "zxid", FormatZxid(m.Zxid), "bytes", len(m.Snapshot))
		n.installSnapshot(m.Snapshot, m.Zxid)
	case MsgDiff:
		if m.Zxid != n.lastZxid {
			return n.learnerProtocolError(m, fmt.Sprintf("diff from %s, log ends at %s", FormatZxid(m.Zxid), FormatZxid(n.lastZxid)))
		}
		if err := n.checkAppend(m.Entries, 0); err != "" {
			return n.learnerProtocolError(m, err)
		}
		n.appendEntries(m.Entries)
	case MsgNewLeader:
		if m.Zxid != n.lastZxid {
			return n.learnerProtocolError(m, fmt.Sprintf("sync ends at %s, log at %s", FormatZxid(m.Zxid), FormatZxid(n.lastZxid)))
		}
		n.hs = HardState{AcceptedEpoch: n.hs.AcceptedEpoch, CurrentEpoch: m.Epoch}
		n.lrn.gotNewLeader = true
		n.ackLeader(n.lastZxid)
	}
	return nil
}

// stepBroadcast handles the leader's messages after the sync.
func (n *Node) stepBroadcast(m Message) error {
	lr := n.lrn
	switch m.Type {
	case MsgProposal:
		if n.observer {
			return n.learnerProtocolError(m, "observers get no proposals")
		}
		if err := n.checkAppend(m.Entries, lr.newEpoch); err != "" {
			return n.learnerProtocolError(m, err)
		}
		n.appendEntries(m.Entries)
		n.ackLeader(n.lastZxid)
		return nil
	case MsgInform:
		if !n.observer {
			return n.learnerProtocolError(m, "followers get no informs")
		}
		es := m.Entries
		for len(es) > 0 && es[0].Zxid <= n.lastZxid {
			es = es[1:]
		}
		if err := n.checkAppend(es, 0); err != "" {
			return n.learnerProtocolError(m, err)
		}
		n.appendEntries(es)
	case MsgUpToDate:
		if n.phase != Synchronization {
			return n.learnerProtocolError(m, "second UPTODATE")
		}
		n.setPhase(Broadcast)
		n.setEstablished(true)
		n.logger.Info("up to date with the leader", "leader", n.leader, "epoch", lr.newEpoch, "committed", FormatZxid(m.Zxid))
	}
	// MsgCommit, MsgUpToDate, MsgInform: Zxid is committed.
	if m.Zxid > n.lastZxid {
		return n.learnerProtocolError(m, fmt.Sprintf("commit of %s past the log's end %s", FormatZxid(m.Zxid), FormatZxid(n.lastZxid)))
	}
	lr.commitMark = max(lr.commitMark, m.Zxid)
	if n.phase == Broadcast {
		n.commitTo(lr.commitMark)
	}
	return nil
}

// checkAppend verifies that entries can follow the log: increasing zxids,
// in epoch if it is not 0. It returns what is wrong, or "".
func (n *Node) checkAppend(es []Entry, epoch uint32) string {
	prev := n.lastZxid
	for _, e := range es {
		if e.Zxid <= prev {
			return fmt.Sprintf("entry %s does not follow %s", FormatZxid(e.Zxid), FormatZxid(prev))
		}
		if epoch != 0 && ZxidEpoch(e.Zxid) != epoch {
			return fmt.Sprintf("entry %s is not of epoch %d", FormatZxid(e.Zxid), epoch)
		}
		prev = e.Zxid
	}
	return ""
}

// ackLeader acknowledges every entry up to zxid once this Ready is
// durable. Acks are cumulative, so one per Ready is enough.
func (n *Node) ackLeader(zxid int64) {
	if k := len(n.msgsAfterPersist); k > 0 {
		if last := &n.msgsAfterPersist[k-1]; last.Type == MsgAck && last.To == n.leader {
			last.Zxid = zxid
			return
		}
	}
	n.sendAfterPersist(Message{Type: MsgAck, To: n.leader, Epoch: n.lrn.newEpoch, Zxid: zxid})
}

func tickLearner(n *Node) {
	lr := n.lrn
	lr.silence++
	lr.elapsed++
	switch {
	case n.phase == Broadcast:
		if lr.silence >= n.syncLimit {
			n.becomeLooking("no word from the leader within syncLimit")
		}
	case lr.silence >= n.initLimit || lr.elapsed >= 2*n.initLimit:
		n.becomeLooking("no sync with the leader within initLimit")
	}
}
