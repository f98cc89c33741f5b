package peer

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"time"
)

// Channel names one of the two links between a pair of servers. The values
// are part of the wire format.
type Channel uint8

const (
	// Election carries leader-election notifications, on the election port.
	Election Channel = 0
	// Quorum carries everything else (discovery, sync, broadcast, forwarded
	// requests), on the quorum port.
	Quorum Channel = 1

	numChannels = 2
)

func (c Channel) String() string {
	switch c {
	case Election:
		return "election"
	case Quorum:
		return "quorum"
	}
	return fmt.Sprintf("channel(%d)", uint8(c))
}

// Addr is one server line: server.N=host:quorumPort:electionPort[:observer].
type Addr struct {
	Quorum, Election string // host:port
	Observer         bool
}

// Defaults for the zero fields of Config.
const (
	DefaultDialTimeout   = 5 * time.Second // ZooKeeper's cnxTimeout
	DefaultRedialBackoff = 100 * time.Millisecond
	DefaultQueueLen      = 8192
	DefaultMaxFrame      = 256 << 20 // a snapshot travels as one frame

	// maxBackoffFactor caps the exponential redial backoff at this many
	// times RedialBackoff.
	maxBackoffFactor = 32
)

// Config configures a Mesh.
type Config struct {
	// ID is this server's id (myid).
	ID int64
	// Peers lists every server of the ensemble, this one included; this
	// server listens on its own two addresses.
	Peers  map[int64]Addr
	Logger *slog.Logger // default slog.Default()
	// DialTimeout bounds a dial and a handshake, each way.
	DialTimeout time.Duration
	// RedialBackoff is the first wait between dials of a peer that is down;
	// it doubles per failure up to 32 times itself.
	RedialBackoff time.Duration
	// QueueLen is the per-link send queue; a link whose queue is full breaks.
	QueueLen int
	// MaxFrame is the largest payload sent or accepted.
	MaxFrame int
	// Secret, if set (at least MinSecretLen bytes), is shared by every
	// server: a link comes up only between servers that prove to each
	// other that they hold it. Servers with and without one refuse each
	// other.
	Secret []byte
}

func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RedialBackoff == 0 {
		c.RedialBackoff = DefaultRedialBackoff
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	switch {
	case c.DialTimeout < 0, c.RedialBackoff < 0, c.QueueLen < 0, c.MaxFrame < 0:
		return c, fmt.Errorf("%w: negative DialTimeout, RedialBackoff, QueueLen or MaxFrame", ErrConfig)
	case len(c.Secret) > 0 && len(c.Secret) < MinSecretLen:
		return c, fmt.Errorf("%w: the secret has %d bytes, fewer than %d", ErrConfig, len(c.Secret), MinSecretLen)
	case int64(c.MaxFrame) > math.MaxUint32:
		return c, fmt.Errorf("%w: MaxFrame %d does not fit a frame's u32 length", ErrConfig, c.MaxFrame)
	}
	self, ok := c.Peers[c.ID]
	if !ok {
		return c, fmt.Errorf("%w: server %d is not in Peers", ErrConfig, c.ID)
	}
	for id, a := range c.Peers {
		for _, hp := range []string{a.Quorum, a.Election} {
			if _, _, err := net.SplitHostPort(hp); err != nil {
				return c, fmt.Errorf("%w: server.%d: address %q: %v", ErrConfig, id, hp, err)
			}
		}
	}
	if self.Quorum == self.Election {
		return c, fmt.Errorf("%w: server.%d: quorum and election addresses are the same", ErrConfig, c.ID)
	}
	return c, nil
}

// Fingerprint identifies an ensemble configuration: the first 8 bytes of
// SHA-256 over one line per server, sorted by id,
// "server.<id>=participant|observer\n". Servers refuse links from servers
// whose fingerprint differs. Addresses are left out: a server may reach
// another at an address other than the one it listens on (NAT, a proxy,
// a host name that resolves differently), as in ZooKeeper. It is part of
// the format.
func Fingerprint(peers map[int64]Addr) uint64 {
	ids := make([]int64, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		a := peers[id]
		role := "participant"
		if a.Observer {
			role = "observer"
		}
		fmt.Fprintf(&b, "server.%d=%s\n", id, role)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return binary.BigEndian.Uint64(sum[:8])
}
