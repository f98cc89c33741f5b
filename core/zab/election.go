package zab

import "math"

// election is FastLeaderElection's state.
type election struct {
	clock uint64 // logical clock: the election round
	// vote is the node's proposal while it looks, then the vote it decided
	// on; voteEpoch is the round it decided in.
	vote      Vote
	voteEpoch uint64
	// recv holds the votes of this round (the node's own included, for a
	// voter); outOf the votes of servers that have left election (following
	// or leading), from any round.
	recv  map[int64]notification
	outOf map[int64]notification

	finalizing      bool // a quorum agrees with vote: waiting finalizeTicks for a better one
	finalizeElapsed int
	elapsed         int // since notifications were last sent

	// infos holds the FollowerInfo/ObserverInfo messages that arrived while
	// looking: learners that decided before this node did. If it becomes
	// leader it answers them (ZooKeeper's learners retry their connection
	// until the leader listens).
	infos []Message
}

// notification is a vote as a peer announced it.
type notification struct {
	vote  Vote
	epoch uint64 // the sender's election round
	state Role
}

// sameVote is ZooKeeper's Vote.equals: while either side is looking the
// whole vote and round must match; between servers out of election, the
// leader and its epoch are enough.
func sameVote(a, b notification) bool {
	if a.state == Looking || b.state == Looking {
		return a.vote == b.vote && a.epoch == b.epoch
	}
	return a.vote.Leader == b.vote.Leader && a.vote.PeerEpoch == b.vote.PeerEpoch
}

// noVote is an observer's vote: weaker than any voter's (ZooKeeper uses
// Long.MIN_VALUE).
var noVote = Vote{Leader: math.MinInt64, Zxid: math.MinInt64}

func (n *Node) initialVote() Vote {
	if n.observer {
		return noVote
	}
	return Vote{Leader: n.id, Zxid: n.lastZxid, PeerEpoch: n.hs.CurrentEpoch}
}

// better is ZooKeeper's totalOrderPredicate: is v a stronger vote than cur?
// A vote for a server that cannot lead never is.
func (n *Node) better(v, cur Vote) bool {
	return n.isVoter(v.Leader) && v.Compare(cur) > 0
}

// becomeLooking starts a new election round.
func (n *Node) becomeLooking(reason string) {
	if n.role != Looking || n.ldr != nil || n.lrn != nil {
		n.logger.Info("looking for a leader", "reason", reason, "was", n.role.String(), "epoch", n.hs.CurrentEpoch, "last-zxid", FormatZxid(n.lastZxid))
	}
	n.ldr, n.lrn = nil, nil
	n.setRole(Looking, Election, 0)
	n.setEstablished(false)
	n.step, n.tick = stepLooking, tickLooking
	el := &n.el
	el.clock++
	el.recv = make(map[int64]notification)
	el.outOf = make(map[int64]notification)
	el.finalizing = false
	el.elapsed = 0
	el.infos = nil
	n.setProposal(n.initialVote())
	n.sendNotifications()
	n.checkQuorum() // a lone voter is its own quorum
}

// setProposal changes the node's vote in the current round.
func (n *Node) setProposal(v Vote) {
	n.el.vote = v
	n.el.finalizing = false
	if !n.observer {
		n.el.recv[n.id] = notification{vote: v, epoch: n.el.clock, state: Looking}
	}
}

func (n *Node) sendNotifications() {
	for _, id := range n.voters {
		if id != n.id {
			n.send(n.voteMessage(id))
		}
	}
	n.el.elapsed = 0
}

// voteMessage is the notification the node sends: its proposal while
// looking, the vote it decided on otherwise.
func (n *Node) voteMessage(to int64) Message {
	m := Message{Type: MsgVote, To: to, Vote: n.el.vote, State: n.role}
	if n.role == Looking {
		m.ElectionEpoch = n.el.clock
	} else {
		m.ElectionEpoch = n.el.voteEpoch
	}
	return m
}

// stepVote handles a notification in any role (ZooKeeper's
// WorkerReceiver, then the lookForLeader loop).
func (n *Node) stepVote(m Message) {
	if !n.isVoter(m.From) {
		// A looking observer asks who leads: answer, and count nothing.
		// (ZooKeeper answers whatever the observer's state; two servers out
		// of election would then answer each other forever.)
		if m.State == Looking {
			n.send(n.voteMessage(m.From))
		}
		return
	}
	if n.role == Looking {
		if !n.observer && m.State == Looking && m.ElectionEpoch < n.el.clock {
			// A straggler from an older round: bring it up to date. (An
			// observer's round means nothing to voters.)
			n.send(n.voteMessage(m.From))
		}
		n.lookingVote(m)
		return
	}
	// Votes travel apart from the rest (their own connection), so a vote
	// may be older than what the peer said since on the quorum link. A
	// leader announcing a newer round has given up, though: join that
	// round.
	if n.lrn != nil && m.From == n.leader && m.State == Looking && m.ElectionEpoch > n.el.voteEpoch {
		n.becomeLooking("the leader is looking again")
		n.lookingVote(m)
		return
	}
	if m.State == Looking {
		// Tell a looking server whom we follow (how a restarted server
		// finds an existing leader).
		n.send(n.voteMessage(m.From))
	}
}

// lookingVote is one turn of lookForLeader's loop.
func (n *Node) lookingVote(m Message) {
	el := &n.el
	if !n.isVoter(m.Vote.Leader) {
		return
	}
	in := notification{vote: m.Vote, epoch: m.ElectionEpoch, state: m.State}
	switch m.State {
	case Looking:
		switch {
		case m.ElectionEpoch > el.clock:
			el.clock = m.ElectionEpoch
			clear(el.recv)
			if init := n.initialVote(); n.better(m.Vote, init) {
				n.setProposal(m.Vote)
			} else {
				n.setProposal(init)
			}
			n.sendNotifications()
		case m.ElectionEpoch < el.clock:
			return
		case n.better(m.Vote, el.vote):
			n.setProposal(m.Vote)
			n.sendNotifications()
		case !n.observer && n.better(el.vote, m.Vote):
			// The peer proposes a worse leader: our proposal may have
			// reached it before it was looking (it answered as a
			// follower then). Tell it again now instead of at our next
			// notification timeout, which would add one to the election.
			// (ZooKeeper waits for the timeout. An observer's proposal
			// counts for nothing, so an observer does not argue.)
			n.send(n.voteMessage(m.From))
		}
		el.recv[m.From] = in
		n.checkQuorum()
	case Following, Leading:
		if m.ElectionEpoch == el.clock {
			el.recv[m.From] = in
			if n.hasQuorum(el.recv, in) && n.checkLeader(el.recv, m.Vote.Leader, m.ElectionEpoch) {
				n.decide(m.Vote, m.ElectionEpoch)
				return
			}
		}
		// Before joining an established ensemble, make sure a quorum
		// follows that leader and that it says it leads.
		el.outOf[m.From] = in
		if n.hasQuorum(el.outOf, in) && n.checkLeader(el.outOf, m.Vote.Leader, m.ElectionEpoch) {
			el.clock = m.ElectionEpoch
			n.decide(m.Vote, m.ElectionEpoch)
		}
	}
}

// checkQuorum starts the finalize wait (or decides, without one) once a
// quorum agrees with the node's vote in this round.
func (n *Node) checkQuorum() {
	el := &n.el
	if el.finalizing || !n.hasQuorum(el.recv, notification{vote: el.vote, epoch: el.clock, state: Looking}) {
		return
	}
	el.finalizing = true
	el.finalizeElapsed = 0
	if n.finalizeTicks == 0 {
		n.decide(el.vote, el.clock)
	}
}

// hasQuorum reports whether a quorum of voters in votes agrees with v.
func (n *Node) hasQuorum(votes map[int64]notification, v notification) bool {
	count := 0
	for id, w := range votes {
		if n.isVoter(id) && sameVote(w, v) {
			count++
		}
	}
	return n.isQuorum(count)
}

// checkLeader is ZooKeeper's: the leader we would follow must itself say
// it leads; if it is us, the votes must be of our round.
func (n *Node) checkLeader(votes map[int64]notification, leader int64, electionEpoch uint64) bool {
	if leader != n.id {
		w, ok := votes[leader]
		return ok && w.state == Leading
	}
	return n.el.clock == electionEpoch
}

// decide ends the election.
func (n *Node) decide(v Vote, electionEpoch uint64) {
	el := &n.el
	el.vote, el.voteEpoch = v, electionEpoch
	el.finalizing = false
	infos := el.infos
	el.infos = nil
	el.recv, el.outOf = nil, nil
	switch {
	case v.Leader == n.id && n.resetPending():
		// The leader syncs others from Storage, which does not hold its log
		// until the app has carried out the reset; an app that drains its
		// Readys after every step never gets here.
		n.becomeLooking("elected while a log reset is not yet durable")
	case v.Leader == n.id:
		n.becomeLeader()
		for _, m := range infos {
			if n.ldr == nil {
				break
			}
			n.ldr.stepLearnerInfo(n, m)
		}
	default:
		n.becomeLearner(v.Leader)
	}
}

func stepLooking(n *Node, m Message) error {
	switch m.Type {
	case MsgFollowerInfo, MsgObserverInfo:
		for i := range n.el.infos {
			if n.el.infos[i].From == m.From {
				n.el.infos[i] = m
				return nil
			}
		}
		n.el.infos = append(n.el.infos, m)
	}
	return nil
}

func tickLooking(n *Node) {
	el := &n.el
	el.elapsed++
	if el.elapsed >= n.electionTicks {
		n.sendNotifications()
	}
	if el.finalizing {
		el.finalizeElapsed++
		if el.finalizeElapsed >= n.finalizeTicks {
			n.decide(el.vote, el.clock)
		}
	}
}
