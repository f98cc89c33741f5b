package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

// serverKind is a server the harness can start: ZooKeeper or zkx. A
// comparison runs the same thing against each kind in turn. The ensemble
// subcommand runs several members of one kind (memberArgv).
type serverKind struct {
	name string // in tables and flags
	// prepare checks that the server can run (java and the jars; a zkx
	// binary, building it if needed) before anything is started.
	prepare func(ctx context.Context, o *serverOptions) error
	// argv is the command that runs the server for clients on addr with
	// its data under dataDir. Its working directory is the run directory.
	argv func(o *serverOptions, dir, dataDir, addr string) ([]string, error)
	// memberArgv is the command that runs one member of an ensemble from
	// the zoo.cfg at cfgPath (written by the harness, with myid in its
	// dataDir), as ZooKeeper's zkServer.sh would run it.
	memberArgv func(o *serverOptions, dir, cfgPath string) ([]string, error)
	// logUsage reads what the txn log under dataDir takes on disk;
	// snapshots lists the snapshot files.
	logUsage  func(dataDir string) (logUsage, error)
	snapshots func(dataDir string) (snapshotUsage, error)
	// recoveryNotes picks out of a server log what the server said about
	// loading its data at startup, as short "key value" notes.
	recoveryNotes func(log string) []string
}

// serverOptions are the flags that say how to run the servers.
type serverOptions struct {
	zkHeap     string
	zkJVMFlags multiFlag
	zkJar      string
	// javaVersion is the first line of java -version, set by prepare.
	javaVersion string

	zkxBin  string
	zkxArgs multiFlag
	// zkxBuilt is the binary prepare built (removed at the end), if any,
	// and zkxSource says from what.
	zkxBuilt, zkxSource string

	serverCPUs string // taskset -c list for the servers, or ""
	noFsync    bool   // forceSync=no for both kinds: a ceiling, not a comparison
	keepData   bool
	zkOnly     bool
	zkxOnly    bool
}

func (o *serverOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.zkHeap, "zk-heap", "1000m", "ZooKeeper's -Xmx (upstream zkEnv.sh's default ZK_SERVER_HEAP=1000)")
	fs.Var(&o.zkJVMFlags, "zk-jvm-flag", "extra JVM `flag` for ZooKeeper (repeatable), e.g. -Dzookeeper.forceSync=no")
	fs.StringVar(&o.zkJar, "zk-jar", zookeeperJar, "ZooKeeper server `jar`; its manifest names the other jars")
	fs.StringVar(&o.zkxBin, "zkx-bin", "", "zkx `binary` to run (default: go build ./cmd/zkx from this checkout)")
	fs.Var(&o.zkxArgs, "zkx-arg", "extra `argument` for zkx server (repeatable), e.g. --zkx-arg=--cpuprofile=/tmp/zkx.prof")
	fs.StringVar(&o.serverCPUs, "server-cpus", "", "run the servers on these CPUs only (taskset -c `LIST`, e.g. 0,1); start the harness under taskset for the client's")
	fs.BoolVar(&o.noFsync, "no-fsync", false, "run both kinds with forceSync=no (their logs are written but not fsynced): what the machine allows without the disk's flush, not a durable figure")
	fs.BoolVar(&o.keepData, "keep-data", false, "keep each server's run directory (config, data, log) instead of removing it")
	fs.BoolVar(&o.zkOnly, "zk-only", false, "run against ZooKeeper only")
	fs.BoolVar(&o.zkxOnly, "zkx-only", false, "run against zkx only")
}

// cfgLines are the zoo.cfg lines the options add for every server (both
// kinds read forceSync from zoo.cfg).
func (o *serverOptions) cfgLines() []string {
	if o.noFsync {
		return []string{"forceSync=no"}
	}
	return nil
}

// kinds returns the server kinds to run, ZooKeeper first.
// prepare readies every kind before any run starts (a missing JVM or a
// failed build shows up at once, not after the other kind's runs).
func (o *serverOptions) prepare(ctx context.Context, kinds []*serverKind) error {
	for _, k := range kinds {
		if err := k.prepare(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

func (o *serverOptions) kinds() ([]*serverKind, error) {
	if o.serverCPUs != "" {
		if _, err := exec.LookPath("taskset"); err != nil {
			return nil, fmt.Errorf("--server-cpus needs taskset (util-linux): %w", err)
		}
	}
	switch {
	case o.zkOnly && o.zkxOnly:
		return nil, errors.New("--zk-only and --zkx-only exclude each other")
	case o.zkOnly:
		return []*serverKind{zookeeperKind}, nil
	case o.zkxOnly:
		return []*serverKind{zkxKind}, nil
	}
	return []*serverKind{zookeeperKind, zkxKind}, nil
}

// describe writes what ran where, as a markdown list: the servers'
// versions, how they were built and run, and the machine.
func (o *serverOptions) describe(w io.Writer, versions []string) {
	for _, v := range versions {
		fmt.Fprintf(w, "- %s\n", v)
	}
	if o.zkxSource != "" {
		fmt.Fprintf(w, "- zkx built from %s\n", o.zkxSource)
	}
	if o.javaVersion != "" {
		fmt.Fprintf(w, "- ZooKeeper JVM: %s, %s\n", o.javaVersion, strings.Join(append([]string{"-Xmx" + o.zkHeap}, o.zkJVMFlags...), " "))
	}
	fmt.Fprintf(w, "- machine: %d CPUs, %s/%s; driver built with %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if o.serverCPUs != "" {
		fmt.Fprintf(w, "- servers pinned to CPUs %s\n", o.serverCPUs)
	}
	if o.noFsync {
		fmt.Fprintf(w, "- **forceSync=no for every server (--no-fsync): nothing is fsynced; not durable**\n")
	}
	fmt.Fprintln(w)
}

// pinned returns argv under taskset when --server-cpus is set. taskset
// execs the server, so the pid stays the server's.
func (o *serverOptions) pinned(argv []string) []string {
	if o.serverCPUs == "" {
		return argv
	}
	return append([]string{"taskset", "-c", o.serverCPUs}, argv...)
}

// cleanup removes what prepare made.
func (o *serverOptions) cleanup() {
	if o.zkxBuilt != "" {
		os.RemoveAll(filepath.Dir(o.zkxBuilt))
	}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// Where Debian's zookeeper package puts things.
const (
	javaDir      = "/usr/share/java"
	zookeeperJar = javaDir + "/zookeeper.jar"
	// slf4j-simple gives ZooKeeper a logger (Debian's classpath has none,
	// so it would log nothing); at INFO it logs sessions and snapshots,
	// which costs nothing measurable and explains failures.
	slf4jSimpleJar = javaDir + "/slf4j-simple.jar"
)

var zookeeperKind = &serverKind{
	name: "ZooKeeper",
	prepare: func(ctx context.Context, o *serverOptions) error {
		java, err := exec.LookPath("java")
		if err != nil {
			return fmt.Errorf("java is not installed (apt-get install default-jre-headless zookeeper): %w", err)
		}
		out, err := exec.CommandContext(ctx, java, "-version").CombinedOutput()
		if err != nil {
			return fmt.Errorf("java -version: %w\n%s", err, out)
		}
		o.javaVersion, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
		for _, jar := range []string{o.zkJar, slf4jSimpleJar} {
			if _, err := os.Stat(jar); err != nil {
				return fmt.Errorf("ZooKeeper jars are missing (apt-get install zookeeper, or --zk-jar): %w", err)
			}
		}
		return nil
	},
	argv: func(o *serverOptions, dir, dataDir, addr string) ([]string, error) {
		cfgPath := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(cfgPath, []byte(zooCfg(dataDir, addr, nil, o.cfgLines()...)), 0o644); err != nil {
			return nil, err
		}
		return zookeeperArgv(o, dir, cfgPath)
	},
	memberArgv:    zookeeperArgv,
	logUsage:      zookeeperLogUsage,
	snapshots:     zookeeperSnapshots,
	recoveryNotes: zookeeperRecoveryNotes,
}

// zooCfg is a server's zoo.cfg for clients on clientAddr (host:port) with
// its data in dataDir. It keeps ZooKeeper's defaults (forceSync=yes,
// snapCount=100000, the NIO server), as a production server would, except
// that the admin server is off, clients come over loopback, many
// connections from one address are allowed (the default maxClientCnxns=60
// would refuse --conns > 60) and every four-letter word is allowed. extra
// lines follow those. peers, if any, make it a member of that ensemble
// (server.N lines; the member's own number goes in dataDir/myid).
func zooCfg(dataDir, clientAddr string, peers []quorumPeer, extra ...string) string {
	host, port, _ := net.SplitHostPort(clientAddr)
	lines := []string{
		"tickTime=2000",
		"initLimit=10",
		"syncLimit=5",
		"dataDir=" + dataDir,
		"clientPort=" + port,
		"clientPortAddress=" + host,
		"admin.enableServer=false",
		"maxClientCnxns=0",
		"4lw.commands.whitelist=*",
	}
	lines = append(lines, extra...)
	for _, p := range peers {
		lines = append(lines, p.line())
	}
	return strings.Join(lines, "\n") + "\n"
}

// quorumPeer is one server.N line of an ensemble's zoo.cfg: where member
// N listens to its peers (quorum port, election port).
type quorumPeer struct {
	id                       int
	host                     string
	quorumPort, electionPort int
}

func (p quorumPeer) line() string {
	return fmt.Sprintf("server.%d=%s:%d:%d", p.id, p.host, p.quorumPort, p.electionPort)
}

// zookeeperArgv is what zkServer.sh start-foreground runs for the zoo.cfg
// at cfgPath, with upstream zkEnv.sh's heap (Debian's zkEnv.sh sets none,
// leaving the JVM's default of a quarter of RAM). ZooKeeper logs into dir.
func zookeeperArgv(o *serverOptions, dir, cfgPath string) ([]string, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, err
	}
	argv := []string{java,
		"-Dzookeeper.log.dir=" + dir,
		"-Dzookeeper.log.file=zookeeper.log",
		"-XX:+HeapDumpOnOutOfMemoryError",
		"-XX:OnOutOfMemoryError=kill -9 %p",
		"-Xmx" + o.zkHeap,
	}
	argv = append(argv, o.zkJVMFlags...)
	return append(argv,
		"-cp", slf4jSimpleJar+":"+o.zkJar,
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dcom.sun.management.jmxremote",
		"-Dcom.sun.management.jmxremote.local.only=true",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain",
		cfgPath), nil
}

var zkxKind = &serverKind{
	name: "zkx",
	prepare: func(ctx context.Context, o *serverOptions) error {
		if o.zkxBin != "" {
			if _, err := os.Stat(o.zkxBin); err != nil {
				return fmt.Errorf("--zkx-bin: %w", err)
			}
			return nil
		}
		bin, dir, err := buildZkx(ctx)
		if err != nil {
			return err
		}
		o.zkxBin, o.zkxBuilt = bin, bin
		o.zkxSource = "the working tree " + dir
		if head := checkoutHead(dir); head != "" {
			o.zkxSource += " (HEAD " + head + ", uncommitted changes included)"
		}
		return nil
	},
	argv: func(o *serverOptions, dir, dataDir, addr string) ([]string, error) {
		argv := []string{o.zkxBin, "server", "--listen", addr, "--data-dir", dataDir, "--admin", "off"}
		if lines := o.cfgLines(); len(lines) > 0 {
			// The flags above override the zoo.cfg's address and dataDir.
			cfgPath := filepath.Join(dir, "zoo.cfg")
			if err := os.WriteFile(cfgPath, []byte(zooCfg(dataDir, addr, nil, lines...)), 0o644); err != nil {
				return nil, err
			}
			argv = append(argv, "--config", cfgPath)
		}
		return append(argv, o.zkxArgs...), nil
	},
	memberArgv: func(o *serverOptions, dir, cfgPath string) ([]string, error) {
		return append([]string{o.zkxBin, "server", "--config", cfgPath}, o.zkxArgs...), nil
	},
	logUsage:      zkxLogUsage,
	snapshots:     zkxSnapshots,
	recoveryNotes: zkxRecoveryNotes,
}

// zkxModule is the module the harness builds zkx from.
const zkxModule = "github.com/zkx-project/zkx"

// buildZkx builds cmd/zkx of the checkout the harness runs in, into a
// temporary directory, and returns the binary's path and the checkout's.
func buildZkx(ctx context.Context) (bin, dir string, err error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return "", "", fmt.Errorf("find the zkx checkout (run from it, or pass --zkx-bin): %w", err)
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path != zkxModule {
		return "", "", fmt.Errorf("the current module is %q, not %s: run from the zkx checkout or pass --zkx-bin", path, zkxModule)
	}
	tmp, err := os.MkdirTemp("", "zkx-bench-bin-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(tmp, "zkx")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/zkx")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", "", fmt.Errorf("go build ./cmd/zkx: %w\n%s", err, out)
	}
	return bin, dir, nil
}

// checkoutHead returns the commit HEAD of the checkout in dir, or "".
// (GOFLAGS may carry -buildvcs=false, so the binary need not know it.)
func checkoutHead(dir string) string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// server is a running server of some kind, with its run directory
// (config, data/ and log).
type server struct {
	kind    *serverKind
	opts    *serverOptions
	addr    string
	dir     string
	proc    *process
	version string // from srvr
}

// startTimeout bounds how long a server may take to serve after start.
const startTimeout = 60 * time.Second

// launchServer starts a fresh server of kind on a free loopback port in a
// new run directory and waits until it serves clients.
func launchServer(ctx context.Context, kind *serverKind, o *serverOptions) (*server, error) {
	dir, err := os.MkdirTemp("", "zkx-bench-"+strings.ToLower(kind.name)+"-")
	if err != nil {
		return nil, err
	}
	s := &server{kind: kind, opts: o, dir: dir}
	if err := os.MkdirAll(s.dataDir(), 0o755); err != nil {
		s.remove()
		return nil, err
	}
	if err := s.start(ctx, func(ctx context.Context) error {
		return waitServing(ctx, s.addr, s.proc, startTimeout)
	}); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// start runs the server on a free loopback port with the data already in
// its run directory, and calls ready to wait until it serves. If the
// process exits before that, the port was most likely taken between
// freeLoopbackAddr and the server's bind: then it tries another port.
func (s *server) start(ctx context.Context, ready func(context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if s.addr, err = freeLoopbackAddr(); err != nil {
			return err
		}
		argv, err := s.kind.argv(s.opts, s.dir, s.dataDir(), s.addr)
		if err != nil {
			return err
		}
		if s.proc, err = startProcess(s.kind.name, s.dir, filepath.Join(s.dir, "server.log"), s.opts.pinned(argv)); err != nil {
			return err
		}
		err = ready(ctx)
		if err == nil {
			break
		}
		tail := s.proc.logTail()
		_, _ = s.proc.stop(5 * time.Second)
		if !errors.Is(err, errExitedEarly) || attempt == 3 {
			return fmt.Errorf("%s: %w\n%s", s.kind.name, err, tail)
		}
	}
	if ans, err := client.FourLetterWord(s.addr, "srvr"); err == nil {
		s.version = srvrField(ans, "Zookeeper version")
	}
	return nil
}

// dataDir is where the server keeps its data: ZooKeeper's dataDir, zkx's
// --data-dir (log segments and snapshots).
func (s *server) dataDir() string { return filepath.Join(s.dir, "data") }

// nodeCount is the server's node count as srvr reports it, or -1.
func (s *server) nodeCount() int64 {
	ans, err := client.FourLetterWord(s.addr, "srvr")
	if err != nil {
		return -1
	}
	var n int64
	if _, err := fmt.Sscan(srvrField(ans, "Node count"), &n); err != nil {
		return -1
	}
	return n
}

// zxid is the server's last zxid as srvr reports it.
func (s *server) zxid() (int64, error) {
	ans, err := client.FourLetterWord(s.addr, "srvr")
	if err != nil {
		return 0, err
	}
	field := srvrField(ans, "Zxid")
	zxid, ok := parseHexZxid(strings.TrimPrefix(field, "0x"))
	if !ok {
		return 0, fmt.Errorf("%s: srvr has no Zxid (%q)", s.kind.name, field)
	}
	return zxid, nil
}

// checkAlive returns an error with the log's tail if the server died.
func (s *server) checkAlive() error {
	if s.proc.alive() {
		return nil
	}
	return fmt.Errorf("%s exited (%v)\n%s", s.proc.name, s.proc.waitErr, s.proc.logTail())
}

// logContains reports whether the server's log has s in it.
func (s *server) logContains(text string) bool {
	b, err := os.ReadFile(s.proc.logPath)
	return err == nil && strings.Contains(string(b), text)
}

// stop stops the server gracefully and removes its run directory unless
// --keep-data.
func (s *server) stop() error {
	_, err := s.stopProcess()
	if s.opts.keepData {
		fmt.Fprintf(os.Stderr, "%s: kept %s\n", s.kind.name, s.dir)
	} else {
		s.remove()
	}
	return err
}

// stopProcess stops the server gracefully (SIGTERM, then SIGKILL after
// 20s) and keeps its run directory, so that it can start again on it.
func (s *server) stopProcess() (time.Duration, error) {
	took, err := s.proc.stop(20 * time.Second)
	fmt.Fprintf(os.Stderr, "%s: stopped %v after SIGTERM\n", s.kind.name, took.Round(time.Millisecond))
	return took, err
}

func (s *server) remove() { os.RemoveAll(s.dir) }
