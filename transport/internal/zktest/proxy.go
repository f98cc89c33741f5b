package zktest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections from its own loopback address to a target
// and lets a test break them on purpose: Cut closes the open connections,
// Refuse makes new ones fail, HoldReplies stops bytes flowing from the
// target to the clients while requests still flow to the target, and Freeze
// stops both directions (to the server the client falls silent).
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	cond     *sync.Cond // signalled when hold or the connection set changes
	conns    map[*proxyConn]struct{}
	refuse   bool
	hold     bool // replies held
	frozen   bool // requests and replies held
	accepted int
	closed   bool
	wg       sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	cut            bool
}

// NewProxy starts a proxy to target; it stops when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("zktest: proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*proxyConn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the address clients should dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted returns how many connections the proxy has forwarded in all.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Freeze stops (on) or resumes (off) forwarding in both directions; held
// bytes are delivered on resume unless Cut drops them.
func (p *Proxy) Freeze(on bool) {
	p.mu.Lock()
	p.frozen = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Conns returns the number of open proxied connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut closes every open connection, both ways.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pc := range p.conns {
		pc.close()
	}
	p.cond.Broadcast()
}

// Refuse makes the proxy close new connections at once (on) or forward
// them again (off).
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// HoldReplies stops (on) or resumes (off) forwarding bytes from the target
// to clients. Held bytes are delivered on resume unless Cut drops them.
func (p *Proxy) HoldReplies(on bool) {
	p.mu.Lock()
	p.hold = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Close stops the proxy and closes its connections.
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
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

func (pc *proxyConn) close() {
	pc.cut = true
	pc.client.Close()
	pc.server.Close()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		cc, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			cc.Close()
			continue
		}
		// Dial off the accept loop: a target that hangs must not hold up
		// the other connections.
		p.wg.Add(1)
		go p.connect(cc)
	}
}

// proxyDialTimeout bounds a dial to the target.
const proxyDialTimeout = 5 * time.Second

func (p *Proxy) connect(cc net.Conn) {
	defer p.wg.Done()
	sc, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
	if err != nil {
		cc.Close()
		return
	}
	pc := &proxyConn{client: cc, server: sc}
	p.mu.Lock()
	// Refuse (with Cut) may have come while we dialed; it must win.
	if p.closed || p.refuse {
		p.mu.Unlock()
		pc.close()
		return
	}
	p.conns[pc] = struct{}{}
	p.accepted++
	p.mu.Unlock()
	p.wg.Add(2)
	go p.pipe(pc, cc, sc, false)
	go p.pipe(pc, sc, cc, true)
}

// pipe copies from src to dst until either side closes; replies (target to
// client) wait while hold or frozen is on, requests while frozen is on.
func (p *Proxy) pipe(pc *proxyConn, src, dst net.Conn, replies bool) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		pc.close()
		delete(p.conns, pc)
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for (p.frozen || (replies && p.hold)) && !pc.cut {
				p.cond.Wait()
			}
			cut := pc.cut
			p.mu.Unlock()
			if cut {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
