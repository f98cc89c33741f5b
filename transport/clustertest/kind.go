package clustertest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind is the server a cluster runs.
type Kind int

const (
	// ZooKeeper is Apache ZooKeeper 3.8 from Debian's zookeeper package, run
	// as zkServer.sh start-foreground would: QuorumPeerMain zoo.cfg.
	ZooKeeper Kind = iota + 1
	// Zkx is the zkx binary: zkx server --config zoo.cfg in an ensemble,
	// zkx server --listen ... --data-dir ... standalone.
	Zkx
)

func (k Kind) String() string {
	switch k {
	case ZooKeeper:
		return "ZooKeeper"
	case Zkx:
		return "zkx"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Where Debian's zookeeper package puts the jars.
const (
	javaDir      = "/usr/share/java"
	zookeeperJar = javaDir + "/zookeeper.jar"
	// slf4j-simple goes first on the class path so that ZooKeeper logs to
	// stderr (the wildcard would find slf4j-nop first).
	slf4jSimpleJar = javaDir + "/slf4j-simple.jar"
)

// zookeeperJVMFlags make three or five JVMs bearable on two cores and make
// elections converge quickly: a small serial-GC heap, C1 only (they start
// faster and run long enough), and at most a second between election
// notifications instead of ZooKeeper's default of backing off to 60s, so
// that a node rejoins soon after a partition heals.
var zookeeperJVMFlags = []string{
	"-Xmx256m",
	"-XX:+UseSerialGC",
	"-XX:TieredStopAtLevel=1",
	"-Djava.net.preferIPv4Stack=true",
	"-Dzookeeper.fastleader.maxNotificationInterval=1000",
	"-Dzookeeper.cnxTimeout=1000",
	"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
	"-Dorg.slf4j.simpleLogger.showDateTime=true",
}

// argv is the command that runs node n; its working directory is n.dir.
func (c *Cluster) argv(n *node) ([]string, error) {
	switch c.opts.Kind {
	case ZooKeeper:
		java, err := exec.LookPath("java")
		if err != nil {
			return nil, fmt.Errorf("clustertest: java is not installed (apt-get install zookeeper): %w", err)
		}
		argv := append([]string{java}, zookeeperJVMFlags...)
		return append(argv, "-cp", slf4jSimpleJar+":"+javaDir+"/*",
			"org.apache.zookeeper.server.quorum.QuorumPeerMain", n.cfgPath()), nil
	case Zkx:
		var argv []string
		if c.standalone() {
			argv = []string{c.opts.ZkxBinary, "server", "--listen", n.clientAddr, "--data-dir", n.dataDir(),
				"--admin", "off", "--tick-time", c.opts.TickTime.String()}
		} else {
			argv = []string{c.opts.ZkxBinary, "server", "--config", n.cfgPath()}
		}
		return append(argv, c.opts.ZkxArgs...), nil
	}
	return nil, fmt.Errorf("clustertest: unknown kind %v", c.opts.Kind)
}

// zooCfg is node n's zoo.cfg in ZooKeeper's format. In an ensemble it lists
// every server: n itself at its real quorum and election addresses, every
// other server at the addresses of the proxies of n's links to it, so all
// of n's peer traffic crosses a proxy the cluster can block.
func (c *Cluster) zooCfg(n *node) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	line("tickTime", strconv.FormatInt(c.opts.TickTime.Milliseconds(), 10))
	line("initLimit", strconv.Itoa(c.opts.InitLimit))
	line("syncLimit", strconv.Itoa(c.opts.SyncLimit))
	line("dataDir", n.dataDir())
	line("clientPort", portOf(n.clientAddr))
	line("clientPortAddress", "127.0.0.1")
	line("maxSessionTimeout", strconv.FormatInt(c.opts.MaxSessionTimeout.Milliseconds(), 10))
	line("4lw.commands.whitelist", "*")
	line("admin.enableServer", "false")
	line("autopurge.purgeInterval", "0")
	if n.observer {
		line("peerType", "observer")
	}
	if !c.standalone() {
		for _, m := range c.nodes {
			quorum, election := m.quorumAddr, m.electionAddr
			if m != n {
				l := c.links[n.index][m.index]
				quorum, election = l.quorum.Addr(), l.election.Addr()
			}
			v := "127.0.0.1:" + portOf(quorum) + ":" + portOf(election)
			if m.observer {
				v += ":observer"
			}
			line("server."+strconv.Itoa(m.id), v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.opts.Config)) {
		line(k, c.opts.Config[k])
	}
	return b.String()
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}

// checkKind fails t if the kind's server cannot run here.
func checkKind(t testing.TB, k Kind) {
	t.Helper()
	switch k {
	case ZooKeeper:
		if _, err := exec.LookPath("java"); err != nil {
			t.Fatalf("clustertest: java is not installed (apt-get install zookeeper default-jre-headless): %v", err)
		}
		if _, err := os.Stat(zookeeperJar); err != nil {
			t.Fatalf("clustertest: ZooKeeper jars are missing (apt-get install zookeeper): %v", err)
		}
	case Zkx:
	default:
		t.Fatalf("clustertest: unknown kind %v", k)
	}
}

// built is the zkx binary that the tests of one test binary share.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// ZkxBinary returns the zkx binary to run: $ZKX_BIN if set, else
// cmd/zkx of this checkout, built once per test binary into a temporary
// directory that RemoveZkxBinary removes (call it from TestMain).
func ZkxBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("ZKX_BIN"); bin != "" {
		return bin
	}
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if built.dir, built.err = os.MkdirTemp("", "clustertest-zkx-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "zkx")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// By import path, so that it works from any directory of the module.
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", built.path, "github.com/zkx-project/zkx/cmd/zkx")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("clustertest: go build ./cmd/zkx: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// RemoveZkxBinary removes the binary ZkxBinary built, if any.
func RemoveZkxBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
