package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkx-project/zkx/transport/client"
)

// loadConfig is one run of the driver against one server (or ensemble).
type loadConfig struct {
	servers     []string
	conns       int
	outstanding int
	workload    *workload
	valueSize   int
	keys        int
	warmup      time.Duration
	duration    time.Duration
	seed        uint64
	// drain is how long the driver waits, after the measured window, for
	// requests still in flight before it gives up on them. In a counted
	// run it is how long the run may go without any request completing.
	drain time.Duration
	// ops, when positive, makes the run a counted one: exactly ops
	// requests, all measured, no warmup, duration ignored. Measurements of
	// what a number of txns leaves behind (disk) need a count, not a time.
	ops int
	// spread gives connection i server i mod len(servers) alone instead of
	// all of them, so that the members of an ensemble get equal shares of
	// the connections (as many clients, each with its own shuffled connect
	// string, would give them) and every run the same shares.
	spread bool
	// rate, when positive, paces the run: requests are due at rate per
	// second in all, shared by the workers, and a request's latency counts
	// from when it was due, not from when a worker got to send it (a
	// server that falls behind is charged for the queue it causes). Without
	// it every worker sends as soon as its last request returns.
	rate int
}

// loadFlags are the driver's flags, shared by load and compare.
type loadFlags struct {
	conns, outstanding, valueSize, keys int
	warmup, duration, drain             time.Duration
	seed                                uint64
	syncClient                          bool
	rate                                int
	ops                                 int  // a counted run (disk sets it; no flag)
	spread                              bool // ensemble sets it; no flag
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.conns, "conns", 8, "connections, one client.Client (session) each")
	fs.IntVar(&f.outstanding, "outstanding", 16, "goroutines per connection, each with one synchronous request in flight (the client pipelines them)")
	fs.IntVar(&f.valueSize, "value-size", 100, "bytes of znode data (JSON-like text)")
	fs.IntVar(&f.keys, "keys", 1000, "nodes the read, write and mixed workloads spread over")
	fs.DurationVar(&f.warmup, "warmup", 5*time.Second, "time the workload runs before measuring (not counted)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&f.drain, "drain", 30*time.Second, "after the measured time, how long to wait for requests in flight")
	fs.Uint64Var(&f.seed, "seed", 1, "PRNG seed for key choice and values")
	fs.IntVar(&f.rate, "rate", 0, "requests per second in all, paced (latency counted from when each was due); 0: as fast as the workers go")
	fs.BoolVar(&f.syncClient, "sync-client", false, "one connection with one request in flight (single-client latency); overrides --conns and --outstanding")
}

func (f *loadFlags) config(servers []string, wl *workload) (loadConfig, error) {
	cfg := loadConfig{
		servers: servers, conns: f.conns, outstanding: f.outstanding, workload: wl,
		valueSize: f.valueSize, keys: f.keys, warmup: f.warmup, duration: f.duration,
		seed: f.seed, drain: f.drain, ops: f.ops, spread: f.spread, rate: f.rate,
	}
	if f.syncClient {
		cfg.conns, cfg.outstanding = 1, 1
	}
	switch {
	case cfg.conns < 1 || cfg.outstanding < 1:
		return cfg, errors.New("--conns and --outstanding must be at least 1")
	case cfg.valueSize < 0 || cfg.valueSize > 1<<20:
		return cfg, errors.New("--value-size must be in [0, 1 MiB]")
	case cfg.rate < 0:
		return cfg, errors.New("--rate must not be negative")
	case cfg.keys < 1:
		return cfg, errors.New("--keys must be at least 1")
	case cfg.ops == 0 && (cfg.duration <= 0 || cfg.warmup < 0):
		return cfg, errors.New("--duration must be positive and --warmup not negative")
	}
	return cfg, nil
}

func (c loadConfig) describe() string {
	var s string
	if c.ops > 0 {
		s = fmt.Sprintf("conns=%d outstanding=%d value-size=%d keys=%d ops=%d seed=%d",
			c.conns, c.outstanding, c.valueSize, c.keys, c.ops, c.seed)
	} else {
		s = fmt.Sprintf("conns=%d outstanding=%d value-size=%d keys=%d warmup=%v duration=%v seed=%d",
			c.conns, c.outstanding, c.valueSize, c.keys, c.warmup, c.duration, c.seed)
	}
	if c.rate > 0 {
		s += fmt.Sprintf(" rate=%d/s", c.rate)
	}
	if c.spread {
		s += fmt.Sprintf(", connection i to server i mod %d", len(c.servers))
	}
	return s
}

// connServers is the connect string of connection i (see spread).
func (c loadConfig) connServers(i int) []string {
	if !c.spread {
		return c.servers
	}
	j := i % len(c.servers)
	return c.servers[j : j+1]
}

// loadRun is the state of one driver run that setup and workers share.
type loadRun struct {
	cfg     loadConfig
	clients []*client.Client
	keys    []string
	// tickets is what is left of a counted run's requests; each worker
	// takes one before every request.
	tickets atomic.Int64
	// completed counts requests that returned, so that a counted run can
	// tell a stalled server from a slow one.
	completed atomic.Int64
	// paceStart and paced schedule a paced run's requests (cfg.rate).
	paceStart time.Time
	paced     atomic.Int64
}

// due returns when the next request of a paced run is due, after waiting
// for that moment; ok is false if ctx ended first.
func (run *loadRun) due(ctx context.Context) (time.Time, bool) {
	i := run.paced.Add(1) - 1
	at := run.paceStart.Add(time.Duration(i) * time.Second / time.Duration(run.cfg.rate))
	if d := time.Until(at); d > 0 {
		if !sleepCtx(ctx, d) {
			return at, false
		}
	}
	return at, true
}

// connStats is what the workers of one connection record.
type connStats struct {
	hist   [numOpKinds]*Histogram
	errors atomic.Uint64
	mu     sync.Mutex
	errMsg map[string]uint64 // by errorKind, at most maxErrorKinds
}

const maxErrorKinds = 8

// errorKind names an error without the path, so that errors group: the
// request and the ZooKeeper code ("setData: ConnectionLoss"), or the text.
func errorKind(err error) string {
	var ze *client.Error
	if errors.As(err, &ze) {
		return ze.Op + ": " + ze.Code.Name()
	}
	return err.Error()
}

func (s *connStats) recordError(err error) {
	s.errors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := errorKind(err)
	if _, ok := s.errMsg[msg]; ok || len(s.errMsg) < maxErrorKinds {
		s.errMsg[msg]++
	}
}

// loadResult is what one run measured.
type loadResult struct {
	cfg     loadConfig
	window  time.Duration // the measured time, as it really was
	all     *Histogram
	byKind  [numOpKinds]*Histogram // nil for kinds the workload does not make
	errors  uint64
	errMsg  map[string]uint64
	stuck   bool // requests were still in flight when the drain ended
	lostCon int  // workers that stopped because their session ended
}

// overran reports whether the measured window came out clearly longer
// than asked: the driver itself was not scheduled for a while, so the
// machine was busy and the run's tail latencies say more about it than
// about the server.
func (r *loadResult) overran() bool {
	if r.cfg.ops > 0 {
		return false // a counted run has no planned window
	}
	return r.window > r.cfg.duration+r.cfg.duration/20+50*time.Millisecond
}

func (r *loadResult) opsPerSec() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.all.Count()) / r.window.Seconds()
}

// Phases of a run, as workers see them.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// runLoad connects, sets up the workload, runs it for warmup+duration (or
// for cfg.ops requests) and returns what it measured. Only requests that
// start inside the measured window count; requests that fail count as
// errors and not in latencies.
func runLoad(ctx context.Context, cfg loadConfig, progress io.Writer) (*loadResult, error) {
	run, err := startLoad(ctx, cfg, progress)
	if err != nil {
		return nil, err
	}
	defer run.close()
	return run.drive(ctx, progress)
}

// startLoad connects cfg.conns clients and sets up the workload; drive then
// runs it. Between the two the caller may look at the server as the
// workload's setup left it (disk reads the log there).
func startLoad(ctx context.Context, cfg loadConfig, progress io.Writer) (*loadRun, error) {
	run := &loadRun{cfg: cfg}
	for i := range cfg.conns {
		cl, err := client.Connect(ctx, cfg.connServers(i), client.WithSessionTimeout(30*time.Second))
		if err != nil {
			run.close()
			return nil, err
		}
		run.clients = append(run.clients, cl)
	}
	run.keys = make([]string, cfg.keys)
	for i := range run.keys {
		run.keys[i] = keyPath(i)
	}
	fmt.Fprintf(progress, "%s: setup\n", cfg.workload.name)
	if err := cfg.workload.setup(ctx, run); err != nil {
		run.close()
		return nil, fmt.Errorf("%s setup: %w", cfg.workload.name, err)
	}
	return run, nil
}

// close ends the run's sessions.
func (run *loadRun) close() {
	for _, cl := range run.clients {
		cl.Close()
	}
	run.clients = nil
}

// drive runs the workload once on a run that startLoad set up.
func (run *loadRun) drive(ctx context.Context, progress io.Writer) (*loadResult, error) {
	cfg := run.cfg
	counted := cfg.ops > 0
	run.tickets.Store(int64(cfg.ops))

	// Workers get their own context so that the driver can give up on
	// requests that never come back without cancelling the caller's.
	wctx, cancelWorkers := context.WithCancel(ctx)
	defer cancelWorkers()
	var phase atomic.Int32
	if counted {
		phase.Store(phaseMeasure)
	}
	stats := make([]*connStats, cfg.conns)
	var wg sync.WaitGroup
	var lostCon atomic.Int32
	start := time.Now()
	run.paceStart = start
	for ci, cl := range run.clients {
		st := &connStats{errMsg: map[string]uint64{}}
		for _, k := range cfg.workload.kinds {
			st.hist[k] = NewHistogram()
		}
		stats[ci] = st
		for j := range cfg.outstanding {
			id := ci*cfg.outstanding + j
			w := &worker{
				run: run, id: id, cl: cl, keys: run.keys,
				rng:    rand.New(rand.NewPCG(cfg.seed, uint64(id))),
				values: newValueGen(cfg.seed, uint64(id)),
				prefix: createParent + "/w" + strconv.Itoa(id) + "-",
			}
			wg.Go(func() {
				if !runWorker(wctx, w, &phase, st) {
					lostCon.Add(1)
				}
			})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var window time.Duration
	stuck, interrupted := false, false
	if counted {
		fmt.Fprintf(progress, "%s: %d requests\n", cfg.workload.name, cfg.ops)
		stuck, interrupted = waitCounted(ctx, run, done, cfg.drain)
		window = time.Since(start)
		if stuck || interrupted {
			cancelWorkers()
			<-done
		}
	} else {
		fmt.Fprintf(progress, "%s: warmup %v\n", cfg.workload.name, cfg.warmup)
		if !sleepCtx(ctx, cfg.warmup) {
			phase.Store(phaseStop)
			cancelWorkers()
			<-done
			return nil, ctx.Err()
		}
		fmt.Fprintf(progress, "%s: measuring %v\n", cfg.workload.name, cfg.duration)
		start = time.Now()
		phase.Store(phaseMeasure)
		interrupted = !sleepCtx(ctx, cfg.duration)
		phase.Store(phaseStop)
		window = time.Since(start)
		select {
		case <-done:
		case <-time.After(cfg.drain):
			stuck = true
			cancelWorkers()
			<-done
		}
	}
	if interrupted {
		return nil, ctx.Err()
	}

	res := &loadResult{cfg: cfg, window: window, all: NewHistogram(), errMsg: map[string]uint64{}, lostCon: int(lostCon.Load()), stuck: stuck}
	for _, k := range cfg.workload.kinds {
		res.byKind[k] = NewHistogram()
	}
	for _, st := range stats {
		for _, k := range cfg.workload.kinds {
			res.byKind[k].Merge(st.hist[k])
			res.all.Merge(st.hist[k])
		}
		res.errors += st.errors.Load()
		for m, n := range st.errMsg {
			res.errMsg[m] += n
		}
	}
	return res, nil
}

// waitCounted waits for the workers of a counted run to finish. It gives
// up (stuck) when no request has completed for stall, and reports whether
// ctx ended first.
func waitCounted(ctx context.Context, run *loadRun, done <-chan struct{}, stall time.Duration) (stuck, interrupted bool) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := run.completed.Load(), time.Now()
	for {
		select {
		case <-done:
			return false, false
		case <-ctx.Done():
			return false, true
		case <-tick.C:
			if n := run.completed.Load(); n != last {
				last, lastAt = n, time.Now()
			} else if time.Since(lastAt) >= stall {
				return true, false
			}
		}
	}
}

// runWorker makes requests until the phase is phaseStop. It returns false
// if it stopped because its session ended (nothing more can succeed on it).
func runWorker(ctx context.Context, w *worker, phase *atomic.Int32, st *connStats) bool {
	for {
		p := phase.Load()
		if p == phaseStop || ctx.Err() != nil {
			return true
		}
		if w.run.cfg.ops > 0 && w.run.tickets.Add(-1) < 0 {
			return true
		}
		start := time.Now()
		if w.run.cfg.rate > 0 {
			due, ok := w.run.due(ctx)
			if !ok {
				return true
			}
			start = due
		}
		kind, err := w.run.cfg.workload.step(ctx, w)
		elapsed := time.Since(start)
		w.run.completed.Add(1)
		if err != nil {
			if errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed) || errors.Is(err, client.ErrAuthFailed) {
				if p == phaseMeasure {
					st.recordError(err)
				}
				return false
			}
			if p == phaseMeasure && ctx.Err() == nil {
				st.recordError(err)
			}
			continue
		}
		if p == phaseMeasure {
			st.hist[kind].Record(elapsed)
		}
	}
}

// sleepCtx sleeps for d and reports whether ctx was still live at the end.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// printLoadResult writes a run's numbers as a markdown table: one row per
// kind of request and, when there are several, one for all of them.
func printLoadResult(w io.Writer, title string, r *loadResult) {
	fmt.Fprintf(w, "### %s\n\n", title)
	fmt.Fprintf(w, "%s, measured %.2fs\n\n", r.cfg.describe(), r.window.Seconds())
	if r.overran() {
		fmt.Fprintf(w, "Warning: the driver slept %.2fs for %v: the machine is busy; do not trust these numbers.\n\n", r.window.Seconds(), r.cfg.duration)
	}
	t := &mdTable{header: []string{"op", "ops", "ops/s", "mean", "p50", "p90", "p99", "p99.9", "max"}, right: []bool{false, true, true, true, true, true, true, true, true}}
	row := func(name string, h *Histogram) {
		t.add(name, strconv.FormatUint(h.Count(), 10), fmtRate(float64(h.Count())/r.window.Seconds()),
			fmtLatency(h.Mean()), fmtLatency(h.Quantile(0.50)), fmtLatency(h.Quantile(0.90)),
			fmtLatency(h.Quantile(0.99)), fmtLatency(h.Quantile(0.999)), fmtLatency(h.Max()))
	}
	for _, k := range r.cfg.workload.kinds {
		row(k.String(), r.byKind[k])
	}
	if len(r.cfg.workload.kinds) > 1 {
		row("all", r.all)
	}
	t.write(w)
	fmt.Fprintf(w, "\nerrors: %d\n", r.errors)
	printErrorSummary(w, r)
	fmt.Fprintln(w)
}

func printErrorSummary(w io.Writer, r *loadResult) {
	msgs := make([]string, 0, len(r.errMsg))
	for m := range r.errMsg {
		msgs = append(msgs, m)
	}
	sort.Slice(msgs, func(i, j int) bool { return r.errMsg[msgs[i]] > r.errMsg[msgs[j]] })
	for _, m := range msgs {
		fmt.Fprintf(w, "  %d x %s\n", r.errMsg[m], m)
	}
	if r.lostCon > 0 {
		fmt.Fprintf(w, "  %d workers stopped early: their session ended\n", r.lostCon)
	}
	if r.stuck {
		fmt.Fprintf(w, "  requests were still outstanding %v after the measured time; they were abandoned\n", r.cfg.drain)
	}
}

// loadCommand: run one workload against servers that are already running.
func loadCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	servers := fs.String("servers", "127.0.0.1:2181", "connect string `host:port[,host:port...]`")
	wlName := fs.String("workload", "read", "workload: "+workloadNames())
	var lf loadFlags
	lf.register(fs)
	setUsage(fs, "load [flags]", "Drives one workload against servers that are already running and prints ops/s and latency percentiles.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	addrs, err := client.ParseServers(*servers)
	if err != nil {
		return usageError{fs, err.Error()}
	}
	wl, err := lookupWorkload(*wlName)
	if err != nil {
		return usageError{fs, err.Error()}
	}
	cfg, err := lf.config(addrs, wl)
	if err != nil {
		return usageError{fs, err.Error()}
	}
	res, err := runLoad(ctx, cfg, os.Stderr)
	if err != nil {
		return err
	}
	printLoadResult(os.Stdout, fmt.Sprintf("%s against %s", wl.name, *servers), res)
	return nil
}
