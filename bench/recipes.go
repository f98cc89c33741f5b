package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/zkx-project/zkx/transport/client"
)

// The recipes subcommand measures what issue 4 asks of server-side
// recipes:
//
//   - lock handoffs per second with N sessions contending for one lock:
//     zkx's builtin lock recipe (one call to acquire, one to release)
//     against Apache ZooKeeper with go-zookeeper's client-side zk.Lock
//     (create an ephemeral sequential node, list the children, watch the
//     predecessor, delete on unlock), each with p50/p99 acquire latency;
//   - round trips of an uncontended acquire + release, counted on the
//     wire by a counting proxy in front of each server;
//   - the latency of a trivial recipe call (one read and one write: the
//     builtin JS counter, and the Go->WASM counter example) against a
//     plain setData, one request at a time.

func recipesCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("recipes", flag.ContinueOnError)
	contenders := fs.Int("contenders", 16, "sessions contending for the lock")
	duration := fs.Duration("duration", 10*time.Second, "how long each lock run and each latency run lasts")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured time before each run")
	skip := fs.String("skip", "", "comma-separated parts to skip: lock, trips, overhead")
	var so serverOptions
	so.register(fs)
	setUsage(fs, "recipes [flags]",
		"Lock handoffs/s with --contenders sessions (zkx lock recipe vs go-zookeeper's zk.Lock on\n"+
			"ZooKeeper), round trips of an uncontended acquire+release, and the latency of trivial JS\n"+
			"and Go->WASM recipe calls against a plain setData (zkx only).")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	skipped, err := parseSkip(*skip, "lock", "trips", "overhead")
	if err != nil {
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
	var wasm []byte
	if !skipped["overhead"] {
		if wasm, err = buildWasmCounter(ctx); err != nil {
			return err
		}
	}

	type lockRow struct {
		kind   string
		res    *lockResult
		trips  int
		detail string
	}
	var rows []lockRow
	var overhead []latencyRow
	for _, k := range kinds {
		fmt.Fprintf(os.Stderr, "== %s: starting\n", k.name)
		srv, err := launchServer(ctx, k, &so)
		if err != nil {
			return err
		}
		row := lockRow{kind: k.name}
		err = func() error {
			zkxServer := k == zkxKind
			if !skipped["trips"] {
				n, detail, err := countLockTrips(ctx, srv.addr, zkxServer)
				if err != nil {
					return fmt.Errorf("round trips: %w", err)
				}
				row.trips, row.detail = n, detail
			}
			if !skipped["lock"] {
				res, err := runLockContention(ctx, []string{srv.addr}, zkxServer, *contenders, *warmup, *duration)
				if err != nil {
					return fmt.Errorf("lock: %w", err)
				}
				row.res = res
			}
			if zkxServer && !skipped["overhead"] {
				rs, err := runRecipeOverhead(ctx, srv.addr, wasm, *warmup, *duration)
				if err != nil {
					return fmt.Errorf("recipe overhead: %w", err)
				}
				overhead = rs
			}
			return nil
		}()
		if stopErr := srv.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
		if err != nil {
			return fmt.Errorf("%s: %w%s", k.name, err, aliveSuffix(srv))
		}
		rows = append(rows, row)
	}

	fmt.Printf("## recipes\n\n")
	so.describe(os.Stdout, nil)
	if !skipped["lock"] || !skipped["trips"] {
		fmt.Printf("\nLock: %d sessions each loop acquire -> release on one lock for %v (after %v warmup).\n"+
			"zkx: `lock` recipe calls; ZooKeeper: go-zookeeper zk.NewLock(...).Lock()/Unlock().\n\n",
			*contenders, *duration, *warmup)
		t := mdTable{header: []string{"server", "handoffs/s", "acquire p50", "acquire p99", "round trips, uncontended acquire+release"},
			right: []bool{false, true, true, true, false}}
		for _, r := range rows {
			cells := []string{r.kind, "-", "-", "-", "-"}
			if r.res != nil {
				cells[1] = fmtRate(r.res.perSec())
				cells[2] = fmtLatency(r.res.acquire.Quantile(0.50))
				cells[3] = fmtLatency(r.res.acquire.Quantile(0.99))
			}
			if r.trips > 0 {
				cells[4] = fmt.Sprintf("%d (%s)", r.trips, r.detail)
			}
			t.add(cells...)
		}
		if len(rows) == 2 && rows[0].res != nil && rows[1].res != nil {
			t.add("zkx/ZooKeeper", fmtRatio(rows[1].res.perSec(), rows[0].res.perSec()),
				fmtRatio(float64(rows[1].res.acquire.Quantile(0.5)), float64(rows[0].res.acquire.Quantile(0.5))),
				fmtRatio(float64(rows[1].res.acquire.Quantile(0.99)), float64(rows[0].res.acquire.Quantile(0.99))), "")
		}
		t.write(os.Stdout)
		for _, r := range rows {
			if r.res != nil && r.res.txns >= 0 && r.res.handoffs > 0 {
				h := float64(r.res.handoffs)
				fmt.Printf("\n%s: per handoff %.2f txns logged, %.2f fsyncs.\n", r.kind, float64(r.res.txns)/h, float64(r.res.fsyncs)/h)
			}
		}
	}
	if len(overhead) > 0 {
		fmt.Printf("\nRecipe call overhead (zkx, one session, one request at a time, the three kinds taking turns for %v;\n"+
			"ops/s is each kind's requests over the time spent waiting for them):\n\n", *duration)
		t := mdTable{header: []string{"request", "ops/s", "p50", "p99", "p50 vs setData", "p99 vs setData"},
			right: []bool{false, true, true, true, true, true}}
		base := overhead[0].h
		for _, r := range overhead {
			t.add(r.name, fmtRate(float64(r.h.Count())/r.busy.Seconds()),
				fmtLatency(r.h.Quantile(0.5)), fmtLatency(r.h.Quantile(0.99)),
				fmtRatio(float64(r.h.Quantile(0.5)), float64(base.Quantile(0.5))),
				fmtRatio(float64(r.h.Quantile(0.99)), float64(base.Quantile(0.99))))
		}
		t.write(os.Stdout)
	}
	return nil
}

// parseSkip reads a --skip list: comma-separated names out of known.
func parseSkip(list string, known ...string) (map[string]bool, error) {
	skipped := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("--skip: unknown part %q (have %s)", name, strings.Join(known, ", "))
		}
		skipped[name] = true
	}
	return skipped, nil
}

type lockResult struct {
	handoffs uint64
	elapsed  time.Duration
	acquire  *Histogram
	// zkx only, from mntr over the measured time: txns logged and fsyncs.
	txns, fsyncs int64
}

// mntrValue reads one integer figure of a server's mntr answer (-1 if it
// has none).
func mntrValue(addr, key string) int64 {
	out, err := client.FourLetterWord(addr, "mntr")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, key+"\t"); ok {
			var n int64
			if _, err := fmt.Sscan(strings.TrimSpace(v), &n); err == nil {
				return n
			}
		}
	}
	return -1
}

func (r *lockResult) perSec() float64 { return float64(r.handoffs) / r.elapsed.Seconds() }

// locker is one session's way of taking and giving back the lock.
type locker interface {
	lock(ctx context.Context) error
	unlock(ctx context.Context) error
	close()
}

type zkxLocker struct{ c *client.Client }

var lockArgs = []byte(`{"path":"/bench-lock"}`)

func (l *zkxLocker) lock(ctx context.Context) error {
	_, err := l.c.Call(ctx, "lock", "acquire", lockArgs)
	return err
}
func (l *zkxLocker) unlock(ctx context.Context) error {
	_, err := l.c.Call(ctx, "lock", "release", lockArgs)
	return err
}
func (l *zkxLocker) close() { l.c.Close() }

type zkLocker struct {
	conn *gozk.Conn
	l    *gozk.Lock
}

func (l *zkLocker) lock(context.Context) error   { return l.l.Lock() }
func (l *zkLocker) unlock(context.Context) error { return l.l.Unlock() }
func (l *zkLocker) close()                       { l.conn.Close() }

func newLocker(ctx context.Context, addr string, zkx bool) (locker, error) {
	if zkx {
		c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
		if err != nil {
			return nil, err
		}
		return &zkxLocker{c}, nil
	}
	conn, events, err := gozk.Connect([]string{addr}, 10*time.Second, gozk.WithLogger(quietLogger{}))
	if err != nil {
		return nil, err
	}
	for ev := range events {
		if ev.State == gozk.StateHasSession {
			break
		}
		if ctx.Err() != nil {
			conn.Close()
			return nil, ctx.Err()
		}
	}
	go func() {
		for range events {
		}
	}()
	return &zkLocker{conn: conn, l: gozk.NewLock(conn, "/bench-lock", gozk.WorldACL(gozk.PermAll))}, nil
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// runLockContention has n sessions loop acquire -> release on one lock.
// Session i connects to addrs[i mod len(addrs)] (the members of an
// ensemble get equal shares); the log figures are addrs[0]'s.
func runLockContention(ctx context.Context, addrs []string, zkx bool, n int, warmup, duration time.Duration) (*lockResult, error) {
	var lockers []locker
	defer func() {
		for _, l := range lockers {
			l.close()
		}
	}()
	addr := addrs[0]
	for i := 0; i < n; i++ {
		l, err := newLocker(ctx, addrs[i%len(addrs)], zkx)
		if err != nil {
			return nil, err
		}
		lockers = append(lockers, l)
	}
	var measuring atomic.Bool
	var stop atomic.Bool
	var handoffs atomic.Uint64
	hists := make([]*Histogram, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i, l := range lockers {
		hists[i] = NewHistogram()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				start := time.Now()
				if err := l.lock(ctx); err != nil {
					errs <- err
					return
				}
				if measuring.Load() {
					hists[i].Record(time.Since(start))
					handoffs.Add(1)
				}
				if err := l.unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	sleepCtx(ctx, warmup)
	txns0, syncs0 := mntrValue(addr, "zkx_log_txns"), mntrValue(addr, "zkx_log_fsyncs")
	measuring.Store(true)
	start := time.Now()
	sleepCtx(ctx, duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	txns1, syncs1 := mntrValue(addr, "zkx_log_txns"), mntrValue(addr, "zkx_log_fsyncs")
	stop.Store(true)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res := &lockResult{handoffs: handoffs.Load(), elapsed: elapsed, acquire: NewHistogram(), txns: -1, fsyncs: -1}
	if txns0 >= 0 && txns1 >= 0 {
		res.txns, res.fsyncs = txns1-txns0, syncs1-syncs0
	}
	for _, h := range hists {
		res.acquire.Merge(h)
	}
	return res, nil
}

// countLockTrips counts the requests one session sends for an
// uncontended acquire + release (the lock's parent already exists, as it
// would after first use), through a proxy that counts client->server
// frames.
func countLockTrips(ctx context.Context, addr string, zkx bool) (int, string, error) {
	p, err := newCountingProxy(addr)
	if err != nil {
		return 0, "", err
	}
	defer p.close()
	l, err := newLocker(ctx, p.addr(), zkx)
	if err != nil {
		return 0, "", err
	}
	defer l.close()
	// First use creates the parent; measure the second.
	if err := l.lock(ctx); err != nil {
		return 0, "", err
	}
	if err := l.unlock(ctx); err != nil {
		return 0, "", err
	}
	before := p.requests()
	if err := l.lock(ctx); err != nil {
		return 0, "", err
	}
	if err := l.unlock(ctx); err != nil {
		return 0, "", err
	}
	ops := p.opsSince(before)
	return len(ops), joinOps(ops), nil
}

type latencyRow struct {
	name string
	h    *Histogram
	busy time.Duration // time spent waiting for these requests' replies
}

// runRecipeOverhead times, one request at a time on one session, taking
// turns: setData of a counter node; the builtin JS counter's add (a read
// and a write); the Go->WASM counter example's add (the same).
func runRecipeOverhead(ctx context.Context, addr string, wasm []byte, warmup, duration time.Duration) ([]latencyRow, error) {
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.PutRecipe(ctx, "wasmcounter", wasm, 0); err != nil {
		return nil, fmt.Errorf("upload the WASM counter: %w", err)
	}
	for _, p := range []string{"/bench-set", "/bench-js", "/bench-wasm"} {
		if _, err := c.Create(ctx, p, []byte("0"), client.Persistent, client.WorldACL(client.PermAll)); err != nil && !errors.Is(err, client.ErrNodeExists) {
			return nil, err
		}
	}
	value := []byte("12345")
	reqs := []struct {
		name string
		do   func() error
	}{
		{"setData (plain)", func() error { _, err := c.Set(ctx, "/bench-set", value, -1); return err }},
		{"JS recipe call (counter.add)", func() error {
			_, err := c.Call(ctx, "counter", "add", []byte(`{"path":"/bench-js","delta":1}`))
			return err
		}},
		{"Go->WASM recipe call (counter example add)", func() error {
			_, err := c.Call(ctx, "wasmcounter", "add", []byte(`{"path":"/bench-wasm","delta":1}`))
			return err
		}},
	}
	// The three kinds take turns, one request each, so that all of them
	// see the same machine: run one after the other, a kind measured while
	// the disk or a background snapshot is slower than usual would look
	// worse than the others for no fault of its own.
	hs := make([]*Histogram, len(reqs))
	busy := make([]time.Duration, len(reqs))
	for i := range hs {
		hs[i] = NewHistogram()
	}
	for _, phase := range []struct {
		d       time.Duration
		measure bool
	}{{warmup, false}, {duration, true}} {
		end := time.Now().Add(phase.d)
		for time.Now().Before(end) {
			for i, r := range reqs {
				start := time.Now()
				if err := r.do(); err != nil {
					return nil, fmt.Errorf("%s: %w", r.name, err)
				}
				if phase.measure {
					took := time.Since(start)
					hs[i].Record(took)
					busy[i] += took
				}
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	rows := make([]latencyRow, len(reqs))
	for i, r := range reqs {
		rows[i] = latencyRow{name: r.name, h: hs[i], busy: busy[i]}
	}
	return rows, nil
}

// buildWasmCounter builds scripts/wasm/counter as a WASI reactor.
func buildWasmCounter(ctx context.Context) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return nil, fmt.Errorf("finding the zkx checkout: %w", err)
	}
	dir := string(out[:len(out)-1])
	tmp, err := os.MkdirTemp("", "zkx-bench-wasm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	wasm := filepath.Join(tmp, "counter.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", wasm, "./scripts/wasm/counter")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building scripts/wasm/counter: %w\n%s", err, out)
	}
	return os.ReadFile(wasm)
}
