// Package txn defines zkx's transactions: the idempotent records that prep
// produces from client requests, that the log stores and that every replica
// applies in zxid order. Apply never fails on a well-formed txn: every check
// (versions, ACLs, existence) was made in prep, and a request that failed
// there becomes an Error txn.
//
// The binary encoding (Marshal / Unmarshal) is part of the on-disk and
// on-the-wire format: field order and type tags never change meaning. New
// fields go at the end of a record behind a new tag.
package txn

import "github.com/zkx-project/zkx/core/acl"

// Type tags an op. Values are part of the format; they equal ZooKeeper's
// opcodes where one exists.
type Type uint8

const (
	TypeCreate          Type = 1  // create / create2 / createContainer / createTTL
	TypeDelete          Type = 2  // delete / deleteContainer
	TypeSetData         Type = 5  // setData
	TypeSetACL          Type = 7  // setACL
	TypeCheck           Type = 13 // check (inside a multi)
	TypeMulti           Type = 14 // multi
	TypeCreateSession   Type = 30 // a session is opened
	TypeCloseSession    Type = 31 // a session is closed or expired
	TypeError           Type = 40 // a request that failed in prep
	TypeRecipeResult    Type = 50 // a recipe call's result (effects in a Multi before it)
	TypeSetSessionOwner Type = 60 // a session moved to another server (ensemble)
)

// Special ephemeralOwner values, as ZooKeeper encodes them in Stat.
const (
	// ContainerOwner marks a container node.
	ContainerOwner int64 = -1 << 63
	// ttlMask is set in the top byte of a TTL node's ephemeralOwner, and
	// ttlTypeMask covers it and the reserved feature bits (zero for TTL).
	ttlMask     int64 = -0x0100000000000000 // 0xff00000000000000
	ttlTypeMask int64 = -0x0000010000000000 // 0xffffff0000000000
	// MaxTTL is the largest TTL in milliseconds.
	MaxTTL int64 = 0x000000ffffffffff
)

// TTLOwner returns the ephemeralOwner of a TTL node, as ZooKeeper encodes it.
func TTLOwner(ttl int64) int64 { return ttlMask | ttl }

// IsTTLOwner reports whether owner marks a TTL node, and its TTL.
func IsTTLOwner(owner int64) (ttl int64, ok bool) {
	if owner&ttlTypeMask == ttlMask {
		return owner & MaxTTL, true
	}
	return 0, false
}

// Txn is one transaction with the header fields every txn carries.
type Txn struct {
	Zxid    int64
	Session int64
	Cxid    int32
	Time    int64 // milliseconds since the epoch, chosen in prep
	Op      Op
}

// Op is the body of a transaction: one of the *Create, *Delete, ... types.
type Op interface {
	Type() Type
}

// Create makes a node. Owner is 0 (persistent), a session id (ephemeral),
// ContainerOwner or a TTL owner (TTLOwner).
type Create struct {
	Path           string
	Data           []byte
	ACL            []acl.ACL
	Owner          int64
	ParentCversion int32
}

// Delete removes a node.
type Delete struct {
	Path string
}

// SetData replaces a node's data; Version is the new version.
type SetData struct {
	Path    string
	Data    []byte
	Version int32
}

// SetACL replaces a node's ACL; Version is the new aversion.
type SetACL struct {
	Path    string
	ACL     []acl.ACL
	Version int32
}

// Check is a version check inside a multi; it changes nothing.
type Check struct {
	Path    string
	Version int32
}

// Multi applies all of Ops or, if any is an Error, none of them.
type Multi struct {
	Ops []Op
}

// CreateSession opens session Txn.Session with a timeout and a password.
type CreateSession struct {
	Timeout  int32
	Password []byte
	Owner    int64 // the server the session is connected to
}

// CloseSession ends Txn.Session and deletes the ephemerals listed.
type CloseSession struct {
	Paths []string
}

// Error is a request that failed in prep with Code (a ZooKeeper error code).
type Error struct {
	Code int32
}

// RecipeResult ends a recipe call's txn and tells the caller's server how
// to answer: with Result, with error Code and Message (the call failed and
// the txn holds no effects), or not yet (Parked: the call waits and runs
// again when one of Wait's paths changes).
type RecipeResult struct {
	Result  []byte
	Code    int32
	Message string
	Parked  bool
	Wait    []string
}

// SetSessionOwner records that a session now talks to server Owner.
type SetSessionOwner struct {
	Owner int64
}

func (*Create) Type() Type          { return TypeCreate }
func (*Delete) Type() Type          { return TypeDelete }
func (*SetData) Type() Type         { return TypeSetData }
func (*SetACL) Type() Type          { return TypeSetACL }
func (*Check) Type() Type           { return TypeCheck }
func (*Multi) Type() Type           { return TypeMulti }
func (*CreateSession) Type() Type   { return TypeCreateSession }
func (*CloseSession) Type() Type    { return TypeCloseSession }
func (*Error) Type() Type           { return TypeError }
func (*RecipeResult) Type() Type    { return TypeRecipeResult }
func (*SetSessionOwner) Type() Type { return TypeSetSessionOwner }

// Path returns the path an op names, or "".
func Path(op Op) string {
	switch o := op.(type) {
	case *Create:
		return o.Path
	case *Delete:
		return o.Path
	case *SetData:
		return o.Path
	case *SetACL:
		return o.Path
	case *Check:
		return o.Path
	}
	return ""
}
