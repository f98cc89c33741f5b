// Package zkx is the Go SDK for zkx recipes compiled to WebAssembly. It wraps
// the host ABI that host/wasm documents, so a recipe is ordinary Go:
//
//	package main
//
//	import zkx "github.com/zkx-project/zkx/scripts/sdk"
//
//	func main() {}
//
//	//go:wasmexport hello
//	func hello(argsPtr, argsLen int32) int64 {
//		return zkx.Run(argsPtr, argsLen, func(args []byte) ([]byte, error) {
//			data, _, err := zkx.Get("/greeting")
//			if errors.Is(err, zkx.ErrNoNode) {
//				return nil, zkx.Wait("/greeting") // run again once it exists
//			}
//			return data, err
//		})
//	}
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .
//
// Every exported function with the signature func(int32, int32) int64
// (except zkx_* names) is a recipe function a client may call; its body is
// one call to Run. Go's //go:wasmexport allows only scalar parameters and
// results, which is why the pointer/length pair appears in the signature.
//
// How a run ends is what the function returns:
//
//   - (result, nil): the call answers result;
//   - (nil, Wait(paths...)): the run ends, the writes made so far commit,
//     and the host runs the function again, from the top, once a committed
//     change touches one of paths (or the call's deadline passes: then
//     TimedOut reports true). Write such functions to be re-run;
//   - (nil, Fail(code, message)): the call fails with that code, and every
//     write the call made is discarded;
//   - (nil, err) with an API error (ErrNoNode, ...) anywhere in err's chain:
//     the call fails with that error's ZooKeeper code;
//   - (nil, any other error), or a panic: the call fails with
//     CodeRecipeFailed and the error's text.
//
// The API functions (Get, Exists, Children, Create, Set, Delete) act on the
// tree as the caller, with the caller's ACLs; a call sees its own writes.
// A recipe has no other access to the world: there is no file system,
// environment or network, time.Now returns the txn's time (see Now), and
// crypto/rand reads the txn's seeded generator (see Random). The host ends
// a run that exceeds its budget of time, memory, operations or bytes.
//
// The API works only while a recipe function runs: the host refuses a
// module whose init functions call it. args passed to a function is valid
// only until it returns: copy what you keep. Call the API from the
// goroutine that runs the recipe function, and do not block it (Go on
// wasip1 has one thread: a blocked call is a deadlock, which fails the
// call). Globals survive between calls on the same instance, but a call may
// get another instance: keep state in the tree, not in memory.
package zkx
