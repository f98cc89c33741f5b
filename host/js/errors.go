package js

import (
	"errors"
	"fmt"

	"github.com/zkx-project/zkx/host"
)

// ZooKeeper error codes as recipes see them: zk.NoNode, e.code === -101,
// e.name === "NoNode". Part of the JS API.
var zkCodes = []struct {
	name string
	code int32
}{
	{"SystemError", -1},
	{"MarshallingError", -5},
	{"Unimplemented", -6},
	{"OperationTimeout", -7},
	{"BadArguments", -8},
	{"APIError", -100},
	{"NoNode", -101},
	{"NoAuth", -102},
	{"BadVersion", -103},
	{"NoChildrenForEphemerals", -108},
	{"NodeExists", -110},
	{"NotEmpty", -111},
	{"SessionExpired", -112},
	{"InvalidACL", -114},
	{"AuthFailed", -115},
	{"EphemeralOnLocalSession", -120},
	{"QuotaExceeded", -125},
	{"Throttled", -127},
	{"RecipeFailed", -7001},
}

// Codes with a meaning of their own here.
const (
	codeBadArguments int32 = -8
	codeNoNode       int32 = -101
	codeRecipeFailed int32 = -7001
)

func codeName(code int32) string {
	for _, c := range zkCodes {
		if c.code == code {
			return c.name
		}
	}
	return "ZKError"
}

// budgetError is how a run that exceeded a limit fails: it wraps
// host.ErrBudget and reads "time budget of 50ms exceeded".
type budgetError struct{ msg string }

func (e *budgetError) Error() string { return e.msg }
func (e *budgetError) Unwrap() error { return host.ErrBudget }

func overBudget(format string, args ...any) error {
	return &budgetError{msg: fmt.Sprintf(format, args...)}
}

// compileError is a module that does not compile or check. It reads as goja
// (or the checks here) put it, "SyntaxError: lock: Line 3:14 Unexpected
// token ...", and wraps host.ErrInvalid.
type compileError struct {
	msg   string
	cause error // an ErrBudget when initialization ran out of budget
}

func (e *compileError) Error() string { return e.msg }
func (e *compileError) Unwrap() []error {
	if e.cause != nil {
		return []error{host.ErrInvalid, e.cause}
	}
	return []error{host.ErrInvalid}
}

// ErrClosed is what Call returns once the module is closed.
var ErrClosed = errors.New("js: module closed")
