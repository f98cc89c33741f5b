package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// result is what one zkx invocation printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

// zkxRun runs zkx in-process with args (without the program name).
func zkxRun(args ...string) result {
	var out, errOut bytes.Buffer
	code := run(append([]string{"zkx"}, args...), &out, &errOut)
	return result{out.String(), errOut.String(), code}
}

// cluster is one test node with a client of the test's own, to set up and
// check what the commands did.
type cluster struct {
	t    *testing.T
	addr string
	zk   *client.Client
}

func startCluster(t *testing.T, opts zkxtest.Options) *cluster {
	t.Helper()
	node := zkxtest.Start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zk, err := client.Connect(ctx, []string{node.Addr()})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { zk.Close() })
	return &cluster{t: t, addr: node.Addr(), zk: zk}
}

// zkx runs `zkx --server <node> args...`.
func (c *cluster) zkx(args ...string) result {
	return zkxRun(append([]string{"--server", c.addr}, args...)...)
}

// ok runs a command that must succeed without a word on stderr and returns
// its stdout.
func (c *cluster) ok(args ...string) string {
	c.t.Helper()
	r := c.zkx(args...)
	if r.code != 0 || r.stderr != "" {
		c.t.Fatalf("zkx %s: exit %d, stderr %q, stdout %q", strings.Join(args, " "), r.code, r.stderr, r.stdout)
	}
	return r.stdout
}

// fails runs a command that must fail with exit status code and exactly
// wantErr on stderr (a prefix when it ends in "..."), printing nothing on
// stdout.
func (c *cluster) fails(code int, wantErr string, args ...string) {
	c.t.Helper()
	checkFails(c.t, c.zkx(args...), code, wantErr, args)
}

func checkFails(t *testing.T, r result, code int, wantErr string, args []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("zkx %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), r.code, code, r.stderr)
	}
	if prefix, ok := strings.CutSuffix(wantErr, "..."); ok {
		if !strings.HasPrefix(r.stderr, prefix) {
			t.Errorf("zkx %s: stderr %q, want it to start with %q", strings.Join(args, " "), r.stderr, prefix)
		}
	} else if r.stderr != wantErr {
		t.Errorf("zkx %s: stderr %q, want %q", strings.Join(args, " "), r.stderr, wantErr)
	}
	if r.stdout != "" {
		t.Errorf("zkx %s: stdout %q, want nothing", strings.Join(args, " "), r.stdout)
	}
}

func (c *cluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c.t.Cleanup(cancel)
	return ctx
}

func (c *cluster) create(path, data string, acl ...client.ACL) {
	c.t.Helper()
	if acl == nil {
		acl = client.WorldACL(client.PermAll)
	}
	if _, err := c.zk.Create(c.ctx(), path, []byte(data), client.Persistent, acl); err != nil {
		c.t.Fatalf("create %s: %v", path, err)
	}
}

func (c *cluster) setACL(path string, acl []client.ACL) {
	c.t.Helper()
	if _, err := c.zk.SetACL(c.ctx(), path, acl, -1); err != nil {
		c.t.Fatalf("setACL %s: %v", path, err)
	}
}

func (c *cluster) exists(path string) bool {
	c.t.Helper()
	_, ok, err := c.zk.Exists(c.ctx(), path)
	if err != nil {
		c.t.Fatalf("exists %s: %v", path, err)
	}
	return ok
}

func (c *cluster) stat(path string) client.Stat {
	c.t.Helper()
	st, ok, err := c.zk.Exists(c.ctx(), path)
	if err != nil || !ok {
		c.t.Fatalf("exists %s: %v, %v", path, ok, err)
	}
	return st
}

func (c *cluster) data(path string) []byte {
	c.t.Helper()
	data, _, err := c.zk.Get(c.ctx(), path)
	if err != nil {
		c.t.Fatalf("get %s: %v", path, err)
	}
	return data
}

// waitDeleted waits, with a deadline, for the server to delete path.
func (c *cluster) waitDeleted(path string) {
	c.t.Helper()
	ctx := c.ctx()
	for {
		_, ok, ch, err := c.zk.ExistsW(ctx, path)
		if err != nil {
			c.t.Fatalf("exists %s: %v", path, err)
		}
		if !ok {
			return
		}
		select {
		case ev := <-ch:
			if ev.Type == jute.EventNodeDeleted {
				return
			}
		case <-ctx.Done():
			c.t.Fatalf("%s still exists after 10s", path)
		}
	}
}

func isNoNode(err error) bool { return errors.Is(err, jute.ErrNoNode) }
