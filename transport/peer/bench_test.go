package peer

import (
	"testing"
	"time"
)

// BenchmarkSend measures one-way throughput of 200-byte payloads from one
// server to another over loopback (the receiver only counts). The sender
// keeps at most window payloads in flight so the link never overflows.
func BenchmarkSend(b *testing.B) {
	const size, window = 200, 4096
	c := newCluster(b, 2, nil)
	c.node(1).startBare() // the benchmark reads its Recv
	c.node(2).start()
	c.waitConnected()
	src, dst := c.node(2).m, c.node(1)

	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; n < b.N; {
			in := <-dst.m.Recv()
			if in.Down {
				b.Error("link went down")
				return
			}
			n++
			credits <- struct{}{}
		}
	}()
	payload := make([]byte, size)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		<-credits
		src.Send(1, Quorum, payload)
	}
	<-done
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
