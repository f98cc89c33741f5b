package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/transport/peer"
	"github.com/zkx-project/zkx/wal"
)

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run a zkx node (standalone on 127.0.0.1:2181 with data in ./zkx-data by default)",
		Description: "With no arguments zkx runs a standalone node: clients connect to 127.0.0.1:2181 and data\n" +
			"lives in ./zkx-data. --config reads a ZooKeeper zoo.cfg (tickTime, dataDir, clientPort,\n" +
			"clientPortAddress, min/maxSessionTimeout, 4lw.commands.whitelist, forceSync, snapCount,\n" +
			"preAllocSize, autopurge.*, server.N=..., ...) and zkx's own keys (zkx.recipes=false turns\n" +
			"server-side recipes off; zkx.recipe.timeMs, .maxOps, .maxBytes, .wasmMemoryMiB,\n" +
			".jsStackDepth lower their limits; zkx.quorum.secretFile names a file with a secret every\n" +
			"member of an ensemble shares, so that only they can link up); flags override the file.\n" +
			"SIGINT or SIGTERM stops the node gracefully.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "ZooKeeper-format `zoo.cfg` to read"},
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: "client port listen address `HOST:PORT`"},
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, Usage: "data `DIR` (snapshots and logs)"},
			&cli.StringFlag{Name: "admin", Usage: "admin HTTP `HOST:PORT` (/commands/<name>, /metrics); \"off\" disables it"},
			&cli.DurationFlag{Name: "tick-time", Usage: "tick `DURATION` (sessions are checked once per tick)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to `FILE` until the node stops (for performance work)"},
			&cli.StringFlag{Name: "memprofile", Usage: "write an allocation profile to `FILE` when the node stops (for performance work)"},
		},
		Action: runServer,
	}
}

func loadServerConfig(c *cli.Context) (*FileConfig, error) {
	cfg := defaultFileConfig()
	if path := c.String("config"); path != "" {
		var err error
		if cfg, err = ParseConfigFile(path); err != nil {
			return nil, err
		}
	}
	if d := c.String("data-dir"); d != "" {
		cfg.DataDir = d
	}
	if t := c.Duration("tick-time"); t > 0 {
		cfg.TickTime = t
		if c.String("config") == "" {
			cfg.MinSessionTimeout, cfg.MaxSessionTimeout = 2*t, 20*t
		}
	}
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = 2 * cfg.TickTime
	}
	if cfg.MaxSessionTimeout == 0 {
		cfg.MaxSessionTimeout = 20 * cfg.TickTime
	}
	return cfg, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

func runServer(c *cli.Context) error {
	cfg, err := loadServerConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	level, err := parseLevel(c.String("log-level"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--log-level: %v", err), 2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	addr := cfg.ClientAddr()
	if l := c.String("listen"); l != "" {
		addr = l
	}
	if path := c.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--cpuprofile: %v", err), 2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return cli.Exit(fmt.Sprintf("--cpuprofile: %v", err), 2)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if path := c.String("memprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--memprofile: %v", err), 2)
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				logger.Error("--memprofile", "err", err)
			}
			f.Close()
		}()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return cli.Exit(fmt.Sprintf("data dir: %v", err), 1)
	}
	logDir := firstNonEmpty(cfg.DataLogDir, cfg.DataDir)
	if !cfg.ForceSync {
		logger.Warn("forceSync=no: writes are acknowledged before they are on disk; a crash can lose them")
	}
	walOpts := wal.Options{SnapDir: cfg.DataDir, NoSync: !cfg.ForceSync, SegmentSize: cfg.PreAllocSize, Logger: logger}
	recoverLog := transport.Recover
	if len(cfg.Peers) >= 2 {
		recoverLog = transport.RecoverRecent
	}
	rec, err := recoverLog(logDir, walOpts)
	if err != nil {
		return cli.Exit(fmt.Sprintf("recovery failed: %v", err), 1)
	}
	logger.Info("recovered", "snapshot", rec.Info.SnapshotFile, "txns-replayed", rec.Info.Txns,
		"last-zxid", fmt.Sprintf("0x%x", rec.Info.LastZxid), "nodes", rec.Tree.NodeCount(),
		"sessions", len(rec.Sessions), "took", rec.Took.Round(time.Millisecond).String())
	if rec.Info.Truncated != "" {
		logger.Warn("a torn write at the end of the log was cut off", "where", rec.Info.Truncated)
	}
	var runtimes map[host.Kind]host.Runtime
	var builtins []server.Builtin
	if cfg.Recipes {
		runtimes = transport.RecipeRuntimes(cfg.RecipeBudget)
		builtins = transport.BuiltinRecipes()
	}
	core := server.NewWithTree(server.Config{
		Now:                    time.Now,
		Rand:                   rand.Reader,
		Background:             func(f func()) { go f() },
		ServerID:               cfg.MyID,
		TickTime:               cfg.TickTime,
		MinSessionTimeout:      cfg.MinSessionTimeout,
		MaxSessionTimeout:      cfg.MaxSessionTimeout,
		SuperDigest:            cfg.SuperDigest,
		ExtendedTypes:          cfg.ExtendedTypes,
		ContainerCheckInterval: cfg.ContainerCheckInterval,
		ContainerMaxNeverUsed:  cfg.ContainerMaxNeverUsed,
		Log:                    rec.Log,
		Logger:                 logger,
		Runtimes:               runtimes,
		RecipeBudget:           cfg.RecipeBudget,
		ReadOnlyMode:           cfg.ReadOnlyMode,
	}, rec.Tree, rec.Sessions)
	ens, err := ensembleConfig(cfg, logDir, walOpts, rec)
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if rec.Info.ResetPending {
		if ens == nil {
			return cli.Exit("the log has an unfinished reset (from an ensemble's truncation); start this server with its ensemble configuration", 1)
		}
		if err := transport.FinishReset(rec); err != nil {
			return cli.Exit(fmt.Sprintf("finishing the log reset: %v", err), 1)
		}
	}
	node, err := transport.StartNode(transport.NodeConfig{
		Ensemble:            ens,
		ClientAddr:          addr,
		FourLetterWhitelist: cfg.FourLetterWhitelist,
		MaxBuffer:           cfg.MaxBuffer,
		AdminAddr:           adminAddr(c, cfg),
		DataDir:             cfg.DataDir,
		DataLogDir:          logDir,
		WAL:                 rec.Log,
		SnapCount:           cfg.SnapCount,
		SnapRetainCount:     cfg.SnapRetainCount,
		PurgeInterval:       cfg.PurgeInterval,
		Server:              core.Config(),
		Logger:              logger,
		Builtins:            builtins,
	}, core)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		logger.Info("stopping", "signal", s.String())
	case <-node.Done():
	}
	done := make(chan struct{})
	go func() { node.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		logger.Error("graceful stop timed out")
	}
	if err := node.Err(); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return nil
}

// ensembleConfig turns zoo.cfg's server.N lines into the node's ensemble
// (nil: standalone, which is also what a single server.N line means, as
// in ZooKeeper 3.5+).
func ensembleConfig(cfg *FileConfig, logDir string, opts wal.Options, rec *transport.Recovered) (*transport.EnsembleConfig, error) {
	if len(cfg.Peers) < 2 {
		return nil, nil
	}
	peers := make(map[int64]peer.Addr, len(cfg.Peers))
	found := false
	clients := map[int64]string{}
	for _, p := range cfg.Peers {
		clients[p.ID] = p.ClientAddr
		peers[p.ID] = peer.Addr{
			Quorum:   net.JoinHostPort(p.Host, strconv.Itoa(p.QuorumPort)),
			Election: net.JoinHostPort(p.Host, strconv.Itoa(p.ElectionPort)),
			Observer: p.Observer,
		}
		found = found || p.ID == cfg.MyID
	}
	if !found {
		return nil, fmt.Errorf("config: myid %d is not one of the server.N lines", cfg.MyID)
	}
	secret, err := readQuorumSecret(cfg.QuorumSecretFile)
	if err != nil {
		return nil, err
	}
	return &transport.EnsembleConfig{
		ID:         cfg.MyID,
		Peers:      peers,
		InitLimit:  cfg.InitLimit,
		SyncLimit:  cfg.SyncLimit,
		DataDir:    cfg.DataDir,
		LogDir:     logDir,
		LogOptions: opts,
		Recent:     rec.Recent,
		RecentBase: rec.RecentBase,
		ConfigText: transport.ConfigText(peers, clients),

		QuorumSecret: secret,
	}, nil
}

// readQuorumSecret reads zkx.quorum.secretFile: the secret is the file's
// content without surrounding white space, at least peer.MinSecretLen
// bytes. No file configured: no secret.
func readQuorumSecret(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: zkx.quorum.secretFile: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < peer.MinSecretLen {
		return nil, fmt.Errorf("config: zkx.quorum.secretFile %s: the secret has %d bytes, it needs at least %d (e.g. openssl rand -hex 32)", path, len(b), peer.MinSecretLen)
	}
	return b, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// adminAddr is the admin server's address: --admin, else zoo.cfg's
// admin.enableServer / admin.serverAddress / admin.serverPort, else
// 127.0.0.1:8080 as ZooKeeper's default port.
func adminAddr(c *cli.Context, cfg *FileConfig) string {
	if a := c.String("admin"); a != "" {
		if a == "off" {
			return ""
		}
		return a
	}
	if cfg.Extra["admin.enableServer"] == "false" {
		return ""
	}
	host := cfg.Extra["admin.serverAddress"]
	if host == "" || host == "0.0.0.0" && cfg.Path == "" {
		host = "127.0.0.1"
	}
	port := cfg.Extra["admin.serverPort"]
	if port == "" {
		port = "8080"
	}
	return net.JoinHostPort(host, port)
}
