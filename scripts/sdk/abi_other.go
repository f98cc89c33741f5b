//go:build !wasip1

package zkx

// Recipes run only inside zkx's WebAssembly host; elsewhere the package
// compiles (so tools work on it) but its API panics.

const notWASM = "zkx: a recipe runs only in zkx's WebAssembly host (GOOS=wasip1 GOARCH=wasm)"

func hostCall([]byte) []byte { panic(notWASM) }
func hostSession() int64     { panic(notWASM) }
func hostNow() int64         { panic(notWASM) }
func hostRandom() int64      { panic(notWASM) }
func hostTimedOut() int32    { panic(notWASM) }

// Run is the body of a recipe function; see the wasip1 build.
func Run(argsPtr, argsLen int32, fn func(args []byte) ([]byte, error)) int64 { panic(notWASM) }
