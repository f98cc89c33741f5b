package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

// The ensemble subcommand runs each kind as an N-member ensemble on
// loopback (ZooKeeper first, then zkx), each member its own process with
// its own zoo.cfg, myid and data, fsync on, and measures:
//
//   - throughput and latency of workloads (write, read) with the
//     connections spread evenly over the members;
//   - lock handoffs, as recipes does, with the contenders spread over the
//     members;
//   - failover: the time from SIGKILL of the leader to the first write
//     acknowledged after it, for a session on the other members.
//
// The failover part runs last: it restarts members, and a restarted
// ZooKeeper member would run the other parts with a cold JIT.

// ensembleFlags are the ensemble subcommand's own flags.
type ensembleFlags struct {
	nodes           int
	kills           int
	contenders      int
	startTimeout    time.Duration
	failoverTimeout time.Duration
	skip            map[string]bool
}

func ensembleCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ensemble", flag.ContinueOnError)
	var ef ensembleFlags
	fs.IntVar(&ef.nodes, "nodes", 3, "members of each ensemble (at least 3, so that one can fail)")
	fs.IntVar(&ef.kills, "kills", 20, "times the leader is killed (SIGKILL) in the failover part")
	fs.IntVar(&ef.contenders, "contenders", 16, "sessions contending for the lock in the lock part")
	fs.DurationVar(&ef.startTimeout, "start-timeout", 3*time.Minute, "how long an ensemble may take to have a leader and every member serving (at start and after each restart)")
	fs.DurationVar(&ef.failoverTimeout, "failover-timeout", time.Minute, "give up when no write is acknowledged this long after a kill")
	wlList := fs.String("workloads", "write,read", "comma-separated `workloads` of the throughput part: "+workloadNames())
	skip := fs.String("skip", "", "comma-separated parts to skip: throughput, lock, failover")
	var lf loadFlags
	lf.register(fs)
	setFlagDefault(fs, "outstanding", "4")
	var so serverOptions
	so.register(fs)
	setUsage(fs, "ensemble [flags]",
		"Starts a fresh --nodes member ensemble of Apache ZooKeeper 3.8 and then of zkx on loopback\n"+
			"(each member its own process, zoo.cfg and myid; fsync on) and measures on each: throughput and\n"+
			"latency of --workloads with the connections spread evenly over the members; lock handoffs\n"+
			"with --contenders sessions spread over the members (as recipes does); and --kills failovers:\n"+
			"the time from SIGKILL of the leader to the first write acknowledged after it for a session on\n"+
			"the other members, restarting the killed member each time. Prints a markdown report.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if ef.skip, err = parseSkip(*skip, "throughput", "lock", "failover"); err != nil {
		return usageError{fs, err.Error()}
	}
	switch {
	case ef.nodes < 3:
		return usageError{fs, "--nodes must be at least 3: a failover needs a quorum without the leader"}
	case ef.kills < 1 && !ef.skip["failover"]:
		return usageError{fs, "--kills must be at least 1 (or --skip failover)"}
	case ef.contenders < 1:
		return usageError{fs, "--contenders must be at least 1"}
	case ef.startTimeout <= 0 || ef.failoverTimeout <= 0:
		return usageError{fs, "--start-timeout and --failover-timeout must be positive"}
	}
	wls, err := parseWorkloads(*wlList)
	if err != nil {
		return usageError{fs, err.Error()}
	}
	lf.spread = true
	for _, wl := range wls {
		if _, err := lf.config([]string{"127.0.0.1:1"}, wl); err != nil {
			return usageError{fs, err.Error()}
		}
	}
	kinds, err := so.kinds()
	if err != nil {
		return usageError{fs, err.Error()}
	}
	defer so.cleanup()
	if err := so.prepare(ctx, kinds); err != nil {
		return err
	}

	throughput := map[string]map[string]*loadResult{} // workload -> kind -> result
	var results []*ensembleResult
	var errs []string
	for _, k := range kinds {
		res := measureEnsemble(ctx, k, &so, &ef, &lf, wls, throughput)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.err != nil {
			fmt.Fprintf(os.Stderr, "== %s: %v\n", k.name, res.err)
			errs = append(errs, k.name+": "+firstLine(res.err))
		}
		results = append(results, res)
	}
	printEnsembleReport(&so, &ef, &lf, wls, kinds, results, throughput)
	if len(errs) > 0 {
		return fmt.Errorf("%s (the servers' log tails are above)", strings.Join(errs, "; "))
	}
	return nil
}

// setFlagDefault changes the default of a flag that a shared register
// method defined, for this subcommand.
func setFlagDefault(fs *flag.FlagSet, name, value string) {
	f := fs.Lookup(name)
	if err := f.Value.Set(value); err != nil {
		panic(fmt.Sprintf("default %s=%q: %v", name, value, err))
	}
	f.DefValue = value
}

// ensembleResult is what one kind's ensemble measured; err says why it
// stopped early (what it measured before that is kept).
type ensembleResult struct {
	kind    *serverKind
	version string
	pids    []int
	started time.Duration // fresh start to a leader and all members serving
	lock    *lockResult
	// failover: kill -> first acknowledged write, one per kill.
	failover *Histogram
	kills    int
	rejoin   *Histogram // restart of the killed member -> all serving
	// failedBefore counts the failover writer's writes that failed while
	// every member served, before a kill.
	failedBefore int64
	err          error
}

// measureEnsemble starts a fresh ensemble of kind, runs the parts on it
// and stops it.
func measureEnsemble(ctx context.Context, kind *serverKind, so *serverOptions, ef *ensembleFlags, lf *loadFlags, wls []*workload, throughput map[string]map[string]*loadResult) *ensembleResult {
	res := &ensembleResult{kind: kind}
	fmt.Fprintf(os.Stderr, "== %s: starting a %d-member ensemble\n", kind.name, ef.nodes)
	e, leader, err := launchEnsemble(ctx, kind, so, ef.nodes, ef.startTimeout)
	if err != nil {
		res.err = err
		return res
	}
	defer e.stop()
	res.version, res.started = e.version, e.started
	for _, m := range e.members {
		res.pids = append(res.pids, m.proc.pid())
	}
	if !ef.skip["throughput"] {
		if err := runWorkloadsOn(ctx, kind, e.clientAddrs(leader), e.checkAlive, wls, lf, throughput); err != nil {
			res.err = e.explain(fmt.Errorf("throughput: %w", err))
			return res
		}
	}
	if !ef.skip["lock"] {
		fmt.Fprintf(os.Stderr, "%s: lock handoffs, %d contenders\n", kind.name, ef.contenders)
		// The leader first: the lock's log figures are its.
		l, err := runLockContention(ctx, e.clientAddrs(leader), kind == zkxKind, ef.contenders, lf.warmup, lf.duration)
		if err == nil {
			err = e.checkAlive()
		}
		if err != nil {
			res.err = e.explain(fmt.Errorf("lock: %w", err))
			return res
		}
		res.lock = l
		fmt.Fprintf(os.Stderr, "%s: %s handoffs/s, acquire p50 %s p99 %s\n", kind.name, fmtRate(l.perSec()),
			fmtLatency(l.acquire.Quantile(0.5)), fmtLatency(l.acquire.Quantile(0.99)))
	}
	if !ef.skip["failover"] {
		res.failover, res.rejoin = NewHistogram(), NewHistogram()
		for i := range ef.kills {
			d, rejoin, w, err := e.failover(ctx, i, ef, lf)
			if err != nil {
				res.err = fmt.Errorf("failover %d of %d: %w", i+1, ef.kills, err)
				break
			}
			res.failover.Record(d)
			res.rejoin.Record(rejoin)
			res.kills++
			res.failedBefore += w.failedBefore.Load()
		}
	}
	return res
}

// ensemble is N members of one kind on loopback, each in its own
// directory under dir: server.N/{zoo.cfg,server.log,data/myid}.
type ensemble struct {
	kind    *serverKind
	opts    *serverOptions
	dir     string
	members []*member
	version string        // srvr's, from the first leader
	started time.Duration // first start to a leader and every member serving
}

// member is one server of an ensemble. Its server's addr is its client
// address and dir its own directory; peer is its server.N line.
type member struct {
	*server
	peer quorumPeer
}

func (m *member) name() string { return fmt.Sprintf("%s server.%d", m.kind.name, m.peer.id) }

func (m *member) cfgPath() string { return filepath.Join(m.dir, "zoo.cfg") }

// layOutEnsemble makes the directories, zoo.cfg and myid files of an
// n-member ensemble on free loopback ports.
func layOutEnsemble(kind *serverKind, o *serverOptions, n int) (*ensemble, error) {
	dir, err := os.MkdirTemp("", "zkx-bench-ensemble-"+strings.ToLower(kind.name)+"-")
	if err != nil {
		return nil, err
	}
	e := &ensemble{kind: kind, opts: o, dir: dir}
	ports, err := freeLoopbackPorts(3 * n)
	if err != nil {
		e.remove()
		return nil, err
	}
	peers := make([]quorumPeer, n)
	for i := range peers {
		peers[i] = quorumPeer{id: i + 1, host: "127.0.0.1", quorumPort: ports[3*i+1], electionPort: ports[3*i+2]}
	}
	for i, p := range peers {
		m := &member{
			server: &server{kind: kind, opts: o,
				addr: "127.0.0.1:" + strconv.Itoa(ports[3*i]),
				dir:  filepath.Join(dir, "server."+strconv.Itoa(p.id))},
			peer: p,
		}
		e.members = append(e.members, m)
		if err := os.MkdirAll(m.dataDir(), 0o755); err != nil {
			e.remove()
			return nil, err
		}
		files := map[string]string{
			m.cfgPath():                        zooCfg(m.dataDir(), m.addr, peers, o.cfgLines()...),
			filepath.Join(m.dataDir(), "myid"): strconv.Itoa(p.id) + "\n",
		}
		for path, text := range files {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				e.remove()
				return nil, err
			}
		}
	}
	return e, nil
}

// launchEnsemble lays out and starts a fresh ensemble and waits until it
// has a leader and every member serves. A member that exits first has
// most likely lost a port to another process: then it tries new ports.
func launchEnsemble(ctx context.Context, kind *serverKind, o *serverOptions, n int, timeout time.Duration) (*ensemble, *member, error) {
	for attempt := 1; ; attempt++ {
		e, err := layOutEnsemble(kind, o, n)
		if err != nil {
			return nil, nil, err
		}
		start := time.Now()
		for _, m := range e.members {
			if err = e.start(m); err != nil {
				break
			}
		}
		var leader *member
		if err == nil {
			leader, err = e.waitServing(ctx, timeout)
		}
		if err == nil {
			e.started = time.Since(start)
			if ans, err := client.FourLetterWord(leader.addr, "srvr"); err == nil {
				e.version = srvrField(ans, "Zookeeper version")
			}
			fmt.Fprintf(os.Stderr, "%s: ensemble serving after %v, leader server.%d (%s)\n",
				kind.name, e.started.Round(time.Millisecond), leader.peer.id, e.layout())
			return e, leader, nil
		}
		err = e.explain(err)
		e.stop()
		if !errors.Is(err, errExitedEarly) || attempt == 3 || ctx.Err() != nil {
			return nil, nil, err
		}
		fmt.Fprintf(os.Stderr, "%v\n%s: a member exited early; trying again on other ports\n", err, kind.name)
	}
}

// layout lists the members' client ports and pids, for progress lines.
func (e *ensemble) layout() string {
	var parts []string
	for _, m := range e.members {
		parts = append(parts, fmt.Sprintf("server.%d %s pid %d", m.peer.id, m.addr, m.proc.pid()))
	}
	return strings.Join(parts, ", ")
}

// start starts member m (again) from its zoo.cfg and data.
func (e *ensemble) start(m *member) error {
	argv, err := e.kind.memberArgv(e.opts, m.dir, m.cfgPath())
	if err != nil {
		return err
	}
	m.proc, err = startProcess(m.name(), m.dir, filepath.Join(m.dir, "server.log"), e.opts.pinned(argv))
	return err
}

// waitServing waits until exactly one member is the leader and every
// other one a follower (or observer), and returns the leader. It fails at
// once, with errExitedEarly, if a member's process exits.
func (e *ensemble) waitServing(ctx context.Context, timeout time.Duration) (*member, error) {
	deadline := time.Now().Add(timeout)
	modes := make([]string, len(e.members))
	for {
		for i, m := range e.members {
			if !m.proc.alive() {
				return nil, fmt.Errorf("%w: %s (%v)", errExitedEarly, m.name(), m.proc.waitErr)
			}
			modes[i] = ""
			if ans, err := fourLetterWithin(ctx, m.addr, "srvr", 2*time.Second); err == nil {
				modes[i] = srvrMode(ans)
			}
		}
		if i, ok := ensembleServing(modes); ok {
			return e.members[i], nil
		}
		if i := slices.Index(modes, "standalone"); i >= 0 {
			// It will not join the others, however long we wait.
			return nil, fmt.Errorf("%s runs standalone although its zoo.cfg lists %d servers", e.members[i].name(), len(e.members))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no leader with every member serving within %v (%s)", e.kind.name, timeout, e.describeModes(modes))
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// srvrMode is the Mode of a srvr answer ("leader", "follower",
// "observer", "standalone", ...), or "" when the server does not serve:
// both ZooKeeper and zkx then answer "This ZooKeeper instance is not
// currently serving requests" instead.
func srvrMode(answer string) string {
	if strings.Contains(answer, "not currently serving requests") {
		return ""
	}
	return srvrField(answer, "Mode")
}

// ensembleServing reports whether members with these srvr modes make a
// serving ensemble, exactly one leader and every other member a follower
// or observer, and which one leads.
func ensembleServing(modes []string) (leader int, ok bool) {
	leader = -1
	for i, m := range modes {
		switch m {
		case "leader":
			if leader >= 0 {
				return -1, false
			}
			leader = i
		case "follower", "observer":
		default:
			return -1, false
		}
	}
	return leader, leader >= 0
}

func (e *ensemble) describeModes(modes []string) string {
	var parts []string
	for i, m := range e.members {
		mode := modes[i]
		switch {
		case !m.proc.alive():
			mode = "exited"
		case mode == "":
			mode = "not serving"
		}
		parts = append(parts, fmt.Sprintf("server.%d %s", m.peer.id, mode))
	}
	return strings.Join(parts, ", ")
}

// clientAddrs lists the members' client addresses, first first.
func (e *ensemble) clientAddrs(first *member) []string {
	addrs := []string{first.addr}
	for _, m := range e.members {
		if m != first {
			addrs = append(addrs, m.addr)
		}
	}
	return addrs
}

// checkAlive returns an error with the log tail of every member that
// died.
func (e *ensemble) checkAlive() error {
	var errs []error
	for _, m := range e.members {
		if err := m.checkAlive(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// explain adds the tail of every member's log to err.
func (e *ensemble) explain(err error) error {
	var tails []string
	for _, m := range e.members {
		if m.proc != nil {
			tails = append(tails, m.proc.logTail())
		}
	}
	return fmt.Errorf("%w\n%s", err, strings.Join(tails, "\n"))
}

// stop stops every member at once (SIGTERM) and removes the ensemble's
// directory unless --keep-data.
func (e *ensemble) stop() {
	var wg sync.WaitGroup
	for _, m := range e.members {
		if m.proc == nil {
			continue
		}
		wg.Go(func() {
			if _, err := m.proc.stop(20 * time.Second); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		})
	}
	wg.Wait()
	if e.opts.keepData {
		fmt.Fprintf(os.Stderr, "%s: kept %s\n", e.kind.name, e.dir)
		return
	}
	e.remove()
}

func (e *ensemble) remove() { os.RemoveAll(e.dir) }

// The failover writer's sessions and requests.
const (
	failoverPath = benchRoot + "-failover"
	// A session must outlive an election: ZooKeeper's maxSessionTimeout
	// is 20 ticks (40s) with tickTime=2000.
	failoverSessionTimeout = 30 * time.Second
	// failoverDialTimeout bounds one attempt to open a session with one
	// member (a member without a leader refuses at once).
	failoverDialTimeout = time.Second
	// A write forwarded to a leader that died may never be answered; the
	// writer then gives up on it and its session.
	failoverWriteTimeout = 5 * time.Second
	// failoverRetryPause keeps a writer whose attempts fail at once from
	// spinning; it bounds the resolution of the measurement.
	failoverRetryPause = 5 * time.Millisecond
	// failoverWarmWrites are acknowledged before the kill, so that the
	// session and the path are in use when the leader dies.
	failoverWarmWrites = 20
)

// failover kills the leader once (killLeader) and then restarts it and
// waits until every member serves again; rejoin is how long that took.
func (e *ensemble) failover(ctx context.Context, i int, ef *ensembleFlags, lf *loadFlags) (took, rejoin time.Duration, w *failoverWriter, err error) {
	leader, err := e.waitServing(ctx, ef.startTimeout)
	if err != nil {
		return 0, 0, nil, e.explain(err)
	}
	w = &failoverWriter{values: newValueGen(lf.seed, uint64(i)), valueSize: lf.valueSize,
		recovered: make(chan time.Time, 1), names: map[string]string{}}
	for _, m := range e.members {
		w.names[m.addr] = m.name()
		if m != leader {
			w.servers = append(w.servers, m.addr)
		}
	}
	took, err = e.killLeader(ctx, leader, w, ef.failoverTimeout)
	if err != nil {
		return 0, 0, nil, err
	}
	restartAt := time.Now()
	if err := e.start(leader); err != nil {
		return 0, 0, nil, err
	}
	newLeader, err := e.waitServing(ctx, ef.startTimeout)
	if err != nil {
		return 0, 0, nil, e.explain(fmt.Errorf("after restarting server.%d: %w", leader.peer.id, err))
	}
	rejoin = time.Since(restartAt)
	fmt.Fprintf(os.Stderr, "%s: kill %d of %d: server.%d (leader) killed, first write acknowledged after %v (%s); "+
		"restarted, all serving after %v, server.%d leads\n", e.kind.name, i+1, ef.kills, leader.peer.id,
		took.Round(time.Millisecond), w.summary(), rejoin.Round(time.Millisecond), newLeader.peer.id)
	return took, rejoin, w, nil
}

// killLeader runs w, SIGKILLs the leader once w has had
// failoverWarmWrites acknowledged, and returns the time from the kill to
// the acknowledgment of the first write sent after it.
func (e *ensemble) killLeader(ctx context.Context, leader *member, w *failoverWriter, timeout time.Duration) (time.Duration, error) {
	wctx, stopWriter := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() {
		w.run(wctx)
		close(finished)
	}()
	defer func() {
		stopWriter()
		<-finished
	}()
	warmBy := time.Now().Add(timeout)
	for w.acked.Load() < failoverWarmWrites {
		if time.Now().After(warmBy) {
			return 0, e.explain(fmt.Errorf("only %d writes acknowledged in %v before the kill (%s)", w.acked.Load(), timeout, w.summary()))
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return 0, ctx.Err()
		}
	}

	killedAt := time.Now()
	w.killedAt.Store(&killedAt)
	leader.proc.kill()
	select {
	case at := <-w.recovered:
		return at.Sub(killedAt), nil
	case <-time.After(timeout):
		modes := make([]string, len(e.members))
		for j, m := range e.members {
			if ans, err := client.FourLetterWord(m.addr, "srvr"); err == nil {
				modes[j] = srvrMode(ans)
			}
		}
		return 0, e.explain(fmt.Errorf("no write was acknowledged within %v of killing the leader server.%d (%s; %s)",
			timeout, leader.peer.id, w.summary(), e.describeModes(modes)))
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// failoverWriter writes one setData at a time, a new one as soon as the
// last is answered. A write that fails ends its session: the writer opens
// a new one with servers at once and writes again, so that the time it
// measures is the ensemble's and not the client library's reconnection
// backoff. Once killedAt is set, the first write sent after it that is
// acknowledged ends the run and its acknowledgment time goes to
// recovered. (A write sent before the kill may be acknowledged after it:
// the old leader may have committed it. It says nothing about the new one.)
type failoverWriter struct {
	servers   []string          // the members other than the leader
	names     map[string]string // member names by client address, for notes
	values    *valueGen
	valueSize int
	killedAt  atomic.Pointer[time.Time]
	recovered chan time.Time // capacity 1
	pathReady bool           // failoverPath exists
	acked     atomic.Int64
	// Writes and attempts to open a session that failed, before and after
	// the kill. Before it, the leader was alive and every member served.
	failedBefore, failedWrites, failedSessions atomic.Int64
}

// run writes until ctx ends or a write sent after the kill is
// acknowledged.
func (w *failoverWriter) run(ctx context.Context) {
	var c *client.Client
	// Sessions given up on are closed in the background: Close waits for
	// the server's answer when the connection still stands.
	var closing sync.WaitGroup
	defer func() {
		if c != nil {
			closing.Go(func() { c.Close() })
		}
		closing.Wait()
	}()
	for ctx.Err() == nil {
		if c == nil {
			var err error
			c, err = client.Connect(ctx, w.servers, client.WithSessionTimeout(failoverSessionTimeout), client.WithDialTimeout(failoverDialTimeout))
			if err != nil {
				if ctx.Err() == nil {
					w.failedSessions.Add(1)
				}
				sleepCtx(ctx, failoverRetryPause)
				continue
			}
		}
		sent := time.Now()
		err := w.write(ctx, c)
		at := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if w.killedAt.Load() == nil {
				w.failedBefore.Add(1)
				fmt.Fprintf(os.Stderr, "note: a write through %s failed before the kill: %v; opening a new session\n", w.names[c.Server()], err)
			} else {
				w.failedWrites.Add(1)
			}
			old := c
			closing.Go(func() { old.Close() })
			c = nil
			continue
		}
		w.acked.Add(1)
		if k := w.killedAt.Load(); k != nil && !sent.Before(*k) {
			w.recovered <- at
			return
		}
	}
}

// write makes one setData of failoverPath (creating it first, once).
func (w *failoverWriter) write(ctx context.Context, c *client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, failoverWriteTimeout)
	defer cancel()
	if !w.pathReady {
		if _, err := c.Create(ctx, failoverPath, nil, client.Persistent, openACL); err != nil && !errors.Is(err, client.ErrNodeExists) {
			return err
		}
		w.pathReady = true
	}
	_, err := c.Set(ctx, failoverPath, w.values.next(w.valueSize), -1)
	return err
}

func (w *failoverWriter) summary() string {
	s := fmt.Sprintf("%d failed writes, %d failed session attempts", w.failedWrites.Load(), w.failedSessions.Load())
	if n := w.failedBefore.Load(); n > 0 {
		s += fmt.Sprintf("; %d writes failed before the kill", n)
	}
	return s
}

// printEnsembleReport writes the markdown report: what ran, then one
// table per part.
func printEnsembleReport(so *serverOptions, ef *ensembleFlags, lf *loadFlags, wls []*workload, kinds []*serverKind, results []*ensembleResult, throughput map[string]map[string]*loadResult) {
	fmt.Printf("## ensemble\n\n")
	fmt.Printf("%d-member ensembles on 127.0.0.1, started fresh for each server, one process per member with its own\n"+
		"zoo.cfg (tickTime=2000 initLimit=10 syncLimit=5, server.1..%d lines; forceSync=yes: every txn fsynced on a quorum\n"+
		"before it is acknowledged) and myid. Measured once a leader served and every member served.\n\n", ef.nodes, ef.nodes)
	var versions []string
	for _, r := range results {
		v := r.kind.name + ": "
		if r.version != "" {
			v += fmt.Sprintf("%s, %d members (pids %s), serving %v after start", r.version, ef.nodes, joinInts(r.pids), r.started.Round(100*time.Millisecond))
		} else {
			v += "did not start"
		}
		versions = append(versions, v)
	}
	so.describe(os.Stdout, versions)

	if !ef.skip["throughput"] {
		cfg, _ := lf.config(make([]string, ef.nodes), wls[0])
		fmt.Printf("### Throughput and latency\n\n%s: each member serves %s connections.\n\n",
			cfg.describe(), connShare(cfg.conns, ef.nodes))
		printCompareTable(os.Stdout, wls, kinds, throughput)
		fmt.Println()
	}
	if !ef.skip["lock"] {
		fmt.Printf("### Lock handoffs\n\n%d sessions (session i on member i mod %d) each loop acquire -> release on one lock for %v "+
			"(after %v warmup). zkx: `lock` recipe calls; ZooKeeper: go-zookeeper zk.NewLock(...).Lock()/Unlock().\n\n",
			ef.contenders, ef.nodes, lf.duration, lf.warmup)
		t := mdTable{header: []string{"server", "handoffs/s", "acquire p50", "acquire p99"}, right: []bool{false, true, true, true}}
		var zk, zkx *lockResult
		for _, r := range results {
			if r.lock == nil {
				continue
			}
			t.add(r.kind.name, fmtRate(r.lock.perSec()), fmtLatency(r.lock.acquire.Quantile(0.5)), fmtLatency(r.lock.acquire.Quantile(0.99)))
			if r.kind == zookeeperKind {
				zk = r.lock
			} else {
				zkx = r.lock
			}
		}
		if zk != nil && zkx != nil {
			t.add("zkx/ZooKeeper", fmtRatio(zkx.perSec(), zk.perSec()),
				fmtRatio(float64(zkx.acquire.Quantile(0.5)), float64(zk.acquire.Quantile(0.5))),
				fmtRatio(float64(zkx.acquire.Quantile(0.99)), float64(zk.acquire.Quantile(0.99))))
		}
		t.write(os.Stdout)
		for _, r := range results {
			if r.lock != nil && r.lock.txns >= 0 && r.lock.handoffs > 0 {
				h := float64(r.lock.handoffs)
				fmt.Printf("\n%s: per handoff %.2f txns logged, %.2f fsyncs (on the leader).\n", r.kind.name, float64(r.lock.txns)/h, float64(r.lock.fsyncs)/h)
			}
		}
		fmt.Println()
	}
	if !ef.skip["failover"] {
		fmt.Printf("### Failover\n\nOne writer with a session on the non-leader members writes continuously (setData of %d bytes, one at\n"+
			"a time). The leader gets SIGKILL; the time is from the kill to the acknowledgment of the first write sent after it:\n"+
			"the members noticing the loss, electing and syncing a new leader, and the writer getting through again. A write\n"+
			"that fails ends the writer's session and it opens a new one with the non-leader members at once (retrying every\n"+
			"%v), then writes again, so the client library's reconnection backoff is not in the time; the new session's\n"+
			"createSession is. The killed member is then restarted (\"rejoin\": until every member serves again) before the\n"+
			"next kill.\n\n", lf.valueSize, failoverRetryPause)
		t := mdTable{header: []string{"server", "kills", "p50", "p99", "max", "mean", "rejoin p50", "rejoin max", "p50 zkx/ZK", "p99 zkx/ZK"},
			right: []bool{false, true, true, true, true, true, true, true, true, true}}
		var zk *ensembleResult
		for _, r := range results {
			if r.kills == 0 {
				continue
			}
			h := r.failover
			p50Ratio, p99Ratio := "", ""
			if r.kind == zookeeperKind {
				zk = r
			} else if zk != nil {
				p50Ratio = fmtRatio(float64(h.Quantile(0.5)), float64(zk.failover.Quantile(0.5)))
				p99Ratio = fmtRatio(float64(h.Quantile(0.99)), float64(zk.failover.Quantile(0.99)))
			}
			t.add(r.kind.name, strconv.Itoa(r.kills), fmtLatency(h.Quantile(0.5)), fmtLatency(h.Quantile(0.99)),
				fmtLatency(h.Max()), fmtLatency(h.Mean()), fmtLatency(r.rejoin.Quantile(0.5)), fmtLatency(r.rejoin.Max()),
				p50Ratio, p99Ratio)
		}
		t.write(os.Stdout)
		for _, r := range results {
			if r.failedBefore > 0 {
				fmt.Printf("\n%s: %d of the writer's writes failed before a kill, with every member serving (see the notes on stderr).\n", r.kind.name, r.failedBefore)
			}
		}
		if ef.kills <= 100 {
			fmt.Printf("\nWith %d kills, p99 is the maximum (nearest rank).\n", ef.kills)
		}
	}
	for _, r := range results {
		if r.err != nil {
			fmt.Printf("\n**%s failed**: %s (its servers' log tails went to stderr).\n", r.kind.name, firstLine(r.err))
		}
	}
}

// firstLine is an error's first line (the rest are log tails).
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// connShare says how many of conns connections each of n members gets.
func connShare(conns, n int) string {
	lo, hi := conns/n, (conns+n-1)/n
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d or %d", lo, hi)
}

func joinInts(xs []int) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.Itoa(x))
	}
	return strings.Join(parts, ", ")
}
