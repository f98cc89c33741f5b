package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

// memoryConfig says what tree the memory subcommand loads.
type memoryConfig struct {
	nodes, valueSize, fanout int
	conns, outstanding       int
	seed                     uint64
	settle, settleMax        time.Duration
	jcmdGC                   bool
}

// memoryResult is one server's memory with the tree loaded.
type memoryResult struct {
	kind       *serverKind
	version    string
	nodeCount  int64 // as srvr reports it, including the server's own nodes
	loadTime   time.Duration
	idle       procStatus // after start, before any request
	afterLoad  procStatus // right after the last create
	settled    procStatus // after RSS stopped falling
	settleTime time.Duration
	afterGC    *procStatus // after jcmd GC.run (ZooKeeper, --jcmd-gc)
}

func memoryCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	var mc memoryConfig
	mc.registerTree(fs)
	fs.DurationVar(&mc.settle, "settle", 5*time.Second, "after loading, RSS must make no new low for this long")
	fs.DurationVar(&mc.settleMax, "settle-max", 2*time.Minute, "give up waiting for RSS to settle after this long")
	fs.BoolVar(&mc.jcmdGC, "jcmd-gc", false, "then also run jcmd <pid> GC.run on ZooKeeper and report RSS after it (as an extra column)")
	var so serverOptions
	so.register(fs)
	setUsage(fs, "memory [flags]",
		"Starts each server fresh, loads --nodes znodes with pipelined creates, waits for resident memory\n"+
			"to settle and reports VmRSS and VmHWM from /proc/<pid>/status and the load time.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := mc.checkTree(); err != nil {
		return usageError{fs, err.Error()}
	}
	kinds, err := so.kinds()
	if err != nil {
		return usageError{fs, err.Error()}
	}
	defer so.cleanup()
	if err := so.prepare(ctx, kinds); err != nil {
		return err
	}
	if mc.jcmdGC {
		if _, err := exec.LookPath("jcmd"); err != nil {
			return fmt.Errorf("--jcmd-gc needs jcmd (a JDK): %w", err)
		}
	}

	var results []*memoryResult
	for _, k := range kinds {
		fmt.Fprintf(os.Stderr, "== %s: starting\n", k.name)
		srv, err := launchServer(ctx, k, &so)
		if err != nil {
			return err
		}
		res, err := measureMemory(ctx, srv, mc)
		if stopErr := srv.stop(); stopErr != nil && err == nil {
			fmt.Fprintln(os.Stderr, "bench:", stopErr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		results = append(results, res)
	}

	fmt.Printf("## memory\n\nnodes=%d value-size=%d fanout=%d conns=%d outstanding=%d settle=%v\n\n",
		mc.nodes, mc.valueSize, mc.fanout, mc.conns, mc.outstanding, mc.settle)
	var versions []string
	for _, r := range results {
		versions = append(versions, r.kind.name+": "+r.version)
	}
	so.describe(os.Stdout, versions)
	printMemoryTable(mc, results)
	return nil
}

// registerTree registers the flags that say what tree loadTree builds;
// memory and restart share them.
func (mc *memoryConfig) registerTree(fs *flag.FlagSet) {
	fs.IntVar(&mc.nodes, "nodes", 1_000_000, "znodes to create (leaves; their parents come on top)")
	fs.IntVar(&mc.valueSize, "value-size", 100, "bytes of data per znode (JSON-like text)")
	fs.IntVar(&mc.fanout, "fanout", 1000, "children per parent: the tree is /bench/pNNN/nNNNNNN")
	fs.IntVar(&mc.conns, "conns", 4, "connections used to load the tree")
	fs.IntVar(&mc.outstanding, "outstanding", 128, "creates in flight per connection")
	fs.Uint64Var(&mc.seed, "seed", 1, "PRNG seed for the values")
}

func (mc *memoryConfig) checkTree() error {
	if mc.nodes < 1 || mc.fanout < 1 || mc.conns < 1 || mc.outstanding < 1 || mc.valueSize < 0 {
		return errors.New("--nodes, --fanout, --conns and --outstanding must be at least 1, --value-size not negative")
	}
	return nil
}

// measureMemory loads the tree into srv and reads its memory.
func measureMemory(ctx context.Context, srv *server, mc memoryConfig) (*memoryResult, error) {
	pid := srv.proc.pid()
	res := &memoryResult{kind: srv.kind, version: srv.version}
	var err error
	if res.idle, err = readProcStatus(pid); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: loading %d nodes\n", srv.kind.name, mc.nodes)
	if res.loadTime, err = loadTree(ctx, srv.addr, mc); err != nil {
		return nil, fmt.Errorf("%w%s", err, aliveSuffix(srv))
	}
	if res.afterLoad, err = readProcStatus(pid); err != nil {
		return nil, err
	}
	res.nodeCount = srv.nodeCount()
	if want := int64(mc.nodes + parentCount(mc) + 1); res.nodeCount >= 0 && res.nodeCount < want {
		return nil, fmt.Errorf("srvr reports %d nodes, want at least %d", res.nodeCount, want)
	}
	fmt.Fprintf(os.Stderr, "%s: loaded in %v; waiting for RSS to settle\n", srv.kind.name, res.loadTime.Round(time.Millisecond))
	if res.settled, res.settleTime, err = waitRSSSettled(ctx, pid, mc.settle, mc.settleMax); err != nil {
		return nil, err
	}
	if mc.jcmdGC && srv.kind == zookeeperKind {
		out, err := exec.CommandContext(ctx, "jcmd", strconv.Itoa(pid), "GC.run").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("jcmd GC.run: %w\n%s", err, out)
		}
		st, _, err := waitRSSSettled(ctx, pid, mc.settle, mc.settleMax)
		if err != nil {
			return nil, err
		}
		res.afterGC = &st
	}
	return res, srv.checkAlive()
}

func aliveSuffix(srv *server) string {
	if err := srv.checkAlive(); err != nil {
		return "\n" + err.Error()
	}
	return ""
}

func parentCount(mc memoryConfig) int { return (mc.nodes + mc.fanout - 1) / mc.fanout }

// treeLeaf is the path of leaf i: /bench/pNNN/nNNNNNN.
func treeLeaf(i, fanout int) string {
	return treeParent(i/fanout) + "/n" + zeroPad(i, 6)
}

func treeParent(p int) string { return benchRoot + "/p" + zeroPad(p, 3) }

// loadTree creates the tree with mc.outstanding creates in flight on each
// of mc.conns connections and returns how long it took, from the first
// create to the last reply.
func loadTree(ctx context.Context, addr string, mc memoryConfig) (time.Duration, error) {
	var clients []*client.Client
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	for range mc.conns {
		cl, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(30*time.Second))
		if err != nil {
			return 0, err
		}
		clients = append(clients, cl)
	}
	start := time.Now()
	if err := ensurePath(ctx, clients[0], benchRoot); err != nil {
		return 0, err
	}
	err := parallel(ctx, clients, mc.outstanding, parentCount(mc), mc.seed, func(ctx context.Context, cl *client.Client, _ *valueGen, p int) error {
		_, err := cl.Create(ctx, treeParent(p), nil, client.Persistent, openACL)
		return err
	})
	if err != nil {
		return 0, err
	}
	err = parallel(ctx, clients, mc.outstanding, mc.nodes, mc.seed, func(ctx context.Context, cl *client.Client, g *valueGen, i int) error {
		_, err := cl.Create(ctx, treeLeaf(i, mc.fanout), g.next(mc.valueSize), client.Persistent, openACL)
		return err
	})
	return time.Since(start), err
}

func printMemoryTable(mc memoryConfig, results []*memoryResult) {
	header := []string{"server", "nodes (srvr)", "load time", "creates/s", "RSS idle", "RSS after load", "RSS settled", "VmHWM", "settle wait"}
	if mc.jcmdGC {
		header = append(header, "RSS after GC.run")
	}
	right := make([]bool, len(header))
	for i := 1; i < len(right); i++ {
		right[i] = true
	}
	t := &mdTable{header: header, right: right}
	creates := float64(mc.nodes + parentCount(mc) + 1)
	var zk, zkx *memoryResult
	for _, r := range results {
		row := []string{r.kind.name, strconv.FormatInt(r.nodeCount, 10), fmtSeconds(r.loadTime),
			fmtRate(creates / r.loadTime.Seconds()), fmtBytes(r.idle.rss), fmtBytes(r.afterLoad.rss),
			fmtBytes(r.settled.rss), fmtBytes(r.settled.hwm), fmtSeconds(r.settleTime)}
		if mc.jcmdGC {
			cell := "n/a"
			if r.afterGC != nil {
				cell = fmtBytes(r.afterGC.rss)
			}
			row = append(row, cell)
		}
		t.add(row...)
		switch r.kind {
		case zookeeperKind:
			zk = r
		case zkxKind:
			zkx = r
		}
	}
	if zk != nil && zkx != nil {
		row := []string{"zkx/ZK", "", fmtRatio(zkx.loadTime.Seconds(), zk.loadTime.Seconds()),
			fmtRatio(zk.loadTime.Seconds(), zkx.loadTime.Seconds()), fmtRatio(float64(zkx.idle.rss), float64(zk.idle.rss)),
			fmtRatio(float64(zkx.afterLoad.rss), float64(zk.afterLoad.rss)),
			fmtRatio(float64(zkx.settled.rss), float64(zk.settled.rss)),
			fmtRatio(float64(zkx.settled.hwm), float64(zk.settled.hwm)), ""}
		if mc.jcmdGC {
			row = append(row, "")
		}
		t.add(row...)
	}
	t.write(os.Stdout)
}

func fmtSeconds(d time.Duration) string { return sig3(d.Seconds()) + "s" }
