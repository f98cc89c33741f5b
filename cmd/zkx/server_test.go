package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// TestServerDefaults runs `zkx server` as the README's quick start does.
// With no arguments it serves 127.0.0.1:2181 with its data in ./zkx-data
// and ZooKeeper's default four-letter-word whitelist; SIGINT stops it
// cleanly and a restart from the same directory finds the data again.
func TestServerDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := zkxBinary(t)

	// No arguments at all. The test holds 127.0.0.1:2181 (or somebody
	// else does), so a server that listens there must fail to start and
	// say so; one that listened anywhere else would start.
	if ln, err := net.Listen("tcp", "127.0.0.1:2181"); err == nil {
		defer ln.Close()
	}
	noArgs := t.TempDir()
	out, err := runFor(t, noArgs, bin, "server")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("zkx server with 127.0.0.1:2181 taken: %v, want a non-zero exit; output:\n%s", err, out)
	}
	if !strings.Contains(out, "127.0.0.1:2181") || !strings.Contains(out, "address already in use") {
		t.Errorf("zkx server with 127.0.0.1:2181 taken does not name the address it wanted:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(noArgs, "zkx-data")); err != nil {
		t.Errorf("zkx server with no arguments made no ./zkx-data: %v", err)
	}

	// The same defaults on a free port.
	dir := t.TempDir()
	addr := zkxtest.FreeAddr(t)
	srv := startServerIn(t, dir, bin, "server", "--listen", addr, "--admin", "off")
	for _, w := range []string{"ruok", "srvr", "stat", "mntr", "conf", "isro"} {
		if got, err := client.FourLetterWord(addr, w); err != nil || strings.Contains(got, "not in the whitelist") {
			t.Errorf("%s is in ZooKeeper's default whitelist: %q, %v", w, got, err)
		}
	}
	for _, w := range []string{"cons", "envi", "wchs", "wchc", "wchp", "dump"} {
		want := w + " is not executed because it is not in the whitelist.\n"
		if got, err := client.FourLetterWord(addr, w); err != nil || got != want {
			t.Errorf("%s is outside ZooKeeper's default whitelist: %q, %v; want %q", w, got, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/kept", []byte("v"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.stop(t, syscall.SIGINT)
	if segs, _ := filepath.Glob(filepath.Join(dir, "zkx-data", "*")); len(segs) == 0 {
		t.Fatalf("nothing in %s/zkx-data after a write", dir)
	}

	// Restarted from the same directory, it has the node.
	srv = startServerIn(t, dir, bin, "server", "--listen", addr, "--admin", "off")
	c, err = client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if data, _, err := c.Get(ctx, "/kept"); err != nil || string(data) != "v" {
		t.Errorf("after a restart from ./zkx-data: /kept = %q, %v", data, err)
	}
	srv.stop(t, syscall.SIGTERM)
}

// runFor runs a command that is expected to exit by itself, in dir.
func runFor(t *testing.T, dir, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type serverProc struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{}
}

// startServerIn starts a server in dir and waits until it answers ruok
// on the address after --listen.
func startServerIn(t *testing.T, dir, bin string, args ...string) *serverProc {
	t.Helper()
	addr := ""
	for i, a := range args {
		if a == "--listen" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	p := &serverProc{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}, exited: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("zkx %v exited while starting (%v):\n%s", args, p.cmd.ProcessState, p.out)
		default:
		}
		if got, err := client.FourLetterWord(addr, "ruok"); err == nil && got == "imok" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("zkx %v does not answer ruok 30s after starting:\n%s", args, p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends sig and requires a clean exit.
func (p *serverProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the server did not stop within 20s of %v", sig)
	}
	if st := p.cmd.ProcessState; !st.Success() {
		t.Errorf("the server stopped with %v after %v:\n%s", st, sig, p.out)
	}
	if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
		t.Errorf("the server reported a data race:\n%s", p.out)
	}
}
