package main

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/zkx-project/zkx/transport/jute"
)

// countingProxy forwards client connections to a server and records the
// opcode of every request frame a client sends after its handshake (pings
// left out): the round trips a client-side protocol costs.
type countingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	ops    []jute.OpCode
	wg     sync.WaitGroup
	conns  []net.Conn
}

func newCountingProxy(target string) (*countingProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *countingProxy) addr() string { return p.ln.Addr().String() }

func (p *countingProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { io.Copy(c, s); c.Close() }()
		go p.upstream(c, s)
	}
}

// upstream copies client frames to the server, noting each opcode.
func (p *countingProxy) upstream(c, s net.Conn) {
	defer s.Close()
	first := true
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > 1<<24 {
			return
		}
		frame := make([]byte, 4+n)
		copy(frame, hdr[:])
		if _, err := io.ReadFull(c, frame[4:]); err != nil {
			return
		}
		if !first && n >= 8 {
			op := jute.OpCode(int32(binary.BigEndian.Uint32(frame[8:12])))
			if op != jute.OpPing {
				p.mu.Lock()
				p.ops = append(p.ops, op)
				p.mu.Unlock()
			}
		}
		first = false
		if _, err := s.Write(frame); err != nil {
			return
		}
	}
}

func (p *countingProxy) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ops)
}

func (p *countingProxy) opsSince(i int) []jute.OpCode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]jute.OpCode(nil), p.ops[i:]...)
}

func (p *countingProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func joinOps(ops []jute.OpCode) string {
	var names []string
	for _, op := range ops {
		names = append(names, op.String())
	}
	return strings.Join(names, ", ")
}
