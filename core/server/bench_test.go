package server

import (
	"testing"

	"github.com/zkx-project/zkx/transport/jute"
)

// discardSink encodes replies like a transport would, then drops them.
type discardSink struct {
	e jute.Encoder
}

func (d *discardSink) Begin() *jute.Encoder {
	d.e.Reset(d.e.Bytes()[:0])
	return &d.e
}
func (d *discardSink) End()   {}
func (d *discardSink) Close() {}

func BenchmarkGetData(b *testing.B) {
	bd := newBed(&testing.T{})
	cl := bd.connect(0, nil)
	cl.call(jute.OpCreate, &jute.CreateRequest{Path: "/bench", Data: make([]byte, 100), ACL: openACL, TTL: -1}, nil)
	c := bd.s.NewConn(&discardSink{}, "127.0.0.1:1")
	c.mu.Lock()
	c.state = stateEstablished
	c.session.Store(cl.sid)
	c.mu.Unlock()
	e := jute.NewEncoder(nil)
	(&jute.RequestHeader{Xid: 1, Type: jute.OpGetData}).Encode(e)
	(&jute.PathWatchRequest{Path: "/bench"}).Encode(e)
	frame := e.Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Handle(frame); err != nil {
			b.Fatal(err)
		}
	}
}
