package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
)

// The znode commands follow zkCli (ZooKeeper's cli/*Command.java): the
// same options, output and error messages, run one per process. Each
// command opens a session, runs, and closes it. Exit status: 0 done,
// 1 refused by the server or no server reachable, 2 bad command line.

const defaultServer = "127.0.0.1:2181"

// znodeExamples closes the app's help.
const znodeExamples = `
Examples:
   zkx create /app "config v1"        create a node with data
   zkx create -s -e /app/lock-        ephemeral sequential (gone when the command ends)
   zkx ls -R /app                     every path under /app
   zkx get -s /app                    data and Stat
   zkx set -v 0 /app "config v2"      set if the data version is still 0
   zkx --auth digest:bob:secret setAcl /app digest:bob:tH6ZbW6m1tEn7yXHg9ldlHxU0Pw=:cdrwa
   zkx --server zk1:2181,zk2:2181 deleteall /app

Global options go before the command; a command's own options may go
before or after its arguments, as in zkCli. Data that is also an option
name goes after "--": zkx set /app -- -v`

func znodeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name: "server", Value: defaultServer, EnvVars: []string{"ZKX_SERVER"},
			Usage: "`HOST:PORT` of the server to use, or a comma-separated list of an ensemble's servers",
		},
		&cli.StringSliceFlag{
			Name:  "auth",
			Usage: "add identity `SCHEME:AUTH` (such as digest:user:password) before the command; repeatable",
		},
		&cli.DurationFlag{
			Name: "timeout", Value: 10 * time.Second,
			Usage: "give up when no session is made, or a request is not answered, within `DURATION`",
		},
	}
}

// znodeCommands are the zkCli-style one-shot commands.
func znodeCommands() []*cli.Command {
	version := func(what string) cli.Flag {
		return &cli.IntFlag{Name: "v", Value: -1, Usage: what + " only if the node's version is `VERSION` (-1: any)"}
	}
	stat := func() cli.Flag { return &cli.BoolFlag{Name: "s", Usage: "also print the node's Stat"} }
	cmds := []*cli.Command{
		{
			Name:      "ls",
			Usage:     "list a node's children",
			UsageText: "zkx ls [-R] [-s] PATH",
			Description: "Prints the names of PATH's children, sorted, as zkCli does: [a, b, c]. -s then prints\n" +
				"PATH's Stat. -R instead prints PATH and every path below it, one per line, in zkCli's\n" +
				"order (a node's children, then each child's subtree); -s does nothing with -R.\n\n" +
				"Example:\n   zkx ls -s /app\n   zkx ls -R /app",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "R", Usage: "list the whole subtree, one path per line"},
				stat(),
			},
			Action: runLs,
		},
		{
			Name:      "create",
			Usage:     "create a node",
			UsageText: "zkx create [-e] [-s] [-c] [-t TTL] PATH [DATA [ACL]]",
			Description: "Creates PATH with DATA (none: null data) and ACL (zkCli's syntax, see setAcl; default\n" +
				"world:anyone:cdrwa), then prints \"Created <path>\"; with -s the path ends in the sequence\n" +
				"number. An ephemeral node (-e) belongs to this command's session, so it is deleted as\n" +
				"soon as the command exits. -t needs TTL nodes enabled on the server.\n\n" +
				"Example:\n   zkx create /app \"config v1\"\n   zkx create -s /queue/item- job42\n" +
				"   zkx create -t 60000 /leases/a     (or -t 1m)\n   zkx create /private data digest:bob:tH6ZbW6m1tEn7yXHg9ldlHxU0Pw=:cdrwa",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "e", Usage: "ephemeral: deleted when the session ends, here at once"},
				&cli.BoolFlag{Name: "s", Usage: "sequential: the server appends a 10-digit sequence number to PATH"},
				&cli.BoolFlag{Name: "c", Usage: "container: the server deletes it once its last child is gone"},
				&cli.StringFlag{Name: "t", Usage: "TTL: the server deletes it once it has had no change and no child for `TTL` (milliseconds, or a duration such as 30s)"},
			},
			Action: runCreate,
		},
		{
			Name:      "get",
			Usage:     "print a node's data",
			UsageText: "zkx get [-s] [-b] PATH",
			Description: "Prints PATH's data as it is stored, then a newline (\"null\" for null data). -s then prints\n" +
				"the Stat; -b prints the data in base64 instead.\n\n" +
				"Example:\n   zkx get -s /app",
			Flags: []cli.Flag{
				stat(),
				&cli.BoolFlag{Name: "b", Usage: "print the data in base64"},
			},
			Action: runGet,
		},
		{
			Name:      "set",
			Usage:     "replace a node's data",
			UsageText: "zkx set [-s] [-v VERSION] [-b] PATH DATA",
			Description: "Replaces PATH's data with DATA. With -v the change is made only if the data version is\n" +
				"still VERSION (see `zkx stat`). -b takes DATA in base64, for binary data.\n\n" +
				"Example:\n   zkx set /app \"config v2\"\n   zkx set /app \"config v3\" -v 1",
			Flags: []cli.Flag{
				stat(),
				version("set"),
				&cli.BoolFlag{Name: "b", Usage: "DATA is base64"},
			},
			Action: runSet,
		},
		{
			Name:        "stat",
			Usage:       "print a node's Stat",
			UsageText:   "zkx stat PATH",
			Description: "Prints PATH's Stat (zxids, times, versions, owner, sizes) as zkCli does.\n\nExample:\n   zkx stat /app",
			Action:      runStat,
		},
		{
			Name:      "delete",
			Usage:     "delete a node that has no children",
			UsageText: "zkx delete [-v VERSION] PATH",
			Description: "Deletes PATH, which must have no children (see deleteall). With -v, only if the data\n" +
				"version is still VERSION.\n\nExample:\n   zkx delete /app/old\n   zkx delete -v 3 /app/old",
			Flags:  []cli.Flag{version("delete")},
			Action: runDelete,
		},
		{
			Name:      "deleteall",
			Aliases:   []string{"rmr"},
			Usage:     "delete a node and everything below it",
			UsageText: "zkx deleteall [-b BATCH] PATH",
			Description: "Deletes PATH and its whole subtree, leaves first, BATCH deletes per multi request\n" +
				"(atomic per batch, not as a whole). Nodes deleted by someone else meanwhile are fine; if\n" +
				"nodes are added meanwhile it lists the subtree again. `zkx deleteall /` deletes every node\n" +
				"except the server's own (/ and /zookeeper).\n\n" +
				"Example:\n   zkx deleteall /app",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "b", Value: 1000, Usage: "delete up to `BATCH` nodes per multi request (0: one request per node)"},
			},
			Action: runDeleteAll,
		},
		{
			Name:      "getAcl",
			Aliases:   []string{"getacl"},
			Usage:     "print a node's ACL",
			UsageText: "zkx getAcl [-s] PATH",
			Description: "Prints each entry of PATH's ACL as zkCli does: the identity ('scheme,'id) on one line,\n" +
				"then \": \" and the permissions (c create, d delete, r read, w write, a admin).\n\n" +
				"Example:\n   zkx getAcl /app",
			Flags:  []cli.Flag{stat()},
			Action: runGetACL,
		},
		{
			Name:      "setAcl",
			Aliases:   []string{"setacl"},
			Usage:     "replace a node's ACL",
			UsageText: "zkx setAcl [-s] [-v VERSION] [-R] PATH ACL",
			Description: "Replaces PATH's ACL. ACL is zkCli's syntax, scheme:id:perms[,scheme:id:perms...] with\n" +
				"perms letters from crwda, for example\n" +
				"   world:anyone:cdrwa          everyone, everything\n" +
				"   digest:bob:BASE64HASH:cdrwa  user bob (hash: base64 of SHA-1 of \"bob:password\")\n" +
				"   ip:10.0.0.0/8:r             read from 10/8\n" +
				"   auth::cdrwa                 whoever this command authenticated as (--auth)\n" +
				"-v applies only if the ACL version (aclVersion) is still VERSION. -R sets the ACL of\n" +
				"every node in the subtree (-s does nothing with -R).\n\n" +
				"Example:\n   zkx --auth digest:bob:secret setAcl /app auth::cdrwa,world:anyone:r",
			Flags: []cli.Flag{
				stat(),
				&cli.IntFlag{Name: "v", Value: -1, Usage: "only if the node's ACL version is `VERSION` (-1: any)"},
				&cli.BoolFlag{Name: "R", Usage: "set the ACL of the whole subtree"},
			},
			Action: runSetACL,
		},
	}
	for _, c := range cmds {
		c.HideHelpCommand = true
		c.UseShortOptionHandling = true
		c.OnUsageError = onUsageError
	}
	return cmds
}

// checkPath refuses a malformed path before connecting, as zkCli does.
func checkPath(c *cli.Context, path string, sequential bool) error {
	if err := validatePath(path, sequential); err != nil {
		return usageErrorf(c, "%v", err)
	}
	return nil
}

// versionFlag reads a -v flag, which the wire carries as an int32.
func versionFlag(c *cli.Context) (int32, error) {
	v := c.Int("v")
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, usageErrorf(c, "zkx %s: -v %d is out of range", c.Command.Name, v)
	}
	return int32(v), nil
}

func runLs(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		if c.Bool("R") {
			if err := s.visitDFS(path, func(p string) { fmt.Fprintln(s.stdout, p) }); err != nil {
				return s.fail(err)
			}
			return nil
		}
		ctx, cancel := s.ctx()
		defer cancel()
		var (
			kids []string
			st   client.Stat
			err  error
		)
		if c.Bool("s") {
			kids, st, err = s.zk.Children2(ctx, path)
		} else {
			kids, err = s.zk.Children(ctx, path)
		}
		if err != nil {
			return s.fail(err)
		}
		sort.Strings(kids)
		fmt.Fprintf(s.stdout, "[%s]\n", strings.Join(kids, ", "))
		if c.Bool("s") {
			printStat(s.stdout, st, s.loc)
		}
		return nil
	})
}

func runCreate(c *cli.Context) error {
	args, err := commandArgs(c, 1, 3)
	if err != nil {
		return err
	}
	// The checks and their messages are zkCli's, in its order.
	ephemeral, sequential, container, hasTTL := c.Bool("e"), c.Bool("s"), c.Bool("c"), c.IsSet("t")
	if container && (ephemeral || sequential) {
		return usageErrorf(c, "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.")
	}
	var ttl time.Duration
	if hasTTL {
		if ttl, err = parseTTL(c.String("t")); err != nil {
			return usageErrorf(c, "%v", err)
		}
	}
	if hasTTL && ephemeral {
		return usageErrorf(c, "TTLs cannot be used with Ephemeral znodes")
	}
	if hasTTL && container {
		return usageErrorf(c, "TTLs cannot be used with Container znodes")
	}
	if hasTTL && (ttl <= 0 || ttl.Milliseconds() > txn.MaxTTL) {
		return usageErrorf(c, "ttl must be positive and cannot be larger than: %d", txn.MaxTTL)
	}
	var mode client.CreateMode
	switch {
	case ephemeral && sequential:
		mode = client.EphemeralSequential
	case ephemeral:
		mode = client.Ephemeral
	case sequential && hasTTL:
		mode = client.PersistentSequentialWithTTL
	case sequential:
		mode = client.PersistentSequential
	case container:
		mode = client.Container
	case hasTTL:
		mode = client.PersistentWithTTL
	default:
		mode = client.Persistent
	}
	path := args[0]
	if err := checkPath(c, path, sequential); err != nil {
		return err
	}
	var data []byte
	if len(args) > 1 {
		data = []byte(args[1])
	}
	acl := client.WorldACL(client.PermAll)
	if len(args) > 2 {
		if acl, err = parseACL(args[2]); err != nil {
			return usageErrorf(c, "%v", err)
		}
	}
	return withSession(c, func(s *session) error {
		ctx, cancel := s.ctx()
		defer cancel()
		var created string
		switch {
		case hasTTL:
			created, _, err = s.zk.CreateTTL(ctx, path, data, mode, acl, ttl)
		case container:
			created, _, err = s.zk.CreateContainer(ctx, path, data, acl)
		default:
			created, err = s.zk.Create(ctx, path, data, mode, acl)
		}
		if errors.Is(err, jute.ErrInvalidACL) {
			// zkCli prints the exception itself first here.
			return cli.Exit(fmt.Sprintf("%v for %s\n%s", jute.ErrInvalidACL, path, s.describe(err)), exitFailed)
		}
		if hasTTL && errors.Is(err, jute.ErrUnimplemented) {
			return cli.Exit(s.describe(err)+"\nzkx: the server has TTL nodes disabled (extendedTypesEnabled=true in its zoo.cfg enables them)", exitFailed)
		}
		if err != nil {
			return s.fail(err)
		}
		fmt.Fprintf(s.stdout, "Created %s\n", created)
		if ephemeral {
			fmt.Fprintf(s.stderr, "zkx: warning: %s is ephemeral, so it is deleted as this command ends its session\n", created)
		}
		return nil
	})
}

// parseTTL reads -t: milliseconds as zkCli takes it, or a Go duration.
func parseTTL(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms > math.MaxInt64/int64(time.Millisecond) {
			ms = math.MaxInt64 / int64(time.Millisecond)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("-t argument must be a number of milliseconds or a duration such as 30s, not %q", s)
	}
	return d.Truncate(time.Millisecond), nil
}

func runGet(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		ctx, cancel := s.ctx()
		defer cancel()
		data, st, err := s.zk.Get(ctx, path)
		if err != nil {
			return s.fail(err)
		}
		switch {
		case c.Bool("b"):
			fmt.Fprintln(s.stdout, base64.StdEncoding.EncodeToString(data))
		case data == nil:
			fmt.Fprintln(s.stdout, "null")
		default:
			s.stdout.Write(data)
			s.stdout.WriteByte('\n')
		}
		if c.Bool("s") {
			printStat(s.stdout, st, s.loc)
		}
		return nil
	})
}

func runSet(c *cli.Context) error {
	args, err := commandArgs(c, 2, 2)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	version, err := versionFlag(c)
	if err != nil {
		return err
	}
	data := []byte(args[1])
	if c.Bool("b") {
		if data, err = base64.StdEncoding.DecodeString(args[1]); err != nil {
			return usageErrorf(c, "zkx set: DATA is not base64: %v", err)
		}
	}
	return withSession(c, func(s *session) error {
		ctx, cancel := s.ctx()
		defer cancel()
		st, err := s.zk.Set(ctx, path, data, version)
		if err != nil {
			return s.fail(err)
		}
		if c.Bool("s") {
			printStat(s.stdout, st, s.loc)
		}
		return nil
	})
}

func runStat(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		ctx, cancel := s.ctx()
		defer cancel()
		st, ok, err := s.zk.Exists(ctx, path)
		if err != nil {
			return s.fail(err)
		}
		if !ok {
			return cli.Exit(keeperMessage(jute.ErrNoNode, path), exitFailed)
		}
		printStat(s.stdout, st, s.loc)
		return nil
	})
}

func runDelete(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	version, err := versionFlag(c)
	if err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		if err := s.delete(path, version); err != nil {
			return s.fail(err)
		}
		return nil
	})
}

func runDeleteAll(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		err := s.deleteTree(path, c.Int("b"))
		var partial *partialDeleteError
		if errors.As(err, &partial) {
			return cli.Exit(s.describe(partial.err)+"\nFailed to delete some node(s) in the subtree!", exitFailed)
		}
		if err != nil {
			return s.fail(err)
		}
		return nil
	})
}

func runGetACL(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		ctx, cancel := s.ctx()
		defer cancel()
		acl, st, err := s.zk.GetACL(ctx, path)
		if err != nil {
			return s.fail(err)
		}
		printACL(s.stdout, acl)
		if c.Bool("s") {
			printStat(s.stdout, st, s.loc)
		}
		return nil
	})
}

func runSetACL(c *cli.Context) error {
	args, err := commandArgs(c, 2, 2)
	if err != nil {
		return err
	}
	path := args[0]
	if err := checkPath(c, path, false); err != nil {
		return err
	}
	acl, err := parseACL(args[1])
	if err != nil {
		return usageErrorf(c, "%v", err)
	}
	version, err := versionFlag(c)
	if err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		if !c.Bool("R") {
			st, err := s.setACL(path, acl, version)
			if err != nil {
				return s.fail(err)
			}
			if c.Bool("s") {
				printStat(s.stdout, st, s.loc)
			}
			return nil
		}
		// List first: zkCli sets each ACL as it walks, so an ACL without
		// read permission stops its own walk.
		var paths []string
		if err := s.visitDFS(path, func(p string) { paths = append(paths, p) }); err != nil {
			return s.fail(err)
		}
		failed := 0
		for _, p := range paths {
			_, err := s.setACL(p, acl, version)
			if err != nil && !errors.Is(err, jute.ErrNoNode) {
				fmt.Fprintln(s.stderr, s.describe(err))
				failed++
			}
		}
		if failed > 0 {
			return cli.Exit(fmt.Sprintf("zkx setAcl: the ACL of %d of %d nodes was not set", failed, len(paths)), exitFailed)
		}
		return nil
	})
}
