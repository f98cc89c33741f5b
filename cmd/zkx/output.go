package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

// javaDateLayout is java.util.Date.toString's "EEE MMM dd HH:mm:ss zzz yyyy",
// which zkCli prints for ctime and mtime.
const javaDateLayout = "Mon Jan 02 15:04:05 MST 2006"

// printStat writes a Stat as zkCli's StatPrinter does. Times are shown in
// loc, as Java shows them in the default time zone.
func printStat(w io.Writer, st client.Stat, loc *time.Location) {
	fmt.Fprintf(w, "cZxid = 0x%x\n", uint64(st.Czxid))
	fmt.Fprintf(w, "ctime = %s\n", time.UnixMilli(st.Ctime).In(loc).Format(javaDateLayout))
	fmt.Fprintf(w, "mZxid = 0x%x\n", uint64(st.Mzxid))
	fmt.Fprintf(w, "mtime = %s\n", time.UnixMilli(st.Mtime).In(loc).Format(javaDateLayout))
	fmt.Fprintf(w, "pZxid = 0x%x\n", uint64(st.Pzxid))
	fmt.Fprintf(w, "cversion = %d\n", st.Cversion)
	fmt.Fprintf(w, "dataVersion = %d\n", st.Version)
	fmt.Fprintf(w, "aclVersion = %d\n", st.Aversion)
	fmt.Fprintf(w, "ephemeralOwner = 0x%x\n", uint64(st.EphemeralOwner))
	fmt.Fprintf(w, "dataLength = %d\n", st.DataLength)
	fmt.Fprintf(w, "numChildren = %d\n", st.NumChildren)
}

// printACL writes an ACL as zkCli's getAcl does: the Id record's toString
// (each field quoted and escaped, fields comma-separated, then a newline),
// then ": " and the permissions.
func printACL(w io.Writer, acl []client.ACL) {
	for _, a := range acl {
		fmt.Fprintf(w, "%s,%s\n: %s\n", juteString(a.Scheme), juteString(a.ID), permString(a.Perms))
	}
}

// juteString is a string field as jute's ToStringOutputArchive writes it.
func juteString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case 0:
			b.WriteString("%00")
		case '\n':
			b.WriteString("%0A")
		case '\r':
			b.WriteString("%0D")
		case ',':
			b.WriteString("%2C")
		case '}':
			b.WriteString("%7D")
		case '%':
			b.WriteString("%25")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// permString is ZKUtil.getPermString: the granted permissions in the
// order c, d, r, w, a.
func permString(perms int32) string {
	var b strings.Builder
	for _, p := range aclPerms {
		if perms&p.bit != 0 {
			b.WriteByte(p.letter)
		}
	}
	return b.String()
}

var aclPerms = []struct {
	letter byte
	bit    int32
}{
	{'c', client.PermCreate},
	{'d', client.PermDelete},
	{'r', client.PermRead},
	{'w', client.PermWrite},
	{'a', client.PermAdmin},
}
