// Package wasm runs WebAssembly recipes on wazero. New returns the
// host.Runtime for host.KindWASM; scripts/sdk is the Go SDK that wraps the
// ABI below, so recipe authors rarely read it.
//
// # Lifecycle
//
// Compile checks a module against the ABI, compiles it (once per distinct
// module: the runtime shares compiled code between Modules of the same bytes
// and keeps the last few released ones), and starts one instance to prove
// the module starts. Call takes an idle instance from the module's pool, or
// starts a new one, runs the function, and returns the instance to the pool.
// An instance that traps, exits, runs out of time or memory, or breaks the
// ABI is discarded; the next call gets a fresh one. Instances keep their
// memory (globals, Go heap) between calls: a recipe must not rely on it.
//
// # ABI, version 1
//
// A module is a WASI preview 1 reactor (GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared produces one). All integers are little-endian; i32
// pointers and lengths are unsigned.
//
// The module exports:
//
//	memory                          its linear memory
//	_initialize() -> ()             optional; called once per instance
//	zkx_alloc(size i32) -> i32      the address of size bytes the host owns
//	                                until it calls zkx_alloc again; the host
//	                                writes arguments there and reuses the
//	                                region for later calls while they fit
//	<fn>(argsPtr, argsLen i32) -> i64
//	                                a recipe function: every export of this
//	                                signature except _initialize, _start and
//	                                names beginning "zkx_"
//
// A recipe function receives its arguments at [argsPtr, argsPtr+argsLen)
// and returns outcomePtr<<32 | outcomeLen: where the outcome lies in its
// memory, which must stay intact until the function returns to the host.
// An outcome is a kind byte and its fields:
//
//	0 result: the rest is the result bytes
//	1 wait:   n u32, then n paths (each len u32 + bytes); n >= 1
//	2 fail:   code i32, then the rest is the message (UTF-8)
//
// A module must not export _start (a WASI command), import memory, or import
// anything but these functions of module "zkx" and wasi_snapshot_preview1:
//
//	call(reqPtr, reqLen, bufPtr, bufCap i32) -> i32
//	        performs the request at [reqPtr, reqPtr+reqLen) and returns the
//	        length of its reply, which it writes at bufPtr if it fits in
//	        bufCap; if not, the reply waits for reply()
//	reply(bufPtr, bufCap i32) -> i32
//	        writes the waiting reply at bufPtr if it fits in bufCap (it then
//	        stops waiting) and returns its length; -1 if none waits
//	session() -> i64    the caller's session
//	now() -> i64        the txn's time, milliseconds since the epoch
//	random() -> i64     the next number of the txn's seeded generator
//	timed_out() -> i32  1 if this run follows a wait whose deadline passed
//
// The host never calls into the module while a call to it is running, so a
// module need not be re-entrant.
//
// A request is an opcode byte and its fields (str: len u32 + bytes):
//
//	1 get      path str
//	2 exists   path str
//	3 children path str
//	4 create   path str, data str, mode i32 (host.ModePersistent ...)
//	5 set      path str, data str, version i32
//	6 delete   path str, version i32
//
// A reply is code i32, then: if code is not 0, a ZooKeeper error code
// (-101 NoNode, -110 NodeExists, ...), the rest is the message; if 0:
//
//	get      stat, then the rest is the data
//	exists   found u8, then stat if found is 1
//	children n u32, then n names (str), sorted
//	create   the rest is the created path
//	set      stat
//	delete   nothing
//
// A stat is 68 bytes, ZooKeeper's Stat in order: czxid i64, mzxid i64,
// ctime i64, mtime i64, version i32, cversion i32, aversion i32,
// ephemeralOwner i64, dataLength i32, numChildren i32, pzxid i64.
//
// A module that breaks these rules (a malformed request or outcome, an
// address outside its memory, the API used from _initialize) fails the
// call with ErrABI. A later ABI version will use new names; the host will
// keep serving this one.
//
// # Sandbox and budget
//
// An instance sees no file system, environment, arguments or network, and
// no real clock or randomness: the WASI wall clock reads the txn's time
// (API.Now; 0 outside a call), the monotonic clock is virtual (it advances
// by sleeps and by 1µs per reading), and random_get reads API.Random, 8
// bytes per number (a fixed sequence outside a call, so every instance
// starts alike). Stdout is discarded; the start of stderr is kept for the
// message of a call that traps or exits.
//
// Budget.Time bounds a call, including starting an instance for it, and
// Budget.MemoryMiB bounds an instance's memory (zero fields default to
// host.DefaultBudget and the runtime's maximum; WithMaxMemoryMiB is the
// runtime-wide limit behind both). Either one exceeded fails the call with
// an error wrapping host.ErrBudget. Budget.Ops and Budget.Bytes are the
// API's to enforce: when it returns an error wrapping host.ErrBudget the
// call ends at once with that error. Budget.Stack does not apply (wazero
// bounds the wasm stack itself; a Go module's goroutine stack lives in its
// memory).
//
// # Costs
//
// Compiling a module is slow (a Go module of 3 MiB takes seconds), which is
// why compiled code is shared and kept; starting an instance takes
// milliseconds, which is why instances are pooled; a call on a pooled
// instance costs microseconds. Stopping endless loops has a price: with
// WithCloseOnContextDone, wazero leaves compiled code for Go at every loop
// back-edge, and Go's wasm code has a loop in every function, so Go modules
// run several times slower than they would unguarded (wazero issue 2466).
package wasm
