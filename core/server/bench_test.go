package server

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/txn"
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

// BenchmarkSnapshotStall measures how long apply can be kept waiting by a
// snapshot of a 200,000-node tree written through zstd: the longest wait
// for the tree's write lock while the snapshot runs (max-stall-us) and how
// long the snapshot took (snapshot-ms).
func BenchmarkSnapshotStall(b *testing.B) {
	bd := newBed(&testing.T{})
	var batch []*txn.Txn
	z := bd.s.LastZxid()
	data := make([]byte, 100)
	for i := 0; i < 200; i++ {
		z++
		batch = append(batch, &txn.Txn{Zxid: z, Op: &txn.Create{Path: fmt.Sprintf("/p%03d", i), ACL: acl.OpenUnsafe, ParentCversion: -1}})
		for j := 0; j < 1000; j++ {
			z++
			batch = append(batch, &txn.Txn{Zxid: z, Op: &txn.Create{Path: fmt.Sprintf("/p%03d/n%04d", i, j), Data: data, ACL: acl.OpenUnsafe, ParentCversion: -1}})
		}
	}
	bd.s.ApplyCommitted(batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		enc, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
		done := make(chan struct{})
		start := time.Now()
		go func() {
			bd.s.SnapshotBody(enc)
			enc.Close()
			close(done)
		}()
		var worst time.Duration
	wait:
		for {
			select {
			case <-done:
				break wait
			default:
			}
			t := time.Now()
			bd.s.mu.Lock()
			if d := time.Since(t); d > worst {
				worst = d
			}
			bd.s.mu.Unlock()
			runtime.Gosched() // let the snapshot run between probes
		}
		b.ReportMetric(float64(worst.Microseconds()), "max-stall-us")
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "snapshot-ms")
	}
}
