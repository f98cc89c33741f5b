package zab

import (
	"fmt"
	"log/slog"
	"strings"
)

// Role is what a server is doing in the ensemble (ZooKeeper's ServerState).
type Role uint8

// Roles. The zero value is Looking: a node starts in leader election.
const (
	Looking Role = iota
	Following
	Leading
	Observing
)

// String returns ZooKeeper's srvr "Mode" word for the role.
func (r Role) String() string {
	switch r {
	case Looking:
		return "looking"
	case Following:
		return "follower"
	case Leading:
		return "leader"
	case Observing:
		return "observer"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Phase is the ZAB phase a node is in (ZooKeeper's ZabState).
type Phase uint8

// Phases, in the order a node goes through them.
const (
	Election Phase = iota
	Discovery
	Synchronization
	Broadcast
)

func (p Phase) String() string {
	switch p {
	case Election:
		return "election"
	case Discovery:
		return "discovery"
	case Synchronization:
		return "synchronization"
	case Broadcast:
		return "broadcast"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// Entry is one logged txn. Data is opaque to zab (core/server's txn
// encoding).
type Entry struct {
	Zxid int64
	Data []byte
}

// HardState is what a node must keep on disk besides its log: ZooKeeper's
// acceptedEpoch and currentEpoch files. AcceptedEpoch is the newest epoch
// the node promised to follow (it refuses older leaders); CurrentEpoch the
// epoch of the history its log holds (it acknowledged that leader's
// NEWLEADER).
type HardState struct {
	AcceptedEpoch, CurrentEpoch uint32
}

// Vote is a leader election vote: who should lead, and the state of that
// candidate's history. Votes are ordered by (PeerEpoch, Zxid, Leader).
type Vote struct {
	Leader    int64
	Zxid      int64
	PeerEpoch uint32
}

// Compare orders votes by (PeerEpoch, Zxid, Leader): it returns -1 if v is
// the weaker vote, +1 if it is the stronger one, 0 if they are equal.
func (v Vote) Compare(o Vote) int {
	switch {
	case v.PeerEpoch != o.PeerEpoch:
		return cmpUint32(v.PeerEpoch, o.PeerEpoch)
	case v.Zxid != o.Zxid:
		return cmpInt64(v.Zxid, o.Zxid)
	}
	return cmpInt64(v.Leader, o.Leader)
}

// Less reports whether v is weaker than o.
func (v Vote) Less(o Vote) bool { return v.Compare(o) < 0 }

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MsgType says what a Message is.
type MsgType uint8

// Message types. The numbers are part of the wire format (see doc.go).
const (
	// MsgVote is a FastLeaderElection notification: Vote, ElectionEpoch,
	// State.
	MsgVote MsgType = iota + 1
	// MsgFollowerInfo opens a follower's handshake: Epoch is its accepted
	// epoch, Zxid its last logged zxid.
	MsgFollowerInfo
	// MsgObserverInfo is MsgFollowerInfo from an observer.
	MsgObserverInfo
	// MsgLeaderInfo proposes the new epoch (Epoch); Vote and
	// ElectionEpoch carry the leader's vote, which the learner adopts.
	MsgLeaderInfo
	// MsgAckEpoch accepts it: Epoch is the learner's current epoch, Zxid
	// its last logged zxid.
	MsgAckEpoch
	// MsgDiff carries the entries after Zxid that a learner lacks
	// (possibly none; a long DIFF is split into several messages).
	MsgDiff
	// MsgTrunc makes a learner drop its entries after Zxid.
	MsgTrunc
	// MsgSnap replaces a learner's state with Snapshot, taken at Zxid.
	MsgSnap
	// MsgProposal carries new entries (Zxid is the last one's).
	MsgProposal
	// MsgCommit commits every entry up to Zxid.
	MsgCommit
	// MsgNewLeader ends a sync: Epoch is the new epoch, Zxid the last
	// entry the sync sent.
	MsgNewLeader
	// MsgAck acknowledges that every entry up to Zxid is durable (the
	// first one after a sync acknowledges NEWLEADER).
	MsgAck
	// MsgUpToDate tells a learner the leader is established and everything
	// up to Zxid is committed.
	MsgUpToDate
	// MsgInform carries committed entries to an observer.
	MsgInform
	// MsgPing is the leader's heartbeat and the learner's answer.
	MsgPing
	// MsgPeerDown is never sent: the transport steps it into a node when
	// its link to From broke.
	MsgPeerDown

	msgTypeEnd // one past the last valid type
)

var msgTypeNames = [...]string{
	MsgVote:         "Vote",
	MsgFollowerInfo: "FollowerInfo",
	MsgObserverInfo: "ObserverInfo",
	MsgLeaderInfo:   "LeaderInfo",
	MsgAckEpoch:     "AckEpoch",
	MsgDiff:         "Diff",
	MsgTrunc:        "Trunc",
	MsgSnap:         "Snap",
	MsgProposal:     "Proposal",
	MsgCommit:       "Commit",
	MsgNewLeader:    "NewLeader",
	MsgAck:          "Ack",
	MsgUpToDate:     "UpToDate",
	MsgInform:       "Inform",
	MsgPing:         "Ping",
	MsgPeerDown:     "PeerDown",
}

func (t MsgType) String() string {
	if t > 0 && t < msgTypeEnd {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Message is everything nodes say to each other. Which fields mean
// something depends on Type (see the MsgType constants).
type Message struct {
	Type     MsgType
	From, To int64
	// Epoch: LeaderInfo/NewLeader the new epoch; AckEpoch the sender's
	// current epoch; FollowerInfo/ObserverInfo its accepted epoch;
	// Proposal/Commit/Ack/UpToDate the epoch they belong to.
	Epoch uint32
	// Zxid: last zxid / acked zxid / commit zxid / trunc zxid / snapshot
	// zxid / diff base.
	Zxid int64

	// Vote notifications (FastLeaderElection).
	Vote          Vote
	ElectionEpoch uint64 // the sender's logical clock
	State         Role   // the sender's role when it sent the vote

	Entries  []Entry // Proposal (one or more) / Diff / Inform
	Snapshot []byte  // Snap: opaque state at Zxid

	// Floor: FollowerInfo/ObserverInfo the oldest zxid the sender can
	// truncate to (Storage.Floor); a leader that would truncate it lower
	// sends a snapshot instead.
	Floor int64
}

// String formats m for logs and tests.
func (m Message) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s", m.From, m.To, m.Type)
	switch m.Type {
	case MsgVote:
		if m.Vote == noVote {
			fmt.Fprintf(&b, " none eepoch=%d state=%s", m.ElectionEpoch, m.State)
			break
		}
		fmt.Fprintf(&b, " leader=%d zxid=%s peerEpoch=%d eepoch=%d state=%s",
			m.Vote.Leader, FormatZxid(m.Vote.Zxid), m.Vote.PeerEpoch, m.ElectionEpoch, m.State)
	case MsgPeerDown, MsgPing:
	case MsgFollowerInfo, MsgObserverInfo:
		fmt.Fprintf(&b, " acceptedEpoch=%d zxid=%s", m.Epoch, FormatZxid(m.Zxid))
		if m.Floor != 0 {
			fmt.Fprintf(&b, " floor=%s", FormatZxid(m.Floor))
		}
	case MsgAckEpoch:
		fmt.Fprintf(&b, " currentEpoch=%d zxid=%s", m.Epoch, FormatZxid(m.Zxid))
	case MsgLeaderInfo:
		fmt.Fprintf(&b, " epoch=%d vote=%d/%s/%d eepoch=%d", m.Epoch, m.Vote.Leader, FormatZxid(m.Vote.Zxid), m.Vote.PeerEpoch, m.ElectionEpoch)
	default:
		fmt.Fprintf(&b, " epoch=%d zxid=%s", m.Epoch, FormatZxid(m.Zxid))
	}
	if len(m.Entries) > 0 {
		b.WriteString(" entries=[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(FormatZxid(e.Zxid))
		}
		b.WriteByte(']')
	}
	if len(m.Snapshot) > 0 {
		fmt.Fprintf(&b, " snapshot=%dB", len(m.Snapshot))
	}
	return b.String()
}

// MakeZxid builds a zxid: the epoch in the high 32 bits, a counter in the
// low 32 bits.
func MakeZxid(epoch, counter uint32) int64 { return int64(epoch)<<32 | int64(counter) }

// ZxidEpoch is the epoch part of a zxid.
func ZxidEpoch(zxid int64) uint32 { return uint32(uint64(zxid) >> 32) }

// ZxidCounter is the counter part of a zxid.
func ZxidCounter(zxid int64) uint32 { return uint32(zxid) }

// FormatZxid writes a zxid as epoch.counter ("3.17").
func FormatZxid(zxid int64) string {
	if zxid < 0 {
		return fmt.Sprintf("%d", zxid)
	}
	return fmt.Sprintf("%d.%d", ZxidEpoch(zxid), ZxidCounter(zxid))
}

// Storage is what the node reads of the durable state. The app owns writing
// it (as each Ready says) and must make what it wrote readable before it
// calls Advance.
type Storage interface {
	// Entries returns logged entries with lo < Zxid <= hi, oldest first, or
	// ErrCompacted if entries after lo are no longer all available (leader
	// then sends SNAP).
	Entries(lo, hi int64) ([]Entry, error)
	// Snapshot returns the app's state with every committed entry up to
	// zxid applied.
	Snapshot() (data []byte, zxid int64, err error)
	// Floor returns the oldest zxid the app can rebuild its state at, so
	// the lowest a Truncate may go: its oldest snapshot's zxid, or 0 if
	// its log reaches back to the first entry. A learner reports it when
	// it joins a leader, which sends a snapshot rather than truncate it
	// lower (a snapshot from a leader that never got established can hold
	// entries the next leader does not have).
	Floor() int64
}

// Config is what NewNode needs. Zero timing fields take the defaults
// below.
type Config struct {
	ID        int64   // this server's id (ZooKeeper's myid): > 0
	Voters    []int64 // participants (incl. self unless observer)
	Observers []int64
	Storage   Storage
	HardState HardState
	// LastZxid is the zxid of the last durably logged entry at start. As in
	// ZooKeeper, the app has loaded (applied) every logged entry, so the
	// node starts with Committed == LastZxid.
	LastZxid int64

	// Timing, in ticks (the app calls Tick at a fixed interval, e.g. 50ms):
	ElectionTicks  int // LOOKING: resend notifications this often (default 4)
	FinalizeTicks  int // FLE finalizeWait: quorum agrees -> wait this long for a better vote (0: decide at once)
	InitLimitTicks int // a leader not established within this goes back to LOOKING; so does a learner whose leader is silent this long before its sync completes (default 400)
	SyncLimitTicks int // no word from the leader (follower) / from a quorum (leader) for this long -> LOOKING (default 200)
	HeartbeatTicks int // leader pings learners this often (default 20)

	// Logger receives the node's decisions (role changes, syncs, why it went
	// back to LOOKING). Nil discards them.
	Logger *slog.Logger

	// AsyncPersist: Advance does not mean rd.Entries are durable; the app
	// reports that later with Persisted (it may hand the next Ready's
	// entries to its log while the previous ones are still being fsynced),
	// and sends rd.MessagesAfterPersist only then. HardState, Truncate and
	// Snapshot must still be durable before Advance.
	AsyncPersist bool
}

// Default timing, for a 50ms tick: ZooKeeper's usual zoo.cfg (tickTime
// 2s, initLimit 10, syncLimit 5; pings every half tickTime; the first
// notification timeout of 200ms).
const (
	DefaultElectionTicks  = 4
	DefaultInitLimitTicks = 400
	DefaultSyncLimitTicks = 200
	DefaultHeartbeatTicks = 20
)

// SnapshotIn is a snapshot the leader sent: the app's state at Zxid.
type SnapshotIn struct {
	Data []byte
	Zxid int64
}

// Ready is the work a node hands its app. Carry it out in the order doc.go
// states, then call Advance.
type Ready struct {
	HardState *HardState  // persist (atomically, fsynced) if non-nil
	Truncate  *int64      // TRUNC: drop logged entries with Zxid > *Truncate and rebuild state (ZooKeeper reloads its database)
	Snapshot  *SnapshotIn // SNAP: replace state with Data at Zxid, log starts after it
	Entries   []Entry     // append to the log and fsync
	Messages  []Message   // may be sent immediately
	// MessagesAfterPersist may be sent only once HardState, Truncate,
	// Snapshot and Entries of this Ready are durable (ACK, AckEpoch,
	// NEWLEADER-ACK, and whatever follows them on the same link).
	MessagesAfterPersist []Message
	Committed            []Entry // apply in order, after persisting this Ready
	// RoleChanged: Status().Role, Leader, Phase or Established changed
	// since the last Ready.
	RoleChanged bool
}

// Status is a snapshot of the node's state, for srvr/mntr and tests.
type Status struct {
	ID            int64
	Role          Role
	Phase         Phase
	Leader        int64  // 0 while looking
	Epoch         uint32 // current epoch
	AcceptedEpoch uint32
	// Established: a leader whose NEWLEADER a quorum acknowledged; a
	// learner that received UPTODATE. Only then does a server serve
	// clients.
	Established bool
	LastZxid    int64 // last entry in the log (including entries not yet durable)
	Committed   int64 // last entry handed to the app to apply

	// Vote is the node's current vote (its proposal while looking) and
	// ElectionEpoch its logical clock.
	Vote          Vote
	ElectionEpoch uint64

	// Leader only: learners connected (ZooKeeper's zk_learners), voting
	// followers that finished their sync (zk_synced_followers), and
	// learners whose discovery or sync is under way. ZooKeeper's
	// zk_pending_syncs counts client sync() calls, which core/server
	// owns; zab reports the syncs of learners instead.
	Followers       int
	SyncedFollowers int
	PendingSyncs    int
}
