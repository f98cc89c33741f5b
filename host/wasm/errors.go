package wasm

import "errors"

// Errors a call can fail with besides host's. A module that does not
// compile fails Compile with an error wrapping host.ErrInvalid.
var (
	// ErrTrap: the module trapped (out-of-bounds access, unreachable, a
	// stack overflow) or exited (a Go panic, os.Exit).
	ErrTrap = errors.New("wasm: module trapped")
	// ErrABI: the module broke the ABI that doc.go describes.
	ErrABI = errors.New("wasm: ABI violation")
	// ErrClosed: the module or runtime was closed.
	ErrClosed = errors.New("wasm: closed")
)
