// Package zkxtest starts in-process zkx nodes for tests: a standalone node on
// a free loopback port, stopped when the test ends.
package zkxtest

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/transport"
)

// Options adjust the node a test starts. Zero values take test-friendly
// defaults: a 100ms tick (so sessions can expire within a second), every
// four-letter word enabled, TTL nodes enabled.
type Options struct {
	TickTime               time.Duration
	MinSessionTimeout      time.Duration
	MaxSessionTimeout      time.Duration
	SuperDigest            string
	DisableExtendedTypes   bool
	ContainerCheckInterval time.Duration
	FourLetterWhitelist    []string
	MaxBuffer              int
	Addr                   string
	// Verbose sends the node's logs to stderr (ZKX_TEST_LOG=1 does too).
	Verbose bool
}

// Start runs a standalone node and stops it when t ends.
func Start(t testing.TB, opts Options) *transport.Node {
	t.Helper()
	if opts.TickTime == 0 {
		opts.TickTime = 100 * time.Millisecond
	}
	if opts.FourLetterWhitelist == nil {
		opts.FourLetterWhitelist = []string{"*"}
	}
	if opts.ContainerCheckInterval == 0 {
		opts.ContainerCheckInterval = 100 * time.Millisecond
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	var w io.Writer = io.Discard
	if opts.Verbose || os.Getenv("ZKX_TEST_LOG") != "" {
		w = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	core := server.New(server.Config{
		TickTime:               opts.TickTime,
		MinSessionTimeout:      opts.MinSessionTimeout,
		MaxSessionTimeout:      opts.MaxSessionTimeout,
		SuperDigest:            opts.SuperDigest,
		ExtendedTypes:          !opts.DisableExtendedTypes,
		ContainerCheckInterval: opts.ContainerCheckInterval,
		Logger:                 logger,
	})
	n, err := transport.StartNode(transport.NodeConfig{
		ClientAddr:          opts.Addr,
		FourLetterWhitelist: opts.FourLetterWhitelist,
		MaxBuffer:           opts.MaxBuffer,
		Server:              core.Config(),
		Logger:              logger,
	}, core)
	if err != nil {
		t.Fatalf("zkxtest: start node: %v", err)
	}
	t.Cleanup(n.Stop)
	return n
}
