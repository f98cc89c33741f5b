package main

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLocalEnsemble drives the local-ensemble commands as the README shows
// them: start three servers, write, kill the leader, write again through
// the survivors, restart it, read back what was written, stop.
func TestLocalEnsemble(t *testing.T) {
	bin := zkxBinary(t)
	dir := filepath.Join(t.TempDir(), "ens")
	// Ports away from the defaults and from other tests' free ports.
	base := 10000 + rand.Intn(20000)
	client, peer := strconv.Itoa(base), strconv.Itoa(base+10)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("zkx %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	t.Cleanup(func() { exec.Command(bin, "ensemble", "stop", "--dir", dir).Run() })
	out := run("ensemble", "start", "--dir", dir, "--client-port", client, "--peer-port", peer)
	if !strings.Contains(out, "leader elected") {
		t.Fatalf("start: %s", out)
	}
	// The members share a secret only their owner can read, and every
	// config names it: they linked up (a leader was elected) by proving it.
	if fi, err := os.Stat(filepath.Join(dir, "quorum.secret")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("quorum.secret: %v %v, want mode 0600", fi, err)
	}
	for n := 1; n <= 3; n++ {
		cfg, err := os.ReadFile(filepath.Join(dir, "node"+strconv.Itoa(n), "zoo.cfg"))
		if err != nil || !strings.Contains(string(cfg), "zkx.quorum.secretFile="+filepath.Join(dir, "quorum.secret")) {
			t.Fatalf("node%d/zoo.cfg does not name the secret (%v):\n%s", n, err, cfg)
		}
	}
	servers := strings.Join([]string{"127.0.0.1:" + client, "127.0.0.1:" + strconv.Itoa(base+1), "127.0.0.1:" + strconv.Itoa(base+2)}, ",")
	run("--server", servers, "create", "/app", "one")

	leader := ""
	for _, line := range strings.Split(run("ensemble", "status", "--dir", dir), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[3] == "leader" {
			leader = f[1]
		}
	}
	if leader == "" {
		t.Fatalf("no leader in status")
	}
	run("ensemble", "kill", "--dir", dir, leader)
	// The survivors elect a leader; the command waits for one (--timeout).
	run("--server", servers, "--timeout", "20s", "set", "/app", "two")
	run("ensemble", "restart", "--dir", dir, leader)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := run("ensemble", "status", "--dir", dir)
		if strings.Count(st, "follower")+strings.Count(st, "leader") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted server never rejoined:\n%s", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The restarted server itself catches up with what was written while
	// it was down.
	addr := "127.0.0.1:" + strconv.Itoa(base+mustAtoi(t, leader)-1)
	for got := ""; got != "two\n"; got = run("--server", addr, "get", "/app") {
		if time.Now().After(deadline) {
			t.Fatalf("restarted server has %q, want two", got)
		}
	}
	if out := run("ensemble", "stop", "--dir", dir); !strings.Contains(out, "stopped") {
		t.Fatalf("stop: %s", out)
	}
	if st := run("ensemble", "status", "--dir", dir); strings.Count(st, "not running") != 3 {
		t.Fatalf("after stop:\n%s", st)
	}
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
