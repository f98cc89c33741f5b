package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zkx-project/zkx/host"
)

// PeerConfig is one server.N line of an ensemble.
type PeerConfig struct {
	ID           int64
	Host         string
	QuorumPort   int
	ElectionPort int
	Observer     bool
	ClientAddr   string // after ';', if given
}

// FileConfig is what a ZooKeeper zoo.cfg says, read as ZooKeeper reads it
// (QuorumPeerConfig.parseProperties): unknown keys are kept, as ZooKeeper
// turns them into system properties ("extendedTypesEnabled" means
// zookeeper.extendedTypesEnabled).
type FileConfig struct {
	Path                   string
	TickTime               time.Duration
	InitLimit              int
	SyncLimit              int
	DataDir                string
	DataLogDir             string
	ClientPort             int
	ClientPortAddress      string
	MinSessionTimeout      time.Duration
	MaxSessionTimeout      time.Duration
	FourLetterWhitelist    []string
	SnapRetainCount        int
	PurgeInterval          time.Duration
	Peers                  []PeerConfig
	ExtendedTypes          bool
	SuperDigest            string
	ContainerCheckInterval time.Duration
	ContainerMaxNeverUsed  time.Duration
	MaxBuffer              int
	ForceSync              bool
	SnapCount              int
	PreAllocSize           int64 // bytes (preAllocSize is in KiB) a log segment preallocates and rolls at; 0: wal's default
	ReadOnlyMode           bool
	MyID                   int64
	// Recipes turns server-side recipes on (zkx.recipes, default true);
	// RecipeBudget lowers the per-call limits (zkx.recipe.timeMs, .maxOps,
	// .maxBytes, .wasmMemoryMiB, .jsStackDepth; zero: host.DefaultBudget).
	Recipes      bool
	RecipeBudget host.Budget
	// QuorumSecretFile (zkx.quorum.secretFile) holds a secret every
	// member shares; peer links come up only between members that prove
	// they hold it.
	QuorumSecretFile string
	Extra            map[string]string

	clientPortSet bool // clientPort was in the file
}

// defaultFileConfig is what zkx uses with no zoo.cfg: a standalone node on
// 127.0.0.1:2181 with its data in ./zkx-data.
func defaultFileConfig() *FileConfig {
	return &FileConfig{
		TickTime:        2 * time.Second,
		InitLimit:       10,
		SyncLimit:       5,
		DataDir:         "zkx-data",
		ClientPort:      2181,
		SnapRetainCount: 3,
		ForceSync:       true,
		SnapCount:       100000,
		Recipes:         true,
		Extra:           map[string]string{},
	}
}

// ParseConfigFile reads a zoo.cfg file. A myid file in dataDir sets MyID.
func ParseConfigFile(path string) (*FileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Path = path
	if cfg.DataDir != "" && !filepath.IsAbs(cfg.DataDir) {
		// ZooKeeper resolves relative paths against the working directory;
		// so do we.
		cfg.DataDir = filepath.Clean(cfg.DataDir)
	}
	if len(cfg.Peers) > 0 {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, "myid"))
		if err != nil {
			return nil, fmt.Errorf("config %s: an ensemble needs %s: %w", path, filepath.Join(cfg.DataDir, "myid"), err)
		}
		id, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("config: myid %q is not a number", strings.TrimSpace(string(b)))
		}
		cfg.MyID = id
	}
	return cfg, nil
}

// ParseConfig reads zoo.cfg text (Java properties: key=value or key value,
// # and ! comments).
func ParseConfig(r io.Reader) (*FileConfig, error) {
	cfg := defaultFileConfig()
	cfg.DataDir = ""
	minSet, maxSet := false, false
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == '!' {
			continue
		}
		key, value, ok := splitProperty(text)
		if !ok {
			return nil, fmt.Errorf("line %d: expected key=value, got %q", line, text)
		}
		intVal := func() (int, error) {
			v, err := strconv.Atoi(value)
			if err != nil {
				return 0, fmt.Errorf("line %d: %s: %q is not a number", line, key, value)
			}
			return v, nil
		}
		var err error
		var v int
		switch {
		case key == "tickTime":
			v, err = intVal()
			cfg.TickTime = time.Duration(v) * time.Millisecond
		case key == "initLimit":
			cfg.InitLimit, err = intVal()
		case key == "syncLimit":
			cfg.SyncLimit, err = intVal()
		case key == "dataDir":
			cfg.DataDir = value
		case key == "dataLogDir":
			cfg.DataLogDir = value
		case key == "clientPort":
			cfg.ClientPort, err = intVal()
			cfg.clientPortSet = true
		case key == "clientPortAddress":
			cfg.ClientPortAddress = value
		case key == "minSessionTimeout":
			v, err = intVal()
			cfg.MinSessionTimeout, minSet = time.Duration(v)*time.Millisecond, v >= 0
		case key == "maxSessionTimeout":
			v, err = intVal()
			cfg.MaxSessionTimeout, maxSet = time.Duration(v)*time.Millisecond, v >= 0
		case key == "4lw.commands.whitelist":
			cfg.FourLetterWhitelist = nil
			for _, w := range strings.Split(value, ",") {
				if w = strings.TrimSpace(w); w != "" {
					cfg.FourLetterWhitelist = append(cfg.FourLetterWhitelist, w)
				}
			}
		case key == "autopurge.snapRetainCount":
			cfg.SnapRetainCount, err = intVal()
			if err == nil && cfg.SnapRetainCount < 3 {
				cfg.SnapRetainCount = 3 // ZooKeeper's minimum
			}
		case key == "autopurge.purgeInterval":
			v, err = intVal()
			cfg.PurgeInterval = time.Duration(v) * time.Hour
		case key == "extendedTypesEnabled" || key == "zookeeper.extendedTypesEnabled":
			cfg.ExtendedTypes = value == "true"
		case key == "DigestAuthenticationProvider.superDigest" || key == "zookeeper.DigestAuthenticationProvider.superDigest":
			cfg.SuperDigest = value
		case key == "znode.container.checkIntervalMs":
			v, err = intVal()
			cfg.ContainerCheckInterval = time.Duration(v) * time.Millisecond
		case key == "znode.container.maxNeverUsedIntervalMs":
			v, err = intVal()
			cfg.ContainerMaxNeverUsed = time.Duration(v) * time.Millisecond
		case key == "jute.maxbuffer" || key == "zookeeper.jute.maxbuffer":
			cfg.MaxBuffer, err = intVal()
		case key == "forceSync" || key == "zookeeper.forceSync":
			cfg.ForceSync = value != "no"
		case key == "snapCount" || key == "zookeeper.snapCount":
			cfg.SnapCount, err = intVal()
		case key == "preAllocSize" || key == "zookeeper.preAllocSize":
			v, err = intVal()
			if err == nil && v <= 0 {
				err = fmt.Errorf("line %d: %s must be positive, not %d", line, key, v)
			}
			cfg.PreAllocSize = int64(v) << 10
		case key == "readonlymode.enabled":
			cfg.ReadOnlyMode = value == "true"
		case key == "zkx.recipes":
			cfg.Recipes = value != "false" && value != "no" && value != "off"
		case key == "zkx.recipe.timeMs":
			v, err = positive(key, value, line)
			cfg.RecipeBudget.Time = time.Duration(v) * time.Millisecond
		case key == "zkx.recipe.maxOps":
			cfg.RecipeBudget.Ops, err = positive(key, value, line)
		case key == "zkx.recipe.maxBytes":
			cfg.RecipeBudget.Bytes, err = positive(key, value, line)
		case key == "zkx.recipe.wasmMemoryMiB":
			cfg.RecipeBudget.MemoryMiB, err = positive(key, value, line)
		case key == "zkx.quorum.secretFile":
			cfg.QuorumSecretFile = value
		case key == "zkx.recipe.jsStackDepth":
			cfg.RecipeBudget.Stack, err = positive(key, value, line)
		case strings.HasPrefix(key, "server."):
			var p PeerConfig
			p, err = parsePeer(key, value)
			if err == nil {
				cfg.Peers = append(cfg.Peers, p)
			}
		default:
			cfg.Extra[key] = value
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cfg.TickTime <= 0 {
		return nil, fmt.Errorf("tickTime must be positive")
	}
	if !minSet || cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = 2 * cfg.TickTime
	}
	if !maxSet || cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = 20 * cfg.TickTime
	}
	if cfg.MinSessionTimeout > cfg.MaxSessionTimeout {
		return nil, fmt.Errorf("minSessionTimeout (%v) must not be larger than maxSessionTimeout (%v)",
			cfg.MinSessionTimeout, cfg.MaxSessionTimeout)
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("dataDir is not set")
	}
	return cfg, nil
}

func positive(key, value string, line int) (int, error) {
	v, err := strconv.Atoi(value)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("line %d: %s: %q is not a positive number", line, key, value)
	}
	return v, nil
}

func splitProperty(text string) (key, value string, ok bool) {
	i := strings.IndexAny(text, "=:")
	j := strings.IndexAny(text, " \t")
	if i < 0 || (j >= 0 && j < i) {
		i = j
	}
	if i < 0 {
		return "", "", false
	}
	key = strings.TrimSpace(text[:i])
	value = strings.TrimSpace(text[i+1:])
	value = strings.TrimLeft(value, "=: \t")
	return key, value, key != ""
}

// parsePeer reads "server.N=host:quorumPort:electionPort[:observer|participant][;[clientHost:]clientPort]".
func parsePeer(key, value string) (PeerConfig, error) {
	var p PeerConfig
	id, err := strconv.ParseInt(strings.TrimPrefix(key, "server."), 10, 64)
	if err != nil {
		return p, fmt.Errorf("%s: server id is not a number", key)
	}
	p.ID = id
	addr, client, hasClient := strings.Cut(value, ";")
	if hasClient {
		client = strings.TrimSpace(client)
		if !strings.Contains(client, ":") {
			client = "0.0.0.0:" + client
		}
		p.ClientAddr = client
	}
	parts := strings.Split(strings.TrimSpace(addr), ":")
	if len(parts) < 3 || len(parts) > 4 {
		return p, fmt.Errorf("%s=%s: expected host:quorumPort:electionPort[:observer]", key, value)
	}
	p.Host = parts[0]
	if p.QuorumPort, err = strconv.Atoi(parts[1]); err != nil {
		return p, fmt.Errorf("%s: quorum port %q is not a number", key, parts[1])
	}
	if p.ElectionPort, err = strconv.Atoi(parts[2]); err != nil {
		return p, fmt.Errorf("%s: election port %q is not a number", key, parts[2])
	}
	if len(parts) == 4 {
		switch parts[3] {
		case "observer":
			p.Observer = true
		case "participant":
		default:
			return p, fmt.Errorf("%s: unknown peer type %q", key, parts[3])
		}
	}
	return p, nil
}

// ClientAddr is the address the client port listens on.
func (c *FileConfig) ClientAddr() string {
	if !c.clientPortSet {
		// ZooKeeper 3.5+: the client address may be on this server's own
		// server.N line instead ("...:2888:3888;2181").
		for _, p := range c.Peers {
			if p.ID == c.MyID && p.ClientAddr != "" {
				return p.ClientAddr
			}
		}
	}
	host := c.ClientPortAddress
	if host == "" {
		host = "0.0.0.0"
		if c.Path == "" {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(c.ClientPort))
}
