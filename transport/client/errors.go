package client

import (
	"errors"
	"fmt"

	"github.com/zkx-project/zkx/transport/jute"
)

// Error is a request that failed with a ZooKeeper error code, either one the
// server sent or one the client produced (ConnectionLoss, SessionExpired,
// AuthFailed). errors.Is(err, jute.ErrNoNode) and errors.Is(err, ErrNoNode)
// both match an *Error whose Code is NoNode.
type Error struct {
	Code jute.Err
	Op   string // the request, as ZooKeeper names its opcode ("create", "getData")
	Path string // the path the request named, if any
	// Message is detail the server sent with the code; only recipe calls
	// (opcode 7001) carry one.
	Message string
}

func (e *Error) Error() string {
	s := e.Code.Error()
	if e.Path != "" {
		s += " for " + e.Path
	}
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns the code, so errors.Is and errors.As see it.
func (e *Error) Unwrap() error { return e.Code }

// ErrClosed is returned by requests on a client that Close has closed, and
// by requests that were still waiting when it did.
var ErrClosed = errors.New("client: closed")

// errSessionExpired is what the handshake reports when the server answers
// with a zero timeout: the session is gone.
var errSessionExpired = &Error{Code: jute.ErrSessionExpired, Op: "connect"}

// errAuthFailed stops the reader after the server refused an auth packet
// (it closes the connection right after).
var errAuthFailed = errors.New("client: authentication failed")

// errSessionEnded is why terminate drops the connection.
var errSessionEnded = errors.New("client: session ended")

// errProtocol marks a frame that breaks the protocol; the connection that
// carried it is dropped.
var errProtocol = errors.New("client: protocol violation")

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

// The codes callers test for most often, so they need not import jute.
const (
	ErrConnectionLoss          = jute.ErrConnectionLoss
	ErrSessionExpired          = jute.ErrSessionExpired
	ErrAuthFailed              = jute.ErrAuthFailed
	ErrNoNode                  = jute.ErrNoNode
	ErrNodeExists              = jute.ErrNodeExists
	ErrNotEmpty                = jute.ErrNotEmpty
	ErrBadVersion              = jute.ErrBadVersion
	ErrNoAuth                  = jute.ErrNoAuth
	ErrInvalidACL              = jute.ErrInvalidACL
	ErrBadArguments            = jute.ErrBadArguments
	ErrNoChildrenForEphemerals = jute.ErrNoChildrenForEphemerals
	ErrNoWatcher               = jute.ErrNoWatcher
	ErrUnimplemented           = jute.ErrUnimplemented
	ErrSessionMoved            = jute.ErrSessionMoved
	ErrRecipeFailed            = jute.ErrRecipeFailed
	ErrRecipeNotFound          = jute.ErrRecipeNotFound
)
