package wasm

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/zkx-project/zkx/host"
)

// Names in the ABI (see doc.go).
const (
	allocExport = "zkx_alloc"
	hostModule  = "zkx"
)

// minArgs is the least the host asks zkx_alloc for, so that most calls
// reuse the region and skip the call.
const minArgs = 1024

// maxKeptReply is the largest reply buffer an instance keeps between calls.
const maxKeptReply = 64 << 10

// instance is one instantiation of a module. One call at a time uses it;
// between calls it waits in its module's pool.
type instance struct {
	c     *compiled
	mod   api.Module
	mem   api.Memory
	alloc api.Function
	fns   map[string]api.Function
	stack [2]uint64

	// The region zkx_alloc gave for arguments.
	argsPtr, argsCap uint32

	// The sandbox's state.
	mono   int64  // the virtual monotonic clock, ns
	seed   uint64 // random_get's generator outside a call
	stderr headBuffer

	// The running call's state.
	api      host.API // nil between calls
	memLimit uint64   // bytes
	memOver  bool     // the module asked for more memory than memLimit
	abort    error    // why a host function ended the call
	pending  []byte   // a reply too long for the module's buffer
	reply    []byte   // scratch for encoding replies
}

type instanceKey struct{}

// start instantiates the module: its sandbox, memory and _initialize.
func (c *compiled) start(ctx context.Context, memLimit uint64, timeout time.Duration) (*instance, error) {
	inst := &instance{c: c, memLimit: memLimit, fns: make(map[string]api.Function), seed: 0x7a6b78}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module coexist
		WithStartFunctions().
		WithStdout(io.Discard).
		WithStderr(&inst.stderr).
		WithWalltime(inst.walltime, sys.ClockResolution(time.Millisecond)).
		WithNanotime(inst.nanotime, 1).
		WithNanosleep(inst.nanosleep).
		WithOsyield(func() {}).
		WithRandSource(randSource{inst})
	if c.initialize {
		cfg = cfg.WithStartFunctions("_initialize")
	}
	ctx = experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(inst.allocate))
	ctx = context.WithValue(ctx, instanceKey{}, inst)
	mod, err := c.rt.w.InstantiateModule(ctx, c.cm, cfg)
	if err != nil {
		return nil, explain(err, inst, int(memLimit>>20), timeout)
	}
	if mod.IsClosed() {
		return nil, fmt.Errorf("%w: it exited while starting%s", ErrTrap, inst.stderr.note())
	}
	inst.mod = mod
	inst.mem = mod.Memory()
	inst.alloc = mod.ExportedFunction(allocExport)
	return inst, nil
}

func (inst *instance) close() { inst.mod.Close(context.Background()) }

// call runs fn with args and returns the outcome it pointed at, a view of
// the instance's memory.
func (inst *instance) call(ctx context.Context, fn string, args []byte, a host.API, memLimit uint64) ([]byte, error) {
	inst.api, inst.memLimit = a, memLimit
	inst.abort, inst.memOver, inst.pending = nil, false, nil
	inst.stderr.reset()
	defer func() {
		inst.api, inst.pending = nil, nil
		if cap(inst.reply) > maxKeptReply {
			inst.reply = nil
		}
	}()
	if uint64(inst.mem.Size()) > memLimit {
		inst.memOver = true // grown by earlier calls with a larger budget
		return nil, errMemory
	}
	ctx = context.WithValue(ctx, instanceKey{}, inst)
	if uint64(len(args)) > uint64(inst.argsCap) {
		size := max(len(args), minArgs)
		inst.stack[0] = uint64(size)
		if err := inst.alloc.CallWithStack(ctx, inst.stack[:1]); err != nil {
			return nil, err
		}
		inst.argsPtr, inst.argsCap = uint32(inst.stack[0]), uint32(size)
	}
	if !inst.mem.Write(inst.argsPtr, args) {
		inst.abort = fmt.Errorf("%w: %s gave %#x, outside memory", ErrABI, allocExport, inst.argsPtr)
		return nil, inst.abort
	}
	f := inst.fns[fn]
	if f == nil {
		f = inst.mod.ExportedFunction(fn)
		inst.fns[fn] = f
	}
	inst.stack[0], inst.stack[1] = uint64(inst.argsPtr), uint64(len(args))
	if err := f.CallWithStack(ctx, inst.stack[:]); err != nil {
		return nil, err
	}
	ptr, n := uint32(inst.stack[0]>>32), uint32(inst.stack[0])
	o, ok := inst.mem.Read(ptr, n)
	if !ok {
		inst.abort = fmt.Errorf("%w: %s returned an outcome outside memory (%#x, %d bytes)", ErrABI, fn, ptr, n)
		return nil, inst.abort
	}
	return o, nil
}

var errMemory = fmt.Errorf("%w: memory", host.ErrBudget)

// The sandbox: clocks and randomness come from the call's API, never from
// the machine.

func (inst *instance) walltime() (sec int64, nsec int32) {
	var ms int64
	if inst.api != nil {
		ms = inst.api.Now()
	}
	return ms / 1000, int32(ms%1000) * int32(time.Millisecond)
}

func (inst *instance) nanotime() int64 {
	inst.mono += int64(time.Microsecond)
	return inst.mono
}

func (inst *instance) nanosleep(ns int64) { inst.mono += max(ns, 0) }

func (inst *instance) random() uint64 {
	if inst.api != nil {
		return inst.api.Random()
	}
	// splitmix64: the same numbers for every instance while it starts.
	inst.seed += 0x9e3779b97f4a7c15
	z := inst.seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// randSource is WASI's random_get: 8 bytes per number.
type randSource struct{ inst *instance }

func (r randSource) Read(p []byte) (int, error) {
	var b [8]byte
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(b[:], r.inst.random())
		copy(p[i:], b[:])
	}
	return len(p), nil
}

// allocate backs the instance's memory, refusing to grow it past the
// call's budget (wazero's own limit is the runtime's maximum).
func (inst *instance) allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	return &linearMemory{inst: inst, max: maxBytes, buf: make([]byte, 0, capacity)}
}

type linearMemory struct {
	inst *instance
	max  uint64
	buf  []byte
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.inst.memLimit && len(m.buf) > 0 { // the initial size is the module's, checked by wazero
		m.inst.memOver = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), max(m.max, size)))
	copy(grown, m.buf)
	m.buf = grown
	return grown
}

func (m *linearMemory) Free() { m.buf = nil }

// headBuffer keeps the first bytes written to the module's stderr since
// the last reset.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := maxMessage - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (h *headBuffer) reset() { h.b = h.b[:0] }

// note is the stderr for an error message.
func (h *headBuffer) note() string {
	s := strings.TrimSpace(string(h.b))
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}
