package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkx-project/zkx/core/acl"
	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/wal"
)

// The data directory commands read (and purge prunes) a node's log and
// snapshots directly, with or without a server running on them: they are
// ZooKeeper's TxnLogToolkit, SnapshotFormatter and zkCleanup.sh. Exit
// status: 0 done, 1 damage found or a file unreadable, 2 bad command line.

func dataDirCommands() []*cli.Command {
	cmds := []*cli.Command{
		{
			Name:      "wal",
			Usage:     "inspect a write-ahead log (wal dump)",
			UsageText: "zkx wal dump [--summary] DIR",
			Description: "Commands that read the log segments (log-<zxid>.wal) in a data directory.\n\n" +
				"Example:\n   zkx wal dump zkx-data",
			Subcommands: []*cli.Command{{
				Name:      "dump",
				Usage:     "print every txn of a log and check every record",
				UsageText: "zkx wal dump [--summary] DIR",
				Description: "Reads every log segment in DIR (the server's dataLogDir, or dataDir without one) in\n" +
					"zxid order, checking every record's checksum, and prints each txn on one line: zxid,\n" +
					"session, cxid, time (UTC), type, path and sizes. The ops of a multi, and the ephemerals a\n" +
					"closeSession deletes, follow on indented lines. Then a table per segment: first zxid,\n" +
					"records, txns, and the bytes the log uses of the (preallocated) file. Nothing is changed.\n" +
					"Damage (a bad checksum, a record that does not decode) is reported with its file and\n" +
					"offset and makes the exit status 1; a server would refuse to start on it, unless it is\n" +
					"a torn write at the very end of the newest segment, which recovery cuts off. On a\n" +
					"running server's log, the record being written may show as such a torn end.\n\n" +
					"Example:\n   zkx wal dump zkx-data\n   zkx wal dump --summary /var/lib/zookeeper/log",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "summary", Usage: "print only the table of segments"},
				},
				Action: runWALDump,
			}},
			Action: runNoSubcommand,
		},
		{
			Name:      "snapshot",
			Usage:     "inspect a snapshot (snapshot dump)",
			UsageText: "zkx snapshot dump [--nodes] FILE",
			Description: "Commands that read a snapshot file (snap-<zxid>.snap).\n\n" +
				"Example:\n   zkx snapshot dump zkx-data/snap-0000000000001f40.snap",
			Subcommands: []*cli.Command{{
				Name:      "dump",
				Usage:     "check a snapshot and print what it holds",
				UsageText: "zkx snapshot dump [--nodes] FILE",
				Description: "Checks FILE (header, trailer and the body's checksum), decodes every node, and prints\n" +
					"the zxid it was taken from, the node count and the digest of the nodes both as the\n" +
					"writer recorded them and as recomputed from the decoded tree, the number of sessions\n" +
					"and of distinct ACL lists, and the file size. A damaged file, or a recomputed count\n" +
					"or digest that differs from the recorded one, makes the exit status 1. --nodes also\n" +
					"lists every path with its data length in bytes, parents first.\n\n" +
					"Example:\n   zkx snapshot dump zkx-data/snap-0000000000001f40.snap\n" +
					"   zkx snapshot dump --nodes zkx-data/snap-0000000000001f40.snap",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "nodes", Usage: "list every node: path and data length"},
				},
				Action: runSnapshotDump,
			}},
			Action: runNoSubcommand,
		},
		{
			Name:      "purge",
			Usage:     "delete old snapshots and the log segments only they needed",
			UsageText: "zkx purge [-n COUNT] [--snap-dir DIR] DIR",
			Description: "Keeps the newest COUNT snapshots and the log segments needed to recover from the\n" +
				"oldest of them, and deletes older ones, printing each file it deletes (ZooKeeper's\n" +
				"zkCleanup.sh -n COUNT). DIR holds the log; snapshots are in --snap-dir if the server\n" +
				"has a separate dataLogDir. It refuses if a snapshot it would keep is damaged. It may\n" +
				"run while the server does: the segment being written is never deleted.\n\n" +
				"Example:\n   zkx purge zkx-data\n   zkx purge -n 5 --snap-dir /var/lib/zookeeper /var/lib/zookeeper/log",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 3, Usage: "keep the newest `COUNT` snapshots (at least 1)"},
				&cli.StringFlag{Name: "snap-dir", Usage: "the snapshots' `DIR`, when the log is elsewhere (default: the log's)"},
			},
			Action: runPurge,
		},
	}
	for _, c := range cmds {
		c.HideHelpCommand = true
		c.OnUsageError = onUsageError
		for _, sub := range c.Subcommands {
			sub.HideHelpCommand = true
			sub.OnUsageError = onUsageError
		}
	}
	return cmds
}

// runNoSubcommand runs for `zkx wal` and `zkx snapshot` without a known
// subcommand: alone it shows the help, with an unknown word it is a usage
// error.
func runNoSubcommand(c *cli.Context) error {
	if c.Args().Present() {
		return usageErrorf(c, "zkx %s: unknown command %q", c.Command.Name, c.Args().First())
	}
	return cli.ShowSubcommandHelp(c)
}

func runWALDump(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	dir := args[0]
	out := bufio.NewWriter(c.App.Writer)
	defer out.Flush()
	var show func(string, *txn.Txn) error
	if !c.Bool("summary") {
		show = func(_ string, t *txn.Txn) error {
			printTxn(out, t)
			return nil
		}
	}
	segs, err := wal.InspectDir(dir, show)
	if err != nil {
		return cli.Exit(fmt.Sprintf("zkx wal dump: %v", err), exitFailed)
	}
	if len(segs) == 0 {
		return cli.Exit(fmt.Sprintf("zkx wal dump: no log segments (log-*.wal) in %s", dir), exitFailed)
	}
	if !c.Bool("summary") {
		out.WriteByte('\n')
	}
	printSegments(out, segs)
	var damage []string
	for _, s := range segs {
		if s.Err != nil {
			damage = append(damage, s.Err.Error())
		}
	}
	if len(damage) > 0 {
		out.Flush()
		return cli.Exit(strings.Join(damage, "\n"), exitFailed)
	}
	return nil
}

// printTxn writes one txn as `wal dump` shows it.
func printTxn(w io.Writer, t *txn.Txn) {
	fmt.Fprintf(w, "zxid=0x%x session=0x%x cxid=%d time=%s %s\n",
		uint64(t.Zxid), uint64(t.Session), t.Cxid, txnTime(t.Time), describeOp(t.Op))
	switch o := t.Op.(type) {
	case *txn.Multi:
		for _, op := range o.Ops {
			fmt.Fprintf(w, "    %s\n", describeOp(op))
		}
	case *txn.CloseSession:
		for _, p := range o.Paths {
			fmt.Fprintf(w, "    delete %s\n", p)
		}
	}
}

// txnTime is a txn's time (milliseconds since the epoch) in RFC 3339, UTC.
func txnTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// describeOp is an op's type as ZooKeeper names it, its path and its sizes.
func describeOp(op txn.Op) string {
	switch o := op.(type) {
	case *txn.Create:
		s := fmt.Sprintf("create %s data=%s acl=%d", o.Path, dataSize(o.Data), len(o.ACL))
		if ttl, ok := txn.IsTTLOwner(o.Owner); ok {
			s += fmt.Sprintf(" ttl=%dms", ttl)
		} else if o.Owner == txn.ContainerOwner {
			s += " container"
		} else if o.Owner != 0 {
			s += fmt.Sprintf(" ephemeral=0x%x", uint64(o.Owner))
		}
		return s + fmt.Sprintf(" parentCversion=%d", o.ParentCversion)
	case *txn.Delete:
		return "delete " + o.Path
	case *txn.SetData:
		return fmt.Sprintf("setData %s data=%s version=%d", o.Path, dataSize(o.Data), o.Version)
	case *txn.SetACL:
		return fmt.Sprintf("setACL %s acl=%d version=%d", o.Path, len(o.ACL), o.Version)
	case *txn.Check:
		return fmt.Sprintf("check %s version=%d", o.Path, o.Version)
	case *txn.Multi:
		s := fmt.Sprintf("multi ops=%d", len(o.Ops))
		for _, sub := range o.Ops {
			if e, ok := sub.(*txn.Error); ok {
				return s + " failed=" + jute.Err(e.Code).Name()
			}
		}
		return s
	case *txn.CreateSession:
		return fmt.Sprintf("createSession timeout=%dms owner=%d", o.Timeout, o.Owner)
	case *txn.CloseSession:
		return fmt.Sprintf("closeSession ephemerals=%d", len(o.Paths))
	case *txn.Error:
		return fmt.Sprintf("error %s (%d)", jute.Err(o.Code).Name(), o.Code)
	case *txn.RecipeResult:
		return "recipeResult result=" + dataSize(o.Result)
	case *txn.SetSessionOwner:
		return fmt.Sprintf("setSessionOwner owner=%d", o.Owner)
	}
	return fmt.Sprintf("type-%d", op.Type())
}

// dataSize shows null data apart from empty data, as ZooKeeper keeps them
// apart.
func dataSize(b []byte) string {
	if b == nil {
		return "null"
	}
	return strconv.Itoa(len(b)) + "B"
}

func printSegments(w io.Writer, segs []wal.SegmentInfo) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "segment\tfirst-zxid\trecords\ttxns\tused-bytes\tfile-bytes\tstatus")
	for _, s := range segs {
		status := "ok"
		var ce *wal.CorruptionError
		switch {
		case errors.As(s.Err, &ce):
			status = fmt.Sprintf("DAMAGED at offset %d", ce.Offset)
		case s.Err != nil:
			status = "UNREADABLE"
		}
		fmt.Fprintf(tw, "%s\t0x%x\t%d\t%d\t%d\t%d\t%s\n", filepath.Base(s.File), uint64(s.FirstZxid),
			s.Records, s.Txns, s.UsedBytes, s.FileBytes, status)
	}
	tw.Flush()
}

func runSnapshotDump(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	file := args[0]
	fail := func(format string, a ...any) error {
		return cli.Exit(fmt.Sprintf("zkx snapshot dump: "+format, a...), exitFailed)
	}
	info, body, err := wal.OpenSnapshot(file)
	if err != nil {
		return fail("%v", err)
	}
	defer body.Close()
	t, sum, err := tree.ReadSnapshot(body, info.Zxid)
	if err != nil {
		return fail("%s: the body does not decode: %v", file, err)
	}
	nodes, digest := int64(t.NodeCount()), t.Digest()
	aclLists := map[string]bool{}
	t.Walk(func(_ string, _ []byte, _ tree.Stat, acls []acl.ACL) bool {
		aclLists[fmt.Sprint(acls)] = true
		return true
	})

	out := bufio.NewWriter(c.App.Writer)
	defer out.Flush()
	fmt.Fprintf(out, "file:      %s\n", file)
	fmt.Fprintf(out, "size:      %d bytes\n", info.Size)
	fmt.Fprintf(out, "zxid:      0x%x\n", uint64(info.Zxid))
	fmt.Fprintf(out, "nodes:     %d recorded, %d decoded\n", info.Nodes, nodes)
	fmt.Fprintf(out, "digest:    0x%016x recorded, 0x%016x recomputed\n", info.Digest, digest)
	fmt.Fprintf(out, "sessions:  %d\n", len(sum.Sessions))
	fmt.Fprintf(out, "acl lists: %d\n", len(aclLists))
	if c.Bool("nodes") {
		out.WriteString("\n")
		t.Walk(func(path string, data []byte, _ tree.Stat, _ []acl.ACL) bool {
			fmt.Fprintf(out, "%s %d\n", path, len(data))
			return true
		})
	}
	out.Flush()

	var problems []string
	if name, ok := snapshotNameZxid(file); ok && name != info.Zxid {
		problems = append(problems, fmt.Sprintf("the file name says zxid 0x%x, the header 0x%x", uint64(name), uint64(info.Zxid)))
	}
	if info.Nodes != nodes || sum.Nodes != nodes {
		problems = append(problems, fmt.Sprintf("the writer recorded %d nodes, the body holds %d", info.Nodes, nodes))
	}
	if info.Digest != digest || sum.Digest != digest {
		problems = append(problems, fmt.Sprintf("the writer recorded digest 0x%016x, the nodes in the body hash to 0x%016x", info.Digest, digest))
	}
	if len(problems) > 0 {
		return fail("%s does not hold what its writer wrote: %s", file, strings.Join(problems, "; "))
	}
	return nil
}

// snapshotNameZxid is the zxid in a snapshot's file name, if it has the
// usual name.
func snapshotNameZxid(path string) (int64, bool) {
	hex, ok := strings.CutPrefix(filepath.Base(path), "snap-")
	if !ok {
		return 0, false
	}
	hex, ok = strings.CutSuffix(hex, ".snap")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	z, err := strconv.ParseUint(hex, 16, 64)
	return int64(z), err == nil
}

func runPurge(c *cli.Context) error {
	args, err := commandArgs(c, 1, 1)
	if err != nil {
		return err
	}
	dir := args[0]
	keep := c.Int("count")
	if keep < 1 {
		return usageErrorf(c, "zkx purge: -n %d: keep at least 1 snapshot", keep)
	}
	snapDir := c.String("snap-dir")
	if snapDir == "" {
		snapDir = dir
	}
	for _, d := range []string{dir, snapDir} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return cli.Exit(fmt.Sprintf("zkx purge: %s is not a directory", d), exitFailed)
		}
	}
	// Purging trusts the snapshots it keeps; a damaged one would leave
	// recovery without the log it needs.
	snaps, err := filepath.Glob(filepath.Join(snapDir, "snap-*.snap"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("zkx purge: %v", err), exitFailed)
	}
	sort.Strings(snaps) // the zxid is fixed-width hex
	for _, s := range snaps[max(0, len(snaps)-keep):] {
		_, body, err := wal.OpenSnapshot(s)
		if err != nil {
			return cli.Exit(fmt.Sprintf("zkx purge: refusing to purge, a snapshot to keep is damaged: %v", err), exitFailed)
		}
		body.Close()
	}
	res, err := wal.PurgeDir(dir, snapDir, keep)
	out := bufio.NewWriter(c.App.Writer)
	defer out.Flush()
	for _, s := range res.Snapshots {
		fmt.Fprintf(out, "removed %s\n", filepath.Join(snapDir, s))
	}
	for _, s := range res.Segments {
		fmt.Fprintf(out, "removed %s\n", filepath.Join(dir, s))
	}
	if err != nil {
		out.Flush()
		return cli.Exit(fmt.Sprintf("zkx purge: %v", err), exitFailed)
	}
	kept := min(keep, len(snaps))
	fmt.Fprintf(out, "removed %d snapshots and %d log segments; kept %d snapshots\n", len(res.Snapshots), len(res.Segments), kept)
	return nil
}
