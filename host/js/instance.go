package js

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/zkx-project/zkx/host"
)

// tick is how often the watchdog of a running call samples the clock and
// the heap.
const tick = time.Millisecond

// allocMetric counts the bytes the process has allocated. It only grows,
// so "allocated during the call" cannot be hidden by a collection that
// frees older garbage meanwhile, as "heap size now" could.
const allocMetric = "/gc/heap/allocs:bytes"

// instance is one goja runtime that has run the module's program: the unit
// a call runs in, one call at a time.
type instance struct {
	m       *module
	rt      *goja.Runtime
	exports *goja.Object
	fns     map[string]goja.Callable

	jsonParse    goja.Callable // the original JSON.parse
	stringify    goja.Callable // the guarded JSON.stringify
	zkError      *goja.Object  // the ZKError constructor
	zkErrorProto *goja.Object
	haltValue    *goja.Object // what native guards throw to unwind once halted

	api    host.API // nil outside a call
	budget host.Budget
	seed   uint64 // Math.random outside a call

	// The watchdog (tick, on a timer goroutine) and the caller share these.
	halted     atomic.Bool // stop is set: native guards check it in their loops
	mu         sync.Mutex
	active     bool
	stop       *stop
	deadline   time.Time
	allocStart uint64
	timer      *time.Timer
	wsample    []metrics.Sample // the watchdog's

	sample    []metrics.Sample // the caller's
	allocated uint64           // by the calls of this instance, in all
	retired   bool             // allocated too much: do not pool it again

	joining   []*goja.Object // arrays being joined, for cycles and depth
	jsonHooks []jsonHook     // JSON.stringify calls in progress

	// Builtins and values the guards use.
	arrayIsArray         goja.Callable
	regexpCtor           *goja.Object
	regexpExecValue      *goja.Object
	regexpExec           goja.Callable
	jsonHookFn           *goja.Object
	syntaxError          *goja.Object
	comma, empty, dollar goja.String
	minusOne, zero, one  goja.Value
}

// stop is why a run ended before its function returned.
type stop struct {
	wait    []string // zk.wait
	err     error    // zk.fail (*host.Error), or a budget (*budgetError)
	discard bool     // the instance's state may be broken: drop it
}

func (m *module) newInstance(b host.Budget) (*instance, error) {
	i := &instance{
		m:       m,
		rt:      goja.New(),
		sample:  []metrics.Sample{{Name: allocMetric}},
		wsample: []metrics.Sample{{Name: allocMetric}},
	}
	i.timer = time.AfterFunc(time.Hour, i.tick)
	i.timer.Stop()
	i.rt.SetRandSource(i.random)
	i.rt.SetTimeSource(i.now)
	i.rt.SetMaxCallStackSize(b.Stack)
	i.install()

	var runErr error
	i.begin(b)
	recovered := i.protect(func() {
		if _, runErr = i.rt.RunProgram(m.prog); runErr == nil {
			if ex := i.rt.Try(func() { runErr = i.collectExports() }); ex != nil {
				runErr = ex
			}
		}
	})
	st := i.end()
	i.allocated, i.retired = 0, false // what initialization built is the baseline
	switch {
	case st != nil:
		return nil, fmt.Errorf("module %s: initializing: %w", m.name, st.err)
	case recovered != nil:
		return nil, i.panicFailure(recovered)
	case runErr != nil:
		err, _ := i.failure(runErr)
		var he *host.Error
		if errors.As(err, &he) {
			return nil, &compileError{msg: fmt.Sprintf("module %s: initializing: %s", m.name, he.Message)}
		}
		return nil, fmt.Errorf("module %s: initializing: %w", m.name, err)
	}
	return i, nil
}

func (i *instance) collectExports() error {
	mod, ok := i.rt.Get("module").(*goja.Object)
	if !ok {
		return errors.New("the global module was replaced by a non-object")
	}
	exports, ok := mod.Get("exports").(*goja.Object)
	if !ok {
		return errors.New("module.exports is not an object")
	}
	i.exports = exports
	i.fns = make(map[string]goja.Callable)
	for _, k := range exports.Keys() {
		if f, ok := goja.AssertFunction(exports.Get(k)); ok {
			i.fns[k] = f
		}
	}
	return nil
}

// call runs fn. keep tells whether the instance may serve another call.
func (i *instance) call(fn string, args []byte, api host.API, b host.Budget) (out host.Outcome, keep bool, err error) {
	f := i.fns[fn]
	if f == nil {
		return host.Outcome{}, true, fmt.Errorf("%w: %s has no function %q", host.ErrNoFunction, i.m.name, fn)
	}
	i.api = api
	i.rt.SetMaxCallStackSize(b.Stack)
	i.begin(b)
	var result []byte
	var failure error
	discard := false
	recovered := i.protect(func() { result, failure, discard = i.run(f, args) })
	st := i.end()
	i.api = nil
	switch {
	case st != nil && st.wait != nil:
		return host.Outcome{Wait: st.wait}, !i.retired, nil
	case st != nil:
		return host.Outcome{}, !st.discard && !i.retired, st.err
	case recovered != nil:
		return host.Outcome{}, false, i.panicFailure(recovered)
	case failure != nil:
		return host.Outcome{}, !discard && !i.retired, failure
	}
	return host.Outcome{Result: result}, !i.retired, nil
}

// run calls f with the decoded args and encodes its result.
func (i *instance) run(f goja.Callable, args []byte) (result []byte, failure error, discard bool) {
	argv := goja.Undefined()
	if len(args) > 0 {
		v, err := i.jsonParse(goja.Undefined(), i.rt.ToValue(string(args)))
		if err != nil {
			failure, discard = i.failure(err)
			return nil, failure, discard
		}
		argv = v
	}
	v, err := f(i.exports, argv)
	if err != nil {
		failure, discard = i.failure(err)
		return nil, failure, discard
	}
	if obj, ok := v.(*goja.Object); ok && obj.ExportType() == promiseType {
		if p, ok := obj.Export().(*goja.Promise); ok {
			switch p.State() {
			case goja.PromiseStateFulfilled:
				v = p.Result()
			case goja.PromiseStateRejected:
				return nil, i.thrown(p.Result(), nil), false
			default:
				return nil, &host.Error{Code: codeRecipeFailed, Message: "the function returned a promise that did not settle (zk calls are synchronous: nothing can settle it later)"}, false
			}
		}
	}
	if b, ok := primitiveJSON(v); ok {
		return b, nil, false
	}
	s, err := i.stringify(goja.Undefined(), v)
	if err != nil {
		failure, discard = i.failure(err)
		return nil, failure, discard
	}
	if goja.IsUndefined(s) {
		return nil, nil, false
	}
	return []byte(s.String()), nil, false
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// primitiveJSON is JSON.stringify of undefined, null, a boolean or a
// number, without a trip through goja.
func primitiveJSON(v goja.Value) ([]byte, bool) {
	switch v.(type) {
	case *goja.Object, goja.String:
		return nil, false
	}
	if goja.IsUndefined(v) {
		return nil, true
	}
	if goja.IsNull(v) {
		return []byte("null"), true
	}
	switch x := v.Export().(type) {
	case int64:
		return strconv.AppendInt(nil, x, 10), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return []byte("null"), true
		}
		return []byte(v.String()), true
	case bool:
		return strconv.AppendBool(nil, x), true
	}
	return nil, false
}

// protect runs f and returns what it panicked with, if anything.
func (i *instance) protect(f func()) (recovered any) {
	defer func() { recovered = recover() }()
	f()
	return nil
}

// panicFailure maps a panic out of goja: an uncatchable stack overflow that
// escaped a nested call, or a bug. Either way the instance is dropped.
func (i *instance) panicFailure(v any) error {
	var so *goja.StackOverflowError
	var ie *goja.InterruptedError
	if err, ok := v.(error); ok {
		switch {
		case errors.As(err, &so):
			return overBudget("stack budget of %d frames exceeded", i.budget.Stack)
		case errors.As(err, &ie):
			return overBudget("interrupted")
		}
	}
	return &host.Error{Code: codeRecipeFailed, Message: fmt.Sprintf("internal error in the JavaScript runtime: %v", v)}
}

// failure maps an error out of goja to the call's error.
func (i *instance) failure(err error) (failure error, discard bool) {
	var so *goja.StackOverflowError
	var ie *goja.InterruptedError
	var ex *goja.Exception
	switch {
	case errors.As(err, &so):
		return overBudget("stack budget of %d frames exceeded", i.budget.Stack), true
	case errors.As(err, &ie):
		return overBudget("interrupted"), true
	case errors.As(err, &ex):
		return i.thrown(ex.Value(), ex), false
	}
	return &host.Error{Code: codeRecipeFailed, Message: err.Error()}, false
}

// thrown maps an uncaught exception (or a rejected promise's reason): a
// ZKError keeps its code, anything else is RecipeFailed with the message
// and where it was thrown. Reading it may run JS (getters, toString), so
// this happens while the watchdog still runs.
func (i *instance) thrown(val goja.Value, ex *goja.Exception) error {
	var out *host.Error
	jsErr := i.rt.Try(func() {
		if obj, ok := val.(*goja.Object); ok && i.isZKError(obj) {
			code := obj.Get("code").ToInteger()
			if code != 0 && code >= math.MinInt32 && code <= math.MaxInt32 {
				out = &host.Error{Code: int32(code), Message: obj.Get("message").String()}
				return
			}
		}
		msg := ""
		if ex != nil {
			msg = ex.Error()
		} else if val != nil {
			msg = "promise rejected: " + val.String()
		}
		out = &host.Error{Code: codeRecipeFailed, Message: msg}
	})
	if out == nil || jsErr != nil {
		return &host.Error{Code: codeRecipeFailed, Message: "uncaught exception (reading it threw in turn)"}
	}
	return out
}

func (i *instance) isZKError(obj *goja.Object) bool {
	p := obj.Prototype()
	for n := 0; p != nil && n < 64; n++ {
		if p == i.zkErrorProto {
			return true
		}
		p = p.Prototype()
	}
	return false
}

// begin starts the watchdog of a run.
func (i *instance) begin(b host.Budget) {
	metrics.Read(i.sample)
	i.mu.Lock()
	i.budget = b
	i.stop = nil
	i.halted.Store(false)
	i.active = true
	i.allocStart = i.sample[0].Value.Uint64()
	i.deadline = time.Now().Add(b.Time)
	i.timer.Reset(min(tick, b.Time))
	i.mu.Unlock()
}

// end stops the watchdog and returns why the run was stopped, if it was.
func (i *instance) end() *stop {
	metrics.Read(i.sample)
	i.mu.Lock()
	i.active = false
	i.timer.Stop()
	st := i.stop
	used := i.sample[0].Value.Uint64() - i.allocStart
	i.mu.Unlock()
	// No Interrupt can come after active is false: clearing is safe.
	i.rt.ClearInterrupt()
	i.halted.Store(false)
	i.joining = i.joining[:0]
	i.jsonHooks = i.jsonHooks[:0]
	i.allocated += used
	if st == nil && used > uint64(i.m.limits.Alloc) {
		st = &stop{err: i.allocOver(used), discard: true}
	}
	if i.allocated > uint64(i.m.limits.InstanceAlloc) {
		i.retired = true
	}
	return st
}

func (i *instance) allocOver(used uint64) error {
	return overBudget("memory budget exceeded: the call allocated %d MiB (limit %d MiB)", used>>20, i.m.limits.Alloc>>20)
}

// tick is the watchdog: it runs on a timer goroutine every millisecond of
// a run and stops the run when it passes its time or allocation budget.
func (i *instance) tick() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.active || i.stop != nil {
		return
	}
	metrics.Read(i.wsample)
	if used := i.wsample[0].Value.Uint64() - i.allocStart; used > uint64(i.m.limits.Alloc) {
		i.haltLocked(stop{err: i.allocOver(used), discard: true})
		return
	}
	now := time.Now()
	if !now.Before(i.deadline) {
		i.haltLocked(stop{err: overBudget("time budget of %v exceeded", i.budget.Time), discard: true})
		return
	}
	i.timer.Reset(min(tick, i.deadline.Sub(now)))
}

// halt ends the run: goja stops at its next instruction with an uncatchable
// error (no catch, no finally), and guards in native loops see halted.
func (i *instance) halt(st stop) {
	i.mu.Lock()
	i.haltLocked(st)
	i.mu.Unlock()
}

func (i *instance) haltLocked(st stop) {
	if i.stop != nil {
		return
	}
	i.stop = &st
	i.halted.Store(true)
	i.rt.Interrupt(i.haltValue)
}

// abort halts the run and unwinds the native code that called it.
func (i *instance) abort(st stop) {
	i.halt(st)
	panic(i.haltValue)
}

// over aborts the run for exceeding a size limit.
func (i *instance) over(format string, args ...any) {
	i.abort(stop{err: overBudget(format, args...), discard: true})
}

// checkHalt unwinds native code once the run was halted; guards call it in
// their loops, which goja cannot interrupt itself.
func (i *instance) checkHalt() {
	if i.halted.Load() {
		panic(i.haltValue)
	}
}

// random is Math.random's and zk.random's source: the API's seeded PRNG
// during a call, a fixed sequence outside one (module initialization).
func (i *instance) random() float64 {
	var r uint64
	if i.api != nil {
		r = i.api.Random()
	} else {
		i.seed += 0x9e3779b97f4a7c15
		z := i.seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		r = z ^ (z >> 31)
	}
	return float64(r>>11) / (1 << 53)
}

// now is Date's clock: the txn's time during a call, the epoch outside one.
func (i *instance) now() time.Time {
	if i.api != nil {
		return time.UnixMilli(i.api.Now())
	}
	return time.UnixMilli(0)
}
