// Package js runs JavaScript recipe modules on goja (ES2020-ish, no
// modules syntax, no BigInt). This comment is the contract for recipe
// authors.
//
// # Modules
//
// A module is a script that assigns functions to exports, CommonJS style:
//
//	exports.acquire = function (args) {
//		const kids = zk.children(args.dir);
//		let mine = kids.find((k) => zk.exists(args.dir + '/' + k).ephemeralOwner === zk.session());
//		if (mine === undefined) { // not a re-run, nor a retry
//			mine = zk.create(args.dir + '/lock-', '', {ephemeral: true, sequential: true}).slice(args.dir.length + 1);
//			kids.push(mine); // sequential names sort last
//		}
//		const i = kids.indexOf(mine);
//		if (i > 0) {
//			zk.wait(args.dir + '/' + kids[i - 1]); // runs again when the predecessor goes
//		}
//		return {path: args.dir + '/' + mine, token: zk.exists(args.dir + '/' + mine).czxid};
//	};
//
// (module.exports = {...} works too.) The module must export at least one
// function; Functions lists them, sorted. The server compiles the module
// once and runs it once per instance to define the exports; at that time
// there is no call, so the zk functions throw, Date is the epoch and
// Math.random is a fixed sequence.
//
// A call of function fn runs exports[fn](args), with this = exports, where
// args is JSON.parse of the call's argument bytes, or undefined if there
// are none. Argument bytes that are not valid JSON fail the call with code
// -8 (BadArguments). The return value is JSON.stringify'd into the result;
// undefined gives an empty result. A function may be async: the promise it
// returns is settled before the call ends (there is nothing to await, since
// the zk functions are synchronous); a rejection fails the call as an
// uncaught exception would, and a promise still pending fails it.
//
// # The zk API
//
// The global zk (frozen) is the host API:
//
//	zk.get(path)          {data: string, stat: Stat}, or null if there is no such node.
//	                      data is the node's bytes decoded as UTF-8 (invalid bytes become
//	                      U+FFFD: store text, or encode binary data yourself).
//	zk.exists(path)       Stat, or null.
//	zk.children(path)     sorted array of child names, or null if there is no such node.
//	zk.create(path, data?, opts?)
//	                      creates the node and returns its path (with the suffix, for a
//	                      sequential node). data is a string (default ""); opts is
//	                      {ephemeral: bool, sequential: bool}; an ephemeral node belongs to
//	                      the caller's session.
//	zk.set(path, data, version?)
//	                      sets the data if the version matches (default -1: any); returns Stat.
//	zk.delete(path, version?)
//	                      deletes the node if the version matches (default -1: any).
//	zk.wait(path | [paths])
//	                      ends this run with a wait and never returns: the writes made so
//	                      far commit, and the server runs the function again, from the top
//	                      and with the same arguments, when one of the paths changes or the
//	                      call's deadline passes (then zk.timedOut() is true). Write functions
//	                      that wait to be re-run: look at the state, then act.
//	zk.fail(code, message)
//	                      fails the call and never returns: no write happens, and the caller
//	                      gets code (a non-zero 32-bit integer: a ZooKeeper code such as
//	                      zk.BadArguments, or your own negative code) and message.
//	zk.session()          the caller's session id as a hex string, "0x1a2b..." (an int64 does
//	                      not fit a JS number).
//	zk.now()              the txn's time in milliseconds since the epoch.
//	zk.random()           a number in [0, 1) from the txn's seeded generator.
//	zk.timedOut()         whether this run was started because the wait's deadline passed.
//
// Neither wait nor fail can be caught: catch and finally blocks do not run.
//
// A Stat is {czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
// ephemeralOwner, dataLength, numChildren}. Zxids are JS numbers (exact up
// to 2^53, which a zxid reaches only after 2^21 epochs); ephemeralOwner is
// a hex string like zk.session() ("0x0" for a persistent node). The czxid
// of the node that represents a grant (a lock holder's node, say) is the
// grant's fencing token: it only grows.
//
// # Errors
//
// Operations the server refuses throw a ZKError (a global class extending
// Error) with code (the ZooKeeper code, a number), name ("NodeExists") and
// message ("zk.create /locks/a: NodeExists"). A recipe may catch them:
//
//	try { zk.create(path); } catch (e) { if (e.code !== zk.NodeExists) throw e; }
//
// The codes are constants on zk: SystemError -1, MarshallingError -5,
// Unimplemented -6, BadArguments -8, APIError -100, NoNode -101, NoAuth -102,
// BadVersion -103, NoChildrenForEphemerals -108, NodeExists -110,
// NotEmpty -111, SessionExpired -112, InvalidACL -114, AuthFailed -115,
// EphemeralOnLocalSession -120, QuotaExceeded -125, Throttled -127,
// RecipeFailed -7001. (get, exists and children answer NoNode with null.)
// ACLs apply to a recipe's operations as to the caller's own.
//
// An uncaught ZKError (also one the recipe made with new ZKError(code, name,
// message)) fails the call with its code and message. Any other uncaught
// exception fails it with -7001 (RecipeFailed) and the exception's message
// and position ("TypeError: ... at lock:3:9(12)": line 3, column 9). A failed call
// has no effect: the server discards every write it made.
//
// # Sandbox and determinism
//
// There is no require, no process, no file system, network or timers, no
// eval, no BigInt (literals do not compile), and the Function constructors
// (Function, and the constructor of async and generator functions) throw
// EvalError: no code is made from strings at run time. Math.random uses zk.random's generator, and
// Date.now() and new Date() give the txn's time, so a run is reproducible
// from the txn; the local-time methods of Date use the server's time zone,
// so use the UTC ones. console.log, info, warn, error, debug and trace
// exist and write nowhere.
//
// Module-level state (variables outside the functions) lives in one
// instance: the server keeps a few instances per module, takes any idle one
// for a call, and drops an instance after a call that ran out of budget,
// after its calls have allocated Limits.InstanceAlloc in all, or whenever it
// likes. Such state is a cache, never the truth: the truth is in znodes.
//
// # Budget and limits
//
// Every call runs within a host.Budget; exceeding any limit fails the call
// with an error wrapping host.ErrBudget (code -7004 RecipeBudget to the
// client), cannot be caught by the module, and drops the instance.
//
//   - Time: the wall time of the call (default 50ms). A watchdog interrupts
//     the JS when it passes ("time budget of 50ms exceeded").
//   - Stack: the call depth (default 1,000 frames); deeper recursion fails
//     the call, it never crashes the server.
//   - Ops and Bytes: enforced by the server's API. Once it reports a budget
//     error the run stops, even if the module catches the error.
//   - Memory: a call may allocate at most Limits.Alloc (256 MiB) of Go heap,
//     sampled every millisecond by the same watchdog (the sample is the
//     process's: what other goroutines allocate meanwhile counts too). goja has no memory
//     limit of its own, so the builtins that could allocate without bound in
//     one uninterruptible step check sizes first: strings built by repeat,
//     padStart, padEnd, concat, join, replace, replaceAll and JSON.stringify
//     are at most Limits.String (4 Mi UTF-16 code units); array builtins
//     refuse arrays (and array-likes) longer than Limits.Elements (64 Ki
//     elements) - new Array(1e9) itself costs nothing in goja, using it
//     fails; ArrayBuffers and typed arrays are at most Limits.Buffer
//     (4 MiB); split, match, replace, spreading and sorting stop when the
//     watchdog says so; JSON.parse refuses nesting deeper than 10,000.
//   - Backtracking regular expressions (backreferences, lookaround) give up
//     a match after 100ms and report no match; by then the default time
//     budget has interrupted the call.
//
// Compile refuses modules nested deeper than Limits.Nesting (10,000 levels
// of brackets, or of operators, calls or else-ifs chained in one
// statement): goja's parser would need more stack than Go allows a
// goroutine, which would kill the server.
//
// Errors from Compile read as the compiler put them,
// "SyntaxError: lock: Line 3:14 Unexpected token ...", and wrap
// host.ErrInvalid.
package js
