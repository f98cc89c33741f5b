package clustertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveZkxBinary()
	os.Exit(code)
}

// startCluster starts every node of a new cluster and waits until it is
// healthy. A server that runs standalone despite its server.N lines fails
// the test with ErrEnsembleUnsupported.
func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	c := New(t, opts)
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(time.Now().Add(90 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLinearizableRegisterZooKeeper runs the register workload under the
// nemesis against three Apache ZooKeeper servers: it shows that the
// harness (configs, proxies, nemesis, checker) works, since ZooKeeper
// passes it.
func TestLinearizableRegisterZooKeeper(t *testing.T) {
	if os.Getenv("ZKX_CLUSTERTEST_ZK") == "" {
		t.Skip("three ZooKeeper JVMs: set ZKX_CLUSTERTEST_ZK=1 to run")
	}
	c := startCluster(t, Options{Kind: ZooKeeper, Servers: 3})
	RunRegister(t, c, RegisterOptions{Duration: 25 * time.Second})
}

func TestLinearizableRegisterZkx3(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a zkx ensemble under faults")
	}
	c := startCluster(t, Options{Kind: Zkx, Servers: 3})
	RunRegister(t, c, RegisterOptions{Duration: 20 * time.Second})
}

func TestLinearizableRegisterZkx5(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a zkx ensemble under faults")
	}
	c := startCluster(t, Options{Kind: Zkx, Servers: 5})
	RunRegister(t, c, RegisterOptions{Duration: 20 * time.Second})
}

// TestKillNineStandaloneLinearizable kills a standalone zkx node with
// SIGKILL and restarts it on its data, again and again, under the register
// workload.
func TestKillNineStandaloneLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the zkx binary")
	}
	c := startCluster(t, Options{Kind: Zkx, Servers: 1})
	RunRegister(t, c, RegisterOptions{Duration: 15 * time.Second})
}

// TestClusterFaultsZooKeeper drives each of the cluster's faults by hand
// against ZooKeeper (three voters and an observer) and checks what an
// ensemble must do about it; TestClusterFaultsZkx asks the same of zkx.
func TestClusterFaultsZooKeeper(t *testing.T) {
	if os.Getenv("ZKX_CLUSTERTEST_ZK") == "" {
		t.Skip("four ZooKeeper JVMs: set ZKX_CLUSTERTEST_ZK=1 to run")
	}
	testClusterFaults(t, startCluster(t, Options{Kind: ZooKeeper, Servers: 3, Observers: 1}))
}

func TestClusterFaultsZkx(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a zkx ensemble")
	}
	testClusterFaults(t, startCluster(t, Options{Kind: Zkx, Servers: 3, Observers: 1}))
}

func testClusterFaults(t *testing.T, c *Cluster) {
	deadline := func() time.Time { return time.Now().Add(60 * time.Second) }
	for i := range c.Size() {
		st, err := c.Status(i)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d: %v", i, st)
	}
	mustWrite(t, c, 0, "first")

	// The leader cut off: the others elect a new one, and the old one
	// neither serves as leader nor acknowledges a write.
	old := leader(t, c)
	c.Isolate(old)
	waitNewLeader(t, c, old)
	if st, err := c.Status(old); err == nil && (st.Mode == "leader" || st.Mode == "follower") {
		t.Errorf("isolated node %d reports %v", old, st)
	}
	if err := write(c, old, "minority"); err == nil {
		t.Errorf("isolated node %d acknowledged a write", old)
	}
	mustWrite(t, c, (old+1)%c.Size(), "majority")
	c.Heal()
	if err := c.WaitHealthy(deadline()); err != nil {
		t.Fatalf("after heal: %v", err)
	}

	// A follower killed: the rest serve; restarted, it catches up.
	l := leader(t, c)
	f := (l + 1) % c.Size()
	if err := c.KillNine(f); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(deadline()); err != nil {
		t.Fatalf("with node %d killed: %v", f, err)
	}
	mustWrite(t, c, l, "without a follower")
	if err := c.Restart(f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitConverged(deadline()); err != nil {
		t.Fatalf("after restarting node %d: %v", f, err)
	}

	// The leader killed: another takes over; restarted, it catches up.
	l = leader(t, c)
	if err := c.KillNine(l); err != nil {
		t.Fatal(err)
	}
	waitNewLeader(t, c, l)
	mustWrite(t, c, (l+1)%c.Size(), "without the old leader")
	if err := c.Start(l); err != nil {
		t.Fatal(err)
	}
	zxid, err := c.WaitConverged(deadline())
	if err != nil {
		t.Fatalf("after restarting node %d: %v", l, err)
	}
	for i := range c.Size() {
		data, err := read(c, i)
		if err != nil || data != "without the old leader" {
			t.Errorf("node %d reads %q, %v; want the last write", i, data, err)
		}
	}
	t.Logf("converged at zxid %#x", zxid)
}

func leader(t *testing.T, c *Cluster) int {
	t.Helper()
	l, err := c.Leader(time.Now().Add(60 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitNewLeader waits until a node other than old is the one leader.
func waitNewLeader(t *testing.T, c *Cluster, old int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := c.Leader(deadline)
		if err != nil {
			t.Fatalf("no new leader after node %d's loss: %v", old, err)
		}
		if l != old {
			t.Logf("node %d leads after node %d's loss", l, old)
			return
		}
		if !waitUntil(deadline) {
			t.Fatalf("node %d still leads", old)
		}
	}
}

const testPath = "/clustertest-faults"

// write sets testPath (creating it first if need be) through node i.
func write(c *Cluster, i int, data string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, []string{c.ClientAddr(i)}, client.WithDialTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.Set(ctx, testPath, []byte(data), -1)
	if errors.Is(err, client.ErrNoNode) {
		_, err = cl.Create(ctx, testPath, []byte(data), client.Persistent, client.WorldACL(client.PermAll))
	}
	return err
}

// mustWrite writes through node i, trying again until it succeeds or a
// minute passes: a node serves again only some time after its ensemble
// has a new leader.
func mustWrite(t *testing.T, c *Cluster, i int, data string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := write(c, i, data)
		if err == nil {
			return
		}
		if !waitUntil(deadline) {
			t.Fatalf("write %q through node %d: %v", data, i, err)
		}
	}
}

// read is sync+getData of testPath through node i.
func read(c *Cluster, i int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, []string{c.ClientAddr(i)}, client.WithDialTimeout(2*time.Second))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	if _, err := cl.Sync(ctx, testPath); err != nil {
		return "", err
	}
	data, _, err := cl.Get(ctx, testPath)
	return string(data), err
}

// fakeZkx writes a shell script that stands in for the zkx binary.
func fakeZkx(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zkx")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEnsembleUnsupported: a server that exits saying it cannot run an
// ensemble is ErrEnsembleUnsupported (the tests fail on it); one that
// exits for another reason is ErrExited, with its log.
func TestEnsembleUnsupported(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   error
	}{
		{`echo "zkx: ensemble mode is not supported yet (server.N lines)" >&2; exit 2`, ErrEnsembleUnsupported},
		{`echo "level=ERROR msg=\"replication unsupported\"" >&2; exit 1`, ErrEnsembleUnsupported},
		{`echo "config: myid 9 is not one of the server.N lines" >&2; exit 2`, ErrExited},
	} {
		c := New(t, Options{Kind: Zkx, Servers: 3, ZkxBinary: fakeZkx(t, tc.script)})
		if err := c.StartAll(); err != nil {
			t.Fatal(err)
		}
		err := c.WaitHealthy(time.Now().Add(10 * time.Second))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: WaitHealthy: %v, want %v", tc.script, err, tc.want)
		}
	}
}

// TestKillNineAndRestart checks process control on a stand-in server: a
// sleeping script, killed with SIGKILL, started again, and not left behind.
func TestKillNineAndRestart(t *testing.T) {
	c := New(t, Options{Kind: Zkx, Servers: 1, ZkxBinary: fakeZkx(t, `echo started; exec sleep 600`)})
	if err := c.Start(0); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(0); !errors.Is(err, ErrRunning) {
		t.Errorf("Start of a running node: %v, want ErrRunning", err)
	}
	c.mu.Lock()
	first := c.nodes[0].proc.cmd.Process.Pid
	c.mu.Unlock()
	if err := c.KillNine(0); err != nil {
		t.Fatal(err)
	}
	if c.Running(0) {
		t.Fatal("running after KillNine")
	}
	if err := c.KillNine(0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("KillNine of a dead node: %v, want ErrNotRunning", err)
	}
	if err := c.Restart(0); err != nil {
		t.Fatal(err)
	}
	if !c.Running(0) {
		t.Fatal("not running after Restart")
	}
	c.Stop()
	if c.Running(0) {
		t.Fatal("running after Stop")
	}
	if err := syscall.Kill(first, 0); err == nil {
		t.Errorf("pid %d still exists after KillNine", first)
	}
	if err := c.Start(0); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Stop: %v, want ErrStopped", err)
	}
	log, _ := os.ReadFile(c.LogPath(0))
	if n := strings.Count(string(log), "=== clustertest: start"); n != 2 {
		t.Errorf("the log has %d start lines, want 2:\n%s", n, log)
	}
}
