package peer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// Shared-secret authentication of links (Config.Secret); the exchange is
// drawn in doc.go. Both ends prove they hold the secret with an HMAC over
// both ends' fresh nonces, so a recorded handshake cannot be replayed and
// neither end learns anything it could use against a third server.

const (
	nonceLen = 16
	macLen   = sha256.Size
	// flagSecret, in byte 7 of the dialer's hello: the dialer has a
	// secret and will authenticate.
	flagSecret uint8 = 1
	// Verdicts the acceptor sends after checking the dialer's proof.
	verdictOK       uint8 = 0
	verdictRejected uint8 = 1
)

// MinSecretLen is the shortest Config.Secret accepted.
const MinSecretLen = 16

// proof is HMAC-SHA256(secret, "zkx peer <side>\x00" | channel u8 |
// dialer id i64 | acceptor id i64 | acceptor's nonce | dialer's nonce).
func (m *Mesh) proof(side string, ch Channel, dialer, acceptor int64, nonceA, nonceD []byte) []byte {
	mac := hmac.New(sha256.New, m.cfg.Secret)
	mac.Write([]byte("zkx peer " + side + "\x00"))
	var b [17]byte
	b[0] = byte(ch)
	binary.BigEndian.PutUint64(b[1:9], uint64(dialer))
	binary.BigEndian.PutUint64(b[9:17], uint64(acceptor))
	mac.Write(b[:])
	mac.Write(nonceA)
	mac.Write(nonceD)
	return mac.Sum(nil)
}

// authAccepted runs the acceptor's side after it answered the hello with
// statusOK: its nonce went out with the answer (nonceA); it reads the
// dialer's nonce and proof, and answers with a verdict and its own proof.
func (m *Mesh) authAccepted(nc net.Conn, peer int64, ch Channel, nonceA []byte) error {
	var in [nonceLen + macLen]byte
	if _, err := io.ReadFull(nc, in[:]); err != nil {
		return fmt.Errorf("%w: reading the peer's proof: %v", ErrAuth, err)
	}
	nonceD, got := in[:nonceLen], in[nonceLen:]
	if !hmac.Equal(got, m.proof("dialer", ch, peer, m.cfg.ID, nonceA, nonceD)) {
		var out [1 + macLen]byte
		out[0] = verdictRejected
		nc.Write(out[:])
		return fmt.Errorf("%w: server %d's proof does not match our secret", ErrAuth, peer)
	}
	out := append([]byte{verdictOK}, m.proof("acceptor", ch, peer, m.cfg.ID, nonceA, nonceD)...)
	if _, err := nc.Write(out); err != nil {
		return fmt.Errorf("%w: sending our proof: %v", ErrAuth, err)
	}
	return nil
}

// authDial runs the dialer's side after an accepting answer: read the
// acceptor's nonce, send ours and our proof, check the verdict and the
// acceptor's proof.
func (m *Mesh) authDial(nc net.Conn, peer int64, ch Channel) error {
	nonceA := make([]byte, nonceLen)
	if _, err := io.ReadFull(nc, nonceA); err != nil {
		return fmt.Errorf("%w: server %d sent no challenge (is it an older zkx without quorum secrets?): %v", ErrAuth, peer, err)
	}
	nonceD := newNonce()
	if _, err := nc.Write(append(nonceD, m.proof("dialer", ch, m.cfg.ID, peer, nonceA, nonceD)...)); err != nil {
		return fmt.Errorf("%w: sending our proof: %v", ErrAuth, err)
	}
	var in [1 + macLen]byte
	if _, err := io.ReadFull(nc, in[:]); err != nil {
		return fmt.Errorf("%w: reading server %d's verdict: %v", ErrAuth, peer, err)
	}
	if in[0] != verdictOK {
		return fmt.Errorf("%w: server %d rejected our proof: its quorum secret differs from ours", ErrAuth, peer)
	}
	if !hmac.Equal(in[1:], m.proof("acceptor", ch, m.cfg.ID, peer, nonceA, nonceD)) {
		return fmt.Errorf("%w: server %d's proof does not match our secret", ErrAuth, peer)
	}
	return nil
}

func newNonce() []byte {
	b := make([]byte, nonceLen)
	rand.Read(b) // never fails (crypto/rand)
	return b
}
