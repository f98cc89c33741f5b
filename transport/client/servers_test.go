package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/transport/internal/zktest"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// testServer is what the server-facing tests need of a server. Both an
// Apache ZooKeeper (zktest.Server) and an in-process zkx node (zkxServer)
// provide it, so every such test runs against both.
type testServer interface {
	Addr() string
	FourLetter(cmd string) (string, error)
	// Restart stops the server and starts it again on the same address
	// and data; sessions survive, as in production.
	Restart()
}

// serverKinds lists the servers the session tests run against, as
// subtests named after them. maxSessionTimeout 0 keeps the server's
// default (4s: tickTime 200ms allows 400ms to 4s).
var serverKinds = []struct {
	name  string
	start func(t *testing.T, maxSessionTimeout time.Duration) testServer
}{
	{"ZooKeeper", func(t *testing.T, maxSessionTimeout time.Duration) testServer {
		var opts []zktest.Option
		if maxSessionTimeout != 0 {
			opts = append(opts, zktest.WithConfig("maxSessionTimeout", fmt.Sprint(maxSessionTimeout.Milliseconds())))
		}
		return zktest.Start(t, opts...)
	}},
	{"zkx", func(t *testing.T, maxSessionTimeout time.Duration) testServer {
		opts := zkxOptions()
		if maxSessionTimeout != 0 {
			opts.MaxSessionTimeout = maxSessionTimeout
		}
		return startZkx(t, opts)
	}},
}

// forEachServer runs test as a subtest against each server kind.
func forEachServer(t *testing.T, maxSessionTimeout time.Duration, test func(t *testing.T, srv testServer)) {
	for _, kind := range serverKinds {
		t.Run(kind.name, func(t *testing.T) {
			test(t, kind.start(t, maxSessionTimeout))
		})
	}
}

// zkxOptions configure a zkx node as zktest configures ZooKeeper: the same
// tick and session bounds (so timeouts are clamped alike), containers
// checked every 100ms (znode.container.checkIntervalMs=100), TTL nodes
// enabled and every four-letter word allowed.
func zkxOptions() zkxtest.Options {
	return zkxtest.Options{
		TickTime:               200 * time.Millisecond,
		MinSessionTimeout:      400 * time.Millisecond,
		MaxSessionTimeout:      4 * time.Second,
		ContainerCheckInterval: 100 * time.Millisecond,
		FourLetterWhitelist:    []string{"*"},
	}
}

// zkxServer is an in-process zkx node on a fixed address and data
// directory, so that it can be restarted.
type zkxServer struct {
	t    testing.TB
	opts zkxtest.Options
	node *transport.Node
}

func startZkx(t testing.TB, opts zkxtest.Options) *zkxServer {
	t.Helper()
	opts.Addr = zkxtest.FreeAddr(t)
	opts.DataDir = t.TempDir()
	return &zkxServer{t: t, opts: opts, node: zkxtest.Start(t, opts)}
}

func (s *zkxServer) Addr() string { return s.opts.Addr }

func (s *zkxServer) FourLetter(cmd string) (string, error) { return FourLetterWord(s.opts.Addr, cmd) }

func (s *zkxServer) Restart() {
	s.t.Helper()
	s.node.Stop()
	s.node = zkxtest.Start(s.t, s.opts)
}

// isZkx tells a test that branches on a documented difference between zkx
// and ZooKeeper which one it talks to.
func isZkx(srv testServer) bool {
	_, ok := srv.(*zkxServer)
	return ok
}
