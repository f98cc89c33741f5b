// Command hog allocates until it runs out of memory, for host/wasm's tests
// of the memory budget.
package main

import zkx "github.com/zkx-project/zkx/scripts/sdk"

func main() {}

var kept [][]byte

//go:wasmexport hog
func hog(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) {
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			kept = append(kept, b)
		}
	})
}

//go:wasmexport huge
func huge(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) {
		b := make([]byte, 1<<30)
		return b[:1], nil
	})
}

//go:wasmexport ok
func ok(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) { return []byte("ok"), nil })
}
