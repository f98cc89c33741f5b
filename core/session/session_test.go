package session

import (
	"reflect"
	"testing"
)

func TestExpiryInTicks(t *testing.T) {
	tb := New(100, 1, 0)
	tb.Add(Session{ID: 1, Timeout: 400}, 1000) // due at roundUp(1400) = 1500
	tb.Add(Session{ID: 2, Timeout: 1000}, 1000)
	if got := tb.Expire(1499); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if got := tb.Expire(1500); !reflect.DeepEqual(got, []int64{1}) {
		t.Fatalf("Expire(1500) = %v", got)
	}
	if tb.Touch(1, 1600) || tb.Valid(1) {
		t.Fatal("an expired session must not be touched back to life")
	}
	// Touching moves the deadline.
	if !tb.Touch(2, 1900) {
		t.Fatal("touch failed")
	}
	if got := tb.Expire(2100); len(got) != 0 {
		t.Fatalf("touched session expired: %v", got)
	}
	if got := tb.Expire(3000); !reflect.DeepEqual(got, []int64{2}) {
		t.Fatalf("Expire(3000) = %v", got)
	}
	tb.Remove(1)
	tb.Remove(2)
	if tb.Len() != 0 {
		t.Fatal("Remove")
	}
}

func TestClosingAndIDs(t *testing.T) {
	tb := New(100, 3, 1700000000000)
	a, b := tb.NextID(), tb.NextID()
	if a == b || a>>56 != 3 || b>>56 != 3 {
		t.Fatalf("ids %x %x must differ and carry server id 3 in the top byte", a, b)
	}
	tb.Add(Session{ID: a, Timeout: 1000, Password: []byte("pw")}, 0)
	if !tb.SetClosing(a) || tb.SetClosing(a) {
		t.Fatal("SetClosing")
	}
	if got := tb.Expire(1 << 40); len(got) != 0 {
		t.Fatal("a closing session is not expired again")
	}
	s, ok := tb.Get(a)
	if !ok || string(s.Password) != "pw" {
		t.Fatal("Get")
	}
}
