package client

import (
	"crypto/sha1"
	"encoding/base64"

	"github.com/zkx-project/zkx/transport/jute"
)

// Stat is a znode's metadata.
type Stat = jute.Stat

// ACL grants permissions to an identity (scheme + id).
type ACL = jute.ACL

// Permission bits of an ACL.
const (
	PermRead   = jute.PermRead
	PermWrite  = jute.PermWrite
	PermCreate = jute.PermCreate
	PermDelete = jute.PermDelete
	PermAdmin  = jute.PermAdmin
	PermAll    = jute.PermAll
)

// CreateMode is the flags field of a create request.
type CreateMode int32

// Create modes; the values are ZooKeeper's CreateMode flags.
const (
	Persistent                  = CreateMode(jute.FlagPersistent)
	Ephemeral                   = CreateMode(jute.FlagEphemeral)
	PersistentSequential        = CreateMode(jute.FlagPersistentSequential)
	EphemeralSequential         = CreateMode(jute.FlagEphemeralSequential)
	Container                   = CreateMode(jute.FlagContainer)
	PersistentWithTTL           = CreateMode(jute.FlagPersistentWithTTL)
	PersistentSequentialWithTTL = CreateMode(jute.FlagPersistentSequentialWithTTL)
)

// Watcher types for RemoveWatches and CheckWatches.
const (
	WatcherChildren = jute.WatcherChildren
	WatcherData     = jute.WatcherData
	WatcherAny      = jute.WatcherAny
)

// WorldACL grants perms to everyone (world:anyone).
func WorldACL(perms int32) []ACL {
	return []ACL{{Perms: perms, Scheme: "world", ID: "anyone"}}
}

// AuthACL grants perms to every identity the creating connection has
// authenticated as (scheme "auth"; the server expands it when it stores the ACL).
func AuthACL(perms int32) []ACL {
	return []ACL{{Perms: perms, Scheme: "auth", ID: ""}}
}

// DigestACL grants perms to the digest identity user:password, which a
// connection takes on with AddAuth("digest", []byte(user+":"+password)).
func DigestACL(perms int32, user, password string) []ACL {
	return []ACL{{Perms: perms, Scheme: "digest", ID: DigestID(user, password)}}
}

// DigestID is the id ZooKeeper's digest scheme stores for user:password:
// user:base64(sha1(user:password)).
func DigestID(user, password string) string {
	sum := sha1.Sum([]byte(user + ":" + password))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}
