package clustertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/internal/zktest"
)

// Options say what cluster to run. Zero values take the defaults named.
type Options struct {
	Kind Kind
	// Servers is the number of voting servers (default 3). One runs a
	// standalone node: no server.N lines, no peers, no proxies.
	Servers int
	// Observers are added after the voting servers (server.N=...:observer,
	// and peerType=observer in the observer's own zoo.cfg).
	Observers int
	// TickTime is zoo.cfg's tickTime (default 200ms), InitLimit and
	// SyncLimit its limits in ticks (default 25 and 10: 5s to sync with a
	// leader, 2s of silence before a peer is given up).
	TickTime  time.Duration
	InitLimit int
	SyncLimit int
	// MaxSessionTimeout is zoo.cfg's maxSessionTimeout (default 30s), so
	// sessions outlive a server's restart.
	MaxSessionTimeout time.Duration
	// Config adds lines to every node's zoo.cfg.
	Config map[string]string
	// ZkxBinary is the zkx binary (default: ZkxBinary(t)); ZkxArgs are
	// added to its command line.
	ZkxBinary string
	ZkxArgs   []string
}

// Cluster is a set of server processes of one kind on loopback, each with
// its data in its own directory under t.TempDir(), their peer links through
// proxies. Its methods are safe to call from any goroutine; they return
// errors instead of failing the test, so that a nemesis goroutine can call
// them. When the test ends every process is killed and every proxy closed;
// if the test failed, the tail of each server's log is printed and the
// logs are kept (see KeepDir).
type Cluster struct {
	t     testing.TB
	opts  Options
	nodes []*node
	// links[i][j] carries i's connections to j's quorum and election
	// ports; nil for i == j and in a standalone cluster.
	links [][]*link

	mu       sync.Mutex // guards the nodes' processes and the links' state
	stopped  bool
	keepOnce sync.Once
	keepDir  string
	keepErr  error
}

type node struct {
	index    int // in Cluster.nodes
	id       int // server.N, myid: index+1
	observer bool
	dir      string
	// The node's own listening addresses. Peers reach quorumAddr and
	// electionAddr only through links.
	clientAddr, quorumAddr, electionAddr string
	proc                                 *process // nil until started
}

func (n *node) cfgPath() string { return filepath.Join(n.dir, "zoo.cfg") }
func (n *node) dataDir() string { return filepath.Join(n.dir, "data") }
func (n *node) logPath() string { return filepath.Join(n.dir, "server.log") }

type link struct{ quorum, election *Proxy }

// New lays out a cluster: ports, proxies, directories, zoo.cfg and myid
// files. Nothing runs until Start or StartAll.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Kind == 0 {
		opts.Kind = Zkx
	}
	checkKind(t, opts.Kind)
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.Servers == 1 && opts.Observers > 0 {
		t.Fatalf("clustertest: a standalone node cannot have observers")
	}
	if opts.TickTime == 0 {
		opts.TickTime = 200 * time.Millisecond
	}
	if opts.InitLimit == 0 {
		opts.InitLimit = 25
	}
	if opts.SyncLimit == 0 {
		opts.SyncLimit = 10
	}
	if opts.MaxSessionTimeout == 0 {
		opts.MaxSessionTimeout = 30 * time.Second
	}
	if opts.Kind == Zkx && opts.ZkxBinary == "" {
		opts.ZkxBinary = ZkxBinary(t)
	}
	base := t.TempDir()
	c := &Cluster{t: t, opts: opts}
	// Registered after TempDir's, so it runs first: the processes are dead
	// before their directories go.
	t.Cleanup(c.cleanup)

	total := opts.Servers + opts.Observers
	addrs, err := freeLoopbackAddrs(3 * total)
	if err != nil {
		t.Fatal(err)
	}
	for i := range total {
		n := &node{index: i, id: i + 1, observer: i >= opts.Servers, dir: filepath.Join(base, "node"+strconv.Itoa(i+1)),
			clientAddr: addrs[3*i], quorumAddr: addrs[3*i+1], electionAddr: addrs[3*i+2]}
		if err := os.MkdirAll(n.dataDir(), 0o755); err != nil {
			t.Fatal(err)
		}
		if !c.standalone() {
			if err := os.WriteFile(filepath.Join(n.dataDir(), "myid"), []byte(strconv.Itoa(n.id)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c.nodes = append(c.nodes, n)
	}
	if !c.standalone() {
		c.links = make([][]*link, total)
		for i := range c.nodes {
			c.links[i] = make([]*link, total)
			for j, to := range c.nodes {
				if i == j {
					continue
				}
				c.links[i][j] = &link{quorum: NewProxy(t, to.quorumAddr), election: NewProxy(t, to.electionAddr)}
			}
		}
	}
	for _, n := range c.nodes {
		if err := os.WriteFile(n.cfgPath(), []byte(c.zooCfg(n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// freeLoopbackAddrs returns n distinct loopback addresses whose ports were
// free a moment ago (held open together, so no two are the same).
func freeLoopbackAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	// Below the kernel's ephemeral range (32768-60999 by default): the
	// servers bind these ports a moment later, and a port from the
	// ephemeral range may meanwhile become the source port of one of the
	// many connections the proxies and servers make.
	var addrs []string
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("clustertest: no %d free ports in 10000-32767", n)
		}
		port := 10000 + rand.IntN(32768-10000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

func (c *Cluster) standalone() bool { return c.opts.Servers == 1 && c.opts.Observers == 0 }

// Kind is the kind of server the cluster runs.
func (c *Cluster) Kind() Kind { return c.opts.Kind }

// Size is the number of nodes, observers included. Nodes are numbered
// 0..Size()-1; node i is server.(i+1) with myid i+1.
func (c *Cluster) Size() int { return len(c.nodes) }

// Standalone reports whether the cluster is one standalone node.
func (c *Cluster) Standalone() bool { return c.standalone() }

// IsObserver reports whether node i is an observer.
func (c *Cluster) IsObserver(i int) bool { return c.nodes[i].observer }

// ClientAddrs are the nodes' client addresses, in node order, whether they
// run or not.
func (c *Cluster) ClientAddrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.clientAddr
	}
	return addrs
}

// ClientAddr is node i's client address.
func (c *Cluster) ClientAddr(i int) string { return c.nodes[i].clientAddr }

// ConfigPath is node i's zoo.cfg; LogPath is where its output goes (all
// of its runs, each after a "=== clustertest: start" line); DataDir holds
// its data and myid.
func (c *Cluster) ConfigPath(i int) string { return c.nodes[i].cfgPath() }
func (c *Cluster) LogPath(i int) string    { return c.nodes[i].logPath() }
func (c *Cluster) DataDir(i int) string    { return c.nodes[i].dataDir() }

// Start runs node i on its data. It does not wait for the node to serve
// (a node of an ensemble serves only once it is in a quorum): see
// WaitHealthy.
func (c *Cluster) Start(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startLocked(c.nodes[i])
}

func (c *Cluster) startLocked(n *node) error {
	if c.stopped {
		return ErrStopped
	}
	if n.proc != nil && n.proc.alive() {
		return fmt.Errorf("%w: node %d", ErrRunning, n.index)
	}
	argv, err := c.argv(n)
	if err != nil {
		return err
	}
	p, err := startProcess(n.dir, n.logPath(), argv)
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// StartAll starts every node that does not run.
func (c *Cluster) StartAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.proc != nil && n.proc.alive() {
			continue
		}
		if err := c.startLocked(n); err != nil {
			return err
		}
	}
	return nil
}

// KillNine kills node i with SIGKILL and waits until it has exited. Its
// data stays for Start.
func (c *Cluster) KillNine(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.proc == nil || !n.proc.alive() {
		return fmt.Errorf("%w: node %d", ErrNotRunning, i)
	}
	return n.proc.kill()
}

// Restart kills node i with SIGKILL if it runs and starts it again on the
// same data and ports.
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.proc != nil && n.proc.alive() {
		if err := n.proc.kill(); err != nil {
			return err
		}
	}
	return c.startLocked(n)
}

// Running reports whether node i's process runs.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.nodes[i].proc
	return p != nil && p.alive()
}

// Stop kills every node (SIGKILL) and closes the proxies; nothing starts
// after it. The cluster calls it when the test ends.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for _, n := range c.nodes {
		if n.proc != nil && n.proc.alive() {
			if err := n.proc.kill(); err != nil {
				c.t.Errorf("clustertest: node %d: %v", n.index, err)
			}
		}
	}
	for _, row := range c.links {
		for _, l := range row {
			if l != nil {
				l.quorum.Close()
				l.election.Close()
			}
		}
	}
}

func (c *Cluster) cleanup() {
	c.Stop()
	if !c.t.Failed() {
		return
	}
	for i, n := range c.nodes {
		c.t.Logf("--- node %d (server.%d, %s) %s, last lines:\n%s", i, n.id, c.opts.Kind, n.logPath(), logTail(n.logPath(), 40))
	}
	dir, err := c.KeepDir()
	if err != nil {
		c.t.Logf("clustertest: keep the logs: %v", err)
		return
	}
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.logPath())
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("node%d.log", n.id)), b, 0o644)
		}
		if err == nil {
			b, err = os.ReadFile(n.cfgPath())
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("node%d.cfg", n.id)), b, 0o644)
		}
		if err != nil {
			c.t.Logf("clustertest: keep node %d's log: %v", n.index, err)
		}
	}
	c.t.Logf("clustertest: the servers' logs and configs are kept in %s", dir)
}

// KeepDir is a directory, outside t.TempDir() and not removed, for what
// explains a failure (the servers' logs, a porcupine visualization).
func (c *Cluster) KeepDir() (string, error) {
	c.keepOnce.Do(func() {
		name := strings.Map(func(r rune) rune {
			if r == '/' || r == ' ' {
				return '_'
			}
			return r
		}, c.t.Name())
		c.keepDir, c.keepErr = os.MkdirTemp("", "clustertest-"+name+"-")
	})
	return c.keepDir, c.keepErr
}

// Partition cuts every peer link between nodes of different groups, both
// ways, and restores every link within a group. A node in no group is cut
// off from every other. Partition replaces whatever partition was in force.
func (c *Cluster) Partition(groups ...[]int) {
	group := make([]int, len(c.nodes))
	for i := range group {
		group[i] = -1 - i // a group of its own
	}
	for g, members := range groups {
		for _, i := range members {
			group[i] = g
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, row := range c.links {
		for j, l := range row {
			if l == nil {
				continue
			}
			if group[i] == group[j] {
				l.quorum.Unblock()
				l.election.Unblock()
			} else {
				l.quorum.Block()
				l.election.Block()
			}
		}
	}
}

// Isolate cuts node i off from every other node.
func (c *Cluster) Isolate(i int) {
	var rest []int
	for j := range c.nodes {
		if j != i {
			rest = append(rest, j)
		}
	}
	c.Partition([]int{i}, rest)
}

// Heal restores every peer link.
func (c *Cluster) Heal() {
	all := make([]int, len(c.nodes))
	for i := range all {
		all[i] = i
	}
	c.Partition(all)
}

// Status is what a node's srvr four-letter word says.
type Status struct {
	// Mode is leader, follower, observer or standalone; "" if the node does
	// not serve (ZooKeeper: "This ZooKeeper instance is not currently
	// serving requests").
	Mode string
	Zxid int64
	// Srvr is the whole answer.
	Srvr string
}

func (s Status) String() string {
	if s.Mode == "" {
		return "not serving"
	}
	return fmt.Sprintf("%s zxid=%#x", s.Mode, s.Zxid)
}

// Status asks node i for srvr.
func (c *Cluster) Status(i int) (Status, error) {
	ans, err := zktest.FourLetter(c.nodes[i].clientAddr, "srvr")
	if err != nil {
		return Status{}, err
	}
	return parseSrvr(ans), nil
}

func parseSrvr(ans string) Status {
	st := Status{Srvr: ans}
	for line := range strings.Lines(ans) {
		key, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch key {
		case "Mode":
			st.Mode = v
		case "Zxid":
			if z, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64); err == nil {
				st.Zxid = int64(z)
			}
		}
	}
	return st
}

// pollInterval is how often the cluster asks its nodes while it waits for
// a condition.
const pollInterval = 50 * time.Millisecond

// Leader waits until exactly one running node reports Mode: leader (or,
// standalone, until the node serves) and returns it.
func (c *Cluster) Leader(deadline time.Time) (int, error) {
	want := "leader"
	if c.standalone() {
		want = "standalone"
	}
	var last string
	for {
		var leaders []int
		var report []string
		for i := range c.nodes {
			if !c.Running(i) {
				report = append(report, fmt.Sprintf("node %d: down", i))
				continue
			}
			st, err := c.Status(i)
			if err != nil {
				report = append(report, fmt.Sprintf("node %d: %v", i, err))
				continue
			}
			report = append(report, fmt.Sprintf("node %d: %v", i, st))
			if st.Mode == want {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) == 1 {
			return leaders[0], nil
		}
		last = strings.Join(report, "; ")
		if !waitUntil(deadline) {
			return -1, fmt.Errorf("%w: %s", ErrNoLeader, last)
		}
	}
}

// waitUntil waits one poll interval and reports whether deadline has not
// passed yet.
func waitUntil(deadline time.Time) bool {
	if !time.Now().Before(deadline) {
		return false
	}
	time.Sleep(min(pollInterval, time.Until(deadline)))
	return true
}

// ensembleUnsupported matches what a server that cannot run in an ensemble
// says as it exits: "ensemble not supported", "replication is not yet
// supported", "quorum mode unsupported", "ensembles are not implemented".
var ensembleUnsupported = regexp.MustCompile(`(?i)\b(ensembles?|quorum|replication)\b[^\n]*\b(not (yet )?supported|unsupported|not (yet )?implemented)\b`)

// WaitHealthy waits until every node that runs serves in its role and
// exactly one of them leads: one leader, followers and observers (a
// standalone cluster: its node reports standalone). It fails at once if a
// node's process exited without KillNine. A node of an ensemble that
// reports Mode: standalone, or exits saying (in its log) that ensembles are
// not supported, fails it with ErrEnsembleUnsupported.
func (c *Cluster) WaitHealthy(deadline time.Time) error {
	_, err := c.waitHealthy(deadline, false)
	return err
}

// WaitConverged waits until the cluster is healthy and every node that runs
// reports the same zxid, and returns that zxid. ZooKeeper's leader reports
// the new epoch's zxid (epoch<<32) from its election until its first txn
// while its followers report the last txn's, so ZooKeeper converges only
// once a txn (a write, a session opened or closed) follows the last
// election.
func (c *Cluster) WaitConverged(deadline time.Time) (int64, error) {
	return c.waitHealthy(deadline, true)
}

// lastRunOutput is what the last run of a server wrote, out of the tail
// of its log: what follows the harness's last start line.
func lastRunOutput(tail string) string {
	if i := strings.LastIndex(tail, startLine); i >= 0 {
		tail = tail[i:]
		if j := strings.IndexByte(tail, '\n'); j >= 0 {
			return tail[j+1:]
		}
		return ""
	}
	return tail
}

func (c *Cluster) waitHealthy(deadline time.Time, sameZxid bool) (int64, error) {
	var last string
	for {
		zxid, report, err := c.checkHealthy(sameZxid)
		if err != nil {
			return 0, err
		}
		if report == "" {
			return zxid, nil
		}
		last = report
		if !waitUntil(deadline) {
			what := "healthy"
			if sameZxid {
				what = "converged"
			}
			return 0, fmt.Errorf("%w: not %s: %s", ErrUnhealthy, what, last)
		}
	}
}

// checkHealthy returns "" if the cluster is healthy (and, with sameZxid,
// converged), else what is wrong, and an error if waiting is pointless.
func (c *Cluster) checkHealthy(sameZxid bool) (zxid int64, report string, err error) {
	var problems, states []string
	leaders, running := 0, 0
	zxids := map[int64]bool{}
	for i, n := range c.nodes {
		c.mu.Lock()
		p := n.proc
		killed := p != nil && p.killed
		c.mu.Unlock()
		if p == nil || killed {
			states = append(states, fmt.Sprintf("node %d: down", i))
			continue
		}
		if !p.alive() {
			tail := logTail(n.logPath(), 20)
			if !c.standalone() && ensembleUnsupported.MatchString(lastRunOutput(tail)) {
				return 0, "", fmt.Errorf("%w: node %d (server.%d) exited: %v\n%s", ErrEnsembleUnsupported, i, n.id, p.waitErr, tail)
			}
			return 0, "", fmt.Errorf("%w: node %d (server.%d) %v; its log ends:\n%s", ErrExited, i, n.id, p.waitErr, tail)
		}
		running++
		st, serr := c.Status(i)
		if serr != nil {
			problems = append(problems, fmt.Sprintf("node %d: %v", i, serr))
			continue
		}
		states = append(states, fmt.Sprintf("node %d: %v", i, st))
		want := []string{"leader", "follower"}
		switch {
		case c.standalone():
			want = []string{"standalone"}
		case st.Mode == "standalone":
			return 0, "", fmt.Errorf("%w: node %d (server.%d of %d) runs with an ensemble config and reports Mode: standalone",
				ErrEnsembleUnsupported, i, n.id, len(c.nodes))
		case n.observer:
			want = []string{"observer"}
		}
		if !slices.Contains(want, st.Mode) {
			problems = append(problems, fmt.Sprintf("node %d: %v, want %s", i, st, strings.Join(want, " or ")))
			continue
		}
		if st.Mode == "leader" || st.Mode == "standalone" {
			leaders++
		}
		zxids[st.Zxid] = true
		zxid = st.Zxid
	}
	switch {
	case running == 0:
		return 0, "", fmt.Errorf("%w: no node runs", ErrUnhealthy)
	case len(problems) > 0:
	case leaders != 1:
		problems = append(problems, fmt.Sprintf("%d leaders", leaders))
	case sameZxid && len(zxids) > 1:
		problems = append(problems, "zxids differ")
	}
	if len(problems) == 0 {
		return zxid, "", nil
	}
	return 0, strings.Join(problems, "; ") + " [" + strings.Join(states, "; ") + "]", nil
}
