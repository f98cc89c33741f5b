// Command loop never returns, for host/wasm's tests of the time budget.
package main

import zkx "github.com/zkx-project/zkx/scripts/sdk"

func main() {}

var n int

//go:wasmexport spin
func spin(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) {
		for {
			n++
		}
	})
}

// spinAPI calls the API forever and ignores its errors: the host must end
// the call when the API says the budget is spent.
//
//go:wasmexport spinAPI
func spinAPI(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) {
		for {
			zkx.Exists("/")
		}
	})
}

//go:wasmexport ok
func ok(argsPtr, argsLen int32) int64 {
	return zkx.Run(argsPtr, argsLen, func([]byte) ([]byte, error) { return []byte("ok"), nil })
}
