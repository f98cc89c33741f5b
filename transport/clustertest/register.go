package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
)

// RegisterOptions configure RunRegister. Zero values take the defaults
// named.
type RegisterOptions struct {
	// Clients is the number of clients (default 5), each with its own
	// session on its own server: client k talks to node k mod Size() only.
	Clients int
	// Duration is how long the nemesis acts (default 25s); the workload
	// runs through it and on until every client has made progress after the
	// cluster recovered.
	Duration time.Duration
	// Faults are what the nemesis does (default c.AllFaults()); NoFaults
	// runs the workload on a quiet cluster. MinGap and MaxGap bound the
	// pause before each nemesis action (default 1s and 3s).
	Faults         []Fault
	NoFaults       bool
	MinGap, MaxGap time.Duration
	// Seed seeds the nemesis's choices (which fault, which follower, how
	// long a pause) and the clients' choice of operations (default: the
	// clock; $ZKX_CLUSTERTEST_SEED overrides). Timing, and so which node
	// leads when, is up to the servers: a seed repeats a run's plan, not
	// the run.
	Seed uint64
	// OpTimeout bounds one operation (default 3s); one that times out has
	// an unknown outcome. SessionTimeout is what the clients ask for
	// (default 10s).
	OpTimeout      time.Duration
	SessionTimeout time.Duration
	// RecoverTimeout bounds the wait for the cluster to be healthy again
	// after the last fault, and for every client to make progress
	// (default 60s).
	RecoverTimeout time.Duration
	// CheckTimeout bounds porcupine's search (default 60s); a search that
	// runs out fails the test as inconclusive.
	CheckTimeout time.Duration
	// ThinkTime is the most a client pauses between operations (default
	// 20ms), which keeps the history small enough to check and to look at.
	ThinkTime time.Duration
}

// RegisterPath is the znode the register workload reads and writes.
const RegisterPath = "/clustertest-register"

func (o *RegisterOptions) defaults(c *Cluster) {
	if o.Clients == 0 {
		o.Clients = 5
	}
	if o.Duration == 0 {
		o.Duration = 25 * time.Second
	}
	switch {
	case o.NoFaults:
		o.Faults = nil
	case o.Faults == nil:
		o.Faults = c.AllFaults()
	}
	if o.MinGap == 0 {
		o.MinGap = time.Second
	}
	if o.MaxGap < o.MinGap {
		o.MaxGap = max(o.MinGap, 3*time.Second)
	}
	if s := os.Getenv("ZKX_CLUSTERTEST_SEED"); s != "" {
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			o.Seed = v
		}
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 3 * time.Second
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.RecoverTimeout == 0 {
		o.RecoverTimeout = 60 * time.Second
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = 60 * time.Second
	}
	if o.ThinkTime == 0 {
		o.ThinkTime = 20 * time.Millisecond
	}
}

// RunRegister runs the register workload on c, which must be healthy,
// while a nemesis acts on it, and then checks:
//
//   - the history is linearizable (porcupine) against a register whose state
//     is (data, version): reads are sync+getData, writes setData with
//     version -1, compare-and-sets setData with an expected version;
//     operations without an answer may have happened at any time after
//     their call;
//   - no acknowledged write is lost (see lostWrites);
//   - after the nemesis heals the cluster and restarts what it killed, the
//     cluster is healthy, every client makes progress again, every node
//     reads the same data and version, and every node reaches the same zxid.
//
// On a linearizability failure the porcupine visualization is written to
// a file in c.KeepDir() and its path printed.
//
// Reads are sync+getData because ZooKeeper serves a plain getData from the
// local replica: a follower that has not yet applied a committed write
// answers with the old value after the write was acknowledged elsewhere,
// which is allowed (ZooKeeper promises sequential consistency per session,
// not linearizable reads) but not linearizable.
func RunRegister(t testing.TB, c *Cluster, opts RegisterOptions) {
	t.Helper()
	opts.defaults(c)
	t.Logf("register workload: %d clients, %v of faults %v, ZKX_CLUSTERTEST_SEED=%d",
		opts.Clients, opts.Duration, opts.Faults, opts.Seed)
	r := &registerRun{c: c, opts: opts, start: time.Now()}
	if err := r.createRegister(); err != nil {
		t.Fatalf("create %s: %v", RegisterPath, err)
	}

	// Clients.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := range opts.Clients {
		w := &worker{r: r, id: k, addr: c.ClientAddr(k % c.Size()),
			rng: rand.New(rand.NewPCG(opts.Seed, uint64(k)+1))}
		w.pid = r.newProcessID()
		r.workers = append(r.workers, w)
		wg.Add(1)
		go func() { defer wg.Done(); w.run(stop) }()
	}
	stopWorkers := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWorkers()

	// Nemesis.
	n := &nemesis{c: c, rng: rand.New(rand.NewPCG(opts.Seed, 0)), faults: opts.Faults,
		minGap: opts.MinGap, maxGap: opts.MaxGap, start: r.start, isolated: -1,
		record: func(ev nemesisEvent) {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
			t.Logf("nemesis %6.2fs: %s", ev.At.Seconds(), ev.What)
		}}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Duration)
	defer cancel()
	if len(opts.Faults) > 0 {
		if err := n.run(ctx); err != nil {
			t.Errorf("nemesis: %v", err)
			// Bring back what the nemesis broke before it failed, so the
			// rest of the run has a cluster to check.
			if err := n.recover(); err != nil {
				t.Fatalf("nemesis: recover: %v", err)
			}
		}
	} else {
		<-ctx.Done()
	}
	recovered := time.Since(r.start)
	if err := c.WaitHealthy(time.Now().Add(opts.RecoverTimeout)); err != nil {
		t.Fatalf("after the nemesis: %v", err)
	}
	t.Logf("healthy %.2fs after the nemesis healed and restarted everything", (time.Since(r.start) - recovered).Seconds())
	if err := r.waitProgress(recovered, time.Now().Add(opts.RecoverTimeout)); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	stopWorkers()

	final, finalErr := r.finalReads()
	if finalErr != nil {
		t.Errorf("final reads: %v", finalErr)
	}
	zxid, err := c.WaitConverged(time.Now().Add(opts.RecoverTimeout))
	if err != nil {
		t.Errorf("zxid convergence: %v", err)
	}
	t.Logf("%s; final register %q version %d, every node at zxid %#x", r.summary(), final.value, final.version, zxid)

	for _, p := range r.problems {
		t.Errorf("%s", p)
	}
	r.checkLinearizable(t, final, finalErr == nil)
	if finalErr == nil {
		for _, p := range lostWrites(r.history, final) {
			t.Errorf("lost write: %s", p)
		}
	}
}

// registerRun is one run of the workload: its history, what the nemesis
// did, and the problems that are not about linearizability.
type registerRun struct {
	c       *Cluster
	opts    RegisterOptions
	start   time.Time
	workers []*worker
	nextPID atomic.Int64

	mu       sync.Mutex
	history  []porcupine.Operation
	events   []nemesisEvent
	problems []string
	stats    map[string]int
}

func (r *registerRun) now() int64 { return int64(time.Since(r.start)) }

// newProcessID names a client in the history. A client whose operation has
// an unknown outcome continues under a new name (as Jepsen's processes
// do), since the unfinished operation stays open to the end.
func (r *registerRun) newProcessID() int { return int(r.nextPID.Add(1) - 1) }

func (r *registerRun) record(op porcupine.Operation, stat string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if op.Input != nil {
		r.history = append(r.history, op)
	}
	if r.stats == nil {
		r.stats = map[string]int{}
	}
	r.stats[stat]++
}

func (r *registerRun) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *registerRun) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, k := range []string{"read ok", "read failed", "write ok", "write unknown", "cas ok", "cas failed", "cas unknown"} {
		parts = append(parts, fmt.Sprintf("%d %s", r.stats[k], k))
	}
	return fmt.Sprintf("%d operations in the history (%s), %d nemesis actions", len(r.history), strings.Join(parts, ", "), len(r.events))
}

// connect opens a session on addr alone.
func (r *registerRun) connect(addr string, timeout time.Duration) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return client.Connect(ctx, []string{addr}, client.WithSessionTimeout(r.opts.SessionTimeout), client.WithDialTimeout(time.Second))
}

// createRegister creates the register (data initialValue, version 0) through
// any node that takes it. The register must not exist before: its history
// starts at version 0.
func (r *registerRun) createRegister() error {
	deadline := time.Now().Add(r.opts.RecoverTimeout)
	var last error
	maybeCreated := false // an attempt may have created it
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		addr := r.c.ClientAddr(attempt % r.c.Size())
		cl, err := r.connect(addr, 2*time.Second)
		if err != nil {
			last = err
			waitUntil(deadline)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.OpTimeout)
		_, err = cl.Create(ctx, RegisterPath, []byte(initialValue), client.Persistent, client.WorldACL(client.PermAll))
		cancel()
		cl.Close()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, client.ErrNodeExists):
			if maybeCreated {
				return nil
			}
			return fmt.Errorf("%s exists already: run the workload on a new cluster", RegisterPath)
		case indeterminate(err):
			maybeCreated = true
		}
		last = err
	}
	return last
}

// waitProgress waits until every client has finished an operation (with an
// answer) that it began after since.
func (r *registerRun) waitProgress(since time.Duration, deadline time.Time) error {
	for {
		var stuck []string
		for _, w := range r.workers {
			if w.lastAnswered.Load() < int64(since) {
				stuck = append(stuck, fmt.Sprintf("client %d (node %s)", w.id, w.addr))
			}
		}
		if len(stuck) == 0 {
			return nil
		}
		if !waitUntil(deadline) {
			return fmt.Errorf("no answer since the cluster recovered to %s", strings.Join(stuck, ", "))
		}
	}
}

// finalReads reads the register through every node that runs, as reads in
// the history, and checks they agree.
func (r *registerRun) finalReads() (registerState, error) {
	var final registerState
	var reads []string
	var errs []error
	for i := range r.c.Size() {
		if !r.c.Running(i) {
			continue
		}
		st, err := r.finalRead(i)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", i, err))
			continue
		}
		if len(reads) == 0 {
			final = st
		} else if st != final {
			errs = append(errs, fmt.Errorf("nodes disagree"))
		}
		reads = append(reads, fmt.Sprintf("node %d: %q v%d", i, st.value, st.version))
	}
	if len(errs) > 0 {
		return final, fmt.Errorf("%w (%s)", errors.Join(errs...), strings.Join(reads, "; "))
	}
	return final, nil
}

func (r *registerRun) finalRead(i int) (registerState, error) {
	deadline := time.Now().Add(r.opts.RecoverTimeout)
	pid := r.newProcessID()
	var last error
	for time.Now().Before(deadline) {
		cl, err := r.connect(r.c.ClientAddr(i), 2*time.Second)
		if err != nil {
			last = err
			waitUntil(deadline)
			continue
		}
		call := r.now()
		value, version, err := syncRead(cl, r.opts.OpTimeout)
		ret := r.now()
		cl.Close()
		if err != nil {
			last = err
			waitUntil(deadline)
			continue
		}
		r.record(porcupine.Operation{ClientId: pid, Input: registerInput{op: opRead}, Call: call,
			Output: registerOutput{outcome: outcomeOK, value: value, version: version}, Return: ret}, "read ok")
		return registerState{value, version}, nil
	}
	return registerState{}, last
}

// syncRead is a linearizable read: sync, then getData, on one session.
func syncRead(cl *client.Client, timeout time.Duration) (string, int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := cl.Sync(ctx, RegisterPath); err != nil {
		return "", 0, err
	}
	data, st, err := cl.Get(ctx, RegisterPath)
	if err != nil {
		return "", 0, err
	}
	return string(data), st.Version, nil
}

// checkLinearizable runs porcupine over the history and, if it is not
// linearizable, writes the visualization with the nemesis's actions on it.
func (r *registerRun) checkLinearizable(t testing.TB, final registerState, haveFinal bool) {
	t.Helper()
	r.mu.Lock()
	history := append([]porcupine.Operation(nil), r.history...)
	events := append([]nemesisEvent(nil), r.events...)
	r.mu.Unlock()
	unknown := 0
	for _, o := range history {
		if o.Output.(registerOutput).outcome == outcomeUnknown {
			unknown++
		}
	}
	resolved := ""
	if haveFinal && unknown > 0 {
		var applied, dropped int
		history, applied, dropped = resolveUnknown(history, final)
		resolved = fmt.Sprintf("; of %d unknown outcomes the history shows %d applied and %d never applied", unknown, applied, dropped)
	}
	began := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, history, r.opts.CheckTimeout)
	t.Logf("porcupine: %s in %v (%d operations%s)", res, time.Since(began).Round(time.Millisecond), len(history), resolved)
	if res == porcupine.Ok {
		return
	}
	var notes []porcupine.Annotation
	for _, ev := range events {
		notes = append(notes, porcupine.Annotation{Tag: "nemesis", Start: int64(ev.At), End: int64(ev.At),
			Description: ev.What, BackgroundColor: "#f4cccc"})
	}
	info.AddAnnotations(notes)
	path := "(not written)"
	if dir, err := r.c.KeepDir(); err == nil {
		path = filepath.Join(dir, "linearizability.html")
		if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
			path = "(not written: " + err.Error() + ")"
		}
	}
	if res == porcupine.Unknown {
		t.Errorf("porcupine could not decide within %v whether the history is linearizable; visualization: %s", r.opts.CheckTimeout, path)
		return
	}
	t.Errorf("the history is not linearizable; visualization: %s", path)
}

// worker is one client: a session on one node, making one operation at a
// time until stopped.
type worker struct {
	r    *registerRun
	id   int
	addr string
	rng  *rand.Rand
	cl   *client.Client
	pid  int // its name in the history (see newProcessID)
	seq  int
	// lastVersion is the newest version it knows of, which its next
	// compare-and-set expects.
	lastVersion int32
	// lastAnswered is when (since the start) the newest operation that got
	// an answer began.
	lastAnswered atomic.Int64
}

func (w *worker) run(stop <-chan struct{}) {
	defer func() {
		if w.cl != nil {
			w.cl.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(w.rng.Int64N(int64(w.r.opts.ThinkTime) + 1))):
		}
		if !w.ready(stop) {
			continue
		}
		w.step()
	}
}

// ready makes sure the worker has a connected session: it opens one if it
// has none and waits (up to a second, then the caller checks stop) for a
// dropped connection to come back, so that operations are not sent into a
// connection known to be down only to time out with an unknown outcome.
func (w *worker) ready(stop <-chan struct{}) bool {
	if w.cl == nil {
		cl, err := w.r.connect(w.addr, 2*time.Second)
		if err != nil {
			select {
			case <-stop:
			case <-time.After(100 * time.Millisecond):
			}
			return false
		}
		w.cl = cl
	}
	deadline := time.Now().Add(time.Second)
	for {
		switch w.cl.State() {
		case jute.StateSyncConnected:
			return true
		case jute.StateExpired, jute.StateAuthFailed, jute.StateClosed:
			// The session is over: the next round opens a new one.
			w.cl.Close()
			w.cl = nil
			return false
		}
		select {
		case <-stop:
			return false
		default:
		}
		if !waitUntil(deadline) {
			return false
		}
	}
}

// step makes one operation and records it.
func (w *worker) step() {
	r := w.r
	var in registerInput
	switch p := w.rng.IntN(10); {
	case p < 4:
		in.op = opRead
	case p < 7:
		in.op = opWrite
	default:
		in.op = opCAS
		in.expect = w.lastVersion
	}
	if in.op != opRead {
		w.seq++
		in.value = fmt.Sprintf("c%d-%d", w.id, w.seq)
	}
	op := porcupine.Operation{ClientId: w.pid, Input: in, Call: r.now()}
	var out registerOutput
	var err error
	if in.op == opRead {
		out.value, out.version, err = syncRead(w.cl, r.opts.OpTimeout)
	} else {
		version := int32(-1)
		if in.op == opCAS {
			version = in.expect
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.OpTimeout)
		var st client.Stat
		st, err = w.cl.Set(ctx, RegisterPath, []byte(in.value), version)
		cancel()
		out.version = st.Version
	}
	op.Return = r.now()

	switch {
	case err == nil:
		out.outcome = outcomeOK
		w.lastVersion = out.version
	case in.op == opCAS && errors.Is(err, client.ErrBadVersion):
		out.outcome = outcomeFailed
		out.version = 0
	case indeterminate(err):
		out = registerOutput{outcome: outcomeUnknown}
	default:
		r.problem("client %d: %s: unexpected error: %v", w.id, in.op, err)
		out = registerOutput{outcome: outcomeUnknown}
	}
	if errors.Is(err, client.ErrSessionExpired) {
		w.cl.Close()
		w.cl = nil
	}
	stat := fmt.Sprintf("%s %s", in.op, [...]string{"ok", "failed", "unknown"}[out.outcome])
	if in.op == opRead {
		if out.outcome != outcomeOK {
			// A read without an answer changed nothing: leave it out.
			r.record(porcupine.Operation{}, "read failed")
			return
		}
	}
	if out.outcome == outcomeUnknown {
		op.Return = math.MaxInt64
	} else {
		w.lastAnswered.Store(op.Call)
	}
	op.Output = out
	r.record(op, stat)
	if out.outcome == outcomeUnknown {
		w.pid = r.newProcessID()
	}
}

// indeterminate reports whether err leaves open whether the request was
// applied: the connection dropped, the session ended, or the wait ran out.
func indeterminate(err error) bool {
	return errors.Is(err, client.ErrConnectionLoss) || errors.Is(err, client.ErrSessionExpired) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrClosed)
}
