package compat

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zkxclient "github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// TestKazoo runs every testdata/kazoo_*.py against its own zkx node. Each
// script prints one "ok:" line per check that held and exits non-zero
// after listing the checks that did not (see testdata/compatlib.py).
func TestKazoo(t *testing.T) {
	python := requireKazoo(t)
	scripts, err := filepath.Glob("testdata/kazoo_*.py")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no kazoo scripts in testdata: %v", err)
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".py")
		t.Run(strings.TrimPrefix(name, "kazoo_"), func(t *testing.T) {
			t.Parallel()
			// Long sessions, so that kazoo's pings (every third of the
			// timeout) survive a loaded machine; the expiry check asks for
			// a 1s session itself.
			n := zkxtest.Start(t, zkxtest.Options{MaxSessionTimeout: 30 * time.Second})
			// -B: write no __pycache__ into testdata.
			stdout, stderr, err := runTool(t, 2*time.Minute, "", python, "-B", filepath.Base(script), n.Addr())
			if err != nil {
				t.Fatalf("%s failed (%v):\n%s\nfull output:\n%s", filepath.Base(script), err,
					failureLines(stderr), stdout)
			}
			t.Logf("%s:\n%s", filepath.Base(script), stdout)
			if !strings.Contains(stdout, "PASS: "+filepath.Base(script)) {
				t.Fatalf("%s exited 0 without reporting PASS:\n%s\n%s", filepath.Base(script), stdout, stderr)
			}
		})
	}
}

// failureLines keeps what a script printed to stderr: its FAIL lines and
// any traceback or kazoo warning that explains them.
func failureLines(stderr string) string {
	if strings.TrimSpace(stderr) == "" {
		return "(no stderr)"
	}
	return stderr
}

// TestKazooEnsemble runs the same scripts against one 3-node zkx ensemble,
// kazoo given every server (it picks one at random per session): kazoo's
// recipes then run across followers and the leader.
func TestKazooEnsemble(t *testing.T) {
	python := requireKazoo(t)
	scripts, err := filepath.Glob("testdata/kazoo_*.py")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no kazoo scripts in testdata: %v", err)
	}
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{MaxSessionTimeout: 30 * time.Second})
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".py")
		switch name {
		case "kazoo_barrier", "kazoo_session":
			// These check one server's own view (wchp lists the watches
			// of the sessions connected to it; a proxy in front of one
			// server freezes a connection), which an ensemble spreads
			// over three servers; the recipes and session semantics they
			// use are covered by the others here.
			continue
		}
		t.Run(strings.TrimPrefix(name, "kazoo_"), func(t *testing.T) {
			stdout, stderr, err := runTool(t, 2*time.Minute, "", python, "-B", filepath.Base(script), e.Addrs())
			if err != nil {
				t.Fatalf("%s failed (%v):\n%s\nfull output:\n%s", filepath.Base(script), err,
					failureLines(stderr), stdout)
			}
			if !strings.Contains(stdout, "PASS: "+filepath.Base(script)) {
				t.Fatalf("%s exited 0 without reporting PASS:\n%s\n%s", filepath.Base(script), stdout, stderr)
			}
		})
	}
}

// TestKazooReadOnlyMode: with readonlymode.enabled, the last member of a
// 3-node ensemble whose peers are gone serves kazoo's read_only clients.
func TestKazooReadOnlyMode(t *testing.T) {
	python := requireKazoo(t)
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{MaxSessionTimeout: 30 * time.Second, ReadOnlyMode: true})
	leader := e.Leader(10 * time.Second)
	c, err := zkxclient.Connect(context.Background(), []string{e.Addr(leader)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), "/ro", []byte("before"), zkxclient.Persistent, zkxclient.WorldACL(zkxclient.PermAll)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	last := leader%3 + 1
	// The write is committed by a quorum, which need not include last:
	// make sure last has it before it is left alone.
	lc, err := zkxclient.Connect(context.Background(), []string{e.Addr(last)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Sync(context.Background(), "/ro"); err != nil {
		t.Fatal(err)
	}
	lc.Close()
	for id := int64(1); id <= 3; id++ {
		if id != last {
			e.Stop(id)
		}
	}
	eventually(t, 10*time.Second, "the last member to lose its leader", func() bool { return e.Mode(last) == "looking" })
	stdout, stderr, err := runTool(t, time.Minute, "", python, "-B", "readonly.py", e.Addr(last))
	if err != nil || !strings.Contains(stdout, "PASS: readonly.py") {
		t.Fatalf("readonly.py failed (%v):\n%s\n%s", err, failureLines(stderr), stdout)
	}
}
