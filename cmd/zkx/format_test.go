package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
)

func TestPrintStat(t *testing.T) {
	st := client.Stat{
		Czxid: 0x100000002, Mzxid: 0x100000005, Pzxid: 0x100000007,
		Ctime: 0, Mtime: 1700000000123,
		Version: 3, Cversion: 4, Aversion: 1,
		EphemeralOwner: -0x7fffffffffffffff - 1, // hex of a negative long: Long.toHexString
		DataLength:     11, NumChildren: 2,
	}
	var b bytes.Buffer
	printStat(&b, st, time.FixedZone("PST", -8*3600))
	want := `cZxid = 0x100000002
ctime = Wed Dec 31 16:00:00 PST 1969
mZxid = 0x100000005
mtime = Tue Nov 14 14:13:20 PST 2023
pZxid = 0x100000007
cversion = 4
dataVersion = 3
aclVersion = 1
ephemeralOwner = 0x8000000000000000
dataLength = 11
numChildren = 2
`
	if b.String() != want {
		t.Errorf("printStat =\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printStat(&b, client.Stat{Ctime: 1704153600000}, time.UTC) // Java pads the day: "Tue Jan 02"
	if line := strings.Split(b.String(), "\n")[1]; line != "ctime = Tue Jan 02 00:00:00 UTC 2024" {
		t.Errorf("ctime line %q", line)
	}
}

func TestPrintACL(t *testing.T) {
	var b bytes.Buffer
	printACL(&b, []client.ACL{
		{Perms: client.PermAll, Scheme: "world", ID: "anyone"},
		{Perms: client.PermRead | client.PermAdmin, Scheme: "x509", ID: "CN=a,O=b%}\n"},
		{Perms: 0, Scheme: "ip", ID: "10.0.0.0/8"},
	})
	// Id.toString escapes as jute's ToStringOutputArchive does.
	want := "'world,'anyone\n: cdrwa\n'x509,'CN=a%2CO=b%25%7D%0A\n: ra\n'ip,'10.0.0.0/8\n: \n"
	if b.String() != want {
		t.Errorf("printACL = %q, want %q", b.String(), want)
	}
}

func TestParseACL(t *testing.T) {
	acl := func(perms int32, scheme, id string) client.ACL {
		return client.ACL{Perms: perms, Scheme: scheme, ID: id}
	}
	cases := []struct {
		in   string
		want []client.ACL
		err  string
	}{
		{in: "world:anyone:cdrwa", want: []client.ACL{acl(client.PermAll, "world", "anyone")}},
		{in: "world:anyone:r", want: []client.ACL{acl(client.PermRead, "world", "anyone")}},
		{in: "digest:bob:fyVmFCwVbTJYrznoSu1koqYEYF0=:cdrwa", want: []client.ACL{acl(client.PermAll, "digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=")}},
		{in: "ip:10.0.0.0/8:r,auth::cdrwa", want: []client.ACL{acl(client.PermRead, "ip", "10.0.0.0/8"), acl(client.PermAll, "auth", "")}},
		{in: "ip:::1:rw", want: []client.ACL{acl(client.PermRead|client.PermWrite, "ip", "::1")}},
		{in: "world:anyone:", want: []client.ACL{acl(0, "world", "anyone")}},
		{in: "world:anyone:aaw", want: []client.ACL{acl(client.PermAdmin|client.PermWrite, "world", "anyone")}},
		{in: "world:anyone", err: "world:anyone does not have the form scheme:id:perm"},
		{in: "world:anyone:r,", err: " does not have the form scheme:id:perm"},
		{in: "", err: " does not have the form scheme:id:perm"},
		{in: "world:anyone:R", err: "Unknown perm type: R"},
	}
	for _, tc := range cases {
		got, err := parseACL(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseACL(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseACL(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestACLTextRoundTrip: what getAcl prints for an ACL, turned back into
// setAcl's syntax, parses to the same ACL.
func TestACLTextRoundTrip(t *testing.T) {
	for perms := int32(0); perms <= client.PermAll; perms++ {
		in := []client.ACL{{Perms: perms, Scheme: "digest", ID: "u:h="}, {Perms: client.PermAll &^ perms, Scheme: "ip", ID: "10.1.2.3"}}
		var b bytes.Buffer
		printACL(&b, in)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		var spec []string
		for i := 0; i < len(lines); i += 2 {
			scheme, id, _ := strings.Cut(lines[i], ",")
			spec = append(spec, strings.TrimPrefix(scheme, "'")+":"+strings.TrimPrefix(id, "'")+":"+strings.TrimPrefix(lines[i+1], ": "))
		}
		got, err := parseACL(strings.Join(spec, ","))
		if err != nil || !reflect.DeepEqual(got, in) {
			t.Errorf("perms %d: %q parses to %v, %v; want %v", perms, strings.Join(spec, ","), got, err, in)
		}
	}
}

func TestValidatePath(t *testing.T) {
	cases := []struct {
		path       string
		sequential bool
		err        string
	}{
		{path: "/"},
		{path: "/a/b.c/..d/é"},
		{path: "/q/", sequential: true},
		{path: "", err: "Path length must be > 0"},
		{path: "a", err: "Path must start with / character"},
		{path: "/a/", err: "Path must not end with / character"},
		{path: "/a//b", err: `Invalid path string "/a//b" caused by empty node name specified @3`},
		{path: "/a/./b", err: `Invalid path string "/a/./b" caused by relative paths not allowed @3`},
		{path: "/a/..", err: `Invalid path string "/a/.." caused by relative paths not allowed @4`},
		{path: "/a\x00", err: `Invalid path string "/a` + "\x00" + `" caused by null character not allowed @2`},
		{path: "/a\tb", err: `Invalid path string "/a` + "\t" + `b" caused by invalid character @2`},
		{path: "/ab\U0001F600", err: `Invalid path string "/ab` + "\U0001F600" + `" caused by invalid character @3`},
		{path: "/q//", sequential: true, err: `Invalid path string "/q//1" caused by empty node name specified @3`},
	}
	for _, tc := range cases {
		err := validatePath(tc.path, tc.sequential)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
			t.Errorf("validatePath(%q, %v) = %v, want %q", tc.path, tc.sequential, err, tc.err)
		}
	}
}

func TestKeeperMessage(t *testing.T) {
	cases := map[jute.Err]string{
		jute.ErrNoNode:                  "Node does not exist: /x",
		jute.ErrNodeExists:              "Node already exists: /x",
		jute.ErrNotEmpty:                "Node not empty: /x",
		jute.ErrBadVersion:              "version No is not valid : /x",
		jute.ErrNoAuth:                  "Insufficient permission : /x",
		jute.ErrNoChildrenForEphemerals: "Ephemerals cannot have children: /x",
		jute.ErrInvalidACL:              "Acl is not valid : /x",
		jute.ErrBadArguments:            "Arguments are not valid : /x",
		jute.ErrConnectionLoss:          "KeeperErrorCode = ConnectionLoss for /x",
		jute.ErrSessionExpired:          "KeeperErrorCode = Session expired for /x",
	}
	for code, want := range cases {
		if got := keeperMessage(code, "/x"); got != want {
			t.Errorf("keeperMessage(%v) = %q, want %q", code.Name(), got, want)
		}
	}
	if got := keeperMessage(jute.ErrAuthFailed, ""); got != "KeeperErrorCode = AuthFailed" {
		t.Errorf("keeperMessage without a path = %q", got)
	}
}

func TestParseServers(t *testing.T) {
	cases := map[string][]string{
		"":                     {"127.0.0.1:2181"},
		"zk1":                  {"zk1:2181"},
		"zk1:2182, zk2,zk3:1 ": {"zk1:2182", "zk2:2181", "zk3:1"},
	}
	for in, want := range cases {
		if got, err := parseServers(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseServers(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseServers("zk1:2181/chroot"); err == nil {
		t.Error("a chroot was accepted")
	}
}

func TestParseTTL(t *testing.T) {
	cases := map[string]time.Duration{"1": time.Millisecond, "60000": time.Minute, "1m": time.Minute, "1.5ms": time.Millisecond, "0": 0}
	for in, want := range cases {
		if got, err := parseTTL(in); err != nil || got != want {
			t.Errorf("parseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseTTL("soon"); err == nil {
		t.Error("parseTTL(soon) succeeded")
	}
}
