// Command trap fails in the ways a module can, for host/wasm's tests.
package main

import (
	"os"
	"unsafe"

	zkx "github.com/zkx-project/zkx/scripts/sdk"
)

func main() {}

var sink byte

// oob reads past the end of memory: a wasm trap.
//
//go:wasmexport oob
func oob(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) {
		beyond := unsafe.Slice(&sink, 1<<31) // far past the end of memory
		sink = beyond[1<<31-1]
		return nil, nil
	})
}

// panicRaw panics outside the SDK: Go prints it and exits.
//
//go:wasmexport panicRaw
func panicRaw(argsPtr, argsLen int32) int64 { panic("raw panic") }

//go:wasmexport exit
func exit(argsPtr, argsLen int32) int64 {
	os.Exit(3)
	return 0
}

// badOutcome points outside memory.
//
//go:wasmexport badOutcome
func badOutcome(argsPtr, argsLen int32) int64 { return -1 }

//go:wasmexport ok
func ok(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) { return []byte("ok"), nil })
}
