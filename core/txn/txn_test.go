package txn

import (
	"reflect"
	"testing"

	"github.com/zkx-project/zkx/core/acl"
)

func sampleTxns() []*Txn {
	open := []acl.ACL{{Perms: acl.All, Scheme: "world", ID: "anyone"}}
	return []*Txn{
		{Zxid: 1, Session: 0x100000001, Cxid: 1, Time: 1700000000000, Op: &CreateSession{Timeout: 30000, Password: []byte("0123456789abcdef"), Owner: 1}},
		{Zxid: 2, Session: 0x100000001, Cxid: 2, Time: 1700000000001, Op: &Create{Path: "/a", Data: []byte("x"), ACL: open, Owner: 0, ParentCversion: 1}},
		{Zxid: 3, Session: 5, Cxid: -3, Time: 3, Op: &Create{Path: "/n", Data: nil, ACL: open, Owner: ContainerOwner, ParentCversion: 7}},
		{Zxid: 4, Op: &Create{Path: "/t", Data: []byte{}, ACL: open, Owner: TTLOwner(5000), ParentCversion: 8}},
		{Zxid: 5, Op: &Delete{Path: "/a"}},
		{Zxid: 6, Op: &SetData{Path: "/b", Data: []byte("yy"), Version: 3}},
		{Zxid: 7, Op: &SetACL{Path: "/b", ACL: []acl.ACL{{Perms: acl.Read, Scheme: "digest", ID: "u:p"}}, Version: 1}},
		{Zxid: 8, Op: &Multi{Ops: []Op{&Check{Path: "/b", Version: 2}, &Delete{Path: "/b"}, &Error{Code: -2}}}},
		{Zxid: 9, Op: &CloseSession{Paths: []string{"/e1", "/e2"}}},
		{Zxid: 10, Op: &Error{Code: -101}},
		{Zxid: 11, Op: &RecipeResult{Result: []byte(`{"ok":true}`)}},
		{Zxid: 13, Op: &RecipeResult{Code: -7001, Message: "lock.acquire: boom"}},
		{Zxid: 14, Op: &Multi{Ops: []Op{&Create{Path: "/l/w-", ACL: []acl.ACL{}}, &RecipeResult{Parked: true, Wait: []string{"/l/a", "/l/b"}}}}},
		{Zxid: 12, Op: &SetSessionOwner{Owner: 3}},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	var buf []byte
	for _, tx := range sampleTxns() {
		buf = Marshal(buf, tx)
	}
	rest := buf
	for i, want := range sampleTxns() {
		got, r, err := Unmarshal(rest)
		if err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("txn %d: got %+v, want %+v", i, got, want)
		}
		rest = r
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left over", len(rest))
	}
}

func TestUnmarshalTruncated(t *testing.T) {
	for _, tx := range sampleTxns() {
		b := Marshal(nil, tx)
		for n := 0; n < len(b); n++ {
			if _, _, err := Unmarshal(b[:n]); err == nil {
				t.Fatalf("%T truncated to %d of %d bytes decoded without error", tx.Op, n, len(b))
			}
		}
	}
}

func TestTTLOwner(t *testing.T) {
	if ttl, ok := IsTTLOwner(TTLOwner(1234)); !ok || ttl != 1234 {
		t.Fatalf("IsTTLOwner(TTLOwner(1234)) = %d, %v", ttl, ok)
	}
	for _, owner := range []int64{0, ContainerOwner, 0x0100000000000001, 42} {
		if _, ok := IsTTLOwner(owner); ok {
			t.Fatalf("owner %#x taken for a TTL", owner)
		}
	}
	// ZooKeeper's encoding: 0xff in the top byte, the TTL in the low 40 bits.
	if got := uint64(TTLOwner(1000)); got != 0xff000000000003e8 {
		t.Fatalf("TTLOwner(1000) = %#x", got)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, tx := range sampleTxns() {
		f.Add(Marshal(nil, tx))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, _, err := Unmarshal(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to a form that decodes the same.
		again, _, err := Unmarshal(Marshal(nil, tx))
		if err != nil || !reflect.DeepEqual(again, tx) {
			t.Fatalf("re-encoding changed the txn: %+v vs %+v (%v)", tx, again, err)
		}
	})
}
