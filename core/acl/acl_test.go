package acl

import (
	"errors"
	"testing"
)

func TestDigestMatchesZooKeeper(t *testing.T) {
	// Values produced by ZooKeeper's DigestAuthenticationProvider.generateDigest.
	cases := map[string]string{
		"super:test":    "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
		"user:password": "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=",
	}
	for in, want := range cases {
		if got := Digest(in); got != want {
			t.Errorf("Digest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	alice := Id{Scheme: "digest", ID: Digest("alice:pw")}
	ip := Id{Scheme: "ip", ID: "10.1.2.3"}
	node := []ACL{
		{Perms: Read, Scheme: "world", ID: "anyone"},
		{Perms: All, Scheme: "digest", ID: alice.ID},
		{Perms: Write, Scheme: "ip", ID: "10.1.0.0/16"},
	}
	cases := []struct {
		perm int32
		ids  []Id
		want bool
	}{
		{Read, nil, true},
		{Write, nil, false},
		{Write, []Id{ip}, true},
		{Delete, []Id{ip}, false},
		{Admin, []Id{alice}, true},
		{Admin, []Id{{Scheme: "super"}}, true},
		{Write, []Id{{Scheme: "ip", ID: "10.2.0.1"}}, false},
	}
	for i, c := range cases {
		if got := Check(node, c.perm, c.ids); got != c.want {
			t.Errorf("case %d: Check(perm %d, %v) = %v, want %v", i, c.perm, c.ids, got, c.want)
		}
	}
	if !Check(nil, Admin, nil) {
		t.Error("an empty ACL must allow everything, as in ZooKeeper")
	}
}

func TestIPMasks(t *testing.T) {
	cases := []struct {
		id, expr string
		want     bool
	}{
		{"192.168.1.5", "192.168.1.5", true},
		{"192.168.1.5", "192.168.1.0/24", true},
		{"192.168.2.5", "192.168.1.0/24", false},
		{"192.168.1.200", "192.168.1.128/25", true},
		{"192.168.1.100", "192.168.1.128/25", false},
		{"1.2.3.4", "0.0.0.0/0", true},
		{"1.2.3.4", "1.2.3.4/33", false},
		{"1.2.3.4", "1.2.3/8", false},
	}
	for _, c := range cases {
		if got := ipMatches(c.id, c.expr); got != c.want {
			t.Errorf("ipMatches(%q, %q) = %v, want %v", c.id, c.expr, got, c.want)
		}
	}
}

func TestFixup(t *testing.T) {
	alice := Id{Scheme: "digest", ID: Digest("alice:pw")}
	got, err := Fixup([]ACL{{Perms: All, Scheme: "auth"}, {Perms: Read, Scheme: "world", ID: "anyone"}, {Perms: Read, Scheme: "world", ID: "anyone"}},
		[]Id{{Scheme: "ip", ID: "127.0.0.1"}, alice})
	if err != nil {
		t.Fatal(err)
	}
	want := []ACL{{Perms: All, Scheme: "digest", ID: alice.ID}, {Perms: Read, Scheme: "world", ID: "anyone"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Fixup = %v, want %v", got, want)
	}
	invalid := [][]ACL{
		nil,
		{{Perms: All, Scheme: "auth"}}, // no authenticated identity
		{{Perms: All, Scheme: "world", ID: "someone"}},
		{{Perms: All, Scheme: "digest", ID: "nocolon"}},
		{{Perms: All, Scheme: "digest", ID: "a:"}},
		{{Perms: All, Scheme: "ip", ID: "300.1.1.1"}},
		{{Perms: All, Scheme: "ip", ID: "1.1.1.1/40"}},
		{{Perms: All, Scheme: "sasl", ID: "x"}},
	}
	for _, acls := range invalid {
		if _, err := Fixup(acls, []Id{{Scheme: "ip", ID: "127.0.0.1"}}); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("Fixup(%v) = %v, want ErrInvalidACL", acls, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	super := Digest("super:secret")
	ids, err := Authenticate("digest", []byte("super:secret"), "127.0.0.1", super)
	if err != nil || len(ids) != 2 || ids[0].Scheme != "super" {
		t.Fatalf("super digest: %v %v", ids, err)
	}
	ids, err = Authenticate("digest", []byte("bob:pw"), "127.0.0.1", super)
	if err != nil || len(ids) != 1 || ids[0] != (Id{"digest", Digest("bob:pw")}) {
		t.Fatalf("digest: %v %v", ids, err)
	}
	if _, err := Authenticate("kerberos", nil, "127.0.0.1", ""); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("unknown scheme: %v", err)
	}
	if UserName(ids[0]) != "bob" || UserName(Id{"ip", "1.2.3.4"}) != "1.2.3.4" {
		t.Fatal("UserName")
	}
}
