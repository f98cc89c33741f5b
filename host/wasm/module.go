package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/zkx-project/zkx/host"
)

// compiled is one module's compiled code and its idle instances, shared by
// every Module compiled from the same bytes.
type compiled struct {
	rt         *runtime
	key        [sha256.Size]byte
	cm         wazero.CompiledModule
	functions  []string // sorted
	initialize bool     // exports _initialize
	refs       int      // Modules open on it; guarded by rt.mu

	mu   sync.Mutex
	idle []*instance
	gone bool // closed: instances coming back are closed
}

// take returns an idle instance, or nil.
func (c *compiled) take() *instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.idle); n > 0 {
		inst := c.idle[n-1]
		c.idle = c.idle[:n-1]
		return inst
	}
	return nil
}

// put returns an instance after a call that went well.
func (c *compiled) put(inst *instance) {
	c.mu.Lock()
	if !c.gone && len(c.idle) < c.rt.cfg.poolSize {
		c.idle = append(c.idle, inst)
		inst = nil
	}
	c.mu.Unlock()
	if inst != nil {
		inst.close()
	}
}

// trimIdle closes idle instances beyond n.
func (c *compiled) trimIdle(n int) {
	c.mu.Lock()
	var extra []*instance
	if len(c.idle) > n {
		extra = c.idle[n:]
		c.idle = c.idle[:n:n]
	}
	c.mu.Unlock()
	for _, inst := range extra {
		inst.close()
	}
}

func (c *compiled) close() {
	c.mu.Lock()
	c.gone = true
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, inst := range idle {
		inst.close()
	}
	c.cm.Close(context.Background())
}

func (c *compiled) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

func (c *compiled) has(fn string) bool {
	for _, f := range c.functions {
		if f == fn {
			return true
		}
	}
	return false
}

// module is a host.Module: a handle on compiled code.
type module struct {
	c      *compiled
	closed atomic.Bool
}

func (m *module) Kind() host.Kind { return host.KindWASM }

func (m *module) Functions() []string { return append([]string(nil), m.c.functions...) }

func (m *module) Close() error {
	if m.closed.CompareAndSwap(false, true) {
		m.c.rt.release(m.c)
	}
	return nil
}

// Call runs fn on an idle instance (or a new one) within budget.
func (m *module) Call(fn string, args []byte, a host.API, budget host.Budget) (host.Outcome, error) {
	c := m.c
	if !c.has(fn) {
		return host.Outcome{}, fmt.Errorf("%w: %q", host.ErrNoFunction, fn)
	}
	if m.closed.Load() {
		return host.Outcome{}, ErrClosed
	}
	limit := min(budget.MemoryMiB, c.rt.cfg.maxMemoryMiB)
	if limit <= 0 {
		limit = c.rt.cfg.maxMemoryMiB
	}
	timeout := budget.Time
	if timeout <= 0 {
		timeout = host.DefaultBudget.Time
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	inst := c.take()
	if inst == nil && c.closed() {
		return host.Outcome{}, ErrClosed
	}
	if inst == nil {
		var err error
		if inst, err = c.start(ctx, uint64(limit)<<20, timeout); err != nil {
			return host.Outcome{}, err
		}
	}
	o, err := inst.call(ctx, fn, args, a, uint64(limit)<<20)
	if err != nil {
		inst.close()
		return host.Outcome{}, explain(err, inst, limit, timeout)
	}
	out, err := decodeOutcome(o)
	if errors.Is(err, ErrABI) {
		inst.close()
	} else {
		c.put(inst)
	}
	return out, err
}

// explain turns how a call into wasm failed into the error the call ends
// with.
func explain(err error, inst *instance, limitMiB int, timeout time.Duration) error {
	var exit *sys.ExitError
	switch {
	case inst.abort != nil:
		return inst.abort
	case inst.memOver || bytes.Contains(inst.stderr.b, []byte("out of memory")):
		return fmt.Errorf("%w: memory over %d MiB", host.ErrBudget, limitMiB)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: ran longer than %s", host.ErrBudget, timeout)
	case errors.As(err, &exit):
		return fmt.Errorf("%w: exited with code %d%s", ErrTrap, exit.ExitCode(), inst.stderr.note())
	}
	return fmt.Errorf("%w: %s%s", ErrTrap, clip(err.Error(), maxMessage), inst.stderr.note())
}

// maxMessage bounds the part of a trap's message (wazero's stack trace, the
// module's stderr) that reaches the client.
const maxMessage = 1024

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// decodeOutcome reads the outcome a recipe function returned (see doc.go).
func decodeOutcome(o []byte) (host.Outcome, error) {
	if len(o) == 0 {
		return host.Outcome{}, fmt.Errorf("%w: empty outcome", ErrABI)
	}
	switch o[0] {
	case outcomeResult:
		return host.Outcome{Result: bytes.Clone(o[1:])}, nil
	case outcomeWait:
		r := reader{b: o[1:]}
		n := r.u32()
		if r.bad || n == 0 || uint64(n)*4 > uint64(len(r.b)) {
			return host.Outcome{}, fmt.Errorf("%w: a wait outcome needs one path or more", ErrABI)
		}
		paths := make([]string, 0, n)
		for range n {
			paths = append(paths, r.str())
		}
		if r.bad || len(r.b) != 0 {
			return host.Outcome{}, fmt.Errorf("%w: malformed wait outcome", ErrABI)
		}
		return host.Outcome{Wait: paths}, nil
	case outcomeFail:
		if len(o) < 5 {
			return host.Outcome{}, fmt.Errorf("%w: malformed fail outcome", ErrABI)
		}
		return host.Outcome{}, &host.Error{Code: int32(binary.LittleEndian.Uint32(o[1:])), Message: string(o[5:])}
	}
	return host.Outcome{}, fmt.Errorf("%w: unknown outcome kind %d", ErrABI, o[0])
}
