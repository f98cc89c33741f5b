package zkx

import "strconv"

// ZooKeeper error codes an API call can fail with, and zkx's own.
const (
	CodeBadArguments            int32 = -8
	CodeNoNode                  int32 = -101
	CodeNoAuth                  int32 = -102
	CodeBadVersion              int32 = -103
	CodeNoChildrenForEphemerals int32 = -108
	CodeNodeExists              int32 = -110
	CodeNotEmpty                int32 = -111
	CodeInvalidACL              int32 = -114
	CodeRecipeFailed            int32 = -7001 // a recipe failed (an error or panic of its own)
)

// Error is an API error or a recipe's Fail. Two Errors match under errors.Is
// when their codes are equal, so errors.Is(err, ErrNoNode) tests the code.
type Error struct {
	Code    int32
	Message string
}

func (e *Error) Error() string {
	s := "zkx: code " + strconv.Itoa(int(e.Code))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errors the API returns, for errors.Is.
var (
	ErrBadArguments            = &Error{Code: CodeBadArguments, Message: "BadArguments"}
	ErrNoNode                  = &Error{Code: CodeNoNode, Message: "NoNode"}
	ErrNoAuth                  = &Error{Code: CodeNoAuth, Message: "NoAuth"}
	ErrBadVersion              = &Error{Code: CodeBadVersion, Message: "BadVersion"}
	ErrNoChildrenForEphemerals = &Error{Code: CodeNoChildrenForEphemerals, Message: "NoChildrenForEphemerals"}
	ErrNodeExists              = &Error{Code: CodeNodeExists, Message: "NodeExists"}
	ErrNotEmpty                = &Error{Code: CodeNotEmpty, Message: "NotEmpty"}
	ErrInvalidACL              = &Error{Code: CodeInvalidACL, Message: "InvalidACL"}
)

// Fail returns the error that, returned by a recipe function, fails the call
// with code and message. Use a ZooKeeper code or a negative code of your
// own; the call's writes are discarded.
func Fail(code int32, message string) error { return &Error{Code: code, Message: message} }

// waitError is what Wait returns: not a failure but the end of a run.
type waitError struct{ paths []string }

func (w *waitError) Error() string {
	s := "zkx: wait on"
	for _, p := range w.paths {
		s += " " + p
	}
	return s
}

// Wait returns the error that, returned by a recipe function, ends the run
// and runs the function again once a committed change touches one of paths.
// The writes made before it commit. It needs at least one path.
func Wait(paths ...string) error { return &waitError{paths: paths} }
