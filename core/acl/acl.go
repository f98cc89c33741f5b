// Package acl implements ZooKeeper's access control: the world, auth, digest
// and ip schemes, a super digest, permission checks and the fix-up a create
// or setACL applies to the ACL it is given. It is pure: the caller supplies
// the connection's identities.
package acl

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Permission bits, as ZooDefs.Perms. Part of the wire protocol.
const (
	Read   int32 = 1 << 0
	Write  int32 = 1 << 1
	Create int32 = 1 << 2
	Delete int32 = 1 << 3
	Admin  int32 = 1 << 4
	All    int32 = Read | Write | Create | Delete | Admin
)

// Id is an identity a connection holds: a scheme and an id within it.
type Id struct {
	Scheme string
	ID     string
}

// ACL grants Perms to the identities matching Scheme and ID.
type ACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// Well-known ACLs (ZooDefs.Ids).
var (
	OpenUnsafe = []ACL{{Perms: All, Scheme: "world", ID: "anyone"}}
	ReadUnsafe = []ACL{{Perms: Read, Scheme: "world", ID: "anyone"}}
	CreatorAll = []ACL{{Perms: All, Scheme: "auth", ID: ""}}
)

// Errors returned by Authenticate and Fixup; callers map them to ZooKeeper's
// AuthFailed and InvalidACL codes.
var (
	ErrAuthFailed = errors.New("acl: authentication failed")
	ErrInvalidACL = errors.New("acl: invalid ACL")
)

// Digest returns the digest-scheme id for "user:password":
// user:base64(sha1("user:password")).
func Digest(userPassword string) string {
	user, _, _ := strings.Cut(userPassword, ":")
	sum := sha1.Sum([]byte(userPassword))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// Authenticate handles an auth packet for scheme with the given payload.
// remoteIP is the client's address; superDigest, if not empty, is the digest
// id ("super:...") whose holder bypasses every check. It returns the
// identities to add to the connection.
func Authenticate(scheme string, auth []byte, remoteIP, superDigest string) ([]Id, error) {
	switch scheme {
	case "digest":
		id := Digest(string(auth))
		ids := []Id{{Scheme: "digest", ID: id}}
		if superDigest != "" && id == superDigest {
			ids = append([]Id{{Scheme: "super", ID: ""}}, ids...)
		}
		return ids, nil
	case "ip":
		return []Id{{Scheme: "ip", ID: remoteIP}}, nil
	}
	return nil, ErrAuthFailed
}

// Check reports whether ids hold perm on a node with the given ACL. An empty
// ACL allows everything and a "super" identity passes every check, as in
// ZooKeeper.
func Check(acls []ACL, perm int32, ids []Id) bool {
	if len(acls) == 0 {
		return true
	}
	for _, id := range ids {
		if id.Scheme == "super" {
			return true
		}
	}
	for _, a := range acls {
		if a.Perms&perm == 0 {
			continue
		}
		if a.Scheme == "world" && a.ID == "anyone" {
			return true
		}
		for _, id := range ids {
			if id.Scheme == a.Scheme && matches(a.Scheme, id.ID, a.ID) {
				return true
			}
		}
	}
	return false
}

func matches(scheme, id, expr string) bool {
	switch scheme {
	case "digest":
		return id == expr
	case "ip":
		return ipMatches(id, expr)
	}
	return false
}

// Fixup validates the ACL of a create or setACL and returns the ACL to store:
// duplicates removed, each "auth" entry replaced by the connection's
// authenticated (digest) identities. An empty list, an unknown scheme, a
// malformed id, or "auth" without an authenticated identity is ErrInvalidACL.
func Fixup(acls []ACL, ids []Id) ([]ACL, error) {
	uniq := make([]ACL, 0, len(acls))
	for _, a := range acls {
		dup := false
		for _, u := range uniq {
			if u == a {
				dup = true
				break
			}
		}
		if !dup {
			uniq = append(uniq, a)
		}
	}
	if len(uniq) == 0 {
		return nil, ErrInvalidACL
	}
	out := make([]ACL, 0, len(uniq))
	for _, a := range uniq {
		switch {
		case a.Scheme == "world" && a.ID == "anyone":
			out = append(out, a)
		case a.Scheme == "auth":
			found := false
			for _, id := range ids {
				if authenticatedScheme(id.Scheme) {
					found = true
					out = append(out, ACL{Perms: a.Perms, Scheme: id.Scheme, ID: id.ID})
				}
			}
			if !found {
				return nil, ErrInvalidACL
			}
		case a.Scheme == "digest" && validDigest(a.ID):
			out = append(out, a)
		case a.Scheme == "ip" && validIP(a.ID):
			out = append(out, a)
		default:
			return nil, ErrInvalidACL
		}
	}
	return out, nil
}

// authenticatedScheme reports whether identities of scheme count as
// authenticated for the "auth" ACL scheme (ZooKeeper's isAuthenticated: true
// for digest, false for ip; "super" has no provider).
func authenticatedScheme(scheme string) bool { return scheme == "digest" }

// validDigest mirrors Java's id.split(":").length == 2, where split drops
// trailing empty strings.
func validDigest(id string) bool {
	parts := strings.Split(id, ":")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return len(parts) == 2
}

// UserName is the user part of an identity, as whoAmI reports it.
func UserName(id Id) string {
	switch id.Scheme {
	case "digest":
		user, _, _ := strings.Cut(id.ID, ":")
		return user
	case "ip":
		return id.ID
	}
	return ""
}

func parseIPv4(s string) ([4]byte, bool) {
	var b [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return b, false
	}
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 32)
		if err != nil || v < 0 || v > 255 {
			return b, false
		}
		b[i] = byte(v)
	}
	return b, true
}

func parseIPExpr(expr string) (addr [4]byte, bits int, ok bool) {
	a, bitsStr, hasBits := strings.Cut(expr, "/")
	addr, ok = parseIPv4(a)
	if !ok {
		return addr, 0, false
	}
	bits = 32
	if hasBits {
		v, err := strconv.ParseInt(bitsStr, 10, 32)
		if err != nil || v < 0 || v > 32 {
			return addr, 0, false
		}
		bits = int(v)
	}
	return addr, bits, true
}

func validIP(expr string) bool {
	_, _, ok := parseIPExpr(expr)
	return ok
}

func maskIP(b [4]byte, bits int) [4]byte {
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits <= 0:
			b[i] = 0
		default:
			b[i] &= ^byte(0xff >> bits)
			bits = 0
		}
	}
	return b
}

func ipMatches(id, expr string) bool {
	aclAddr, bits, ok := parseIPExpr(expr)
	if !ok {
		return false
	}
	remote, ok := parseIPv4(id)
	if !ok {
		return false
	}
	return maskIP(aclAddr, bits) == maskIP(remote, bits)
}
