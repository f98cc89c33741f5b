package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

// restartConfig says how the restart subcommand probes a starting server.
type restartConfig struct {
	tree         memoryConfig
	restarts     int
	populateOnly bool
	reuse        map[*serverKind]string // kind -> kept run directory to restart from
	interval     time.Duration          // between probes
	timeout      time.Duration          // of one probe (dial + handshake + getData)
	limit        time.Duration          // for the first getData after start
}

// treeRecord is what the populate phase leaves in the run directory
// (treeRecordFile), so that later restarts know what to expect of it.
type treeRecord struct {
	Server    string `json:"server"`
	Nodes     int    `json:"nodes"`
	ValueSize int    `json:"value-size"`
	Fanout    int    `json:"fanout"`
	NodeCount int64  `json:"node-count"` // srvr's, including parents and the server's own nodes
	Zxid      string `json:"zxid"`
	Populated string `json:"populated"`
}

const treeRecordFile = "bench-tree.json"

// restartResult is one server's populate phase (or what its record says
// of it) and its restarts.
type restartResult struct {
	kind     *serverKind
	version  string
	dir      string
	tree     treeRecord
	loadTime time.Duration // 0 when the data came from an earlier run
	stopTook time.Duration // the stop after populating
	log      logUsage
	snaps    snapshotUsage
	runs     []restartRun
}

// restartRun is one restart, times since the process was started.
type restartRun struct {
	srvr      time.Duration // srvr answered at all (ZooKeeper answers while loading)
	serving   time.Duration // srvr answered with a Mode line
	firstRead time.Duration // a new session's getData of the probe node succeeded
	probes    int           // read probes made, the successful one included
	nodeCount int64
	stopTook  time.Duration
	notes     []string // what the server logged about its recovery
}

func restartCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	rc := restartConfig{reuse: map[*serverKind]string{}}
	rc.tree.registerTree(fs)
	fs.IntVar(&rc.restarts, "restarts", 1, "restarts to measure, one after the other on the same data")
	fs.BoolVar(&rc.populateOnly, "populate-only", false, "populate, stop, keep the run directories and print them; measure no restart")
	zkDir := fs.String("zk-dir", "", "restart ZooKeeper from this run `directory` (kept by --populate-only or --keep-data) instead of populating one")
	zkxDir := fs.String("zkx-dir", "", "restart zkx from this run `directory` (kept by --populate-only or --keep-data) instead of populating one")
	fs.DurationVar(&rc.interval, "probe-interval", 10*time.Millisecond, "start a new probe this often (earlier ones may still be waiting)")
	fs.DurationVar(&rc.timeout, "probe-timeout", 2*time.Second, "limit of one probe: connect, handshake and getData")
	fs.DurationVar(&rc.limit, "restart-timeout", 10*time.Minute, "give up when the first getData has not succeeded this long after start")
	var so serverOptions
	so.register(fs)
	setUsage(fs, "restart [flags]",
		"Populates each server with --nodes znodes (as memory does), stops it with SIGTERM, starts it again on\n"+
			"the same data and measures the time from process start to the first getData that succeeds\n"+
			"(and to srvr's first answer). --populate-only and --zk-dir/--zkx-dir split the two phases, so\n"+
			"that restarts can be repeated on the same data.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := rc.tree.checkTree(); err != nil {
		return usageError{fs, err.Error()}
	}
	switch {
	case rc.restarts < 1:
		return usageError{fs, "--restarts must be at least 1"}
	case rc.interval < 0 || rc.timeout <= 0 || rc.limit <= 0:
		return usageError{fs, "--probe-interval must not be negative, --probe-timeout and --restart-timeout positive"}
	case rc.populateOnly && (*zkDir != "" || *zkxDir != ""):
		return usageError{fs, "--populate-only makes new run directories; --zk-dir and --zkx-dir restart old ones"}
	}
	kinds, err := so.kinds()
	if err != nil {
		return usageError{fs, err.Error()}
	}
	for kind, dir := range map[*serverKind]string{zookeeperKind: *zkDir, zkxKind: *zkxDir} {
		if dir != "" {
			if _, err := readTreeRecord(dir, kind); err != nil {
				return usageError{fs, err.Error()}
			}
			rc.reuse[kind] = dir
		}
	}
	defer so.cleanup()
	if err := so.prepare(ctx, kinds); err != nil {
		return err
	}

	var results []*restartResult
	for _, k := range kinds {
		res, err := measureRestarts(ctx, k, &so, rc)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		results = append(results, res)
	}

	fmt.Printf("## restart\n\nprobe: a new session and getData of the last leaf, every %v, each limited to %v; "+
		"times from the server's process start\n\n", rc.interval, rc.timeout)
	var versions []string
	for _, r := range results {
		versions = append(versions, r.kind.name+": "+r.version)
	}
	so.describe(os.Stdout, versions)
	printPopulateTable(results)
	if !rc.populateOnly {
		fmt.Println()
		printRestartTable(results)
	}
	for _, r := range results {
		if rc.populateOnly || so.keepData && rc.reuse[r.kind] == "" {
			fmt.Printf("\n%s data kept in %s (restart it with --%s-dir %s)\n", r.kind.name, r.dir, kindFlagName(r.kind), r.dir)
		}
	}
	return nil
}

func kindFlagName(k *serverKind) string {
	if k == zookeeperKind {
		return "zk"
	}
	return "zkx"
}

// measureRestarts populates a fresh server of kind (unless rc reuses a run
// directory for it), stops it, and restarts it rc.restarts times.
func measureRestarts(ctx context.Context, kind *serverKind, so *serverOptions, rc restartConfig) (*restartResult, error) {
	res := &restartResult{kind: kind}
	var srv *server
	if dir := rc.reuse[kind]; dir != "" {
		rec, err := readTreeRecord(dir, kind)
		if err != nil {
			return nil, err
		}
		srv = &server{kind: kind, opts: so, dir: dir}
		res.tree = rec
		fmt.Fprintf(os.Stderr, "== %s: restarting from %s (%d nodes, populated %s)\n", kind.name, dir, rec.Nodes, rec.Populated)
	} else {
		fmt.Fprintf(os.Stderr, "== %s: starting\n", kind.name)
		var err error
		if srv, err = launchServer(ctx, kind, so); err != nil {
			return nil, err
		}
		if err := populate(ctx, srv, rc.tree, res); err != nil {
			_, _ = srv.proc.stop(5 * time.Second)
			srv.remove()
			return nil, err
		}
		if !rc.populateOnly && !so.keepData {
			defer srv.remove()
		}
	}
	res.dir = srv.dir
	if rc.reuse[kind] == "" && !rc.populateOnly && !so.keepData {
		res.dir = "(removed at the end)"
	}
	var err error
	if res.log, err = kind.logUsage(srv.dataDir()); err != nil {
		return nil, err
	}
	if res.snaps, err = kind.snapshots(srv.dataDir()); err != nil {
		return nil, err
	}
	if rc.populateOnly {
		return res, nil
	}
	for i := range rc.restarts {
		fmt.Fprintf(os.Stderr, "%s: restart %d of %d\n", kind.name, i+1, rc.restarts)
		run, err := restartOnce(ctx, srv, res.tree, rc)
		if err != nil {
			return nil, err
		}
		res.runs = append(res.runs, run)
		res.version = srv.version
	}
	return res, nil
}

// populate loads the tree into a fresh server, stops it gracefully and
// writes the tree's record into its run directory.
func populate(ctx context.Context, srv *server, mc memoryConfig, res *restartResult) error {
	res.version = srv.version
	fmt.Fprintf(os.Stderr, "%s: loading %d nodes\n", srv.kind.name, mc.nodes)
	var err error
	if res.loadTime, err = loadTree(ctx, srv.addr, mc); err != nil {
		return fmt.Errorf("%w%s", err, aliveSuffix(srv))
	}
	rec := treeRecord{Server: srv.kind.name, Nodes: mc.nodes, ValueSize: mc.valueSize, Fanout: mc.fanout,
		NodeCount: srv.nodeCount(), Populated: time.Now().Format(time.RFC3339)}
	if want := int64(mc.nodes + parentCount(mc) + 1); rec.NodeCount < want {
		return fmt.Errorf("srvr reports %d nodes, want at least %d", rec.NodeCount, want)
	}
	zxid, err := srv.zxid()
	if err != nil {
		return err
	}
	rec.Zxid = fmt.Sprintf("0x%x", zxid)
	fmt.Fprintf(os.Stderr, "%s: loaded in %v; stopping\n", srv.kind.name, res.loadTime.Round(time.Millisecond))
	if res.stopTook, err = srv.stopProcess(); err != nil {
		return err
	}
	res.tree = rec
	b, _ := json.MarshalIndent(rec, "", "  ")
	return os.WriteFile(filepath.Join(srv.dir, treeRecordFile), append(b, '\n'), 0o644)
}

func readTreeRecord(dir string, kind *serverKind) (treeRecord, error) {
	var rec treeRecord
	b, err := os.ReadFile(filepath.Join(dir, treeRecordFile))
	if err != nil {
		return rec, fmt.Errorf("%s is not a run directory populated by restart: %w", dir, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", filepath.Join(dir, treeRecordFile), err)
	}
	if rec.Server != kind.name {
		return rec, fmt.Errorf("%s holds %s data, not %s", dir, rec.Server, kind.name)
	}
	if rec.Nodes < 1 || rec.Fanout < 1 {
		return rec, fmt.Errorf("%s: no tree in %s", dir, treeRecordFile)
	}
	return rec, nil
}

// restartOnce starts srv on its data, probes it until a getData of the
// tree's last leaf succeeds, checks the node count and stops it again.
func restartOnce(ctx context.Context, srv *server, rec treeRecord, rc restartConfig) (restartRun, error) {
	var run restartRun
	logPath := filepath.Join(srv.dir, "server.log")
	var logStart int64
	if fi, err := os.Stat(logPath); err == nil {
		logStart = fi.Size()
	}
	leaf := treeLeaf(rec.Nodes-1, rec.Fanout)
	err := srv.start(ctx, func(ctx context.Context) error {
		run = restartRun{}
		return probeRestart(ctx, srv, leaf, rec.ValueSize, rc, &run)
	})
	if err != nil {
		return run, err
	}
	run.nodeCount = srv.nodeCount()
	var stopErr error
	run.stopTook, stopErr = srv.stopProcess()
	if stopErr != nil {
		return run, stopErr
	}
	if run.nodeCount != rec.NodeCount {
		return run, fmt.Errorf("srvr reports %d nodes after the restart, %d before it", run.nodeCount, rec.NodeCount)
	}
	if b, err := readFrom(logPath, logStart); err == nil {
		run.notes = srv.kind.recoveryNotes(string(b))
	}
	fmt.Fprintf(os.Stderr, "%s: srvr after %v, serving after %v, first getData after %v (%d probes)\n", srv.kind.name,
		run.srvr.Round(time.Millisecond), run.serving.Round(time.Millisecond), run.firstRead.Round(time.Millisecond), run.probes)
	return run, nil
}

// probeRestart polls a starting server until a new session's getData of
// leaf succeeds, and meanwhile srvr until it answers with a Mode line.
// Times are from the process's start.
//
// A probe is started every rc.interval whether or not the earlier ones
// have returned (up to maxProbesInFlight at once): a connection that the
// server accepts while it loads may hang until the probe's timeout instead
// of failing (ZooKeeper 3.8 does this to connections that arrive before
// its database object exists), and one such probe must not hold up the
// next. Nothing is retried on the same session; the first session that
// reads the node is the one that counts.
func probeRestart(ctx context.Context, srv *server, leaf string, valueSize int, rc restartConfig, run *restartRun) error {
	p := srv.proc
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	var srvrAt, servingAt atomic.Int64 // ns since start; 0 until seen
	wg.Go(func() { pollSrvr(ctx, srv.addr, p.started, rc, &srvrAt, &servingAt) })

	type outcome struct {
		at   time.Duration
		data []byte
		err  error
	}
	outcomes := make(chan outcome, maxProbesInFlight)
	inFlight := 0
	launch := func() {
		inFlight++
		run.probes++
		go func() {
			data, err := probeRead(ctx, srv.addr, leaf, rc.timeout)
			outcomes <- outcome{time.Since(p.started), data, err}
		}()
	}
	tick := time.NewTicker(max(rc.interval, time.Millisecond))
	defer tick.Stop()
	launch()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return errExitedEarly
		case o := <-outcomes:
			inFlight--
			if errors.Is(o.err, client.ErrNoNode) {
				return fmt.Errorf("%s is gone after the restart: %w", leaf, o.err)
			}
			if o.err != nil {
				lastErr = o.err
				continue
			}
			if len(o.data) != valueSize {
				return fmt.Errorf("%s has %d bytes after the restart, want %d", leaf, len(o.data), valueSize)
			}
			run.firstRead = o.at
			// srvr may have lost the race to a read; it answered by then.
			run.srvr = time.Duration(srvrAt.Load())
			run.serving = time.Duration(servingAt.Load())
			if run.srvr == 0 || run.srvr > run.firstRead {
				run.srvr = run.firstRead
			}
			if run.serving == 0 || run.serving > run.firstRead {
				run.serving = run.firstRead
			}
			return nil
		case <-tick.C:
			if time.Since(p.started) > rc.limit {
				return fmt.Errorf("no getData succeeded within %v of start (last: %v)", rc.limit, lastErr)
			}
			if inFlight < maxProbesInFlight {
				launch()
			}
		}
	}
}

// maxProbesInFlight bounds the read probes (sessions) open at once.
const maxProbesInFlight = 8

// pollSrvr sends srvr every rc.interval, each in its own connection and
// without waiting for the one before, and records when it first answered
// at all and first with a Mode line (the server is serving).
func pollSrvr(ctx context.Context, addr string, started time.Time, rc restartConfig, srvrAt, servingAt *atomic.Int64) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var inFlight atomic.Int32
	tick := time.NewTicker(max(rc.interval, time.Millisecond))
	defer tick.Stop()
	for servingAt.Load() == 0 {
		if inFlight.Load() < maxProbesInFlight {
			inFlight.Add(1)
			wg.Go(func() {
				defer inFlight.Add(-1)
				ans, err := fourLetterWithin(ctx, addr, "srvr", rc.timeout)
				if err != nil {
					return
				}
				at := int64(time.Since(started))
				srvrAt.CompareAndSwap(0, at)
				if srvrField(ans, "Mode") != "" {
					servingAt.CompareAndSwap(0, at)
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeRead opens a session, reads path and closes the session, all
// within timeout.
func probeRead(ctx context.Context, addr, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := client.Connect(ctx, []string{addr}, client.WithDialTimeout(timeout))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	data, _, err := cl.Get(ctx, path)
	return data, err
}

// fourLetterWithin is fourLetter with one limit for the whole exchange,
// which also ends with ctx.
func fourLetterWithin(ctx context.Context, addr, cmd string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(nc, cmd); err != nil {
		return "", err
	}
	b, err := io.ReadAll(nc)
	return string(b), err
}

func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// What ZooKeeper 3.8 logs while it loads its data (ZKDatabase.loadDataBase,
// FileTxnSnapLog.fastForwardFromEdits, FileSnap.deserialize and the
// snapshot ZooKeeperServer.loadData takes before it serves).
var (
	zkReadingSnapshot = regexp.MustCompile(`Reading snapshot (\S+)`)
	zkTxnsLoaded      = regexp.MustCompile(`(\d+) txns loaded in (\d+) ms`)
	zkDatabaseLoaded  = regexp.MustCompile(`Snapshot loaded in (\d+) ms, highest zxid is (0x[0-9a-fA-F]+)`)
	zkSnapshotTaken   = regexp.MustCompile(`Snapshot taken in (\d+) ms`)
)

// zookeeperRecoveryNotes summarizes ZooKeeper's startup log. Each message
// counts once, the last time it appears (an earlier start may have logged
// it too if the port had to be tried again).
func zookeeperRecoveryNotes(log string) []string {
	last := func(re *regexp.Regexp) []string {
		all := re.FindAllStringSubmatch(log, -1)
		if len(all) == 0 {
			return nil
		}
		return all[len(all)-1]
	}
	var notes []string
	if m := last(zkReadingSnapshot); m != nil {
		notes = append(notes, "snapshot "+filepath.Base(m[1]))
	}
	if m := last(zkTxnsLoaded); m != nil {
		notes = append(notes, fmt.Sprintf("%s txns replayed in %s ms", m[1], m[2]))
	}
	if m := last(zkDatabaseLoaded); m != nil {
		notes = append(notes, fmt.Sprintf("database loaded in %s ms (zxid %s)", m[1], m[2]))
	}
	if m := last(zkSnapshotTaken); m != nil {
		notes = append(notes, fmt.Sprintf("snapshot taken before serving in %s ms", m[1]))
	}
	return notes
}

// slogField matches key=value and key="quoted value" in slog's text format.
var slogField = regexp.MustCompile(`([a-z][a-z0-9-]*)=("(?:[^"\\]|\\.)*"|\S*)`)

// zkxRecoveryNotes summarizes the "recovered" line cmd/zkx logs before it
// listens.
func zkxRecoveryNotes(log string) []string {
	var line string
	for l := range strings.Lines(log) {
		if strings.Contains(l, "msg=recovered ") {
			line = l
		}
	}
	if line == "" {
		return nil
	}
	f := map[string]string{}
	for _, m := range slogField.FindAllStringSubmatch(line, -1) {
		v := m[2]
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		f[m[1]] = v
	}
	var notes []string
	if s := f["snapshot"]; s != "" {
		notes = append(notes, "snapshot "+filepath.Base(s))
	}
	if n := f["txns-replayed"]; n != "" {
		notes = append(notes, n+" txns replayed")
	}
	if t := f["took"]; t != "" {
		notes = append(notes, "recovered in "+t)
	}
	return notes
}

func printPopulateTable(results []*restartResult) {
	t := &mdTable{
		header: []string{"server", "tree", "nodes (srvr)", "zxid", "load time", "stop", "log used", "log files' size", "snapshots", "newest snapshot", "run directory"},
		right:  []bool{false, false, true, true, true, true, true, true, true, true, false},
	}
	for _, r := range results {
		load, stop := "earlier run", ""
		if r.loadTime > 0 {
			load, stop = fmtSeconds(r.loadTime), fmtLatency(r.stopTook)
		}
		newest := "-"
		if r.snaps.count > 0 {
			newest = fmtBytes(uint64(r.snaps.newestBytes))
		}
		tree := fmt.Sprintf("%d x %d B, %d per parent", r.tree.Nodes, r.tree.ValueSize, r.tree.Fanout)
		t.add(r.kind.name, tree, strconv.FormatInt(r.tree.NodeCount, 10), r.tree.Zxid, load, stop,
			fmtBytes(uint64(r.log.used)), fmtBytes(uint64(r.log.apparent)), strconv.Itoa(r.snaps.count), newest, r.dir)
	}
	t.write(os.Stdout)
}

func printRestartTable(results []*restartResult) {
	t := &mdTable{
		header: []string{"server", "restart", "srvr answers", "serving (Mode)", "first getData", "probes", "stop", "the server's log"},
		right:  []bool{false, true, true, true, true, true, true, false},
	}
	var zk, zkx *restartResult
	for _, r := range results {
		for i, run := range r.runs {
			t.add(r.kind.name, strconv.Itoa(i+1), fmtSeconds(run.srvr), fmtSeconds(run.serving),
				fmtSeconds(run.firstRead), strconv.Itoa(run.probes), fmtLatency(run.stopTook), strings.Join(run.notes, "; "))
		}
		switch r.kind {
		case zookeeperKind:
			zk = r
		case zkxKind:
			zkx = r
		}
	}
	if zk != nil && zkx != nil {
		for i := range min(len(zk.runs), len(zkx.runs)) {
			a, b := zkx.runs[i], zk.runs[i]
			t.add("zkx/ZK", strconv.Itoa(i+1), fmtRatio(a.srvr.Seconds(), b.srvr.Seconds()),
				fmtRatio(a.serving.Seconds(), b.serving.Seconds()),
				"**"+fmtRatio(a.firstRead.Seconds(), b.firstRead.Seconds())+"**", "",
				fmtRatio(a.stopTook.Seconds(), b.stopTook.Seconds()), "")
		}
	}
	t.write(os.Stdout)
}
