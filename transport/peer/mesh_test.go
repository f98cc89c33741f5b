package peer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

var channels = []Channel{Election, Quorum}

func TestExchangeInOrder(t *testing.T) {
	c := newCluster(t, 3, nil)
	// Observers link like participants; the flag only enters the fingerprint.
	c.peers[3] = Addr{Quorum: c.peers[3].Quorum, Election: c.peers[3].Election, Observer: true}
	c.startAll()
	c.waitConnected()

	const count = 300
	var wg sync.WaitGroup
	for _, from := range c.ids() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := c.node(from).m
			for i := range int64(count) {
				for _, to := range c.ids() {
					for _, ch := range channels {
						m.Send(to, ch, seqPayload(i, 16+int(i)))
					}
				}
			}
		}()
	}
	wg.Wait()
	want := make([]int64, count)
	for i := range want {
		want[i] = int64(i)
	}
	for _, to := range c.ids() {
		for _, from := range c.ids() {
			for _, ch := range channels {
				n := c.node(to)
				waitFor(t, 10*time.Second, func() bool { return n.count(from, ch) >= count },
					"%d receives %d messages from %d on %s", to, count, from, ch)
				if got := n.seqs(from, ch); !slices.Equal(got, want) {
					t.Fatalf("%d from %d on %s: got %v", to, from, ch, got)
				}
			}
		}
	}
}

func TestRestartReconnects(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	c.waitConnected()
	// 1 is only dialed, 3 only dials, 2 does both.
	for _, id := range c.ids() {
		c.node(id).stop()
		for _, other := range c.ids() {
			if other == id {
				continue
			}
			n := c.node(other)
			for _, ch := range channels {
				waitFor(t, 5*time.Second, func() bool { return n.downs(id, ch) == 1 },
					"%d sees %d's %s link go down", other, id, ch)
				if n.m.Connected(id, ch) {
					t.Fatalf("%d still connected to stopped %d on %s", other, id, ch)
				}
			}
		}
		c.node(id).start()
		c.waitConnected()
		for _, other := range c.ids() {
			if other == id {
				continue
			}
			for _, ch := range channels {
				c.node(id).m.Send(other, ch, seqPayload(0, 8))
				c.node(other).m.Send(id, ch, seqPayload(0, 8))
			}
		}
		for _, other := range c.ids() {
			if other == id {
				continue
			}
			for _, ch := range channels {
				waitFor(t, 5*time.Second, func() bool {
					return slices.Contains(c.node(id).seqs(other, ch), 0) && c.node(other).count(id, ch) == 2
				}, "messages between restarted %d and %d on %s", id, other, ch)
				if got := c.node(other).seqs(id, ch); !slices.Equal(got, []int64{-1, 0}) {
					t.Fatalf("%d from %d on %s after restart: %v, want [Down 0]", other, id, ch, got)
				}
			}
		}
		// Start over the bookkeeping of the survivors for the next round.
		for _, other := range c.ids() {
			c.node(other).forget()
		}
	}
}

func TestLateStart(t *testing.T) {
	c := newCluster(t, 3, nil)
	// The highest starts first and keeps redialing until the others appear.
	c.node(3).start()
	c.node(3).m.Send(1, Quorum, seqPayload(0, 8)) // no link: dropped
	if c.node(3).m.Connected(1, Quorum) {
		t.Fatal("connected to a server that is not running")
	}
	c.node(1).start()
	c.node(2).start()
	c.waitConnected()
}

func TestBurstFIFO(t *testing.T) {
	const count = 100_000
	c := newCluster(t, 2, func(cfg *Config) { cfg.QueueLen = 2 * count })
	c.startAll()
	c.waitConnected()
	var wg sync.WaitGroup
	send := func(from, to int64, ch Channel) {
		defer wg.Done()
		m := c.node(from).m
		for i := range int64(count) {
			m.Send(to, ch, seqPayload(i, 24))
		}
	}
	wg.Add(3)
	go send(2, 1, Quorum)
	go send(1, 2, Quorum)
	go send(2, 1, Election)
	wg.Wait()
	for _, s := range []struct {
		to, from int64
		ch       Channel
	}{{1, 2, Quorum}, {2, 1, Quorum}, {1, 2, Election}} {
		n := c.node(s.to)
		waitFor(t, 20*time.Second, func() bool { return n.count(s.from, s.ch) >= count },
			"%d messages %d->%d on %s", count, s.from, s.to, s.ch)
		seqs := n.seqs(s.from, s.ch)
		if len(seqs) != count || seqs[0] != 0 {
			t.Fatalf("%d->%d on %s: %d messages starting at %d", s.from, s.to, s.ch, len(seqs), seqs[0])
		}
		checkNoGaps(t, "burst", seqs)
	}
}

func TestQueueOverflowBreaksLink(t *testing.T) {
	c := newCluster(t, 2, func(cfg *Config) {
		if cfg.ID == 2 {
			cfg.QueueLen = 8
		}
	})
	c.startAll()
	c.waitConnected()
	n1, n2 := c.node(1), c.node(2)

	// 1 stops reading: its socket buffers fill, 2's writer blocks, 2's
	// queue fills, and 2 breaks the link rather than drop one message.
	n1.pause.Lock()
	paused := true
	defer func() {
		if paused {
			n1.pause.Unlock()
		}
	}()
	// Pace the sends to the writer so the queue fills only once 1 has
	// stalled: the break then happens with 1 holding undelivered messages.
	l := n2.m.slots[linkKey{1, Quorum}].cur.Load()
	sent := int64(0)
	deadline := time.Now().Add(10 * time.Second)
	for n2.m.Connected(1, Quorum) {
		if time.Now().After(deadline) {
			t.Fatal("the link never broke")
		}
		if len(l.sendq) >= cap(l.sendq)/2 && poll(100*time.Millisecond, func() bool { return len(l.sendq) < cap(l.sendq)/2 }) {
			continue
		}
		n2.m.Send(1, Quorum, seqPayload(sent, 4096))
		sent++
	}
	waitFor(t, 5*time.Second, func() bool { return n2.downs(1, Quorum) == 1 }, "2 sees Down")
	// 2 redials; 1 installs the new link while still holding the old one's
	// messages, so the old Down must still come first.
	waitFor(t, 5*time.Second, func() bool { return n2.m.Connected(1, Quorum) && n1.m.Connected(2, Quorum) }, "link back")
	const after = 1 << 40
	n2.m.Send(1, Quorum, seqPayload(after, 64))
	paused = false
	n1.pause.Unlock()

	waitFor(t, 10*time.Second, func() bool {
		s := n1.seqs(2, Quorum)
		return len(s) > 0 && s[len(s)-1] == after
	}, "1 receives the message sent after the reconnect")
	seqs := n1.seqs(2, Quorum)
	checkNoGaps(t, "overflow", seqs)
	down := slices.Index(seqs, -1)
	if down <= 0 || down != len(seqs)-2 || seqs[0] != 0 {
		t.Fatalf("want 0..k, Down, %d; got %d messages, Down at %d, first %d", after, len(seqs), down, seqs[0])
	}
	t.Logf("link broke after %d sends; %d delivered before Down", sent, down)
	if n1.downs(2, Election) != 0 || n2.downs(1, Election) != 0 {
		t.Fatal("the election link went down too")
	}
	if !c.log.has(slog.LevelWarn, "peer link broken", ErrQueueFull.Error()) {
		t.Fatal("no warning logged for the full queue")
	}
}

func TestRefusals(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.DialTimeout = 500 * time.Millisecond })
	c.node(1).start()
	c.node(2).start()
	c.waitConnected()
	n1 := c.node(1)
	q1 := c.peers[1].Quorum
	fp := Fingerprint(c.peers)

	cases := []struct {
		name   string
		addr   string
		h      hello
		status uint8
		logged string
	}{
		{"unknown id", q1, hello{version: 1, channel: Quorum, id: 99, fingerprint: fp}, statusUnknownPeer, ErrUnknownPeer.Error()},
		{"wrong fingerprint", q1, hello{version: 1, channel: Quorum, id: 3, fingerprint: fp + 1}, statusFingerprint, ErrFingerprint.Error()},
		{"wrong port", q1, hello{version: 1, channel: Election, id: 3, fingerprint: fp}, statusWrongChannel, ErrWrongChannel.Error()},
		{"newer version", q1, hello{version: 2, channel: Quorum, id: 3, fingerprint: fp}, statusVersion, "upgrade this server"},
		{"lower id dials", c.peers[2].Quorum, hello{version: 1, channel: Quorum, id: 1, fingerprint: fp}, statusDirection, ErrWrongDirection.Error()},
		{"self id", q1, hello{version: 1, channel: Quorum, id: 1, fingerprint: fp}, statusUnknownPeer, ErrUnknownPeer.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, tc.addr)
			a := r.handshake(tc.h)
			if a.status != tc.status || a.version != protocolVersion {
				t.Fatalf("answer status %d version %d, want status %d version %d", a.status, a.version, tc.status, protocolVersion)
			}
			r.expectClosed()
			if !c.log.has(slog.LevelWarn, "peer connection refused", tc.logged) && !c.log.has(slog.LevelError, "peer connection refused", tc.logged) {
				t.Fatalf("no refusal logged with %q", tc.logged)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		r := dialRaw(t, q1)
		r.write(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 4))
		r.expectClosed() // with no answer: expectClosed would have read it
		waitFor(t, time.Second, func() bool { return c.log.has(slog.LevelWarn, ErrBadMagic.Error()) }, "bad magic logged")
	})
	t.Run("silent", func(t *testing.T) {
		r := dialRaw(t, c.peers[1].Election)
		r.expectClosed() // after DialTimeout
	})
	t.Run("other ensemble", func(t *testing.T) {
		// Server 3 believes in a fourth server: its fingerprint differs, so
		// 1 and 2 refuse it and it logs why.
		peers := maps(c.peers)
		peers[4] = Addr{Quorum: "127.0.0.1:1", Election: "127.0.0.1:2", Observer: true}
		n3 := c.node(3)
		n3.cfg.Peers = peers
		n3.start()
		waitFor(t, 5*time.Second, func() bool {
			return c.log.has(slog.LevelWarn, "[3]", "peer dial failed", "peer=1", ErrFingerprint.Error()) &&
				c.log.has(slog.LevelWarn, "[3]", "peer dial failed", "peer=2", ErrFingerprint.Error())
		}, "3 logs the refusals")
		for _, ch := range channels {
			if n1.m.Connected(3, ch) || n3.m.Connected(1, ch) {
				t.Fatal("a server of another ensemble got linked")
			}
		}
		n3.stop()
	})
	// The good link never noticed.
	for _, ch := range channels {
		if !n1.m.Connected(2, ch) || n1.downs(2, ch) != 0 || c.node(2).downs(1, ch) != 0 {
			t.Fatalf("link 1-2 on %s disturbed", ch)
		}
		n1.m.Send(2, ch, seqPayload(7, 8))
		c.node(2).m.Send(1, ch, seqPayload(8, 8))
		waitFor(t, 5*time.Second, func() bool {
			return slices.Equal(c.node(2).seqs(1, ch), []int64{7}) && slices.Equal(n1.seqs(2, ch), []int64{8})
		}, "1 and 2 still talk on %s", ch)
	}
}

func maps(m map[int64]Addr) map[int64]Addr {
	out := make(map[int64]Addr, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// poseAs3 connects to server 1's quorum port as server 3.
func poseAs3(t *testing.T, c *cluster) *rawPeer {
	r := dialRaw(t, c.peers[1].Quorum)
	a := r.handshake(hello{version: protocolVersion, channel: Quorum, id: 3, fingerprint: Fingerprint(c.peers)})
	if a.status != statusOK || a.id != 1 || a.channel != Quorum || a.fingerprint != Fingerprint(c.peers) {
		t.Fatalf("handshake refused: %+v", a)
	}
	waitFor(t, 5*time.Second, func() bool { return c.node(1).m.Connected(3, Quorum) }, "1 links to the raw 3")
	return r
}

func TestCorruptFrameClosesOnlyThatLink(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.node(1).start()
	c.node(2).start()
	c.waitConnected()
	n1 := c.node(1)
	r := poseAs3(t, c)

	r.write(frameBytes(seqPayload(0, 100)))
	// 1 can send to the raw peer too, in the same framing.
	n1.m.Send(3, Quorum, []byte("pong"))
	if p, err := readFrame(bufio.NewReader(r.nc), 1<<20); err != nil || string(p) != "pong" {
		t.Fatalf("reading 1's frame: %q, %v", p, err)
	}
	bad := frameBytes(seqPayload(1, 100))
	bad[len(bad)-1] ^= 0x40
	r.write(bad)
	r.expectClosed()
	waitFor(t, 5*time.Second, func() bool { return slices.Equal(n1.seqs(3, Quorum), []int64{0, -1}) }, "message, then Down")
	if n1.m.Connected(3, Quorum) {
		t.Fatal("still connected to 3")
	}
	if !c.log.has(slog.LevelWarn, "peer link broken", "peer=3", ErrChecksum.Error()) {
		t.Fatal("checksum failure not logged")
	}
	for _, ch := range channels {
		if !n1.m.Connected(2, ch) || n1.downs(2, ch) != 0 {
			t.Fatalf("link 1-2 on %s disturbed", ch)
		}
	}
	c.node(2).m.Send(1, Quorum, seqPayload(5, 8))
	waitFor(t, 5*time.Second, func() bool { return slices.Equal(n1.seqs(2, Quorum), []int64{5}) }, "2 still reaches 1")
}

func TestOversizeFrame(t *testing.T) {
	const maxFrame = 1024
	c := newCluster(t, 3, func(cfg *Config) {
		if cfg.ID == 1 {
			cfg.MaxFrame = maxFrame
		}
	})
	c.node(1).start()
	c.node(2).start()
	c.waitConnected()
	n1, n2 := c.node(1), c.node(2)

	t.Run("announced by a raw peer", func(t *testing.T) {
		r := poseAs3(t, c)
		r.write(frameBytes(make([]byte, maxFrame+1))[:100])
		r.expectClosed()
		waitFor(t, 5*time.Second, func() bool { return n1.downs(3, Quorum) == 1 }, "Down from 3")
		if !c.log.has(slog.LevelWarn, "peer link broken", "peer=3", ErrFrameTooLarge.Error()) {
			t.Fatal("oversize frame not logged")
		}
	})
	t.Run("refused by the receiver", func(t *testing.T) {
		n2.m.Send(1, Quorum, seqPayload(0, maxFrame)) // fits
		n2.m.Send(1, Quorum, seqPayload(1, maxFrame+1))
		waitFor(t, 5*time.Second, func() bool { return n1.downs(2, Quorum) == 1 && n2.downs(1, Quorum) == 1 }, "Down on both ends")
		c.waitConnected()
		n2.m.Send(1, Quorum, seqPayload(2, 8))
		waitFor(t, 5*time.Second, func() bool { return slices.Equal(n1.seqs(2, Quorum), []int64{0, -1, 2}) }, "0, Down, 2")
	})
	t.Run("refused by the sender", func(t *testing.T) {
		n1.m.Send(2, Election, seqPayload(0, maxFrame+1))
		waitFor(t, 5*time.Second, func() bool { return n1.downs(2, Election) == 1 && n2.downs(1, Election) == 1 }, "Down on both ends")
		c.waitConnected()
		n1.m.Send(2, Election, seqPayload(1, 8))
		waitFor(t, 5*time.Second, func() bool { return slices.Equal(n2.seqs(1, Election), []int64{-1, 1}) }, "Down, 1")
	})
}

func TestSelfDelivery(t *testing.T) {
	c := newCluster(t, 1, func(cfg *Config) { cfg.QueueLen = 4 })
	c.startAll()
	n := c.node(1)
	for _, ch := range channels {
		if !n.m.Connected(1, ch) {
			t.Fatal("not connected to itself")
		}
		n.m.Send(1, ch, seqPayload(0, 8))
		n.m.Send(1, ch, seqPayload(1, 8))
		waitFor(t, 5*time.Second, func() bool { return slices.Equal(n.seqs(1, ch), []int64{0, 1}) }, "self delivery on %s", ch)
	}
	// A stalled reader makes the local queue overflow like a peer's.
	n.pause.Lock()
	const count = 3000
	for i := int64(2); i < count; i++ {
		n.m.Send(1, Quorum, seqPayload(i, 8))
	}
	n.pause.Unlock()
	// Sends are dropped until the Down is taken, as to a peer that is down.
	next := int64(count)
	waitFor(t, 5*time.Second, func() bool {
		n.m.Send(1, Quorum, seqPayload(next, 8))
		next++
		s := n.seqs(1, Quorum)
		return s[len(s)-1] >= count
	}, "the link back")
	seqs := n.seqs(1, Quorum)
	checkNoGaps(t, "self", seqs)
	if !slices.Contains(seqs, -1) {
		t.Fatal("overflow did not break the local link")
	}
}

func TestStartErrors(t *testing.T) {
	leakCheck(t)
	addrs := freeAddrs(t, 2)
	good := map[int64]Addr{1: {Quorum: addrs[0], Election: addrs[1]}}
	for name, cfg := range map[string]Config{
		"self missing": {ID: 2, Peers: good},
		"bad address":  {ID: 1, Peers: map[int64]Addr{1: {Quorum: "nowhere", Election: addrs[1]}}},
		"same ports":   {ID: 1, Peers: map[int64]Addr{1: {Quorum: addrs[0], Election: addrs[0]}}},
		"negative":     {ID: 1, Peers: good, QueueLen: -1},
		"short secret": {ID: 1, Peers: good, Secret: []byte("fifteen bytes!!")},
	} {
		if _, err := Start(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	m, err := Start(Config{ID: 1, Peers: good, Logger: newLogRecorder(t).logger(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := Start(Config{ID: 1, Peers: good}); err == nil || errors.Is(err, ErrConfig) {
		t.Fatalf("second Start on the same ports: %v", err)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	c.waitConnected()
	for _, id := range c.ids() {
		for _, to := range c.ids() {
			for _, ch := range channels {
				c.node(id).m.Send(to, ch, seqPayload(0, 8))
			}
		}
	}
	// A node whose reader is stuck delivering must still close.
	n3 := c.node(3)
	n3.pause.Lock()
	for i := range int64(3000) {
		c.node(1).m.Send(3, Quorum, seqPayload(i, 8))
	}
	waitFor(t, 5*time.Second, func() bool { return len(n3.m.recv) == cap(n3.m.recv) }, "3's Recv fills")
	m3 := n3.m
	closed := make(chan struct{})
	go func() { m3.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs with a stalled reader")
	}
	n3.pause.Unlock()
	n3.stop()
	for _, id := range c.ids() {
		c.node(id).stop()
	}
	if err := m3.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	m3.Send(1, Quorum, []byte("late")) // no panic, no effect
	m3.Send(3, Quorum, []byte("late"))
	if _, ok := <-m3.Recv(); ok {
		// Drain whatever was buffered before Close; the channel must end.
		for range m3.Recv() {
		}
	}
	// leakCheck (registered by newCluster) verifies no goroutine survives.
}

// A dialer told by its peer that the peer speaks a newer protocol logs a
// clear error and keeps retrying (with backoff) until someone upgrades.
func TestDialerSeesRefusals(t *testing.T) {
	c := newCluster(t, 2, nil)
	fp := Fingerprint(c.peers)
	for _, tc := range []struct {
		name   string
		answer hello
		level  slog.Level
		logged string
	}{
		{"newer version", hello{version: 2, channel: Quorum, status: statusVersion, id: 1}, slog.LevelError, "upgrade this server"},
		{"fingerprint", hello{version: 1, channel: Quorum, status: statusFingerprint, id: 1, fingerprint: fp}, slog.LevelWarn, ErrFingerprint.Error()},
		{"wrong server", hello{version: 1, channel: Quorum, status: statusOK, id: 7, fingerprint: fp}, slog.LevelWarn, "answered as server 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Pose as server 1 on its quorum port.
			ln, err := net.Listen("tcp", c.peers[1].Quorum)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c.node(2).start()
			defer c.node(2).stop()
			nc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			var b [helloLen]byte
			if _, err := io.ReadFull(nc, b[:]); err != nil {
				t.Fatal(err)
			}
			if h, err := parseHello(b[:]); err != nil || h != (hello{version: 1, channel: Quorum, id: 2, fingerprint: fp}) {
				t.Fatalf("dialer's hello %+v, %v", h, err)
			}
			a := tc.answer.marshal()
			nc.Write(a[:])
			waitFor(t, 5*time.Second, func() bool {
				return c.log.has(tc.level, "[2]", "peer dial failed", "peer=1", "channel=quorum", tc.logged)
			}, "2 logs %q", tc.logged)
			if c.node(2).m.Connected(1, Quorum) {
				t.Fatal("connected after a refusal")
			}
		})
	}
}
