package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/core/txn"
	"github.com/zkx-project/zkx/transport"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
	"github.com/zkx-project/zkx/wal"
)

var killRounds = flag.Int("rounds", 20, "rounds of TestKill9 (write, kill -9, restart, check)")

// TestKill9 runs the zkx binary with fsync on, lets writers load it, kills
// it with SIGKILL at a random moment, restarts it on the same data
// directory and port, and checks that nothing acknowledged was lost and
// no multi was half applied; then that the recovered tree is exactly a
// replay of the whole log. Every write a writer made is either
// acknowledged (it returned without error: it must survive) or maybe
// applied (it failed with ConnectionLoss or was cut off by the kill), and
// the writer's model of its own nodes says which values and nodes are
// allowed after the restart.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the zkx binary")
	}
	h := newKillHarness(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	const writers = 4
	var ws []*writer
	replay := newLogReplay(filepath.Join(h.base, "replay"))
	for round := 1; round <= *killRounds; round++ {
		h.start()
		recovered := h.hash()
		if round == 1 {
			ws = h.setup(writers)
		} else {
			h.verify(ws, round)
		}
		h.warmUp(ws)

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() { defer wg.Done(); w.run(ctx, h) }()
		}
		time.Sleep(time.Duration(50+rng.IntN(451)) * time.Millisecond)
		h.kill()
		cancel()
		wg.Wait()
		h.checkProblems(fmt.Sprintf("round %d", round))

		// The dead node's directory: the tree it recovered at the start of
		// this round must be the log replayed from the first txn.
		h.checkReplay(fmt.Sprintf("round %d (recovered at its start)", round), replay, recovered)
	}

	// A last start: check, stop gracefully, and compare the final tree
	// with the whole log.
	h.start()
	recovered := h.hash()
	h.verify(ws, *killRounds+1)
	for _, w := range ws {
		w.zk.Close()
	}
	final := h.hash()
	h.stop()
	h.checkReplay("after the last restart", replay, recovered)
	// And once more from scratch: a new tree and every segment read again,
	// so an older segment changed since it was first read would show.
	full := newLogReplay(filepath.Join(h.base, "replay-full"))
	last := h.checkReplay("after a graceful stop", full, final)
	if last != final.zxid {
		t.Errorf("after a graceful stop the log ends at zxid %#x, the server's last zxid was %#x", last, final.zxid)
	}
	var stats killStats
	stats.add(ws)
	segs, _ := filepath.Glob(filepath.Join(h.dataDir, "log-*.wal"))
	t.Logf("%d rounds: %d writes acknowledged, %d maybe applied (%d of them applied); "+
		"%d starts recovered from a snapshot, %d snapshots written, %d torn tails cut off; %d txns in %d log segments",
		*killRounds, stats.acked, stats.maybe, stats.maybeApplied,
		h.fromSnapshot, h.snapshotsWritten(), h.tornTails, last, len(segs))
}

// killHarness runs the zkx binary on one data directory and port.
type killHarness struct {
	t       *testing.T
	bin     string
	base    string // holds data/, zoo.cfg and server.log
	dataDir string
	addr    string
	logPath string
	proc    *exec.Cmd
	exited  chan struct{}

	mu       sync.Mutex // writers report problems from their goroutines
	problems []string

	fromSnapshot, tornTails int
	recoveredLines          int // of server.log already looked at
}

// hashed is what the hash four-letter word reports.
type hashed struct {
	zxid   int64
	digest uint64
}

func newKillHarness(t *testing.T) *killHarness {
	bin := zkxBinary(t)
	base, err := os.MkdirTemp("", "zkx-kill9-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept the data directory and the server's log in %s (zkx wal dump %s/data)", base, base)
			return
		}
		os.RemoveAll(base)
	})
	h := &killHarness{t: t, bin: bin, base: base, dataDir: filepath.Join(base, "data"),
		addr: freeAddr(t), logPath: filepath.Join(base, "server.log")}
	_, port, _ := net.SplitHostPort(h.addr)
	// fsync on (forceSync's default, spelled out), snapshots every few
	// hundred txns so that recovery starts from fuzzy snapshots, segments
	// of 16 KiB so that some kills come while one is rolled over, and no
	// autopurge so the whole history stays for the replay check.
	cfg := "tickTime=200\n" +
		"dataDir=" + h.dataDir + "\n" +
		"clientPort=" + port + "\n" +
		"clientPortAddress=127.0.0.1\n" +
		"forceSync=yes\n" +
		"snapCount=200\n" +
		"preAllocSize=16\n" +
		"autopurge.purgeInterval=0\n" +
		"maxSessionTimeout=30000\n" +
		"4lw.commands.whitelist=*\n" +
		"admin.enableServer=false\n"
	if err := os.WriteFile(filepath.Join(base, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.proc != nil {
			h.proc.Process.Kill()
			<-h.exited
		}
	})
	return h
}

// freeAddr is a loopback address with a port nothing listens on now, out
// of the ephemeral range: the server is restarted on it many times.
func freeAddr(t *testing.T) string { return zkxtest.FreeAddr(t) }

// fail stops the test with msg and the end of the server's log.
func (h *killHarness) fail(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf(format+"\n--- end of the server's log:\n%s", append(args, h.logTail(30))...)
}

func (h *killHarness) logTail(n int) string {
	b, _ := os.ReadFile(h.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// start runs the binary and waits until it answers ruok.
func (h *killHarness) start() {
	h.t.Helper()
	logFile, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(h.bin, "server", "--config", filepath.Join(h.base, "zoo.cfg"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.proc, h.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(h.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-h.exited:
			h.proc = nil
			h.fail("the server exited while starting (%v); its log says why", cmd.ProcessState)
		default:
		}
		if out, err := client.FourLetterWord(h.addr, "ruok"); err == nil && out == "imok" {
			break
		}
		if time.Now().After(deadline) {
			h.fail("the server does not answer ruok 30s after starting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.noteRecovery()
}

// noteRecovery reads the "recovered" line the server just logged.
func (h *killHarness) noteRecovery() {
	b, _ := os.ReadFile(h.logPath)
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[h.recoveredLines:] {
		if strings.Contains(l, "msg=recovered") && !strings.Contains(l, `snapshot=""`) {
			h.fromSnapshot++
		}
		if strings.Contains(l, "torn write") {
			h.tornTails++
		}
	}
	h.recoveredLines = len(lines) - 1
}

func (h *killHarness) snapshotsWritten() int {
	b, _ := os.ReadFile(h.logPath)
	return strings.Count(string(b), `msg="snapshot written"`)
}

// kill sends SIGKILL and waits for the process to go.
func (h *killHarness) kill() {
	h.t.Helper()
	h.proc.Process.Signal(syscall.SIGKILL)
	<-h.exited
	h.proc = nil
	h.checkRaces()
}

// checkRaces fails the test if the server, built with the race detector
// (go test -race), reported a data race.
func (h *killHarness) checkRaces() {
	h.t.Helper()
	if b, _ := os.ReadFile(h.logPath); bytes.Contains(b, []byte("WARNING: DATA RACE")) {
		h.t.Fatalf("the server reported a data race; see %s", h.logPath)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (h *killHarness) stop() {
	h.t.Helper()
	h.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		h.fail("the server did not stop within 20s of SIGTERM")
	}
	h.checkRaces()
	if st := h.proc.ProcessState; !st.Success() {
		h.fail("the server stopped with %v after SIGTERM", st)
	}
	h.proc = nil
}

var hashLine = regexp.MustCompile(`^([0-9a-f]+): (\d+)\n$`)

// hash asks the server for its tree's zxid and digest.
func (h *killHarness) hash() hashed {
	h.t.Helper()
	out, err := client.FourLetterWord(h.addr, "hash")
	m := hashLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		h.fail("hash: %q, %v", out, err)
	}
	z, _ := strconv.ParseUint(m[1], 16, 64)
	d, _ := strconv.ParseUint(m[2], 10, 64)
	return hashed{int64(z), d}
}

// checkReplay brings the harness's replay of the (stopped) node's log up
// to date and checks that at zxid want.zxid its tree has want.digest. It
// returns the last zxid in the log.
func (h *killHarness) checkReplay(when string, r *logReplay, want hashed) int64 {
	h.t.Helper()
	digests, err := r.advance(h.dataDir, want.zxid)
	if err != nil {
		h.fail("%s: replaying the log: %v", when, err)
	}
	if got := digests[want.zxid]; got != want.digest {
		h.fail("%s: the server's tree at zxid %#x has digest %d, a replay of the log from zxid 1 up to it gives %d: "+
			"recovery from snapshot and log built another tree than the log holds", when, want.zxid, want.digest, got)
	}
	return r.last
}

// logReplay applies a data directory's log, from zxid 1, to a tree of its
// own. Once a node has stopped, the segments it wrote are final: the next
// start begins a new segment, and its recovery may only cut off a torn
// tail, which a replay never applies. So a replay kept across restarts
// reads each segment once.
type logReplay struct {
	tree    *tree.Tree
	last    int64
	read    map[string]bool
	scratch string // the segments to read are linked here for InspectDir
	events  []tree.Event
	// newest is the newest segment of the last advance, which the next
	// one reads again (reread), skipping the txns it applied already.
	newest, reread string
}

func newLogReplay(scratch string) *logReplay {
	return &logReplay{tree: tree.New(), read: map[string]bool{}, scratch: scratch}
}

// advance applies the txns of the segments in dir it has not read yet,
// checking that zxids follow each other without a gap, and returns the
// tree's digest after each zxid in at. A zxid in at may not come before
// what earlier calls applied. Damage is allowed only in the newest segment
// (a torn write that the next recovery cuts off), after every zxid in at.
func (r *logReplay) advance(dir string, at ...int64) (map[int64]uint64, error) {
	stops := slices.Clone(at)
	slices.Sort(stops)
	if len(stops) > 0 && stops[0] < r.last {
		return nil, fmt.Errorf("the server reported zxid %#x, but the log held txns up to %#x before it started", stops[0], r.last)
	}
	if err := os.MkdirAll(r.scratch, 0o755); err != nil {
		return nil, err
	}
	all, err := filepath.Glob(filepath.Join(dir, "log-*.wal"))
	if err != nil {
		return nil, err
	}
	// The newest segment is read again next time: a kill right after a
	// segment was created can leave it without a durable record, and the
	// restarted server then writes a segment of the same name.
	newest := ""
	if len(all) > 0 {
		newest = filepath.Base(all[len(all)-1])
	}
	var fresh []string
	for _, seg := range all {
		name := filepath.Base(seg)
		if r.read[name] {
			continue
		}
		if err := os.Link(seg, filepath.Join(r.scratch, name)); err != nil {
			return nil, err
		}
		fresh = append(fresh, name)
	}
	defer func() {
		for _, name := range fresh {
			os.Remove(filepath.Join(r.scratch, name))
			r.read[name] = name != newest
		}
	}()
	r.reread = r.newest
	r.newest = newest
	realName := func(err error) error { return errors.New(strings.ReplaceAll(err.Error(), r.scratch, dir)) }
	digests := map[int64]uint64{}
	segs, err := wal.InspectDir(r.scratch, func(seg string, x *txn.Txn) error {
		if x.Zxid <= r.last && filepath.Base(seg) == r.reread {
			return nil // applied when this segment was read before
		}
		if !(x.Zxid == r.last+1 || x.Zxid>>32 > r.last>>32 && x.Zxid&0xffffffff == 1) {
			return fmt.Errorf("%s: zxid %#x follows %#x", seg, x.Zxid, r.last)
		}
		for len(stops) > 0 && stops[0] < x.Zxid {
			digests[stops[0]] = r.tree.Digest()
			stops = stops[1:]
		}
		_, r.events = r.tree.Apply(x, r.events[:0])
		r.last = x.Zxid
		return nil
	})
	if err != nil {
		return nil, realName(err)
	}
	for i, s := range segs {
		if s.Err != nil && (i < len(segs)-1 || len(stops) > 0 && stops[0] > r.last) {
			return nil, realName(s.Err)
		}
	}
	for _, s := range stops {
		if s > r.last {
			return nil, fmt.Errorf("the log ends at zxid %#x, before zxid %#x that the server reported", r.last, s)
		}
		digests[s] = r.tree.Digest()
	}
	return digests, nil
}

func (h *killHarness) report(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.problems = append(h.problems, fmt.Sprintf(format, args...))
}

// checkProblems fails the test with every problem reported so far.
func (h *killHarness) checkProblems(when string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.problems) > 0 {
		h.fail("%s:\n%s", when, strings.Join(h.problems, "\n"))
	}
}

func (h *killHarness) connect() *client.Client {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zk, err := client.Connect(ctx, []string{h.addr}, client.WithSessionTimeout(30*time.Second))
	if err != nil {
		h.fail("connect: %v", err)
	}
	return zk
}

// Where each writer w keeps its nodes:
//
//	/kill/set/w<w>-k<i>   data: a counter; setData
//	/kill/pair/w<w>-a,-b  data: a counter; both set in one multi
//	/kill/c/w<w>/n<n>,e<n>  created (e: ephemeral) and some deleted, one by one
//	/kill/s/w<w>/n-<seq>  created sequential
//	/kill/m/w<w>/p<n>-a,-b  created in pairs, each pair by one multi
const keysPerWriter = 4

func (h *killHarness) setup(n int) []*writer {
	h.t.Helper()
	zk := h.connect()
	defer zk.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mk := func(path, data string) {
		if _, err := zk.Create(ctx, path, []byte(data), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
			h.fail("setup: create %s: %v", path, err)
		}
	}
	for _, p := range []string{"/kill", "/kill/set", "/kill/pair", "/kill/c", "/kill/s", "/kill/m"} {
		mk(p, "")
	}
	var ws []*writer
	for i := 0; i < n; i++ {
		w := &writer{id: i, zk: h.connect(), rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))),
			keys: map[string]*register{}, pair: &register{}, nodes: map[string]presence{}, pairs: map[string]presence{},
			seqs: map[string]bool{}}
		for k := 0; k < keysPerWriter; k++ {
			p := fmt.Sprintf("/kill/set/w%d-k%d", i, k)
			mk(p, "0")
			w.keys[p] = &register{}
		}
		mk(w.pairPath("a"), "0")
		mk(w.pairPath("b"), "0")
		for _, dir := range []string{"c", "s", "m"} {
			mk(fmt.Sprintf("/kill/%s/w%d", dir, i), "")
		}
		ws = append(ws, w)
	}
	return ws
}

// warmUp waits until every writer's client is connected again (it
// re-attaches its session to the restarted node by itself).
func (h *killHarness) warmUp(ws []*writer) {
	h.t.Helper()
	for _, w := range ws {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, _, err := w.zk.Exists(ctx, "/kill")
		cancel()
		if err != nil {
			// A node refuses a client that has seen a zxid it does not
			// have, as after losing acknowledged txns.
			h.fail("writer %d cannot use its session 0x%x after the restart: %v (the client has seen zxid %#x)",
				w.id, uint64(w.zk.SessionID()), err, w.zk.LastZxid())
		}
	}
}

// register is a node one writer sets to increasing counters: the value
// known to be durable, and the ones written since without an answer.
type register struct {
	durable int64
	maybe   []int64
}

func (r *register) allows(v int64) bool { return v == r.durable || slices.Contains(r.maybe, v) }

func (r *register) String() string {
	if len(r.maybe) == 0 {
		return fmt.Sprintf("the last acknowledged value was %d, and nothing was written after it", r.durable)
	}
	return fmt.Sprintf("the last acknowledged value was %d, and %v were written after it without an answer", r.durable, r.maybe)
}

// presence is what a writer knows of a node it creates or deletes.
type presence int

const (
	present      presence = iota // acknowledged create, or seen after a restart
	absent                       // acknowledged delete, or not seen after a restart
	maybePresent                 // create without an answer
	maybeAbsent                  // delete without an answer
)

type writer struct {
	id      int
	zk      *client.Client
	rng     *rand.Rand
	counter int64

	keys  map[string]*register
	pair  *register
	nodes map[string]presence // /kill/c/w<id>/<name>
	pairs map[string]presence // /kill/m/w<id>/<name>, without -a/-b
	seqs  map[string]bool     // /kill/s/w<id>/<name> known to exist
	// seqMaybe counts sequential creates without an answer since the
	// last check: each may have made a node whose name nobody knows.
	seqMaybe int

	acked, maybe, maybeApplied int
}

func (w *writer) pairPath(half string) string { return fmt.Sprintf("/kill/pair/w%d-%s", w.id, half) }

// run writes until ctx ends or a write goes without an answer (the node
// died): then the writer is done for the round.
func (w *writer) run(ctx context.Context, h *killHarness) {
	acl := client.WorldACL(client.PermAll)
	for ctx.Err() == nil {
		w.counter++
		n := w.counter
		data := []byte(strconv.FormatInt(n, 10))
		var err error
		var settle func(ok bool)
		switch op := w.rng.IntN(100); {
		case op < 35:
			path := fmt.Sprintf("/kill/set/w%d-k%d", w.id, w.rng.IntN(keysPerWriter))
			r := w.keys[path]
			_, err = w.zk.Set(ctx, path, data, -1)
			settle = func(ok bool) { r.settle(n, ok) }
		case op < 50:
			_, err = w.zk.Multi(ctx, client.SetOp(w.pairPath("a"), data, -1), client.SetOp(w.pairPath("b"), data, -1))
			settle = func(ok bool) { w.pair.settle(n, ok) }
		case op < 65:
			// Every third one is an ephemeral of the writer's session,
			// which lives on across the restarts.
			name, mode := "n"+strconv.FormatInt(n, 10), client.Persistent
			if n%3 == 0 {
				name, mode = "e"+strconv.FormatInt(n, 10), client.Ephemeral
			}
			_, err = w.zk.Create(ctx, fmt.Sprintf("/kill/c/w%d/%s", w.id, name), data, mode, acl)
			settle = func(ok bool) { w.nodes[name] = pick(ok, present, maybePresent) }
		case op < 75:
			var name string
			name, err = w.zk.Create(ctx, fmt.Sprintf("/kill/s/w%d/n-", w.id), data, client.PersistentSequential, acl)
			settle = func(ok bool) {
				if ok {
					w.seqs[filepath.Base(name)] = true
				} else {
					w.seqMaybe++
				}
			}
		case op < 90:
			name := "p" + strconv.FormatInt(n, 10)
			base := fmt.Sprintf("/kill/m/w%d/%s", w.id, name)
			_, err = w.zk.Multi(ctx, client.CreateOp(base+"-a", data, client.Persistent, acl),
				client.CreateOp(base+"-b", data, client.Persistent, acl))
			settle = func(ok bool) { w.pairs[name] = pick(ok, present, maybePresent) }
		default:
			name := w.somePresentNode()
			if name == "" {
				continue
			}
			err = w.zk.Delete(ctx, fmt.Sprintf("/kill/c/w%d/%s", w.id, name), -1)
			settle = func(ok bool) { w.nodes[name] = pick(ok, absent, maybeAbsent) }
		}
		switch {
		case err == nil:
			w.acked++
			settle(true)
		case errors.Is(err, jute.ErrConnectionLoss) || errors.Is(err, context.Canceled):
			// Sent, or maybe sent, when the node died.
			w.maybe++
			settle(false)
			return
		default:
			h.report("writer %d: write %d failed: %v", w.id, n, err)
			settle(false)
			return
		}
	}
}

func pick(ok bool, yes, no presence) presence {
	if ok {
		return yes
	}
	return no
}

func (r *register) settle(v int64, ok bool) {
	if ok {
		r.durable, r.maybe = v, nil
	} else {
		r.maybe = append(r.maybe, v)
	}
}

func (w *writer) somePresentNode() string {
	var names []string
	for name, p := range w.nodes {
		if p == present {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[w.rng.IntN(len(names))]
}

// verify checks every writer's nodes on the restarted node against what
// the writer knows, then takes what it finds as durable.
func (h *killHarness) verify(ws []*writer, round int) {
	h.t.Helper()
	zk := h.connect()
	defer zk.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	get := func(path string) int64 {
		data, _, err := zk.Get(ctx, path)
		if err != nil {
			h.report("%s: %v (it was created before the first round)", path, err)
			return -1
		}
		v, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			h.report("%s holds %q, which no writer wrote", path, data)
		}
		return v
	}
	children := func(path string) map[string]bool {
		kids, err := zk.Children(ctx, path)
		if err != nil {
			h.report("%s: %v (it was created before the first round)", path, err)
		}
		set := map[string]bool{}
		for _, k := range kids {
			set[k] = true
		}
		return set
	}
	for _, w := range ws {
		for _, path := range slices.Sorted(maps.Keys(w.keys)) {
			r := w.keys[path]
			v := get(path)
			if !r.allows(v) {
				h.report("setData lost: %s holds %d after the restart, but %s", path, v, r)
			}
			w.resolve(r, v)
		}
		a, b := get(w.pairPath("a")), get(w.pairPath("b"))
		if a != b {
			h.report("multi half applied: %s holds %d, %s holds %d; the writer always set both to the same value",
				w.pairPath("a"), a, w.pairPath("b"), b)
		}
		if !w.pair.allows(a) {
			h.report("multi setData lost: %s and -b hold %d after the restart, but %s", w.pairPath("a"), a, w.pair)
		}
		w.resolve(w.pair, a)

		dir := fmt.Sprintf("/kill/c/w%d", w.id)
		found := children(dir)
		for _, name := range slices.Sorted(maps.Keys(w.nodes)) {
			p := w.nodes[name]
			switch {
			case p == present && !found[name]:
				what := "create"
				if strings.HasPrefix(name, "e") {
					what = fmt.Sprintf("ephemeral (of session 0x%x, which the writer still holds)", uint64(w.zk.SessionID()))
				}
				h.report("%s lost: %s/%s was acknowledged (or seen after an earlier restart) and is gone", what, dir, name)
			case p == absent && found[name]:
				h.report("delete lost: %s/%s exists, but its delete was acknowledged (or it was gone after an earlier restart)", dir, name)
			}
			if p == maybePresent || p == maybeAbsent {
				w.maybeApplied += btoi(found[name] == (p == maybePresent))
			}
			w.nodes[name] = pick(found[name], present, absent)
		}
		for name := range found {
			if _, ok := w.nodes[name]; !ok {
				h.report("%s/%s exists, but the writer never created it", dir, name)
			}
		}

		dir = fmt.Sprintf("/kill/s/w%d", w.id)
		found = children(dir)
		extra := 0
		for name := range w.seqs {
			if !found[name] {
				h.report("sequential create lost: %s/%s was acknowledged (or seen after an earlier restart) and is gone", dir, name)
			}
		}
		for name := range found {
			if !w.seqs[name] {
				extra++
			}
		}
		if extra > w.seqMaybe {
			h.report("%s holds %d sequential nodes the writer does not know of, but it sent only %d creates without an answer",
				dir, extra, w.seqMaybe)
		}
		w.maybeApplied += extra
		w.seqs, w.seqMaybe = found, 0

		dir = fmt.Sprintf("/kill/m/w%d", w.id)
		found = children(dir)
		halves := map[string]int{}
		for name := range found {
			base, ok := strings.CutSuffix(name, "-a")
			if !ok {
				base, _ = strings.CutSuffix(name, "-b")
			}
			halves[base]++
		}
		for base, n := range halves {
			if n != 2 {
				h.report("multi half applied: of the pair %s/%s-a and -b, created in one multi, only one exists", dir, base)
			}
			if _, ok := w.pairs[base]; !ok {
				h.report("%s/%s-a or -b exists, but the writer never created that pair", dir, base)
			}
		}
		for _, base := range slices.Sorted(maps.Keys(w.pairs)) {
			p := w.pairs[base]
			if p == present && halves[base] == 0 {
				h.report("multi create lost: the pair %s/%s-a and -b was acknowledged (or seen after an earlier restart) and is gone", dir, base)
			}
			if p == maybePresent && halves[base] > 0 {
				w.maybeApplied++
			}
			w.pairs[base] = pick(halves[base] > 0, present, absent)
		}
	}
	h.checkProblems(fmt.Sprintf("after the restart that began round %d", round))
}

// resolve takes the value found after a restart as the register's durable
// one.
func (w *writer) resolve(r *register, v int64) {
	if v != r.durable && slices.Contains(r.maybe, v) {
		w.maybeApplied++
	}
	r.durable, r.maybe = v, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

type killStats struct{ acked, maybe, maybeApplied int }

func (s *killStats) add(ws []*writer) {
	for _, w := range ws {
		s.acked += w.acked
		s.maybe += w.maybe
		s.maybeApplied += w.maybeApplied
	}
}

// restartOptions run an in-process node that fsyncs, on dir and addr, with
// a 100ms tick: session timeouts are between 200ms and 2s.
func restartOptions(dir, addr string) zkxtest.Options {
	return zkxtest.Options{DataDir: dir, Addr: addr, Sync: true, TickTime: 100 * time.Millisecond}
}

// TestRestartKeepsSessions restarts a node under two sessions with
// ephemerals: one whose client reconnects and one whose client is gone.
// The first keeps its session and node; the second expires after its
// timeout as if the node had never stopped, taking its node with it.
func TestRestartKeepsSessions(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	node := zkxtest.Start(t, restartOptions(dir, addr))
	connect := func() *client.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		zk, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return zk
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acl := client.WorldACL(client.PermAll)
	held, gone := connect(), connect()
	defer held.Close()
	if _, err := held.Create(ctx, "/held", nil, client.Ephemeral, acl); err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Create(ctx, "/gone", nil, client.Ephemeral, acl); err != nil {
		t.Fatal(err)
	}
	timeout := gone.SessionTimeout()

	node.Stop()
	// The second client ends without closing its session: the node is
	// down, so nothing reaches it.
	gone.Close()
	node = zkxtest.Start(t, restartOptions(dir, addr))

	// The first client re-attaches by itself; its node is still its own.
	st, ok, err := held.Exists(ctx, "/held")
	if err != nil || !ok || st.EphemeralOwner != held.SessionID() {
		t.Fatalf("after the restart /held: exists %v, owner %#x, err %v; want it owned by session %#x",
			ok, st.EphemeralOwner, err, held.SessionID())
	}
	// The abandoned session came back with the node, and expires.
	watcher := connect()
	defer watcher.Close()
	st, ok, deleted, err := watcher.ExistsW(ctx, "/gone")
	if err != nil || !ok {
		t.Fatalf("right after the restart /gone: exists %v, err %v; its session should have been recovered", ok, err)
	}
	restarted := time.Now()
	select {
	case ev := <-deleted:
		if ev.Type != jute.EventNodeDeleted {
			t.Fatalf("watch on /gone: %v", ev)
		}
	case <-time.After(timeout + 10*time.Second):
		t.Fatalf("/gone still exists %v after the restart; its session's timeout is %v", time.Since(restarted), timeout)
	}
	// The expiry is the session's own, not a sweep of everything.
	if st, ok, err := held.Exists(ctx, "/held"); err != nil || !ok || st.EphemeralOwner != held.SessionID() {
		t.Errorf("after the abandoned session expired /held: exists %v, err %v", ok, err)
	}
	if _, err := held.Create(ctx, "/after-restart", nil, client.Ephemeral, acl); err != nil {
		t.Errorf("the re-attached session does not work: %v", err)
	}
	node.Stop()
}

// TestRestartSameTree writes a few thousand txns from several clients
// while snapshots are taken every hundred or so, stops the node, and
// checks that it restarts with the very tree it had: digest, node count,
// last zxid, and the live session's ephemerals.
func TestRestartSameTree(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	opts := restartOptions(dir, addr)
	opts.SnapCount = 100
	node := zkxtest.Start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	zk, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer zk.Close()
	acl := client.WorldACL(client.PermAll)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := func(err error) bool {
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
				}
				return err == nil
			}
			base := fmt.Sprintf("/t%d", w)
			if _, err := zk.Create(ctx, base, nil, client.Persistent, acl); !do(err) {
				return
			}
			for i := 0; i < 250; i++ {
				p := fmt.Sprintf("%s/n%d", base, i)
				_, err := zk.Create(ctx, p, []byte("v0"), client.Persistent, acl)
				if !do(err) {
					return
				}
				_, err = zk.Set(ctx, p, []byte(fmt.Sprint("v", i)), -1)
				if !do(err) {
					return
				}
				_, err = zk.Multi(ctx, client.CreateOp(p+"-m", nil, client.PersistentSequential, acl), client.SetOp(base, []byte(p), -1))
				if !do(err) {
					return
				}
				switch {
				case i%7 == 0:
					_, err = zk.Create(ctx, p+"-e", nil, client.Ephemeral, acl)
				case i%3 == 0:
					err = zk.Delete(ctx, fmt.Sprintf("%s/n%d", base, i-1), -1)
				}
				if !do(err) {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	state := func(n *transport.Node) (zxid int64, digest uint64, nodes int, ephemerals []string) {
		n.Core().WithTree(func(tr *tree.Tree) {
			zxid, digest, nodes, ephemerals = tr.LastZxid(), tr.Digest(), tr.NodeCount(), tr.Ephemerals(zk.SessionID())
		})
		return
	}
	zxid, digest, nodes, ephemerals := state(node)
	node.Stop()
	snaps, _ := filepath.Glob(filepath.Join(dir, "snap-*.snap"))
	if len(snaps) < 3 {
		t.Errorf("%d txns with snapCount 100 made %d snapshots; the test wants several taken while writes went on", zxid, len(snaps))
	}

	node = zkxtest.Start(t, opts)
	z2, d2, n2, e2 := state(node)
	if z2 != zxid || d2 != digest || n2 != nodes || !slices.Equal(e2, ephemerals) {
		t.Errorf("restart changed the tree: zxid %#x -> %#x, digest %#x -> %#x, %d -> %d nodes, %d -> %d ephemerals of the live session",
			zxid, z2, digest, d2, nodes, n2, len(ephemerals), len(e2))
	}
	if len(ephemerals) == 0 {
		t.Error("the test made no ephemerals")
	}
	// And the recovered tree is what the log says, from the first txn.
	node.Stop()
	digests, err := newLogReplay(filepath.Join(t.TempDir(), "replay")).advance(dir, zxid)
	if err != nil {
		t.Fatal(err)
	}
	if digests[zxid] != digest {
		t.Errorf("a replay of the whole log gives digest %#x at zxid %#x, the node had %#x", digests[zxid], zxid, digest)
	}
	t.Logf("%d txns, %d nodes, %d snapshots", zxid, nodes, len(snaps))
}
