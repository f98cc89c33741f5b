package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Inbound is one payload received from a peer, or the notice that a link
// broke.
type Inbound struct {
	From    int64
	Channel Channel
	Payload []byte // owned by the receiver
	// Down reports that the connection (From, Channel) broke; every message
	// read from it was delivered before. Later messages from (From, Channel)
	// come from a new connection.
	Down bool
}

// recvBuffer is the capacity of the Recv channel.
const recvBuffer = 1024

// keepAlive detects a peer that vanished without closing its sockets within
// about 20 s, instead of the operating system's default of hours.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}

type linkKey struct {
	peer int64
	ch   Channel
}

// slot holds the live link to one (peer, channel). cur is read without a
// lock by Send; cur and last change only under Mesh.mu.
type slot struct {
	cur  atomic.Pointer[link]
	last *link // the newest link ever installed, live or not
}

// Mesh is one server's set of peer links. Its methods are safe for
// concurrent use.
type Mesh struct {
	cfg   Config
	log   *slog.Logger
	fp    uint64
	slots map[linkKey]*slot // fixed at Start
	self  [numChannels]*selfLink
	recv  chan Inbound
	lns   [numChannels]net.Listener

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	sockets map[net.Conn]struct{} // every open socket, handshaking or linked
}

// Start validates cfg, listens on the server's quorum and election
// addresses and starts linking to the peers.
func Start(cfg Config) (*Mesh, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mesh{
		cfg:     cfg,
		log:     cfg.Logger,
		fp:      Fingerprint(cfg.Peers),
		slots:   make(map[linkKey]*slot, 2*len(cfg.Peers)),
		recv:    make(chan Inbound, recvBuffer),
		ctx:     ctx,
		cancel:  cancel,
		sockets: make(map[net.Conn]struct{}),
	}
	for id := range cfg.Peers {
		if id == cfg.ID {
			continue
		}
		for ch := range Channel(numChannels) {
			m.slots[linkKey{id, ch}] = &slot{}
		}
	}
	self := cfg.Peers[cfg.ID]
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	for ch, addr := range [numChannels]string{Election: self.Election, Quorum: self.Quorum} {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			cancel()
			for _, l := range m.lns {
				if l != nil {
					l.Close()
				}
			}
			return nil, fmt.Errorf("peer: listen on %s port %s: %w", Channel(ch), addr, err)
		}
		m.lns[ch] = ln
	}
	for ch := range Channel(numChannels) {
		m.self[ch] = newSelfLink(m, ch)
		m.wg.Add(2)
		go m.acceptLoop(m.lns[ch], ch)
		go m.self[ch].forward()
		for id := range cfg.Peers {
			if id < cfg.ID {
				m.wg.Add(1)
				go m.dialLoop(id, ch)
			}
		}
	}
	m.log.Info("peer mesh started", "server-id", cfg.ID, "quorum-addr", self.Quorum,
		"election-addr", self.Election, "peers", len(cfg.Peers)-1, "fingerprint", fmt.Sprintf("%016x", m.fp))
	return m, nil
}

// Send queues payload for peer to on channel ch and returns at once. The
// payload is dropped if there is no live link; the link is broken (and a
// Down delivered on both ends) if its queue is full or payload exceeds
// MaxFrame. Send takes ownership of payload.
func (m *Mesh) Send(to int64, ch Channel, payload []byte) {
	if to == m.cfg.ID {
		if ch < numChannels {
			m.self[ch].send(payload)
		}
		return
	}
	s := m.slots[linkKey{to, ch}]
	if s == nil {
		return
	}
	l := s.cur.Load()
	if l == nil {
		return
	}
	if len(payload) > m.cfg.MaxFrame {
		l.fail(fmt.Errorf("%w: sending %d bytes, max %d", ErrFrameTooLarge, len(payload), m.cfg.MaxFrame))
		return
	}
	select {
	case l.sendq <- payload:
	default:
		l.fail(fmt.Errorf("%w: %d payloads queued", ErrQueueFull, cap(l.sendq)))
	}
}

// Recv returns the channel of received payloads and Down notices. It is
// closed by Close, after the last delivery.
func (m *Mesh) Recv() <-chan Inbound { return m.recv }

// Connected reports whether the link to peer to on channel ch is live. A
// server is always connected to itself.
func (m *Mesh) Connected(to int64, ch Channel) bool {
	if to == m.cfg.ID {
		return ch < numChannels
	}
	s := m.slots[linkKey{to, ch}]
	return s != nil && s.cur.Load() != nil
}

// Close stops listening, closes every link and waits for every goroutine
// of the Mesh to end; then it closes the Recv channel. Down notices are not
// delivered for the links it closes. Calling Close again does nothing.
func (m *Mesh) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	sockets := make([]net.Conn, 0, len(m.sockets))
	for nc := range m.sockets {
		sockets = append(sockets, nc)
	}
	m.mu.Unlock()

	m.cancel()
	for _, ln := range m.lns {
		ln.Close()
	}
	for _, nc := range sockets {
		nc.Close()
	}
	m.wg.Wait()
	close(m.recv)
	m.log.Info("peer mesh closed", "server-id", m.cfg.ID)
	return nil
}

func (m *Mesh) closing() bool { return m.ctx.Err() != nil }

// deliver hands in to the Recv channel unless the Mesh is closing.
func (m *Mesh) deliver(in Inbound) bool {
	select {
	case m.recv <- in:
		return true
	case <-m.ctx.Done():
		return false
	}
}

// sleep waits for d, or returns false when the Mesh closes first.
func (m *Mesh) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.ctx.Done():
		return false
	}
}

// track registers a new socket so Close can close it; false if the Mesh is
// already closed (the socket is then closed here).
func (m *Mesh) track(nc net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		nc.Close()
		return false
	}
	m.sockets[nc] = struct{}{}
	return true
}

func (m *Mesh) closeSocket(nc net.Conn) {
	m.mu.Lock()
	delete(m.sockets, nc)
	m.mu.Unlock()
	nc.Close()
}

// install makes l the live link of its slot, replacing (and breaking) any
// previous one, and starts its goroutines. The caller runs in m.wg.
func (m *Mesh) install(l *link) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		l.nc.Close()
		return false
	}
	s := m.slots[linkKey{l.peer, l.ch}]
	old := s.cur.Load()
	l.prev = s.last
	s.last = l
	s.cur.Store(l)
	m.wg.Add(2)
	m.mu.Unlock()
	if old != nil {
		old.fail(ErrReplaced)
	}
	m.log.Info("peer link up", "peer", l.peer, "channel", l.ch.String(), "remote-addr", l.nc.RemoteAddr().String())
	go l.readLoop()
	go l.writeLoop()
	return true
}

// detach removes l from its slot if it is still the live link there.
func (m *Mesh) detach(l *link) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.slots[linkKey{l.peer, l.ch}]; s.cur.Load() == l {
		s.cur.Store(nil)
	}
	delete(m.sockets, l.nc)
}

func (m *Mesh) acceptLoop(ln net.Listener, ch Channel) {
	defer m.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if m.closing() || errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("peer listener accept failed", "channel", ch.String(), "err", err)
			if !m.sleep(50 * time.Millisecond) {
				return
			}
			continue
		}
		if !m.track(nc) {
			return
		}
		m.wg.Add(1)
		go m.acceptHandshake(nc, ch)
	}
}

// acceptHandshake checks a dialer's hello, answers it, and installs the
// link if it is accepted.
func (m *Mesh) acceptHandshake(nc net.Conn, ch Channel) {
	defer m.wg.Done()
	remote := nc.RemoteAddr().String()
	nc.SetDeadline(time.Now().Add(m.cfg.DialTimeout))
	var b [helloLen]byte
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		if !m.closing() {
			m.log.Warn("peer connection refused: no handshake", "channel", ch.String(), "remote-addr", remote, "err", err)
		}
		m.closeSocket(nc)
		return
	}
	h, err := parseHello(b[:])
	if err != nil {
		m.log.Warn("peer connection refused", "channel", ch.String(), "remote-addr", remote, "err", err)
		m.closeSocket(nc)
		return
	}
	st, err := m.checkHello(h, ch)
	if err != nil {
		attrs := []any{"peer", h.id, "channel", ch.String(), "remote-addr", remote, "err", err}
		switch {
		case st == statusVersion && h.version > protocolVersion:
			m.log.Error("peer connection refused: the peer speaks a newer protocol; upgrade this server",
				append(attrs, "peer-version", h.version, "our-version", protocolVersion)...)
		case st == statusVersion:
			m.log.Error("peer connection refused: the peer speaks an older protocol; upgrade the peer",
				append(attrs, "peer-version", h.version, "our-version", protocolVersion)...)
		default:
			m.log.Warn("peer connection refused", attrs...)
		}
	}
	ack := m.hello(ch, st).marshal()
	answer := ack[:]
	var nonce []byte
	if err == nil && len(m.cfg.Secret) > 0 {
		nonce = newNonce()
		answer = append(answer, nonce...)
	}
	if _, werr := nc.Write(answer); werr != nil || err != nil {
		if werr != nil && err == nil && !m.closing() {
			m.log.Warn("peer handshake failed", "peer", h.id, "channel", ch.String(), "remote-addr", remote, "err", werr)
		}
		m.closeSocket(nc)
		return
	}
	if nonce != nil {
		if err := m.authAccepted(nc, h.id, ch, nonce); err != nil {
			if !m.closing() {
				m.log.Warn("peer connection refused", "peer", h.id, "channel", ch.String(), "remote-addr", remote, "err", err)
			}
			m.closeSocket(nc)
			return
		}
	}
	nc.SetDeadline(time.Time{})
	m.install(newLink(m, h.id, ch, nc))
}

// checkHello decides whether a dialer's hello is accepted on channel ch.
func (m *Mesh) checkHello(h hello, ch Channel) (uint8, error) {
	_, known := m.cfg.Peers[h.id]
	switch {
	case h.version != protocolVersion:
		return statusVersion, fmt.Errorf("%w: peer speaks %d, we speak %d", ErrVersion, h.version, protocolVersion)
	case h.channel != ch:
		return statusWrongChannel, fmt.Errorf("%w: %s hello on the %s port", ErrWrongChannel, h.channel, ch)
	case !known || h.id == m.cfg.ID:
		return statusUnknownPeer, fmt.Errorf("%w: %d", ErrUnknownPeer, h.id)
	case h.fingerprint != m.fp:
		return statusFingerprint, fmt.Errorf("%w: peer %016x, ours %016x", ErrFingerprint, h.fingerprint, m.fp)
	case h.status&flagSecret == 0 && len(m.cfg.Secret) > 0:
		return statusSecret, fmt.Errorf("%w: we have a quorum secret, the peer has none", ErrAuth)
	case h.status&flagSecret != 0 && len(m.cfg.Secret) == 0:
		return statusSecret, fmt.Errorf("%w: the peer has a quorum secret, we have none", ErrAuth)
	case h.id < m.cfg.ID:
		return statusDirection, ErrWrongDirection
	}
	return statusOK, nil
}

func (m *Mesh) hello(ch Channel, st uint8) hello {
	return hello{version: protocolVersion, channel: ch, status: st, id: m.cfg.ID, fingerprint: m.fp}
}

// dialLoop keeps the link to a lower-id peer up until the Mesh closes.
func (m *Mesh) dialLoop(peer int64, ch Channel) {
	defer m.wg.Done()
	base := m.cfg.RedialBackoff
	backoff := base
	lastErr := ""
	for {
		l, err := m.dial(peer, ch)
		if err != nil {
			if m.closing() {
				return
			}
			// Log a failure when it changes, not on every retry.
			level := slog.LevelDebug
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				level = slog.LevelInfo
				if errors.Is(err, ErrVersion) {
					level = slog.LevelError
				} else if isRefusal(err) {
					level = slog.LevelWarn
				}
			}
			m.log.Log(m.ctx, level, "peer dial failed", "peer", peer, "channel", ch.String(), "err", err, "retry-in", backoff.String())
			if !m.sleep(jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, maxBackoffFactor*base)
			continue
		}
		lastErr = ""
		backoff = base
		select {
		case <-l.closed:
		case <-m.ctx.Done():
			return
		}
		if !m.sleep(jitter(base)) {
			return
		}
	}
}

func isRefusal(err error) bool {
	for _, e := range []error{ErrUnknownPeer, ErrWrongChannel, ErrFingerprint, ErrWrongDirection, ErrBadMagic, ErrAuth} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// jitter spreads redials of servers that restarted together: d ±25%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d*3/4 + rand.N(d/2+1)
}

// dial connects to peer on channel ch, runs the handshake and installs the
// link.
func (m *Mesh) dial(peer int64, ch Channel) (*link, error) {
	addr := m.cfg.Peers[peer].Quorum
	if ch == Election {
		addr = m.cfg.Peers[peer].Election
	}
	d := net.Dialer{Timeout: m.cfg.DialTimeout, KeepAliveConfig: keepAlive}
	nc, err := d.DialContext(m.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if !m.track(nc) {
		return nil, ErrClosed
	}
	nc.SetDeadline(time.Now().Add(m.cfg.DialTimeout))
	hi := m.hello(ch, statusOK)
	if len(m.cfg.Secret) > 0 {
		hi.status = flagSecret // byte 7 of the dialer's hello holds flags
	}
	b := hi.marshal()
	if _, err := nc.Write(b[:]); err != nil {
		m.closeSocket(nc)
		return nil, err
	}
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		m.closeSocket(nc)
		return nil, fmt.Errorf("peer: reading handshake answer from %s: %w", addr, err)
	}
	h, err := parseHello(b[:])
	if err == nil {
		err = m.checkAnswer(h, peer, ch)
	}
	if err == nil && len(m.cfg.Secret) > 0 {
		err = m.authDial(nc, peer, ch)
	}
	if err != nil {
		m.closeSocket(nc)
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	l := newLink(m, peer, ch, nc)
	if !m.install(l) {
		return nil, ErrClosed
	}
	return l, nil
}

// checkAnswer checks the acceptor's answer to our hello.
func (m *Mesh) checkAnswer(h hello, peer int64, ch Channel) error {
	switch {
	case h.status == statusVersion && h.version > protocolVersion:
		return fmt.Errorf("%w: peer %d speaks newer version %d, we speak %d: upgrade this server", ErrVersion, peer, h.version, protocolVersion)
	case h.status == statusVersion:
		return fmt.Errorf("%w: peer %d speaks older version %d, we speak %d: upgrade the peer", ErrVersion, peer, h.version, protocolVersion)
	case h.status != statusOK:
		return fmt.Errorf("peer %d refused the handshake: %w", peer, statusErr(h.status))
	case h.version != protocolVersion:
		return fmt.Errorf("%w: peer %d answered in version %d, we speak %d", ErrVersion, peer, h.version, protocolVersion)
	case h.id != peer || h.channel != ch:
		return fmt.Errorf("%w: the %s address of server %d answered as server %d on %s", ErrUnknownPeer, ch, peer, h.id, h.channel)
	case h.fingerprint != m.fp:
		return fmt.Errorf("%w: peer %016x, ours %016x", ErrFingerprint, h.fingerprint, m.fp)
	}
	return nil
}
