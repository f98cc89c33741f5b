package server

import (
	"testing"

	"github.com/zkx-project/zkx/transport/jute"
)

// With readonlymode.enabled, a member without a leader serves reads to the
// clients that allow it: they see its data, their writes get NotReadOnly,
// clients that did not ask are refused, and once a leader is back the
// read-only connections are closed so the clients find a read-write one.
func TestReadOnlyModeWithoutLeader(t *testing.T) {
	b := newBed(t)
	b.s.cfg.ReadOnlyMode = true
	rw := b.connect(0, nil)
	if _, errc := rw.create("/a", 0); errc != 0 {
		t.Fatal(errc)
	}
	b.s.SetRole(RoleLooking, 0, 0)
	if !rw.sink.closed {
		t.Fatal("losing the leader must close the read-write connection")
	}
	if !b.s.ReadOnly() {
		t.Fatal("ReadOnly (isro) is false without a leader in read-only mode")
	}

	// A client that allows read-only service.
	ro := &client{b: b, sink: &fakeSink{}}
	ro.c = b.s.NewConn(ro.sink, "127.0.0.1")
	req := jute.ConnectRequest{TimeOut: 1000, Passwd: make([]byte, 16), ReadOnly: true, HasReadOnly: true}
	e := jute.NewEncoder(nil)
	req.Encode(e)
	if err := ro.c.Handle(e.Bytes()); err != nil {
		t.Fatalf("read-only connect: %v", err)
	}
	frames := ro.sink.take()
	var resp jute.ConnectResponse
	resp.HasReadOnly = true
	if len(frames) != 1 || jute.Decode(frames[0], &resp) != nil || !resp.ReadOnly || resp.SessionID == 0 {
		t.Fatalf("read-only connect answered %+v (%d frames)", resp, len(frames))
	}
	var got jute.GetDataResponse
	if errc := ro.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/a"}, &got); errc != 0 {
		t.Fatalf("read in read-only mode: %v", errc)
	}
	if _, errc := ro.create("/b", 0); errc != jute.ErrNotReadOnly {
		t.Fatalf("write in read-only mode: %v, want NotReadOnly", errc)
	}

	// A client that did not allow it is refused.
	plain := &client{b: b, sink: &fakeSink{}}
	plain.c = b.s.NewConn(plain.sink, "127.0.0.1")
	req.ReadOnly = false
	e = jute.NewEncoder(nil)
	req.Encode(e)
	if err := plain.c.Handle(e.Bytes()); err == nil {
		t.Fatal("a client that did not allow read-only service was accepted")
	}

	b.s.SetRole(RoleFollower, 2, 1)
	if !ro.sink.closed {
		t.Fatal("the read-only connection must close once a leader is back")
	}
	if b.s.ReadOnly() {
		t.Fatal("still read-only with a leader")
	}
}
