// Package zkxtest starts in-process zkx nodes for tests: a standalone node on
// a free loopback port, stopped when the test ends.
package zkxtest

import (
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/wal"
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
	// DataDir holds the node's log and snapshots (default: a new temporary
	// directory). Start a node again on the same DataDir and Addr to test
	// a restart.
	DataDir string
	// Sync makes the log fsync (off by default: tests do not measure the
	// disk, and a test process cannot lose what the kernel holds).
	Sync bool
	// SnapCount is about how many txns go between snapshots (default
	// 100000).
	SnapCount int
	// Recipes enables server-side recipes (JS and WASM runtimes) and
	// installs the builtin library, as zkx server does by default. Off,
	// the tree has no /zkx and recipe calls fail, as on a node started
	// with zkx.recipes=false.
	Recipes bool
	// RecipeBudget lowers the per-call recipe limits.
	RecipeBudget host.Budget
	// Verbose sends the node's logs to stderr (ZKX_TEST_LOG=1 does too).
	Verbose bool
	// ReadOnlyMode is readonlymode.enabled (ensembles).
	ReadOnlyMode bool

	serverID int64
	ensemble *transport.EnsembleConfig
}

// Start runs a standalone node and stops it when t ends.
func Start(t testing.TB, opts Options) *transport.Node {
	t.Helper()
	n := start(t, opts)
	t.Cleanup(n.Stop)
	return n
}

func start(t testing.TB, opts Options) *transport.Node {
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
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	recoverLog := transport.Recover
	if opts.ensemble != nil {
		recoverLog = transport.RecoverRecent
	}
	rec, err := recoverLog(opts.DataDir, wal.Options{NoSync: !opts.Sync, NoPreallocate: true, Logger: logger})
	if err != nil {
		t.Fatalf("zkxtest: recover %s: %v", opts.DataDir, err)
	}
	var runtimes map[host.Kind]host.Runtime
	var builtins []server.Builtin
	if opts.Recipes {
		runtimes = transport.RecipeRuntimes(opts.RecipeBudget)
		builtins = transport.BuiltinRecipes()
	}
	if e := opts.ensemble; e != nil {
		e.DataDir, e.LogDir = opts.DataDir, opts.DataDir
		e.LogOptions = wal.Options{NoSync: !opts.Sync, NoPreallocate: true, Logger: logger}
		e.Recent, e.RecentBase = rec.Recent, rec.RecentBase
		if rec.Info.ResetPending {
			if err := transport.FinishReset(rec); err != nil {
				t.Fatalf("zkxtest: finish reset: %v", err)
			}
		}
		logger = logger.With("server", opts.serverID)
	}
	core := server.NewWithTree(server.Config{
		Now:                    time.Now,
		Rand:                   rand.Reader,
		Background:             func(f func()) { go f() },
		ServerID:               opts.serverID,
		TickTime:               opts.TickTime,
		MinSessionTimeout:      opts.MinSessionTimeout,
		MaxSessionTimeout:      opts.MaxSessionTimeout,
		SuperDigest:            opts.SuperDigest,
		ExtendedTypes:          !opts.DisableExtendedTypes,
		ContainerCheckInterval: opts.ContainerCheckInterval,
		Log:                    rec.Log,
		Logger:                 logger,
		Runtimes:               runtimes,
		RecipeBudget:           opts.RecipeBudget,
		ReadOnlyMode:           opts.ReadOnlyMode,
	}, rec.Tree, rec.Sessions)
	n, err := transport.StartNode(transport.NodeConfig{
		ClientAddr:          opts.Addr,
		FourLetterWhitelist: opts.FourLetterWhitelist,
		MaxBuffer:           opts.MaxBuffer,
		DataDir:             opts.DataDir,
		DataLogDir:          opts.DataDir,
		WAL:                 rec.Log,
		SnapCount:           opts.SnapCount,
		Server:              core.Config(),
		Logger:              logger,
		Builtins:            builtins,
		Ensemble:            opts.ensemble,
	}, core)
	if err != nil {
		t.Fatalf("zkxtest: start node: %v", err)
	}
	return n
}
