package js

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/dop251/goja"

	"github.com/zkx-project/zkx/host"
)

// module is a compiled recipe and its pool of instances.
type module struct {
	name      string
	prog      *goja.Program
	limits    Limits
	functions []string // sorted

	mu     sync.Mutex
	idle   []*instance
	closed bool
}

func (m *module) Kind() host.Kind { return host.KindJS }

// Functions lists the exported functions, sorted. The slice is shared:
// callers must not modify it.
func (m *module) Functions() []string { return m.functions }

func (m *module) has(fn string) bool {
	k := sort.SearchStrings(m.functions, fn)
	return k < len(m.functions) && m.functions[k] == fn
}

// Call runs fn in an idle instance, or in a new one (initialized within
// the same budget, counted apart from the call's).
func (m *module) Call(fn string, args []byte, api host.API, budget host.Budget) (host.Outcome, error) {
	if !m.has(fn) {
		return host.Outcome{}, fmt.Errorf("%w: %s has no function %q", host.ErrNoFunction, m.name, fn)
	}
	if len(args) > 0 && !json.Valid(args) {
		// Unmarshal says where and why; Valid is the fast path.
		msg := "invalid JSON"
		if err := json.Unmarshal(args, new(json.RawMessage)); err != nil {
			msg = err.Error()
		}
		return host.Outcome{}, &host.Error{Code: codeBadArguments, Message: "arguments are not valid JSON: " + msg}
	}
	budget = withDefaults(budget)
	inst, err := m.take(budget)
	if err != nil {
		return host.Outcome{}, err
	}
	out, keep, err := inst.call(fn, args, api, budget)
	if keep {
		m.put(inst)
	}
	return out, err
}

// withDefaults fills the zero fields of b from host.DefaultBudget.
func withDefaults(b host.Budget) host.Budget {
	d := host.DefaultBudget
	if b.Time <= 0 {
		b.Time = d.Time
	}
	if b.Ops <= 0 {
		b.Ops = d.Ops
	}
	if b.Bytes <= 0 {
		b.Bytes = d.Bytes
	}
	if b.MemoryMiB <= 0 {
		b.MemoryMiB = d.MemoryMiB
	}
	if b.Stack <= 0 {
		b.Stack = d.Stack
	}
	return b
}

func (m *module) take(budget host.Budget) (*instance, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(m.idle); n > 0 {
		inst := m.idle[n-1]
		m.idle[n-1] = nil
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		return inst, nil
	}
	m.mu.Unlock()
	return m.newInstance(budget)
}

func (m *module) put(inst *instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed && len(m.idle) < m.limits.Pool {
		m.idle = append(m.idle, inst)
	}
}

// Close drops the idle instances; calls running now finish, and their
// instances are dropped too.
func (m *module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.idle = nil
	return nil
}
