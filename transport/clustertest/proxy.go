package clustertest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards the TCP connections made to its own loopback address to one
// target address. The cluster puts one in every peer link, so that a test
// can cut a link: Block closes the link's open connections and turns new ones
// away (they are accepted and closed at once, as a refused connect looks to
// the dialer), so no byte crosses it either way until Unblock.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	blocked  bool
	closed   bool
	conns    map[*proxiedConn]struct{}
	accepted int // connections forwarded, in all
	wg       sync.WaitGroup
}

// proxiedConn is one forwarded connection: the dialer's side and the
// target's.
type proxiedConn struct {
	in, out net.Conn
}

func (pc *proxiedConn) close() {
	pc.in.Close()
	pc.out.Close()
}

// proxyDialTimeout bounds the proxy's connect to its target: a target that
// does not answer looks to the dialer like a connection closed at once.
const proxyDialTimeout = 2 * time.Second

// NewProxy listens on a free loopback port and forwards to target. Close
// stops it.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("clustertest: proxy to %s: %w", target, err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*proxiedConn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Block closes every open connection and refuses new ones until Unblock.
func (p *Proxy) Block() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = true
	for pc := range p.conns {
		pc.close()
	}
}

// Unblock forwards new connections again.
func (p *Proxy) Unblock() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

// Blocked reports whether the proxy is blocked.
func (p *Proxy) Blocked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked
}

// Conns is the number of connections open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Accepted is the number of connections the proxy has forwarded, in all.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for pc := range p.conns {
		pc.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if p.refusing() {
			in.Close()
			continue
		}
		// Dial off the accept loop: a target that hangs must not hold up
		// the other connections.
		p.wg.Add(1)
		go p.forward(in)
	}
}

func (p *Proxy) refusing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked || p.closed
}

// forward connects in to the target and copies both ways until either side
// closes or Block or Close cuts them.
func (p *Proxy) forward(in net.Conn) {
	defer p.wg.Done()
	out, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
	if err != nil {
		in.Close()
		return
	}
	pc := &proxiedConn{in: in, out: out}
	p.mu.Lock()
	// Block may have come while we dialed; it must win.
	if p.blocked || p.closed {
		p.mu.Unlock()
		pc.close()
		return
	}
	p.conns[pc] = struct{}{}
	p.accepted++
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	go func() { io.Copy(out, in); done <- struct{}{} }()
	go func() { io.Copy(in, out); done <- struct{}{} }()
	// One direction ending ends the connection: the peer protocols have no
	// use for a half-closed link, and a dead peer must look dead both ways.
	<-done
	pc.close()
	<-done
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}
