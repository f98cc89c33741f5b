package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	ErrClosed       = errors.New("wal: log is closed")
	ErrTornRecord   = errors.New("wal: torn record")
	ErrBadChecksum  = errors.New("wal: checksum mismatch")
	ErrBadHeader    = errors.New("wal: bad file header")
	ErrNotSupported = errors.New("wal: unsupported format version")
	ErrGap          = errors.New("wal: zxid gap between snapshot and log")
	// ErrResetBelowSnapshot: a Reset's zxid is below every snapshot and
	// the log no longer reaches back to the first txn, so the state at
	// that zxid cannot be rebuilt.
	ErrResetBelowSnapshot = errors.New("wal: reset below the oldest snapshot")
)

// CorruptionError reports damage that recovery must not paper over: a bad
// record with valid data after it, a corrupt snapshot with no older valid
// one, or a gap in the history. The server stops with it.
type CorruptionError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corruption in %s at offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// IsCorruption reports whether err is a *CorruptionError.
func IsCorruption(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}
