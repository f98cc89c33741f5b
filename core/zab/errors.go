package zab

import "errors"

// Sentinel errors. Test for them with errors.Is: most are wrapped with
// details.
var (
	// ErrNotLeader: Propose on a node that is not an established leader.
	ErrNotLeader = errors.New("zab: not an established leader")
	// ErrCompacted: Storage.Entries cannot return entries that far back.
	ErrCompacted = errors.New("zab: entries compacted")
	// ErrBadZxid: a proposed zxid is not in the leader's epoch or not
	// above the last one.
	ErrBadZxid = errors.New("zab: bad zxid")
	// ErrZxidRollover: the epoch's zxid counter is used up; the leader
	// steps down so that a new epoch starts (as ZooKeeper does).
	ErrZxidRollover = errors.New("zab: zxid counter rolled over")
	// ErrBadConfig: NewNode refuses the Config.
	ErrBadConfig = errors.New("zab: bad config")
	// ErrUnknownPeer: a message from or about a server not in the
	// configuration, or addressed to another server.
	ErrUnknownPeer = errors.New("zab: unknown peer")
	// ErrProtocol: a peer's message broke the protocol (the node drops the
	// link's session; it goes back to LOOKING if the peer was its leader).
	ErrProtocol = errors.New("zab: protocol violation")
	// ErrBadMessage: UnmarshalMessage got bytes that are not a message.
	ErrBadMessage = errors.New("zab: malformed message")
	// ErrUnsupportedVersion: a message in a format version this build does
	// not know.
	ErrUnsupportedVersion = errors.New("zab: unsupported message format version")
)
