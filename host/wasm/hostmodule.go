package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/host"
)

// Request opcodes and outcome kinds (part of the ABI; see doc.go).
const (
	opGet      = 1
	opExists   = 2
	opChildren = 3
	opCreate   = 4
	opSet      = 5
	opDelete   = 6

	outcomeResult = 0
	outcomeWait   = 1
	outcomeFail   = 2

	statSize = 68
)

// hostFunctions is module zkx.
var hostFunctions = []struct {
	name            string
	fn              api.GoModuleFunc
	params, results []api.ValueType
}{
	{"call", hostCall, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	{"reply", hostReply, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{"session", scalar(func(a host.API) uint64 { return uint64(a.Session()) }), nil, []api.ValueType{i64}},
	{"now", scalar(func(a host.API) uint64 { return uint64(a.Now()) }), nil, []api.ValueType{i64}},
	{"random", scalar(host.API.Random), nil, []api.ValueType{i64}},
	{"timed_out", scalar(func(a host.API) uint64 {
		if a.TimedOut() {
			return 1
		}
		return 0
	}), nil, []api.ValueType{i32}},
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// running returns the instance whose call invoked a host function. The
// API exists only during a call: a module that uses it while it starts
// breaks the ABI.
func running(ctx context.Context) *instance {
	inst := ctx.Value(instanceKey{}).(*instance)
	if inst.api == nil {
		inst.fail(fmt.Errorf("%w: the zkx API was used while the module started (in _initialize or a Go init function)", ErrABI))
	}
	return inst
}

// fail ends the running call with err. wazero recovers the panic and
// returns it from the call into wasm; the instance is then discarded, since
// the module's own state (for Go, its runtime) was cut off mid-flight.
func (inst *instance) fail(err error) {
	inst.abort = err
	panic(err)
}

func scalar(f func(host.API) uint64) api.GoModuleFunc {
	return func(ctx context.Context, _ api.Module, stack []uint64) {
		stack[0] = f(running(ctx).api)
	}
}

func hostCall(ctx context.Context, m api.Module, stack []uint64) {
	inst := running(ctx)
	req, ok := m.Memory().Read(uint32(stack[0]), uint32(stack[1]))
	if !ok {
		inst.fail(fmt.Errorf("%w: a request outside memory", ErrABI))
	}
	rep := inst.serve(req)
	inst.reply = rep[:0] // reused by the next request
	inst.pending = nil
	if !inst.deliver(m, rep, uint32(stack[2]), uint32(stack[3])) {
		inst.pending = rep
	}
	stack[0] = uint64(len(rep))
}

func hostReply(ctx context.Context, m api.Module, stack []uint64) {
	inst := running(ctx)
	rep := inst.pending
	if rep == nil {
		stack[0] = api.EncodeI32(-1)
		return
	}
	if inst.deliver(m, rep, uint32(stack[0]), uint32(stack[1])) {
		inst.pending = nil
	}
	stack[0] = uint64(len(rep))
}

// deliver writes a reply into the module's buffer if it fits.
func (inst *instance) deliver(m api.Module, rep []byte, ptr, size uint32) bool {
	if uint64(len(rep)) > uint64(size) {
		return false
	}
	if !m.Memory().Write(ptr, rep) {
		inst.fail(fmt.Errorf("%w: a reply buffer outside memory", ErrABI))
	}
	return true
}

// serve performs one request and encodes its reply in inst.reply.
func (inst *instance) serve(req []byte) []byte {
	r := reader{b: req}
	op := r.u8()
	path := r.str()
	var data []byte
	var n int32
	switch op {
	case opCreate, opSet:
		data = bytes.Clone(r.take(uint64(r.u32()))) // the API may keep it
		n = r.i32()
	case opDelete:
		n = r.i32()
	}
	if r.bad || len(r.b) != 0 {
		inst.fail(fmt.Errorf("%w: malformed request (op %d, %d bytes)", ErrABI, op, len(req)))
	}
	a := inst.api
	w := inst.reply[:0]
	switch op {
	case opGet:
		d, st, err := a.Get(path)
		if err != nil {
			return inst.failure(w, err)
		}
		w = appendStat(binary.LittleEndian.AppendUint32(w, 0), st)
		w = append(w, d...)
	case opExists:
		st, ok, err := a.Exists(path)
		if err != nil {
			return inst.failure(w, err)
		}
		w = binary.LittleEndian.AppendUint32(w, 0)
		if !ok {
			return append(w, 0)
		}
		w = appendStat(append(w, 1), st)
	case opChildren:
		kids, err := a.Children(path)
		if err != nil {
			return inst.failure(w, err)
		}
		w = binary.LittleEndian.AppendUint32(w, 0)
		w = binary.LittleEndian.AppendUint32(w, uint32(len(kids)))
		for _, k := range kids {
			w = binary.LittleEndian.AppendUint32(w, uint32(len(k)))
			w = append(w, k...)
		}
	case opCreate:
		p, err := a.Create(path, data, n)
		if err != nil {
			return inst.failure(w, err)
		}
		w = append(binary.LittleEndian.AppendUint32(w, 0), p...)
	case opSet:
		st, err := a.Set(path, data, n)
		if err != nil {
			return inst.failure(w, err)
		}
		w = appendStat(binary.LittleEndian.AppendUint32(w, 0), st)
	case opDelete:
		if err := a.Delete(path, n); err != nil {
			return inst.failure(w, err)
		}
		w = binary.LittleEndian.AppendUint32(w, 0)
	default:
		inst.fail(fmt.Errorf("%w: unknown request op %d", ErrABI, op))
	}
	return w
}

// failure encodes an API error for the module, or ends the call if the
// error is not one a module may handle: a spent budget, or anything but a
// *host.Error.
func (inst *instance) failure(w []byte, err error) []byte {
	var he *host.Error
	if errors.Is(err, host.ErrBudget) || !errors.As(err, &he) {
		inst.fail(err)
	}
	w = binary.LittleEndian.AppendUint32(w, uint32(he.Code))
	return append(w, he.Message...)
}

func appendStat(w []byte, st tree.Stat) []byte {
	le := binary.LittleEndian
	w = le.AppendUint64(w, uint64(st.Czxid))
	w = le.AppendUint64(w, uint64(st.Mzxid))
	w = le.AppendUint64(w, uint64(st.Ctime))
	w = le.AppendUint64(w, uint64(st.Mtime))
	w = le.AppendUint32(w, uint32(st.Version))
	w = le.AppendUint32(w, uint32(st.Cversion))
	w = le.AppendUint32(w, uint32(st.Aversion))
	w = le.AppendUint64(w, uint64(st.EphemeralOwner))
	w = le.AppendUint32(w, uint32(st.DataLength))
	w = le.AppendUint32(w, uint32(st.NumChildren))
	return le.AppendUint64(w, uint64(st.Pzxid))
}

// reader decodes the ABI's little-endian fields; bad records a short read.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n uint64) []byte {
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) i32() int32 { return int32(r.u32()) }

func (r *reader) str() string { return string(r.take(uint64(r.u32()))) }
