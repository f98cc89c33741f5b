package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkx-project/zkx/transport/client"
)

// The local ensemble: N servers on loopback for trying zkx out, each with
// its own zoo.cfg and data under one folder.
//
//	<dir>/zkx               a copy of the binary (go run's is deleted when it exits)
//	<dir>/quorum.secret     the secret the servers share (zkx.quorum.secretFile)
//	<dir>/node<N>/zoo.cfg   server N's configuration
//	<dir>/node<N>/data      dataDir with myid
//	<dir>/node<N>/zkx.log   its log
//	<dir>/node<N>/pid       its process id while it runs
func ensembleCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Value: "zkx-ensemble", Usage: "`FOLDER` holding the ensemble's configuration, data and logs"}
	return &cli.Command{
		Name:  "ensemble",
		Usage: "run a local ensemble on loopback for trying zkx out (start, stop, status, kill, restart)",
		Description: "zkx ensemble start runs 3 servers (or --size) on 127.0.0.1 in the background: clients on\n" +
			"ports 2181, 2182, 2183, quorum ports 2888+, election ports 3888+, each server's files in\n" +
			"FOLDER/nodeN. zkx ensemble stop stops them (data is kept; start again resumes it).\n" +
			"zkx ensemble kill N sends server N SIGKILL (to watch a failover); restart N starts it again.",
		Subcommands: []*cli.Command{
			{
				Name:  "start",
				Usage: "start the ensemble (creating its configuration on first use)",
				Flags: []cli.Flag{
					dirFlag,
					&cli.IntFlag{Name: "size", Value: 3, Usage: "number of servers (odd: 3 or 5)"},
					&cli.IntFlag{Name: "client-port", Value: 2181, Usage: "client port of server 1; server N uses `PORT`+N-1"},
					&cli.IntFlag{Name: "peer-port", Value: 2888, Usage: "quorum port of server 1 (`PORT`+N-1 for server N); election ports are 1000 higher"},
				},
				Action: func(c *cli.Context) error {
					return ensembleStart(c.App.Writer, c.String("dir"), c.Int("size"), c.Int("client-port"), c.Int("peer-port"))
				},
			},
			{
				Name:   "stop",
				Usage:  "stop every server of the ensemble (SIGTERM)",
				Flags:  []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error { return ensembleStop(c.App.Writer, c.String("dir")) },
			},
			{
				Name:   "status",
				Usage:  "print each server's mode (leader, follower, ...)",
				Flags:  []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error { return ensembleStatus(c.App.Writer, c.String("dir")) },
			},
			{
				Name:      "kill",
				Usage:     "kill server N with SIGKILL",
				ArgsUsage: "N",
				Flags:     []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					n, err := strconv.Atoi(c.Args().First())
					if err != nil {
						return cli.Exit("zkx ensemble kill N: N is a server number", 2)
					}
					return ensembleKill(c.App.Writer, c.String("dir"), n)
				},
			},
			{
				Name:      "restart",
				Usage:     "start server N again",
				ArgsUsage: "N",
				Flags:     []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					n, err := strconv.Atoi(c.Args().First())
					if err != nil {
						return cli.Exit("zkx ensemble restart N: N is a server number", 2)
					}
					return startNode(c.App.Writer, c.String("dir"), n)
				},
			},
		},
	}
}

func nodeDir(dir string, n int) string { return filepath.Join(dir, "node"+strconv.Itoa(n)) }

// ensembleNodes lists the server numbers configured under dir.
func ensembleNodes(dir string) ([]int, error) {
	var out []int
	for n := 1; n < 100; n++ {
		if _, err := os.Stat(filepath.Join(nodeDir(dir, n), "zoo.cfg")); err != nil {
			break
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ensemble in %s (zkx ensemble start creates one)", dir)
	}
	return out, nil
}

func ensembleStart(w io.Writer, dir string, size, clientPort, peerPort int) error {
	if _, err := ensembleNodes(dir); err != nil {
		if size < 1 || size > 9 {
			return cli.Exit("--size must be between 1 and 9", 2)
		}
		if err := writeEnsemble(dir, size, clientPort, peerPort); err != nil {
			return cli.Exit(err.Error(), 1)
		}
		fmt.Fprintf(w, "created a %d-server ensemble in %s\n", size, dir)
	}
	self, err := os.Executable()
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if err := copyFile(self, filepath.Join(dir, "zkx")); err != nil {
		return cli.Exit(fmt.Sprintf("copying the zkx binary: %v", err), 1)
	}
	nodes, _ := ensembleNodes(dir)
	var addrs []string
	for _, n := range nodes {
		if err := startNode(w, dir, n); err != nil {
			return err
		}
		addrs = append(addrs, clientAddrOf(dir, n))
	}
	fmt.Fprintf(w, "clients: zkx --server %s ls /\n", strings.Join(addrs, ","))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range addrs {
			if out, err := client.FourLetterWord(a, "srvr"); err == nil && strings.Contains(out, "Mode: leader") {
				fmt.Fprintf(w, "leader elected: %s\n", a)
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cli.Exit("no leader after 30s; see the logs in "+dir+"/node*/zkx.log", 1)
}

func writeEnsemble(dir string, size, clientPort, peerPort int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	// The members prove to each other that they share this secret before
	// they link up, so no other process on the machine can join.
	secret := filepath.Join(abs, "quorum.secret")
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(randomBytes(32))+"\n"), 0o600); err != nil {
		return err
	}
	var servers strings.Builder
	for n := 1; n <= size; n++ {
		fmt.Fprintf(&servers, "server.%d=127.0.0.1:%d:%d\n", n, peerPort+n-1, peerPort+1000+n-1)
	}
	fmt.Fprintf(&servers, "zkx.quorum.secretFile=%s\n", secret)
	for n := 1; n <= size; n++ {
		nd := nodeDir(abs, n)
		data := filepath.Join(nd, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(data, "myid"), []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
			return err
		}
		cfg := fmt.Sprintf("# server %d of a local zkx ensemble (zkx ensemble start)\n"+
			"tickTime=2000\ninitLimit=10\nsyncLimit=5\n"+
			"dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
			"admin.enableServer=false\n4lw.commands.whitelist=*\n%s",
			n, data, clientPort+n-1, servers.String())
		if err := os.WriteFile(filepath.Join(nd, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func clientAddrOf(dir string, n int) string {
	cfg, err := ParseConfigFile(filepath.Join(nodeDir(dir, n), "zoo.cfg"))
	if err != nil {
		return "?"
	}
	return cfg.ClientAddr()
}

func copyFile(from, to string) error {
	if from == to {
		return nil
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := to + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

// runningPid returns server n's process id if it is running.
func runningPid(dir string, n int) (int, bool) {
	b, err := os.ReadFile(filepath.Join(nodeDir(dir, n), "pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if !alive(pid) {
		return 0, false
	}
	// A recycled pid would not be ours: check it runs our binary.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err == nil && filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != "zkx" {
		return 0, false
	}
	return pid, true
}

func startNode(w io.Writer, dir string, n int) error {
	nd := nodeDir(dir, n)
	if _, err := os.Stat(filepath.Join(nd, "zoo.cfg")); err != nil {
		return cli.Exit(fmt.Sprintf("no server %d in %s", n, dir), 1)
	}
	if pid, ok := runningPid(dir, n); ok {
		fmt.Fprintf(w, "server %d already running (pid %d)\n", n, pid)
		return nil
	}
	bin, err := filepath.Abs(filepath.Join(dir, "zkx"))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	logf, err := os.OpenFile(filepath.Join(nd, "zkx.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "--config", filepath.Join(nd, "zoo.cfg"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return cli.Exit(fmt.Sprintf("starting server %d: %v", n, err), 1)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(nd, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	_ = cmd.Process.Release()
	fmt.Fprintf(w, "server %d started (pid %d, clients on %s, log %s)\n", n, pid, clientAddrOf(dir, n), filepath.Join(nd, "zkx.log"))
	return nil
}

func ensembleStop(w io.Writer, dir string) error {
	nodes, err := ensembleNodes(dir)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	var pids []int
	for _, n := range nodes {
		if pid, ok := runningPid(dir, n); ok {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			pids = append(pids, pid)
			fmt.Fprintf(w, "server %d stopping (pid %d)\n", n, pid)
		}
		os.Remove(filepath.Join(nodeDir(dir, n), "pid"))
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	fmt.Fprintf(w, "stopped; data kept in %s\n", dir)
	return nil
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return !(i > 0 && i+2 < len(stat) && stat[i+2] == 'Z')
}

func ensembleKill(w io.Writer, dir string, n int) error {
	pid, ok := runningPid(dir, n)
	if !ok {
		return cli.Exit(fmt.Sprintf("server %d is not running", n), 1)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(w, "server %d killed (pid %d)\n", n, pid)
	return nil
}

func ensembleStatus(w io.Writer, dir string) error {
	nodes, err := ensembleNodes(dir)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	for _, n := range nodes {
		addr := clientAddrOf(dir, n)
		mode := "not running"
		if _, ok := runningPid(dir, n); ok {
			mode = "not serving"
			if out, err := client.FourLetterWord(addr, "srvr"); err == nil {
				for _, line := range strings.Split(out, "\n") {
					if m, ok := strings.CutPrefix(line, "Mode: "); ok {
						mode = m
					}
				}
			}
		}
		fmt.Fprintf(w, "server %d  %-21s %s\n", n, addr, mode)
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}
