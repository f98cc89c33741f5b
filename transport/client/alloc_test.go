//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts mean nothing under -race.

package client

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/jute"
)

// TestCallAllocations guards the pooled request path: a small request and
// its reply should cost a couple of allocations, not dozens. The fake
// server below allocates nothing per request, since AllocsPerRun counts
// every goroutine.
func TestCallAllocations(t *testing.T) {
	f := newFakeServer(t)
	c, fc := connectFake(t, f)
	go fakeStatServer(fc)
	ctx := testCtx(t)
	allocs := testing.AllocsPerRun(500, func() {
		if _, _, err := c.Exists(ctx, "/a"); err != nil {
			t.Error(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("Exists allocates %.1f times per call", allocs)
	}
	allocs = testing.AllocsPerRun(500, func() {
		if _, err := c.Set(ctx, "/a", []byte("data"), -1); err != nil {
			t.Error(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("Set allocates %.1f times per call", allocs)
	}
}

// fakeStatServer answers every request with an empty Stat until the
// connection ends, without allocating, and writes replies in batches so
// that it costs less than the client it serves.
func fakeStatServer(fc *fakeConn) {
	var e jute.Encoder
	e.BeginFrame()
	(&jute.ReplyHeader{Zxid: 1}).Encode(&e)
	(&jute.Stat{}).Encode(&e)
	e.EndFrame(0)
	reply := e.Bytes()
	_ = fc.nc.SetReadDeadline(time.Time{})
	buf := make([]byte, 1<<20)
	out := make([]byte, 0, 64<<10)
	for {
		if _, err := io.ReadFull(fc.br, buf[:4]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(buf)
		if _, err := io.ReadFull(fc.br, buf[:n]); err != nil {
			return
		}
		off := len(out)
		out = append(out, reply...)
		copy(out[off+4:off+8], buf[:4]) // the request's xid
		if fc.br.Buffered() == 0 {
			if _, err := fc.nc.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
	}
}

// BenchmarkExistsParallel measures the client alone: many goroutines
// issuing small pipelined requests to a server that costs nothing.
func BenchmarkExistsParallel(b *testing.B) {
	f := newFakeServer(b)
	c, fc := connectFake(b, f)
	go fakeStatServer(fc)
	ctx := context.Background()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Exists(ctx, "/a"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
