//go:build wasip1

package zkx

import "unsafe"

// The host's imports (module "zkx"); host/wasm documents them.

//go:wasmimport zkx call
func zkxCall(reqPtr unsafe.Pointer, reqLen int32, bufPtr unsafe.Pointer, bufCap int32) int32

//go:wasmimport zkx reply
func zkxReply(bufPtr unsafe.Pointer, bufCap int32) int32

//go:wasmimport zkx session
func hostSession() int64

//go:wasmimport zkx now
func hostNow() int64

//go:wasmimport zkx random
func hostRandom() int64

//go:wasmimport zkx timed_out
func hostTimedOut() int32

var (
	args  = make([]byte, 1024) // where the host writes a function's arguments
	reply = make([]byte, 4096) // where the host writes replies
)

// alloc hands the host size bytes to write functions' arguments into. The
// host owns them until it calls alloc again, so it may reuse them for many
// calls.
//
//go:wasmexport zkx_alloc
func alloc(size int32) int32 {
	if size < 0 {
		return 0
	}
	if int(size) > cap(args) {
		args = make([]byte, size)
	}
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(args[:cap(args)]))))
}

func hostCall(req []byte) []byte {
	n := zkxCall(unsafe.Pointer(unsafe.SliceData(req)), int32(len(req)), unsafe.Pointer(unsafe.SliceData(reply)), int32(len(reply)))
	if int(n) > len(reply) {
		reply = make([]byte, n)
		zkxReply(unsafe.Pointer(unsafe.SliceData(reply)), int32(len(reply)))
	}
	return reply[:n]
}

// Run is the body of a recipe function: it passes the call's arguments to
// fn and returns how fn's run ended, encoded for the host.
//
//	//go:wasmexport add
//	func add(argsPtr, argsLen int32) int64 { return zkx.Run(argsPtr, argsLen, addCounter) }
func Run(argsPtr, argsLen int32, fn func(args []byte) ([]byte, error)) int64 {
	var o []byte
	misplaced := argsLen != 0 && argsPtr != int32(uintptr(unsafe.Pointer(unsafe.SliceData(args[:cap(args)]))))
	if misplaced || argsLen < 0 || int(argsLen) > cap(args) {
		o = failure(CodeBadArguments, "zkx: the arguments are not where zkx_alloc put them")
	} else {
		o = run(args[:argsLen], fn)
	}
	return int64(uintptr(unsafe.Pointer(unsafe.SliceData(o))))<<32 | int64(len(o))
}
