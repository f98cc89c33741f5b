// Package zab is ZooKeeper's atomic broadcast (ZAB) as a pure state
// machine, in the style of etcd raft's RawNode: fast leader election,
// discovery, synchronization (DIFF, TRUNC, SNAP) and broadcast, with no
// goroutines, sockets, clocks, randomness or disk inside. The app feeds a
// Node messages (Step), time (Tick) and proposals (Propose), and carries out
// the work the node hands back (Ready).
//
// # What the app does
//
// Create a node with NewNode from the durable state: the hard state
// (ZooKeeper's acceptedEpoch and currentEpoch files) and the zxid of the
// last logged entry. As ZooKeeper does, the app has loaded its snapshot and
// applied every logged entry before it starts the node; the node counts
// them as applied (Status().Committed == LastZxid) and, should some of them
// turn out never to have been committed, asks for a Truncate.
//
// Then, from a single goroutine:
//
//   - call Tick at a fixed interval (every timing field of Config counts
//     these ticks);
//   - call Step with every message a peer sent to this node, and with
//     Message{Type: MsgPeerDown, From: peer, To: self} when the link to a
//     peer breaks (a follower gives up its leader; a leader forgets the
//     learner, which must go through the handshake again);
//   - on the established leader, call Propose with the next txns (zxids
//     epoch<<32|counter in Status().Epoch, increasing; ErrNotLeader
//     otherwise);
//   - whenever HasReady reports true, take Ready and carry it out as
//     below, then call Advance.
//
// Carrying out a Ready, in this order:
//
//  1. Send Messages. They may go before anything is durable: the leader's
//     proposals, votes, pings, commits.
//  2. Apply Truncate (drop the logged entries after it and rebuild the
//     state from what is left, as ZooKeeper reloads its database) or
//     install Snapshot (replace the state; the log restarts after its
//     zxid). Then persist HardState and append Entries. Fsync all of it.
//  3. Send MessagesAfterPersist: acknowledgements that promise durability
//     (AckEpoch, the NEWLEADER ack, ACKs), and whatever follows them on the
//     same link, so that a link's messages stay in order.
//  4. Apply Committed, in order. The node hands out each entry once, and
//     never one the app has already applied (loaded at start, or rebuilt
//     after a Truncate).
//  5. Call Advance(rd). The leader counts its own ack of rd's Entries here.
//
// With Config.AsyncPersist the app may instead hand rd's Entries to its log
// and Advance before they are fsynced (HardState, Truncate and Snapshot
// must still be durable first): it then holds rd's MessagesAfterPersist,
// and any later message to the same peers, until the fsync covering the
// entries ends, and reports it with Persisted(zxid), where the leader
// counts its own ack. Committed entries may be applied meanwhile: a quorum
// has them.
//
// Messages to one peer must be delivered in the order the node emitted
// them, over a FIFO connection (TCP); a broken connection is reported
// with MsgPeerDown. Votes may travel on a separate connection.
// Message.Marshal and UnmarshalMessage are the wire encoding. (In zkx the
// transport sends votes on the election channel as Marshal writes them;
// on the quorum channel every payload starts with a kind byte: 0 for a zab
// message, 1 for a core/server message.)
//
// Storage is how the node reads back what the app made durable: the leader
// syncs learners from it. Entries(lo, hi) returns the logged entries in
// (lo, hi] and ErrCompacted when lo is below the oldest entry it still has
// the successor of (the leader then sends a snapshot). Snapshot returns the
// app's state and the zxid it was taken at. Entries and snapshots must be
// readable once the Ready that wrote them is persisted.
//
// Status reports the node's role, phase, leader and epoch. A server serves
// clients only while Status().Established: a leader once a quorum
// acknowledged its NEWLEADER, a learner once it received UPTODATE.
//
// The node does not retain the slices of a Ready after handing it out, and
// the app must not modify the byte slices in it (entries are shared with
// the messages that carry them). Step takes ownership of m's slices.
//
// # The protocol, as implemented
//
// Election is ZooKeeper's FastLeaderElection: votes ordered by (epoch of the
// candidate's history, its last zxid, its id); a higher election round
// resets the votes; a node that sees a quorum agree with its vote waits
// FinalizeTicks for a better one; servers out of election answer a looking
// server with their vote, and it follows a leader that a quorum reports and
// that reports LEADING itself (how a restarted server joins). Observers never
// vote and never win; they learn the leader the same way.
//
// Discovery: learners send FOLLOWERINFO/OBSERVERINFO with their accepted
// epoch and last zxid; once a quorum of voters (the leader included)
// connected, the leader proposes one epoch past every accepted epoch it
// heard, persists it as accepted, and sends LEADERINFO; a learner persists
// it, then answers ACKEPOCH with its current epoch and last zxid (or goes
// back to looking if it promised a newer epoch). A leader that hears of a
// history newer than its own before a quorum acked goes back to looking.
//
// Synchronization: once a quorum acked the epoch, the leader persists it as
// current and sends each learner what it lacks: a DIFF of the entries after
// the learner's last zxid; if the learner has entries the leader does
// not, a TRUNC to the last zxid their histories share, then a DIFF; or a
// SNAP of its state and a DIFF from there, if its log no longer
// reaches back far enough. Then NEWLEADER. The learner persists the entries
// and the new current epoch, then acks. With a quorum of acks the leader is
// established: its whole history is committed, and it sends UPTODATE, after
// which the learner applies it. Learners that arrive later go through the
// same handshake alone; proposals made meanwhile follow their sync on the
// same link.
//
// Broadcast: the leader appends proposals and sends them to the followers;
// a follower appends them and acks once they are durable (acks are
// cumulative). The leader commits, in zxid order, what a quorum of voters
// (itself included) acked, sends COMMIT to followers and INFORM (the
// entries) to observers.
//
// Liveness: the leader pings every HeartbeatTicks; a learner that hears
// nothing from its leader for SyncLimitTicks (InitLimitTicks before it is in
// sync) goes back to looking, and so does a leader that has not heard from a
// quorum within SyncLimitTicks, or is not established within
// InitLimitTicks.
//
// Where this differs from ZooKeeper, on purpose:
//
//   - Only learners that took the new epoch from this leader's LEADERINFO
//     count towards its epoch and NEWLEADER quorums (ZooKeeper's learners
//     answer -1 for the same purpose, but it still counts their NEWLEADER
//     acks), so two leaders can never both establish the same epoch.
//   - A leader steps down when a learner has accepted a newer epoch than
//     its own: that learner could never join, and a new election picks a
//     newer epoch. ZooKeeper lets it retry forever.
//   - LEADERINFO carries the leader's vote, which the learner adopts, so
//     that every server out of election announces the same vote.
//   - The log may hold entries of an epoch newer than CurrentEpoch after a
//     crash in the middle of a sync; ZooKeeper needs a currentEpoch.tmp
//     file for that case, here the node just votes with the older epoch.
//
// The trap ZooKeeper's model keeps: a server applies its whole log at
// start, including entries that may not have been committed; a later
// Truncate undoes them. A leader's Snapshot may likewise include such
// entries before it is established, and a learner that installed it
// cannot be truncated below it (ZooKeeper's learner is then stuck). Here a
// learner reports Storage.Floor in its FOLLOWERINFO, and a leader that
// would truncate it below sends a Snapshot instead. An app that snapshots
// its own state should still do so only at or below Status().Committed
// while Status().Phase is Broadcast: such a snapshot never needs undoing.
//
// # Wire format (version 1; part of the format)
//
//	message  = version u8 (=1)  type u8  mask uvarint  field*
//	mask     = one bit per field present, in this order; a zero or empty
//	           field is left out:
//	  bit 0  From           varint
//	  bit 1  To             varint
//	  bit 2  Epoch          uvarint (< 2^32)
//	  bit 3  Zxid           varint
//	  bit 4  Vote.Leader    varint
//	  bit 5  Vote.Zxid      varint
//	  bit 6  Vote.PeerEpoch uvarint (< 2^32)
//	  bit 7  ElectionEpoch  uvarint
//	  bit 8  State          uvarint (Role)
//	  bit 9  Entries        count uvarint (> 0), then per entry:
//	                        zxid delta varint (from the previous entry's
//	                        zxid, the first from 0), length uvarint, data
//	  bit 10 Snapshot       length uvarint (> 0), data
//	  bit 11 Floor          varint
//
// varint and uvarint are encoding/binary's. The type numbers are the MsgType
// constants. Unknown mask bits, a bad type or state, or trailing bytes make
// a message malformed. A change to any of this is a new version.
package zab
