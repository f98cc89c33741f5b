package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkx-project/zkx/transport/client"
)

// session is the connection one znode command runs on; it ends with the
// command.
type session struct {
	zk      *client.Client
	base    context.Context
	timeout time.Duration // for each request
	stdout  *bufio.Writer
	stderr  io.Writer
	loc     *time.Location // for Stat times
}

// withSession connects as the global flags say (--server, --auth,
// --timeout), runs fn and closes the session, which deletes the ephemeral
// nodes fn created.
func withSession(c *cli.Context, fn func(s *session) error) error {
	servers, err := parseServers(c.String("server"))
	if err != nil {
		return &usageError{msg: fmt.Sprintf("zkx: --server %q: %v", c.String("server"), err)}
	}
	timeout := c.Duration("timeout")
	if lineage := c.Lineage(); c.Command != nil && c.Command.Name == "call" && len(lineage) > 1 {
		// recipe call has a --timeout of its own (how long to wait); the
		// global one is its parent's.
		timeout = lineage[1].Duration("timeout")
	}
	if timeout <= 0 {
		return &usageError{msg: fmt.Sprintf("zkx: --timeout must be positive, not %v", timeout)}
	}
	type identity struct{ scheme, auth string }
	var ids []identity
	for _, a := range c.StringSlice("auth") {
		scheme, auth, ok := strings.Cut(a, ":")
		if !ok || scheme == "" {
			return &usageError{msg: fmt.Sprintf("zkx: --auth %q: want SCHEME:AUTH, such as digest:user:password", a)}
		}
		ids = append(ids, identity{scheme, auth})
	}

	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(c.Context, deadline)
	zk, err := client.Connect(ctx, servers)
	cancel()
	if err != nil {
		// The client may report the deadline as a read timeout on the
		// connection (whose deadline is ctx's) rather than as ctx's error.
		return connectError(servers, timeout, !time.Now().Before(deadline), err)
	}
	defer zk.Close()
	s := &session{
		zk:      zk,
		base:    c.Context,
		timeout: timeout,
		stdout:  bufio.NewWriter(c.App.Writer),
		stderr:  c.App.ErrWriter,
		loc:     time.Local,
	}
	defer s.stdout.Flush()
	for _, id := range ids {
		ctx, cancel := s.ctx()
		err := zk.AddAuth(ctx, id.scheme, []byte(id.auth))
		cancel()
		if err != nil {
			return cli.Exit(fmt.Sprintf("zkx: --auth %s: %s", id.scheme, s.describe(err)), exitFailed)
		}
	}
	return fn(s)
}

// parseServers reads --server as zkCli reads its connect string: a host
// without a port means port 2181, and an empty string (ZKX_SERVER set but
// empty) the default server.
func parseServers(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		s = defaultServer
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p != "" && !strings.Contains(p, ":") {
			p = net.JoinHostPort(p, "2181")
		}
		parts[i] = p
	}
	return client.ParseServers(strings.Join(parts, ","))
}

// connectError names the servers tried and why each refused.
func connectError(servers []string, timeout time.Duration, timedOut bool, err error) error {
	msg := "zkx: cannot connect to " + strings.Join(servers, ",")
	if timedOut || errors.Is(err, context.DeadlineExceeded) {
		return cli.Exit(fmt.Sprintf("%s: no session within %v (--timeout)", msg, timeout), exitFailed)
	}
	// The client joins one error per server ("addr: why") under its own.
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			msg += "\n  " + e.Error()
		}
		return cli.Exit(msg, exitFailed)
	}
	return cli.Exit(msg+": "+err.Error(), exitFailed)
}

// ctx bounds one request by --timeout.
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, s.timeout)
}

// describe is the message for a failed request: zkCli's for ZooKeeper
// error codes.
func (s *session) describe(err error) string {
	var ke *client.Error
	switch {
	case errors.As(err, &ke):
		return keeperMessage(ke.Code, ke.Path)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("zkx: no reply from %s within %v (--timeout)", s.zk.Server(), s.timeout)
	}
	return "zkx: " + err.Error()
}

// fail is the command's error for a failed request.
func (s *session) fail(err error) error {
	return cli.Exit(s.describe(err), exitFailed)
}

func (s *session) children(path string) ([]string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.zk.Children(ctx, path)
}

func (s *session) delete(path string, version int32) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.zk.Delete(ctx, path, version)
}

func (s *session) multi(ops []client.Op) ([]client.OpResult, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.zk.Multi(ctx, ops...)
}

func (s *session) setACL(path string, acl []client.ACL, version int32) (client.Stat, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.zk.SetACL(ctx, path, acl, version)
}
