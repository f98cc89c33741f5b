// Package client is a ZooKeeper 3.8 client: it speaks ZooKeeper's client
// protocol (package jute) to zkx or to Apache ZooKeeper, plus zkx's recipe
// call (opcode 7001). It follows the Java client (ClientCnxn, ZooKeeper,
// ZKWatchManager) wherever this comment does not say otherwise.
//
// # What a caller does
//
//  1. Connect(ctx, servers, options...) opens a session. It returns once a
//     server has accepted the session; it tries each server once, in random
//     order. Use ParseServers for a "host:port,host:port" string.
//  2. Make requests from any number of goroutines. Each takes a context that
//     bounds the wait; requests are pipelined on one connection and the
//     replies to one goroutine's requests come back in the order it sent them.
//  3. Check errors with errors.Is: ZooKeeper codes (ErrNoNode, or the same
//     jute.Err values) come as *Error. Three outcomes need care; see below.
//  4. Read watch channels (see below).
//  5. Close the client, which ends the session (its ephemerals go at once).
//
// The three outcomes that need care:
//
//   - ErrConnectionLoss: the connection dropped while the request was on the
//     wire. It may or may not have been applied. The client reconnects by
//     itself, to the same session, and later requests work again.
//   - ErrSessionExpired: the session is gone, with its ephemerals and
//     watches. The Client is finished; make a new one.
//   - ErrClosed: Close was called.
//
// # Connection and session
//
// The client keeps one TCP connection. It pings when it has written nothing
// for a third of the negotiated session timeout, and declares the connection
// dead after two thirds of it without a byte from the server. It then tries
// the servers round-robin (after a first shuffle), pausing 50ms..1s between
// rounds, and re-attaches with session id, password and the last zxid seen.
// On every (re)connection it first sends the identities given to WithAuth
// and AddAuth, then setWatches2 requests (relative to the last zxid seen,
// split at 128 KiB of paths like the Java client), then the requests that
// waited.
//
// Requests outstanding when a connection drops fail with ConnectionLoss,
// except recipe calls (Call), which are sent again. Unlike the Java client,
// requests not yet written, and requests made while disconnected, wait for
// the next connection (or for their context) instead of failing at once.
// A server that answers a re-attach with a zero timeout has expired the
// session: everything then fails with SessionExpired. A server that refuses
// an identity (AuthFailed) also ends the session, as in the Java client.
//
// # Watches
//
// ExistsW, GetW, ChildrenW and Children2W return a channel for a one-shot
// watch: it receives exactly one event and is then closed. The event is the
// node event (as ZooKeeper routes them: NodeCreated and NodeDataChanged to
// data and exists watches, NodeDeleted to all three kinds, NodeChildrenChanged
// to child watches), a *WatchRemoved event after RemoveWatches, or, if the
// session ends first, an event with State Expired, AuthFailed or Closed and
// Err set. One-shot watches survive reconnects silently (the server fires
// them on re-registration if their node changed meanwhile). A watch is set
// only if its request succeeded, and for ExistsW also when the node does not
// exist.
//
// AddWatch returns a PersistentWatch, whose channel also carries the
// Disconnected and SyncConnected state changes, since the server does not
// replay what a persistent watch missed while disconnected. Its events queue
// without bound until read.
//
// A node event is put in its watch channels before the reply to any later
// request completes, so a caller that sees a change through a read finds the
// event already waiting. No channel ever blocks the client.
//
// # Wire format
//
// Every message is a frame: a 4-byte big-endian length, then the bytes.
// After the handshake (ConnectRequest with protocol version 0, last zxid,
// timeout, session id, 16-byte password, readOnly=false; ConnectResponse,
// then a readOnly byte) a request is RequestHeader{xid, opcode} + record and
// a reply is ReplyHeader{xid, zxid, err} + record. Requests get xids 1, 2, ...
// and replies must come back in that order; a reply out of order, a frame
// larger than WithMaxBuffer (default jute.MaxBuffer) or one that does not
// decode drops the connection. Special xids: -1 notification, -2 ping,
// -4 auth (answered out of band, as ZooKeeper does), -8 setWatches.
//
// # Not supported
//
// Chroot, read-only mode, SASL, and client-side path validation (the server
// answers BadArguments). RemoveWatches asks the server without checking
// local watches first.
package client
