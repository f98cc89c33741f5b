package peer

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"
)

var (
	secretA = []byte("correct horse battery staple")
	secretB = []byte("a different secret entirely")
)

// Servers sharing a secret link up and carry frames as usual.
func TestSecretLinksUp(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.Secret = secretA })
	c.startAll()
	c.waitConnected()
	for _, ch := range channels {
		c.node(3).m.Send(1, ch, seqPayload(1, 64))
		c.node(1).m.Send(3, ch, seqPayload(2, 64))
		waitFor(t, 5*time.Second, func() bool {
			return slices.Equal(c.node(1).seqs(3, ch), []int64{1}) && slices.Equal(c.node(3).seqs(1, ch), []int64{2})
		}, "1 and 3 talk on %s", ch)
	}
}

// A server with another secret, or with none, or without one where the
// others have one, is refused, and both sides log why; the others' links
// are not disturbed.
func TestSecretMismatchRefused(t *testing.T) {
	for _, tc := range []struct {
		name           string
		others, third  []byte
		dialer, accept string // what server 3 (the dialer) and 1 (the acceptor) log
	}{
		{"different secret", secretA, secretB, "rejected our proof", "proof does not match our secret"},
		{"third has none", secretA, nil, "one side only", "the peer has none"},
		{"only third has one", nil, secretB, "one side only", "the peer has a quorum secret, we have none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, func(cfg *Config) {
				cfg.Secret = tc.others
				if cfg.ID == 3 {
					cfg.Secret = tc.third
				}
			})
			c.startAll()
			waitFor(t, 10*time.Second, func() bool {
				return c.node(1).m.Connected(2, Quorum) && c.node(1).m.Connected(2, Election) &&
					c.log.has(slog.LevelWarn, "[3]", "peer dial failed", "peer=1", ErrAuth.Error(), tc.dialer) &&
					c.log.has(slog.LevelWarn, "[1]", "peer connection refused", "peer=3", ErrAuth.Error(), tc.accept)
			}, "1-2 linked, 3 refused by 1 and both log why")
			for _, ch := range channels {
				if c.node(1).m.Connected(3, ch) || c.node(3).m.Connected(1, ch) || c.node(2).m.Connected(3, ch) {
					t.Fatalf("server 3 got linked on %s", ch)
				}
			}
		})
	}
}

// A dialer that does not know the secret gets a rejection and nothing it
// could use: the acceptor's proof is withheld.
func TestSecretWrongProofGetsNothing(t *testing.T) {
	c := newCluster(t, 2, func(cfg *Config) { cfg.Secret = secretA })
	c.node(1).start()
	r := dialRaw(t, c.peers[1].Quorum)
	a := r.handshake(hello{version: protocolVersion, channel: Quorum, status: flagSecret, id: 2, fingerprint: Fingerprint(c.peers)})
	if a.status != statusOK {
		t.Fatalf("answer status %d", a.status)
	}
	nonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(r.nc, nonce); err != nil {
		t.Fatal(err)
	}
	r.write(append(bytes.Repeat([]byte{7}, nonceLen), bytes.Repeat([]byte{9}, macLen)...))
	verdict := make([]byte, 1+macLen)
	if _, err := io.ReadFull(r.nc, verdict); err != nil {
		t.Fatal(err)
	}
	if verdict[0] != verdictRejected || !bytes.Equal(verdict[1:], make([]byte, macLen)) {
		t.Fatalf("verdict %x, want rejected with no proof", verdict)
	}
	r.expectClosed()
	if c.node(1).m.Connected(2, Quorum) {
		t.Fatal("linked without a valid proof")
	}
}

// An impostor acceptor that accepts whatever the dialer proves but cannot
// prove itself is not linked to: authentication is mutual.
func TestSecretImpostorAcceptor(t *testing.T) {
	c := newCluster(t, 2, func(cfg *Config) { cfg.Secret = secretA })
	ln, err := net.Listen("tcp", c.peers[1].Quorum)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c.node(2).start() // dials 1, the impostor
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var b [helloLen]byte
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		t.Fatal(err)
	}
	h, err := parseHello(b[:])
	if err != nil || h.status&flagSecret == 0 {
		t.Fatalf("dialer's hello %+v (%v), want the secret flag", h, err)
	}
	ans := hello{version: protocolVersion, channel: Quorum, id: 1, fingerprint: Fingerprint(c.peers)}.marshal()
	nc.Write(append(ans[:], make([]byte, nonceLen)...))
	proof := make([]byte, nonceLen+macLen)
	if _, err := io.ReadFull(nc, proof); err != nil {
		t.Fatal(err)
	}
	nc.Write(append([]byte{verdictOK}, bytes.Repeat([]byte{1}, macLen)...))
	waitFor(t, 5*time.Second, func() bool {
		return c.log.has(slog.LevelWarn, "[2]", "peer dial failed", "peer=1", "server 1's proof does not match our secret")
	}, "2 logs the impostor")
	if c.node(2).m.Connected(1, Quorum) {
		t.Fatal("linked to an impostor")
	}
}
