package zab

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt with the actual output")

// TestInteraction runs the scripts in testdata: each command is followed
// by "----" and the output it must produce, up to a blank line. See
// interactionEnv.run for the commands.
func TestInteraction(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

// scriptCase is one command of a script with the text before it (comments
// and blank lines), kept for -rewrite.
type scriptCase struct {
	line     int
	before   string
	cmd      string
	expected string
}

func parseScript(path string) ([]scriptCase, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	var (
		cases  []scriptCase
		before strings.Builder
		sc     = bufio.NewScanner(f)
		lineNo int
	)
	sc.Buffer(nil, 1<<20)
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		lineNo++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			before.WriteString(line + "\n")
			continue
		}
		c := scriptCase{line: lineNo, before: before.String(), cmd: trimmed}
		before.Reset()
		sep, ok := next()
		if !ok || strings.TrimSpace(sep) != "----" {
			return nil, "", fmt.Errorf("%s:%d: %q is not followed by ----", path, c.line, c.cmd)
		}
		var exp strings.Builder
		for {
			l, ok := next()
			if !ok || l == "" {
				break
			}
			exp.WriteString(l + "\n")
		}
		c.expected = exp.String()
		cases = append(cases, c)
	}
	return cases, before.String(), sc.Err()
}

func runScript(t *testing.T, path string) {
	cases, trailer, err := parseScript(path)
	if err != nil {
		t.Fatal(err)
	}
	env := newInteractionEnv()
	var out strings.Builder
	for _, c := range cases {
		got, err := env.run(c.cmd)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, c.line, c.cmd, err)
		}
		if *rewrite {
			out.WriteString(c.before + c.cmd + "\n----\n" + got + "\n")
			continue
		}
		if got != c.expected {
			t.Errorf("%s:%d: %s\n--- expected\n%s--- got\n%s", path, c.line, c.cmd, c.expected, got)
		}
	}
	if *rewrite {
		out.WriteString(trailer)
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type link struct{ from, to int64 }

// interactionEnv is a script's ensemble: nodes, their stores, and a FIFO
// queue per directed link holding what was sent and not yet delivered.
type interactionEnv struct {
	nodes     map[int64]*Node // nil while crashed
	stores    map[int64]*memStore
	configs   map[int64]Config
	queues    map[link][]Message
	partition map[int64]int // group per node; empty: no partition
	out       *strings.Builder
}

func newInteractionEnv() *interactionEnv {
	return &interactionEnv{
		nodes:     make(map[int64]*Node),
		stores:    make(map[int64]*memStore),
		configs:   make(map[int64]Config),
		queues:    make(map[link][]Message),
		partition: make(map[int64]int),
	}
}

func (e *interactionEnv) printf(format string, args ...any) {
	fmt.Fprintf(e.out, format, args...)
}

func (e *interactionEnv) ids() []int64 {
	var ids []int64
	for id := range e.stores {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (e *interactionEnv) links() []link {
	var ls []link
	for l, q := range e.queues {
		if len(q) > 0 {
			ls = append(ls, l)
		}
	}
	slices.SortFunc(ls, func(a, b link) int {
		if a.from != b.from {
			return cmpInt64(a.from, b.from)
		}
		return cmpInt64(a.to, b.to)
	})
	return ls
}

// run executes one command and returns its output.
//
//	node ID voters=1,2,3 [observers=4] [epoch=ACC/CUR] [log=1.1,1.2] [compact=1.1]
//	     [election=N] [finalize=N] [init=N] [sync=N] [heartbeat=N]
//	process [IDS]          take and carry out each node's Ready, printing it
//	deliver [A->B|A->*|*->B ...]  step queued messages into their receivers
//	stabilize [verbose]    process and deliver until nothing moves
//	tick IDS|all [N]       tick nodes N times
//	propose ID [N]         propose N entries with the next zxids
//	status [IDS]           print Status
//	store [IDS]            print hard state, log and applied entries
//	drop A->B              lose the link's queued messages (no PeerDown)
//	disconnect A B         break the link: queues dropped, PeerDown both ways
//	partition 1,2 3 ...    messages between groups are lost; heal undoes it
//	crash ID / restart ID  lose everything not durable / NewNode from the store
//	compact ID ZXID        snapshot the app state and drop the log up to ZXID
func (e *interactionEnv) run(cmd string) (string, error) {
	var out strings.Builder
	e.out = &out
	fields := strings.Fields(cmd)
	args := fields[1:]
	var err error
	switch fields[0] {
	case "node":
		err = e.cmdNode(args)
	case "process":
		var ids []int64
		if ids, err = e.parseIDs(args); err == nil {
			e.process(ids)
		}
	case "deliver":
		err = e.deliver(args)
	case "stabilize":
		e.stabilize()
	case "tick":
		err = e.cmdTick(args)
	case "propose":
		err = e.cmdPropose(args)
	case "status":
		var ids []int64
		if ids, err = e.parseIDs(args); err == nil {
			for _, id := range ids {
				e.printStatus(id)
			}
		}
	case "store":
		var ids []int64
		if ids, err = e.parseIDs(args); err == nil {
			for _, id := range ids {
				e.printStore(id)
			}
		}
	case "drop":
		for _, a := range args {
			var ls []link
			if ls, err = e.matchLinks(a); err != nil {
				break
			}
			for _, l := range ls {
				e.printf("dropped %d message(s) %d->%d\n", len(e.queues[l]), l.from, l.to)
				delete(e.queues, l)
			}
		}
	case "disconnect":
		if len(args) != 2 {
			return "", fmt.Errorf("disconnect A B")
		}
		a, err1 := strconv.ParseInt(args[0], 10, 64)
		b, err2 := strconv.ParseInt(args[1], 10, 64)
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("disconnect A B")
		}
		e.disconnect(a, b)
	case "partition":
		clear(e.partition)
		for i, g := range args {
			var ids []int64
			if ids, err = parseIDList(g); err != nil {
				break
			}
			for _, id := range ids {
				e.partition[id] = i + 1
			}
		}
	case "heal":
		clear(e.partition)
	case "crash":
		var id int64
		if id, err = e.oneID(args); err == nil {
			e.crash(id)
		}
	case "restart":
		var id int64
		if id, err = e.oneID(args); err == nil {
			err = e.restart(id)
		}
	case "compact":
		if len(args) != 2 {
			return "", fmt.Errorf("compact ID ZXID")
		}
		var id, z int64
		if id, err = e.oneID(args[:1]); err == nil {
			if z, err = parseZxid(args[1]); err == nil {
				e.stores[id].compact(z)
			}
		}
	default:
		err = fmt.Errorf("unknown command %q", fields[0])
	}
	if err != nil {
		return "", err
	}
	return out.String(), nil
}

func parseZxid(s string) (int64, error) {
	ep, c, ok := strings.Cut(s, ".")
	if !ok {
		return 0, fmt.Errorf("zxid %q: want EPOCH.COUNTER", s)
	}
	e, err1 := strconv.ParseUint(ep, 10, 31)
	n, err2 := strconv.ParseUint(c, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("zxid %q: want EPOCH.COUNTER", s)
	}
	return MakeZxid(uint32(e), uint32(n)), nil
}

func parseIDList(s string) ([]int64, error) {
	var ids []int64
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad id list %q", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (e *interactionEnv) parseIDs(args []string) ([]int64, error) {
	if len(args) == 0 || args[0] == "all" {
		return e.ids(), nil
	}
	var ids []int64
	for _, a := range args {
		l, err := parseIDList(a)
		if err != nil {
			return nil, err
		}
		ids = append(ids, l...)
	}
	for _, id := range ids {
		if e.stores[id] == nil {
			return nil, fmt.Errorf("no node %d", id)
		}
	}
	return ids, nil
}

func (e *interactionEnv) oneID(args []string) (int64, error) {
	ids, err := e.parseIDs(args)
	if err != nil {
		return 0, err
	}
	if len(args) != 1 || len(ids) != 1 {
		return 0, fmt.Errorf("want one node id")
	}
	return ids[0], nil
}

func (e *interactionEnv) cmdNode(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("node ID key=value...")
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		return err
	}
	cfg := Config{ID: id, ElectionTicks: 3, FinalizeTicks: 1, InitLimitTicks: 10, SyncLimitTicks: 5, HeartbeatTicks: 2}
	st := &memStore{}
	var compactAt int64
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%q: want key=value", kv)
		}
		var n int
		switch k {
		case "voters", "observers":
			ids, err := parseIDList(v)
			if err != nil {
				return err
			}
			if k == "voters" {
				cfg.Voters = ids
			} else {
				cfg.Observers = ids
			}
		case "epoch":
			a, c, ok := strings.Cut(v, "/")
			acc, err1 := strconv.ParseUint(a, 10, 32)
			cur, err2 := strconv.ParseUint(c, 10, 32)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("epoch=ACCEPTED/CURRENT")
			}
			st.hs = HardState{AcceptedEpoch: uint32(acc), CurrentEpoch: uint32(cur)}
		case "log":
			for _, zs := range strings.Split(v, ",") {
				z, err := parseZxid(zs)
				if err != nil {
					return err
				}
				st.log = append(st.log, Entry{Zxid: z, Data: []byte("v" + zs)})
			}
		case "compact":
			if compactAt, err = parseZxid(v); err != nil {
				return err
			}
		case "election", "finalize", "init", "sync", "heartbeat":
			if n, err = strconv.Atoi(v); err != nil {
				return err
			}
			switch k {
			case "election":
				cfg.ElectionTicks = n
			case "finalize":
				cfg.FinalizeTicks = n
			case "init":
				cfg.InitLimitTicks = n
			case "sync":
				cfg.SyncLimitTicks = n
			case "heartbeat":
				cfg.HeartbeatTicks = n
			}
		default:
			return fmt.Errorf("unknown key %q", k)
		}
	}
	st.restart()
	if compactAt != 0 {
		st.compact(compactAt)
	}
	e.stores[id] = st
	e.configs[id] = cfg
	return e.restart(id)
}

func (e *interactionEnv) restart(id int64) error {
	st := e.stores[id]
	st.restart()
	cfg := e.configs[id]
	cfg.Storage = st
	cfg.HardState = st.hs
	cfg.LastZxid = st.lastZxid()
	n, err := NewNode(cfg)
	if err != nil {
		return err
	}
	e.nodes[id] = n
	return nil
}

func (e *interactionEnv) crash(id int64) {
	e.nodes[id] = nil
	for l := range e.queues {
		if l.from == id || l.to == id {
			delete(e.queues, l)
		}
	}
}

func (e *interactionEnv) disconnect(a, b int64) {
	delete(e.queues, link{a, b})
	delete(e.queues, link{b, a})
	for _, p := range [][2]int64{{a, b}, {b, a}} {
		if n := e.nodes[p[0]]; n != nil {
			m := Message{Type: MsgPeerDown, From: p[1], To: p[0]}
			e.printf("%s\n", m)
			if err := n.Step(m); err != nil {
				e.printf("  error: %v\n", err)
			}
		}
	}
}

// process carries out the nodes' Readys as doc.go prescribes; messages go
// into the link queues.
func (e *interactionEnv) process(ids []int64) bool {
	any := false
	for _, id := range ids {
		n := e.nodes[id]
		if n == nil || !n.HasReady() {
			continue
		}
		any = true
		rd := n.Ready()
		e.printReady(id, rd)
		st := e.stores[id]
		if err := st.persist(rd); err != nil {
			e.printf("  STORE ERROR: %v\n", err)
		}
		for _, m := range append(slices.Clone(rd.Messages), rd.MessagesAfterPersist...) {
			l := link{m.From, m.To}
			e.queues[l] = append(e.queues[l], m)
		}
		if err := st.apply(rd); err != nil {
			e.printf("  STORE ERROR: %v\n", err)
		}
		n.Advance(rd)
	}
	return any
}

func (e *interactionEnv) printReady(id int64, rd Ready) {
	n := e.nodes[id]
	st := n.Status()
	e.printf("> %d ready", id)
	if rd.RoleChanged {
		e.printf(" [%s/%s leader=%d established=%v]", st.Role, st.Phase, st.Leader, st.Established)
	}
	e.printf("\n")
	if rd.HardState != nil {
		e.printf("  hardstate accepted=%d current=%d\n", rd.HardState.AcceptedEpoch, rd.HardState.CurrentEpoch)
	}
	if rd.Truncate != nil {
		e.printf("  truncate %s\n", FormatZxid(*rd.Truncate))
	}
	if rd.Snapshot != nil {
		es, _ := decodeState(rd.Snapshot.Data)
		e.printf("  snapshot %s %s\n", FormatZxid(rd.Snapshot.Zxid), zxidList(es))
	}
	if len(rd.Entries) > 0 {
		e.printf("  append %s\n", zxidList(rd.Entries))
	}
	for _, m := range rd.Messages {
		e.printf("  send %s\n", m)
	}
	for _, m := range rd.MessagesAfterPersist {
		e.printf("  send-after-persist %s\n", m)
	}
	if len(rd.Committed) > 0 {
		e.printf("  apply %s\n", zxidList(rd.Committed))
	}
}

func zxidList(es []Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = FormatZxid(e.Zxid)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (e *interactionEnv) matchLinks(pat string) ([]link, error) {
	a, b, ok := strings.Cut(pat, "->")
	if !ok {
		return nil, fmt.Errorf("link %q: want A->B, A->* or *->B", pat)
	}
	match := func(s string, id int64) (bool, error) {
		if s == "*" {
			return true, nil
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v == id, err
	}
	var ls []link
	for _, l := range e.links() {
		ma, err := match(a, l.from)
		if err != nil {
			return nil, err
		}
		mb, err := match(b, l.to)
		if err != nil {
			return nil, err
		}
		if ma && mb {
			ls = append(ls, l)
		}
	}
	return ls, nil
}

// deliver steps the queued messages of the matching links (all links
// without arguments) into their receivers.
func (e *interactionEnv) deliver(args []string) error {
	var ls []link
	if len(args) == 0 {
		ls = e.links()
	}
	for _, a := range args {
		m, err := e.matchLinks(a)
		if err != nil {
			return err
		}
		ls = append(ls, m...)
	}
	for _, l := range ls {
		q := e.queues[l]
		delete(e.queues, l)
		for _, m := range q {
			n := e.nodes[l.to]
			if n == nil || (len(e.partition) > 0 && e.partition[l.from] != e.partition[l.to]) {
				e.printf("%s (lost)\n", m)
				continue
			}
			// Through the wire format, to exercise it.
			wire, err := UnmarshalMessage(m.Marshal(nil))
			if err != nil {
				return fmt.Errorf("encoding %s: %v", m, err)
			}
			e.printf("%s\n", wire)
			if err := n.Step(wire); err != nil {
				e.printf("  error: %v\n", err)
			}
		}
	}
	return nil
}

func (e *interactionEnv) stabilize() {
	for i := 0; i < 200; i++ {
		moved := e.process(e.ids())
		if len(e.links()) > 0 {
			moved = true
			if err := e.deliver(nil); err != nil {
				e.printf("ERROR: %v\n", err)
				return
			}
		}
		if !moved {
			return
		}
	}
	e.printf("ERROR: not stable after 200 rounds\n")
}

func (e *interactionEnv) cmdTick(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("tick IDS|all [N]")
	}
	ids, err := e.parseIDs(args[:1])
	if err != nil {
		return err
	}
	count := 1
	if len(args) > 1 {
		if count, err = strconv.Atoi(args[1]); err != nil {
			return err
		}
	}
	for i := 0; i < count; i++ {
		for _, id := range ids {
			if n := e.nodes[id]; n != nil {
				n.Tick()
			}
		}
	}
	return nil
}

func (e *interactionEnv) cmdPropose(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("propose ID [N]")
	}
	id, err := e.oneID(args[:1])
	if err != nil {
		return err
	}
	count := 1
	if len(args) > 1 {
		if count, err = strconv.Atoi(args[1]); err != nil {
			return err
		}
	}
	n := e.nodes[id]
	if n == nil {
		return fmt.Errorf("node %d is down", id)
	}
	es := nextEntries(n.Status(), count)
	if err := n.Propose(es); err != nil {
		e.printf("error: %v\n", err)
		return nil
	}
	e.printf("proposed %s\n", zxidList(es))
	return nil
}

// nextEntries makes count entries with the zxids that follow st's log.
func nextEntries(st Status, count int) []Entry {
	z := st.LastZxid
	if ZxidEpoch(z) != st.Epoch {
		z = MakeZxid(st.Epoch, 0)
	}
	es := make([]Entry, count)
	for i := range es {
		z++
		es[i] = Entry{Zxid: z, Data: []byte("p" + FormatZxid(z))}
	}
	return es
}

func (e *interactionEnv) printStatus(id int64) {
	n := e.nodes[id]
	if n == nil {
		e.printf("%d: down\n", id)
		return
	}
	st := n.Status()
	e.printf("%d: %s/%s leader=%d epoch=%d accepted=%d established=%v last=%s committed=%s",
		id, st.Role, st.Phase, st.Leader, st.Epoch, st.AcceptedEpoch, st.Established, FormatZxid(st.LastZxid), FormatZxid(st.Committed))
	switch st.Role {
	case Leading:
		e.printf(" followers=%d synced=%d pending=%d", st.Followers, st.SyncedFollowers, st.PendingSyncs)
	case Looking:
		e.printf(" vote=%d/%s/%d eepoch=%d", st.Vote.Leader, FormatZxid(st.Vote.Zxid), st.Vote.PeerEpoch, st.ElectionEpoch)
	}
	e.printf("\n")
}

func (e *interactionEnv) printStore(id int64) {
	st := e.stores[id]
	e.printf("%d: hs=%d/%d snap=%s log=%s applied=%s\n", id, st.hs.AcceptedEpoch, st.hs.CurrentEpoch,
		FormatZxid(st.snapZxid), zxidList(st.log), zxidList(st.applied))
}
