package clustertest

import (
	"sync/atomic"
	"testing"

	"github.com/zkx-project/zkx/transport/internal/zktest"
)

// Proxy forwards the TCP connections made to its own loopback address to one
// target address. The cluster puts one in every peer link, so that a test
// can cut a link: Block closes the link's open connections and turns new ones
// away (they are accepted and closed at once, as a refused connect looks to
// the dialer), so no byte crosses it either way until Unblock. It is
// zktest's proxy, with blocking as refusing and cutting together.
type Proxy struct {
	*zktest.Proxy
	target  string
	blocked atomic.Bool
}

// NewProxy starts a proxy to target; it stops when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	return &Proxy{Proxy: zktest.NewProxy(t, target), target: target}
}

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Block cuts the link until Unblock.
func (p *Proxy) Block() {
	p.blocked.Store(true)
	p.Refuse(true)
	p.Cut()
}

// Unblock lets connections through again.
func (p *Proxy) Unblock() {
	p.blocked.Store(false)
	p.Refuse(false)
}

// Blocked reports whether the link is cut.
func (p *Proxy) Blocked() bool { return p.blocked.Load() }
