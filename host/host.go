// Package host runs recipe modules: JavaScript (host/js, goja) and
// WebAssembly (host/wasm, wazero) behind one Runtime interface, with the same
// host API for both.
//
// A recipe call runs against an API the server provides (core/server's prep
// view, with the call's writes buffered so the recipe reads its own writes,
// and ACLs checked as for the caller). A call ends one of three ways:
//
//   - it returns a result (bytes; for JS, the JSON of its return value);
//   - it fails: it threw, called fail(code, message), or ran out of budget.
//     The server then discards every write the call made;
//   - it waits: wait(path) ends this run. The writes made so far commit, and
//     the server runs the function again, from the top, with the same
//     arguments, once a committed change touches one of the waited paths
//     (or the call's deadline passes: then timedOut() is true). Functions
//     that wait are written to be re-run: look at the state, then act.
//
// What a module may do is only what the API offers: no file system, network,
// clock (now() is the txn's time) or randomness (random() is seeded by the
// txn). Every call has a Budget; a module that exceeds it fails the call and
// nothing else.
package host

import (
	"errors"
	"fmt"
	"time"

	"github.com/zkx-project/zkx/core/tree"
)

// Kind is a module's language.
type Kind string

const (
	KindJS   Kind = "js"
	KindWASM Kind = "wasm"
)

// Detect tells a module's kind from its bytes: WebAssembly starts with
// "\x00asm"; anything else is taken as JavaScript source.
func Detect(module []byte) Kind {
	if len(module) >= 4 && string(module[:4]) == "\x00asm" {
		return KindWASM
	}
	return KindJS
}

// Budget bounds one run of a function.
type Budget struct {
	Time      time.Duration // wall time (default 50ms)
	Ops       int           // host API calls (default 10,000)
	Bytes     int           // bytes written through the API (default 8 MiB)
	MemoryMiB int           // WASM linear memory (default 64 MiB)
	Stack     int           // JS call stack depth (default 1,000)
}

// DefaultBudget is the budget of a call unless the server or the recipe
// lowers it.
var DefaultBudget = Budget{Time: 50 * time.Millisecond, Ops: 10000, Bytes: 8 << 20, MemoryMiB: 64, Stack: 1000}

// Min returns the tighter of b and o, field by field (zero fields of o are
// ignored).
func (b Budget) Min(o Budget) Budget {
	if o.Time > 0 && o.Time < b.Time {
		b.Time = o.Time
	}
	if o.Ops > 0 && o.Ops < b.Ops {
		b.Ops = o.Ops
	}
	if o.Bytes > 0 && o.Bytes < b.Bytes {
		b.Bytes = o.Bytes
	}
	if o.MemoryMiB > 0 && o.MemoryMiB < b.MemoryMiB {
		b.MemoryMiB = o.MemoryMiB
	}
	if o.Stack > 0 && o.Stack < b.Stack {
		b.Stack = o.Stack
	}
	return b
}

// Create modes for API.Create (ZooKeeper's flags).
const (
	ModePersistent           int32 = 0
	ModeEphemeral            int32 = 1 // owned by the calling session
	ModePersistentSequential int32 = 2
	ModeEphemeralSequential  int32 = 3
)

// API is what a running recipe may do. Errors are *Error with a ZooKeeper
// code (NoNode, NodeExists, NoAuth, BadVersion, ...), which a recipe sees
// and may handle.
type API interface {
	Get(path string) (data []byte, st tree.Stat, err error)
	Exists(path string) (tree.Stat, bool, error)
	Children(path string) ([]string, error) // sorted
	Create(path string, data []byte, mode int32) (string, error)
	Set(path string, data []byte, version int32) (tree.Stat, error)
	Delete(path string, version int32) error
	Session() int64 // the caller's session
	Now() int64     // the txn's time, milliseconds since the epoch
	Random() uint64 // seeded by the txn: the same on every replay
	TimedOut() bool // this run was started because the wait's deadline passed
}

// Error is an API error or a recipe's fail(code, message).
type Error struct {
	Code    int32 // a ZooKeeper error code, or a recipe's own (negative) code
	Message string
}

func (e *Error) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("code %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("code %d", e.Code)
}

// Outcome is how a run ended when it did not fail.
type Outcome struct {
	Result []byte   // the function's result (when Wait is empty)
	Wait   []string // paths to wait on: re-run the call when one changes
}

// Errors a run can end with besides *Error.
var (
	ErrBudget     = errors.New("budget exceeded")
	ErrNoFunction = errors.New("no such function")
	ErrInvalid    = errors.New("invalid module")
)

// Module is a compiled recipe.
type Module interface {
	Kind() Kind
	// Functions lists the functions a client may call.
	Functions() []string
	// Call runs function fn with args against api within budget. It must
	// be safe to call from one goroutine at a time per module instance;
	// modules pool instances internally and may be called concurrently.
	Call(fn string, args []byte, api API, budget Budget) (Outcome, error)
	// Close releases the module's resources.
	Close() error
}

// Runtime compiles modules of one kind.
type Runtime interface {
	Kind() Kind
	// Compile checks and compiles a module; the error says what is wrong
	// in the compiler's words.
	Compile(name string, source []byte) (Module, error)
	Close() error
}
