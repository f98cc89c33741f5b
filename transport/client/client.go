package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// Client is a ZooKeeper session. It is safe for concurrent use; requests
// from many goroutines are pipelined on one connection.
type Client struct {
	cfg     config
	log     *slog.Logger
	servers []string // shuffled once; tried round-robin
	watches *watchTable
	events  *eventQueue
	wake    chan struct{} // capacity 1: there is something to write

	// ctx ends when the client is finished; it interrupts reconnecting.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the session goroutine has cleaned up

	mu        sync.Mutex
	queue     []*call         // waiting to be written, oldest first
	pending   callQueue       // written; their replies come back in this order
	parked    map[int32]*call // recipe calls the server set aside (see matchReply)
	authWait  callQueue       // written auth packets; the server answers them out of band
	conn      *conn           // the live connection, nil while disconnected
	closing   bool            // Close has begun: no new requests
	termCode  jute.Err        // why the session ended (SessionExpired, AuthFailed) ...
	termErr   error           // ... or ErrClosed; both zero while alive
	termState int32
	passwd    []byte
	auths     []authInfo
	nextIdx   int // next server to try

	xid int32 // last xid assigned; only the (single) writer goroutine touches it

	state     atomic.Int32
	sessionID atomic.Int64
	timeout   atomic.Int64 // negotiated session timeout, ns
	lastZxid  atomic.Int64
	server    atomic.Pointer[string]
}

// ParseServers splits a ZooKeeper connect string ("a:2181,b:2181") into
// addresses. A chroot suffix ("/app") is not supported and is an error.
func ParseServers(s string) ([]string, error) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return nil, fmt.Errorf("client: chroot %q is not supported", s[i:])
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(part); err != nil {
			return nil, fmt.Errorf("client: server %q: %w", part, err)
		}
		out = append(out, part)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("client: no servers in %q", s)
	}
	return out, nil
}

// Connect opens a new session with one of servers ("host:port") and returns
// once the server has accepted it. It tries each server once, in random
// order, and fails if none accepts a session or ctx ends first. After that
// the client keeps the session alive and reconnects on its own until Close
// or until the session expires.
func Connect(ctx context.Context, servers []string, opts ...Option) (*Client, error) {
	if len(servers) == 0 {
		return nil, errors.New("client: no servers")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	c := &Client{
		cfg:     cfg,
		log:     cfg.log,
		servers: append([]string(nil), servers...),
		watches: newWatchTable(),
		events:  newEventQueue(cfg.onEvent),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		auths:   append([]authInfo(nil), cfg.auths...),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	rand.Shuffle(len(c.servers), func(i, j int) { c.servers[i], c.servers[j] = c.servers[j], c.servers[i] })
	c.state.Store(jute.StateDisconnected)

	// One pass over the servers; with a deadline on ctx, more passes until
	// it passes: an ensemble electing a leader refuses clients for a
	// moment, and the caller said how long it is willing to wait.
	// (Servers that are not listening at all fail the pass at once.)
	var errs []error
	_, retry := ctx.Deadline()
	backoff := 50 * time.Millisecond
	for pass := 0; pass == 0 || retry; pass++ {
		errs = errs[:0]
		reached := false
		for range c.servers {
			addr := c.nextServer()
			cn, err := c.establish(ctx, addr)
			if err == nil {
				go c.run(cn)
				return c, nil
			}
			if ctx.Err() != nil {
				break
			}
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "dial" {
				reached = true
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if !reached {
			break
		}
		if retry {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	}
	c.cancel()
	c.events.close()
	return nil, fmt.Errorf("client: no server accepted a session: %w", errors.Join(errs...))
}

func (c *Client) nextServer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addr := c.servers[c.nextIdx%len(c.servers)]
	c.nextIdx++
	return addr
}

func (c *Client) dialTimeout() time.Duration {
	if c.cfg.dialTimeout > 0 {
		return c.cfg.dialTimeout
	}
	t := c.cfg.sessionTimeout
	if n := time.Duration(c.timeout.Load()); n > 0 {
		t = n
	}
	return max(t/time.Duration(len(c.servers)), minDialTimeout)
}

// handshake dials addr and exchanges ConnectRequest / ConnectResponse.
func (c *Client) handshake(ctx context.Context, addr string) (net.Conn, *jute.ConnectResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.dialTimeout())
	defer cancel()
	nc, err := c.cfg.dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	// Ending ctx (Close, or the caller's context) interrupts the handshake.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c.mu.Lock()
	req := jute.ConnectRequest{
		LastZxidSeen: c.lastZxid.Load(),
		TimeOut:      int32(c.cfg.sessionTimeout.Milliseconds()),
		SessionID:    c.sessionID.Load(),
		Passwd:       c.passwd,
	}
	c.mu.Unlock()
	if req.Passwd == nil {
		req.Passwd = make([]byte, 16)
	}
	var e jute.Encoder
	e.BeginFrame()
	req.Encode(&e)
	e.EndFrame(0)
	if _, err := nc.Write(e.Bytes()); err != nil {
		nc.Close()
		return nil, nil, err
	}
	frame, err := readFrame(nc, c.cfg.maxBuffer)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	var resp jute.ConnectResponse
	if err := jute.Decode(frame, &resp); err != nil {
		nc.Close()
		return nil, nil, protocolError("connect response: %v", err)
	}
	if !stop() || ctx.Err() != nil {
		nc.Close()
		return nil, nil, context.Cause(ctx)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, &resp, nil
}

// establish opens a connection to addr and makes it the session's: it
// records what the server said and queues, ahead of everything else, the
// auth packets and setWatches2 requests that restore the session's state.
func (c *Client) establish(ctx context.Context, addr string) (*conn, error) {
	nc, resp, err := c.handshake(ctx, addr)
	if err != nil {
		return nil, err
	}
	if resp.TimeOut <= 0 {
		nc.Close()
		return nil, errSessionExpired
	}
	timeout := time.Duration(resp.TimeOut) * time.Millisecond
	cn := &conn{
		nc:   nc,
		addr: addr,
		// The floors only matter for a server that grants an absurdly short
		// timeout; they keep the writer from pinging in a tight loop.
		readTimeout: max(timeout*2/3, 20*time.Millisecond),
		pingEvery:   max(timeout/3, 10*time.Millisecond),
		failed:      make(chan struct{}),
	}

	c.mu.Lock()
	if c.endedLocked() || c.closing {
		c.mu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	c.sessionID.Store(resp.SessionID)
	c.passwd = resp.Passwd
	c.timeout.Store(int64(timeout))
	prime := make([]*call, 0, len(c.auths)+1)
	for _, a := range c.auths {
		prime = append(prime, newAuthCall(a, true))
	}
	if l := c.watches.lists(); !l.empty() {
		for _, req := range setWatchesBatches(l, c.lastZxid.Load()) {
			cl := newCall(jute.OpSetWatches2)
			req.Encode(&cl.enc)
			cl.seal()
			cl.xid = jute.XidSetWatches
			cl.internal = true
			prime = append(prime, cl)
		}
	}
	c.queue = append(prime, c.queue...)
	c.conn = cn
	c.server.Store(&addr)
	c.state.Store(jute.StateSyncConnected)
	c.mu.Unlock()

	c.log.Info("session established", "server", addr, "session-id", fmt.Sprintf("0x%x", resp.SessionID),
		"timeout", timeout)
	c.watches.stateChange(jute.StateSyncConnected)
	c.events.push(Event{Type: jute.EventNone, State: jute.StateSyncConnected})
	return cn, nil
}

func newAuthCall(a authInfo, internal bool) *call {
	cl := newCall(jute.OpAuth)
	p := jute.AuthPacket{Type: 0, Scheme: a.scheme, Auth: a.auth}
	p.Encode(&cl.enc)
	cl.seal()
	cl.xid = jute.XidAuth
	cl.internal = internal
	return cl
}

// run is the session goroutine: it serves a connection until it fails,
// cleans up, and reconnects, until the session ends.
func (c *Client) run(cn *conn) {
	defer close(c.done)
	defer c.finish()
	for cn != nil {
		cn.wg.Add(2)
		go c.readLoop(cn)
		go c.writeLoop(cn)
		cn.wg.Wait()
		if !c.lost(cn) {
			return
		}
		cn = c.reconnect()
	}
}

// drainParked empties the parked recipe calls, oldest first. The caller
// holds c.mu.
func (c *Client) drainParked() []*call {
	out := make([]*call, 0, len(c.parked))
	for _, cl := range c.parked {
		out = append(out, cl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].xid < out[j].xid })
	c.parked = nil
	return out
}

// lost cleans up after a failed connection: written requests fail with
// ConnectionLoss, except recipe calls, which go back to the head of the
// queue. It reports whether to reconnect.
func (c *Client) lost(cn *conn) bool {
	c.mu.Lock()
	c.conn = nil
	if c.endedLocked() || c.closing {
		c.mu.Unlock()
		return false
	}
	failed := append(c.pending.drain(), c.authWait.drain()...)
	failed = append(failed, c.drainParked()...)
	var requeue []*call
	n := 0
	for _, cl := range failed {
		if cl.resend && !cl.abandoned() {
			cl.xid = 0
			requeue = append(requeue, cl)
			continue
		}
		failed[n] = cl
		n++
	}
	failed = failed[:n]
	if len(requeue) > 0 {
		c.queue = append(requeue, c.queue...)
	}
	c.state.Store(jute.StateDisconnected)
	c.mu.Unlock()

	c.log.Warn("connection lost", "server", cn.addr, "session-id", fmt.Sprintf("0x%x", c.sessionID.Load()),
		"err", cn.err, "failed-requests", len(failed), "resent-calls", len(requeue))
	for _, cl := range failed {
		cl.fail(jute.ErrConnectionLoss, nil)
	}
	c.watches.stateChange(jute.StateDisconnected)
	c.events.push(Event{Type: jute.EventNone, State: jute.StateDisconnected})
	return true
}

// Backoff between rounds of failed reconnection attempts: it doubles
// from minBackoff up to maxBackoff while no server can be reached, and up
// to maxRefusedBackoff while one answers but turns the client away (an
// ensemble member that has no leader yet, as during an election). An
// election takes a few hundred milliseconds; waiting up to a second after
// it ends would double a failover as the client sees it.
const (
	minBackoff        = 50 * time.Millisecond
	maxRefusedBackoff = 200 * time.Millisecond
	maxBackoff        = time.Second
)

// nextBackoff is the backoff after a round that waited backoff; reachable
// says whether a server accepted the connection before refusing it.
func nextBackoff(backoff time.Duration, reachable bool) time.Duration {
	if reachable {
		return min(2*backoff, maxRefusedBackoff)
	}
	return min(2*backoff, maxBackoff)
}

// isDialError reports whether err is a failure to connect at all (nothing
// listening, no route), as opposed to a server that answered.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// reconnect tries the servers round-robin, pausing between rounds, until
// one re-attaches the session or the session ends.
func (c *Client) reconnect() *conn {
	backoff := minBackoff
	for {
		reachable := false
		for range c.servers {
			if c.ctx.Err() != nil {
				return nil
			}
			addr := c.nextServer()
			cn, err := c.establish(c.ctx, addr)
			if err == nil {
				return cn
			}
			if errors.Is(err, errSessionExpired) {
				c.log.Warn("session expired", "server", addr, "session-id", fmt.Sprintf("0x%x", c.sessionID.Load()))
				c.terminate(jute.ErrSessionExpired, nil, jute.StateExpired)
				return nil
			}
			c.log.Info("reconnect attempt failed", "server", addr, "err", err)
			reachable = reachable || !isDialError(err)
		}
		// Full jitter in [backoff/2, backoff) spreads clients that lost the
		// same server.
		wait := backoff/2 + rand.N(backoff/2)
		select {
		case <-time.After(wait):
		case <-c.ctx.Done():
			return nil
		}
		backoff = nextBackoff(backoff, reachable)
	}
}

// endedLocked reports whether the session is over (c.mu held).
func (c *Client) endedLocked() bool { return c.termCode != 0 || c.termErr != nil }

// terminate ends the session for good. The session goroutine then fails
// every request and ends every watch (finish).
func (c *Client) terminate(code jute.Err, err error, state int32) {
	c.mu.Lock()
	if c.endedLocked() {
		c.mu.Unlock()
		return
	}
	c.termCode, c.termErr, c.termState = code, err, state
	cn := c.conn
	c.mu.Unlock()
	c.cancel()
	if cn != nil {
		cn.fail(errSessionEnded)
	}
}

// finish runs when the session goroutine exits: every request still queued
// or outstanding fails, every watch gets the final event, and the event
// callback hears it last.
func (c *Client) finish() {
	c.mu.Lock()
	if !c.endedLocked() {
		// Close sent closeSession and the server hung up first.
		c.termErr, c.termState = ErrClosed, jute.StateClosed
	}
	code, err, state := c.termCode, c.termErr, c.termState
	calls := append(c.queue, c.pending.drain()...)
	calls = append(calls, c.authWait.drain()...)
	calls = append(calls, c.drainParked()...)
	c.queue = nil
	c.conn = nil
	c.state.Store(state)
	c.mu.Unlock()
	c.cancel()

	for _, cl := range calls {
		cl.fail(code, err)
	}
	evErr := err
	if evErr == nil {
		evErr = code
	}
	ev := Event{Type: jute.EventNone, State: state, Err: evErr}
	c.watches.closeAll(ev)
	c.events.push(ev)
	c.events.close()
}

// Close ends the session: it sends closeSession, waits briefly for the
// reply, and releases everything. Outstanding requests fail with ErrClosed
// and watches end with a Closed event. Closing a closed client is a no-op.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing || c.endedLocked() {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closing = true
	var cl *call
	if c.conn != nil {
		cl = newCall(jute.OpCloseSession)
		cl.seal()
		c.queue = append(c.queue, cl)
	}
	c.mu.Unlock()
	if cl != nil {
		c.signalWriter()
		wait := min(time.Duration(c.timeout.Load()), 2*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		if c.await(ctx, cl) == nil {
			cl.release()
		}
		cancel()
	}
	c.terminate(0, ErrClosed, jute.StateClosed)
	<-c.done
	return nil
}

func (c *Client) signalWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// exchange queues cl and waits for it to complete. On a nil error the
// outcome is in cl (reply header, body) and the caller must release cl;
// otherwise cl is already taken care of.
func (c *Client) exchange(ctx context.Context, cl *call) error {
	if err := ctx.Err(); err != nil {
		cl.release()
		return err
	}
	c.mu.Lock()
	if c.closing || c.endedLocked() {
		code, err := c.termCode, c.termErr
		c.mu.Unlock()
		if code == 0 {
			cl.release()
			if err == nil {
				err = ErrClosed
			}
			return err
		}
		cl.hdr.Err = code
		return nil
	}
	c.queue = append(c.queue, cl)
	c.mu.Unlock()
	c.signalWriter()
	return c.await(ctx, cl)
}

// await waits for cl, or gives it up when ctx ends.
func (c *Client) await(ctx context.Context, cl *call) error {
	select {
	case <-cl.done:
	case <-ctx.Done():
		if cl.state.CompareAndSwap(callWaiting, callAbandoned) {
			return ctx.Err()
		}
		<-cl.done
	}
	if cl.err != nil {
		err := cl.err
		cl.release()
		return err
	}
	return nil
}

// roundTrip is exchange plus the usual error: a non-OK reply becomes an
// *Error (and cl is released). On nil the caller decodes and releases cl.
func (c *Client) roundTrip(ctx context.Context, cl *call, path string) error {
	if err := c.exchange(ctx, cl); err != nil {
		return err
	}
	code := cl.hdr.Err
	if code == jute.ErrOK {
		return nil
	}
	e := &Error{Code: code, Op: cl.op.String(), Path: path}
	if cl.op == jute.OpRecipeCall && len(cl.reply) > 0 {
		var msg jute.BufferResponse
		msg.Decode(cl.decoder())
		if cl.dec.Err() == nil {
			e.Message = string(msg.Data)
		}
	}
	cl.release()
	return e
}

// decodeErr turns a reply body that does not decode into an error; the
// connection is fine, the server sent something this client cannot read.
func decodeErr(op jute.OpCode, path string, err error) error {
	return &Error{Code: jute.ErrMarshallingError, Op: op.String(), Path: path, Message: err.Error()}
}

// SessionID returns the session's id.
func (c *Client) SessionID() int64 { return c.sessionID.Load() }

// SessionPassword returns the session's password, which with the id lets
// another connection take over the session.
func (c *Client) SessionPassword() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.passwd...)
}

// SessionTimeout returns the session timeout the server granted.
func (c *Client) SessionTimeout() time.Duration { return time.Duration(c.timeout.Load()) }

// State returns the session's state: jute.StateSyncConnected,
// StateDisconnected (reconnecting), StateExpired, StateAuthFailed or
// StateClosed.
func (c *Client) State() int32 { return c.state.Load() }

// Server returns the address of the server last connected to.
func (c *Client) Server() string {
	if p := c.server.Load(); p != nil {
		return *p
	}
	return ""
}

// LastZxid returns the newest zxid seen in a reply.
func (c *Client) LastZxid() int64 { return c.lastZxid.Load() }

// eventQueue delivers session events to the callback in order, from its own
// goroutine, so the reader never waits for the callback.
type eventQueue struct {
	fn     func(Event)
	mu     sync.Mutex
	items  []Event
	closed bool
	signal chan struct{}
}

func newEventQueue(fn func(Event)) *eventQueue {
	q := &eventQueue{fn: fn, signal: make(chan struct{}, 1)}
	if fn != nil {
		go q.loop()
	}
	return q
}

func (q *eventQueue) push(ev Event) {
	if q.fn == nil {
		return
	}
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, ev)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *eventQueue) loop() {
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		for _, ev := range items {
			q.fn(ev)
		}
		if closed && len(items) == 0 {
			return
		}
		if len(items) == 0 {
			<-q.signal
		}
	}
}

// Abandon drops the connection and stops the client without closing the
// session, as a client that crashed would: the session lives on the
// servers until it expires. Tests use it.
func (c *Client) Abandon() {
	c.mu.Lock()
	if c.closing || c.endedLocked() {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closing = true
	c.mu.Unlock()
	c.terminate(0, ErrClosed, jute.StateClosed)
	<-c.done
}
