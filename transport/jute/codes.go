package jute

import (
	"errors"
	"fmt"
)

// Sentinel decoding errors.
var (
	ErrShortBuffer = errors.New("jute: record truncated")
	ErrBadLength   = errors.New("jute: invalid length")
	ErrUnknownOp   = errors.New("jute: unknown op type")
)

// OpCode is a request type, as in ZooDefs.OpCode. Values are part of the wire
// protocol.
type OpCode int32

const (
	OpNotification         OpCode = 0
	OpCreate               OpCode = 1
	OpDelete               OpCode = 2
	OpExists               OpCode = 3
	OpGetData              OpCode = 4
	OpSetData              OpCode = 5
	OpGetACL               OpCode = 6
	OpSetACL               OpCode = 7
	OpGetChildren          OpCode = 8
	OpSync                 OpCode = 9
	OpPing                 OpCode = 11
	OpGetChildren2         OpCode = 12
	OpCheck                OpCode = 13
	OpMulti                OpCode = 14
	OpCreate2              OpCode = 15
	OpReconfig             OpCode = 16
	OpCheckWatches         OpCode = 17
	OpRemoveWatches        OpCode = 18
	OpCreateContainer      OpCode = 19
	OpDeleteContainer      OpCode = 20
	OpCreateTTL            OpCode = 21
	OpMultiRead            OpCode = 22
	OpAuth                 OpCode = 100
	OpSetWatches           OpCode = 101
	OpSasl                 OpCode = 102
	OpGetEphemerals        OpCode = 103
	OpGetAllChildrenNumber OpCode = 104
	OpSetWatches2          OpCode = 105
	OpAddWatch             OpCode = 106
	OpWhoAmI               OpCode = 107
	OpCreateSession        OpCode = -10
	OpCloseSession         OpCode = -11
	OpError                OpCode = -1
	// OpRecipeCall is zkx's extension: run a server-side recipe.
	OpRecipeCall OpCode = 7001
)

var opNames = map[OpCode]string{
	OpNotification: "notification", OpCreate: "create", OpDelete: "delete", OpExists: "exists",
	OpGetData: "getData", OpSetData: "setData", OpGetACL: "getACL", OpSetACL: "setACL",
	OpGetChildren: "getChildren", OpSync: "sync", OpPing: "ping", OpGetChildren2: "getChildren2",
	OpCheck: "check", OpMulti: "multi", OpCreate2: "create2", OpReconfig: "reconfig",
	OpCheckWatches: "checkWatches", OpRemoveWatches: "removeWatches", OpCreateContainer: "createContainer",
	OpDeleteContainer: "deleteContainer", OpCreateTTL: "createTTL", OpMultiRead: "multiRead",
	OpAuth: "auth", OpSetWatches: "setWatches", OpSasl: "sasl", OpGetEphemerals: "getEphemerals",
	OpGetAllChildrenNumber: "getAllChildrenNumber", OpSetWatches2: "setWatches2", OpAddWatch: "addWatch",
	OpWhoAmI: "whoAmI", OpCreateSession: "createSession", OpCloseSession: "closeSession", OpError: "error",
	OpRecipeCall: "recipeCall",
}

func (o OpCode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", int32(o))
}

// Special xids, as in ClientCnxn.
const (
	XidNotification int32 = -1
	XidPing         int32 = -2
	XidAuth         int32 = -4
	XidSetWatches   int32 = -8
)

// Err is a ZooKeeper error code (KeeperException.Code). It implements error
// with ZooKeeper's wording. Values are part of the wire protocol.
type Err int32

const (
	ErrOK                       Err = 0
	ErrSystemError              Err = -1
	ErrRuntimeInconsistency     Err = -2
	ErrDataInconsistency        Err = -3
	ErrConnectionLoss           Err = -4
	ErrMarshallingError         Err = -5
	ErrUnimplemented            Err = -6
	ErrOperationTimeout         Err = -7
	ErrBadArguments             Err = -8
	ErrUnknownSession           Err = -12
	ErrNewConfigNoQuorum        Err = -13
	ErrReconfigInProgress       Err = -14
	ErrAPIError                 Err = -100
	ErrNoNode                   Err = -101
	ErrNoAuth                   Err = -102
	ErrBadVersion               Err = -103
	ErrNoChildrenForEphemerals  Err = -108
	ErrNodeExists               Err = -110
	ErrNotEmpty                 Err = -111
	ErrSessionExpired           Err = -112
	ErrInvalidCallback          Err = -113
	ErrInvalidACL               Err = -114
	ErrAuthFailed               Err = -115
	ErrSessionMoved             Err = -118
	ErrNotReadOnly              Err = -119
	ErrEphemeralOnLocalSession  Err = -120
	ErrNoWatcher                Err = -121
	ErrRequestTimeout           Err = -122
	ErrReconfigDisabled         Err = -123
	ErrSessionClosedRequireSasl Err = -124
	ErrQuotaExceeded            Err = -125
	ErrThrottled                Err = -127
	ErrRecipeFailed             Err = -7001 // zkx: a recipe threw, failed or ran out of budget
	ErrRecipeNotFound           Err = -7002 // zkx: no recipe or function by that name
	ErrRecipeInvalid            Err = -7003 // zkx: a module that does not compile or check
	ErrRecipeBudget             Err = -7004 // zkx: a recipe exceeded its time, op or byte budget
)

// Names as KeeperException.getCodeMessage prints them.
var errNames = map[Err]string{
	ErrOK: "ok", ErrSystemError: "SystemError", ErrRuntimeInconsistency: "RuntimeInconsistency",
	ErrDataInconsistency: "DataInconsistency", ErrConnectionLoss: "ConnectionLoss",
	ErrMarshallingError: "MarshallingError", ErrUnimplemented: "Unimplemented",
	ErrOperationTimeout: "OperationTimeout", ErrBadArguments: "BadArguments",
	ErrUnknownSession: "UnknownSession", ErrNewConfigNoQuorum: "NewConfigNoQuorum",
	ErrReconfigInProgress: "ReconfigInProgress", ErrAPIError: "APIError", ErrNoNode: "NoNode",
	ErrNoAuth: "NoAuth", ErrBadVersion: "BadVersion", ErrNoChildrenForEphemerals: "NoChildrenForEphemerals",
	ErrNodeExists: "NodeExists", ErrNotEmpty: "Directory not empty", ErrSessionExpired: "Session expired",
	ErrInvalidCallback: "Invalid callback", ErrInvalidACL: "InvalidACL", ErrAuthFailed: "AuthFailed",
	ErrSessionMoved: "Session moved", ErrNotReadOnly: "Not a read-only call",
	ErrEphemeralOnLocalSession: "Ephemeral node on local session", ErrNoWatcher: "No such watcher",
	ErrRequestTimeout: "Request timeout", ErrReconfigDisabled: "Reconfig is disabled",
	ErrSessionClosedRequireSasl: "Session closed because client failed to authenticate",
	ErrQuotaExceeded:            "Quota has exceeded", ErrThrottled: "Op throttled due to high load",
	ErrRecipeFailed: "Recipe failed", ErrRecipeNotFound: "No such recipe",
	ErrRecipeInvalid: "Invalid recipe module", ErrRecipeBudget: "Recipe budget exceeded",
}

// Name is the code's name as ZooKeeper prints it ("NoNode").
func (e Err) Name() string {
	if s, ok := errNames[e]; ok {
		return s
	}
	return fmt.Sprintf("Unknown error %d", int32(e))
}

func (e Err) Error() string { return "KeeperErrorCode = " + e.Name() }
