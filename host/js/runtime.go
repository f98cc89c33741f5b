package js

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"

	"github.com/zkx-project/zkx/host"
)

// Limits bound what one call may do besides its host.Budget. Zero fields
// of the Limits given to WithLimits keep the defaults.
type Limits struct {
	// Alloc is how many bytes of Go heap a call may allocate (sampled
	// every millisecond); more interrupts it.
	Alloc int64
	// InstanceAlloc is how many bytes the calls of one instance may
	// allocate in all before the instance is replaced by a fresh one, which
	// bounds what module-level state can accumulate.
	InstanceAlloc int64
	// String is the longest string, in UTF-16 code units, that a builtin
	// which builds one in a single step (repeat, padStart, padEnd, concat,
	// join, replace, JSON.stringify) may return.
	String int
	// Elements is the largest array length that array builtins accept or
	// build (fill, join, sort, indexOf, Array.from, apply, concat, flat, ...).
	Elements int
	// Buffer is the largest ArrayBuffer or typed array, in bytes.
	Buffer int
	// Nesting is the deepest nesting Compile accepts: brackets, plus chains
	// of operators, calls and else-ifs within one statement.
	Nesting int
	// Pool is how many idle instances a module keeps.
	Pool int
}

// DefaultLimits are the limits unless WithLimits says otherwise. A guarded
// builtin allocates at most about 8 MiB in one step (4 Mi UTF-16 code
// units of 2 bytes, a 4 MiB buffer, 64 Ki array slots), well under Alloc,
// so the sampling watchdog stops a call before it holds much more than
// Alloc. Elements is the tightest: goja runs an array builtin in one
// uninterruptible step, and some are slow per element (new
// Array(n).fill(x) took 850ms at n = 1 Mi, Array.from({length: n}) 66ms at
// 64 Ki), so at 64 Ki a runaway builtin overruns a 50ms budget by tens of
// milliseconds, not by a second. Recipes that walk longer lists (the
// children of a big queue) use for loops, which the watchdog interrupts.
var DefaultLimits = Limits{
	Alloc:         256 << 20,
	InstanceAlloc: 64 << 20,
	String:        4 << 20,
	Elements:      1 << 16,
	Buffer:        4 << 20,
	Nesting:       10000,
	Pool:          2,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Alloc > 0 {
		d.Alloc = l.Alloc
	}
	if l.InstanceAlloc > 0 {
		d.InstanceAlloc = l.InstanceAlloc
	}
	if l.String > 0 {
		d.String = l.String
	}
	if l.Elements > 0 {
		d.Elements = l.Elements
	}
	if l.Buffer > 0 {
		d.Buffer = l.Buffer
	}
	if l.Nesting > 0 {
		d.Nesting = l.Nesting
	}
	if l.Pool > 0 {
		d.Pool = l.Pool
	}
	return d
}

// Option configures a Runtime.
type Option func(*runtime)

// WithLimits sets the limits of every call (zero fields keep the default).
func WithLimits(l Limits) Option {
	return func(r *runtime) { r.limits = l.withDefaults() }
}

// regexpTimeout bounds one match of a backtracking regular expression
// (goja hands patterns RE2 cannot run, such as backreferences and
// lookarounds, to regexp2, which can take exponential time and is not
// interruptible). A match that times out counts as no match; by then a call
// with the default 50ms budget has already been interrupted, so the wrong
// answer is never seen by a call that succeeds.
const regexpTimeout = 100 * time.Millisecond

// regexp2.DefaultMatchTimeout is read when goja compiles a pattern, which
// may happen on any goroutine running JS: set it once, before any runs.
var setRegexpTimeout sync.Once

type runtime struct {
	limits Limits
}

// New returns the JavaScript runtime.
func New(opts ...Option) host.Runtime {
	setRegexpTimeout.Do(func() { regexp2.DefaultMatchTimeout = regexpTimeout })
	r := &runtime{limits: DefaultLimits}
	for _, o := range opts {
		o(r)
	}
	return r
}

func (r *runtime) Kind() host.Kind { return host.KindJS }
func (r *runtime) Close() error    { return nil }

// Compile checks the source (checkSource), compiles it, and runs it once in
// a fresh instance, within host.DefaultBudget, to learn its exports. That
// instance becomes the first of the module's pool.
func (r *runtime) Compile(name string, source []byte) (host.Module, error) {
	if err := checkSource(name, source, r.limits.Nesting); err != nil {
		return nil, err
	}
	prog, err := goja.Compile(name, string(source), false)
	if err != nil {
		return nil, &compileError{msg: err.Error()}
	}
	m := &module{name: name, prog: prog, limits: r.limits}
	inst, err := m.newInstance(host.DefaultBudget)
	if err != nil {
		var ce *compileError
		if errors.As(err, &ce) {
			return nil, err
		}
		ce = &compileError{msg: err.Error()}
		if errors.Is(err, host.ErrBudget) {
			ce.cause = err
		}
		return nil, ce
	}
	if len(inst.fns) == 0 {
		return nil, &compileError{msg: "module " + name + " exports no function: assign functions to exports, e.g. exports.acquire = function (args) { ... }"}
	}
	m.functions = make([]string, 0, len(inst.fns))
	for fn := range inst.fns {
		m.functions = append(m.functions, fn)
	}
	sort.Strings(m.functions)
	m.idle = append(m.idle, inst)
	return m, nil
}
