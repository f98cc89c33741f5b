// Package peer links the servers of a zkx ensemble: one TCP connection per
// pair of servers and channel, carrying opaque payloads (ZAB messages) with
// per-connection FIFO delivery and explicit link-down notices.
//
// An ensemble is configured as ZooKeeper's server.N=host:quorumPort:electionPort
// lines. Every server listens on its own quorum and election addresses and
// keeps two links to every other server, participants and observers alike
// (observers send election notifications too; voting members answer them).
//
// # What a caller does, in order
//
//  1. Start(cfg) listens on the server's two ports, starts dialing the peers
//     it is responsible for (below) and returns a *Mesh.
//  2. One goroutine reads Recv() for the life of the Mesh. Reading slowly
//     applies backpressure: readers stop reading sockets, the senders' queues
//     fill and their links break (the contract below still holds).
//  3. Send(to, ch, payload) hands a payload to the link; it never blocks. Send
//     takes ownership of payload: do not modify it afterwards.
//  4. Close() stops listeners, dialers and links, waits for every goroutine
//     of the Mesh to end, then closes the Recv channel.
//
// # What a caller may rely on
//
//   - Connections: one per (pair, channel). The server with the higher id
//     dials the lower one (ZooKeeper's rule, so two servers never race to
//     build the same link) and redials, with exponential backoff from
//     RedialBackoff, while the link is down. A connection accepted from a
//     peer that already has a live link replaces it: the old connection is
//     closed and its Down is delivered before any message of the new one.
//   - Per connection, delivery is FIFO with no gaps: the receiver gets a
//     prefix of what the sender queued, in order. When a connection breaks,
//     the receiver gets Inbound{From, Channel, Down: true} after every message
//     read from it, and payloads queued to it but not yet written are
//     dropped. Each connection yields exactly one Down on each end that had
//     it up, unless that end's Mesh is being closed. After a Down, messages
//     from the same (From, Channel) come from a new connection.
//   - If a link's send queue (QueueLen) is full, or a payload is larger than
//     MaxFrame, Send breaks the link instead of dropping that one message,
//     so a gap can never open in the middle of a stream.
//   - Send to a peer without a live link drops the payload silently; ZAB
//     resends or re-handshakes. Connected reports whether a link is live.
//   - Send to the server itself (to == ID) is delivered through Recv with
//     the same contract (a local queue of QueueLen that "breaks" with a Down
//     when full); Connected(ID, ch) is always true.
//   - Without Config.Secret a peer is identified only by the handshake's id
//     and fingerprint. With it, a link comes up only between servers that
//     prove to each other they hold the same secret (below). Links are
//     not encrypted and frames carry no MAC: against an attacker who can
//     tamper with traffic on the wire, run the quorum ports on a private
//     network or a tunnel (WireGuard, IPsec).
//
// # Wire format (all integers big-endian; part of the format)
//
// The dialer sends a hello; the acceptor answers with a hello of its own
// whose status says whether the connection is accepted, then closes the
// connection if it is not. Both are 24 bytes:
//
//	 0       4       6   7   8               16              24
//	 +-------+-------+---+---+---------------+---------------+
//	 | magic |version|ch |st |   server id   |  fingerprint  |
//	 +-------+-------+---+---+---------------+---------------+
//	magic       "ZKXP"
//	version     u16, protocol version (=1)
//	ch          u8, channel: 0 election, 1 quorum (must match the port dialed)
//	st          u8, in the dialer's hello flags: bit 0 set when it has a
//	              secret (other bits 0). In the answer a status:
//	              0 accepted, 1 unsupported version, 2 unknown server id,
//	              3 channel does not match the port, 4 ensemble fingerprint
//	              differs, 5 wrong direction (the higher id must dial),
//	              6 a secret is configured on one side only
//	server id   i64, the sender's id (dialer: its own; acceptor: its own)
//	fingerprint u64, first 8 bytes of SHA-256 over the sorted server list,
//	              one line per server: "server.<id>=participant|observer\n"
//	              (see Fingerprint). Every server must be configured with
//	              the same server ids and roles.
//
// A version mismatch is answered with status 1 and the acceptor's own
// version, so the older side can log which side needs upgrading. Bytes that
// do not start with the magic get no answer.
//
// When both have a secret, authentication follows an accepting answer:
//
//	acceptor -> dialer  nonceA[16]          (sent with the answer)
//	dialer -> acceptor  nonceD[16] proofD[32]
//	acceptor -> dialer  verdict u8 proofA[32]
//	proofX = HMAC-SHA256(secret, "zkx peer dialer\0" or "zkx peer acceptor\0",
//	         channel u8, dialer id i64, acceptor id i64, nonceA, nonceD)
//
// The nonces are random. The acceptor checks proofD; on a mismatch it sends
// verdict 1 with 32 zero bytes and closes, otherwise verdict 0 and proofA,
// which the dialer checks before it uses the link. The whole handshake must
// complete within DialTimeout. After it both directions carry frames:
//
//	frame = length u32 | crc u32 | payload[length]
//	        crc = CRC-32C (Castagnoli) over the 4 length bytes, then the payload
//
// A frame longer than the receiver's MaxFrame, or with a bad CRC, closes that
// connection only (logged); the listener and the other links carry on.
// Writers batch frames in a buffer flushed whenever their queue drains.
//
// Changing any of the above is a format change: bump the version. (The
// secret exchange came within version 1: a server without a secret sends
// and accepts exactly the bytes it did before.)
package peer
