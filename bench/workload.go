package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zkx-project/zkx/transport/client"
)

// opKind is the request a workload step made; the driver keeps one latency
// histogram per kind.
type opKind uint8

const (
	opGet opKind = iota
	opSet
	opCreate
	opDelete
	numOpKinds
)

var opKindNames = [numOpKinds]string{"get", "set", "create", "delete"}

func (k opKind) String() string { return opKindNames[k] }

// A workload is what each driver goroutine does in a loop. To add one,
// write its setup and step and add it to workloads.
type workload struct {
	name  string
	doc   string   // one line, for -help and the package doc
	kinds []opKind // the requests step makes, in report order
	// setup prepares the tree once, before any worker starts.
	setup func(ctx context.Context, run *loadRun) error
	// step makes one request (the driver times it) and says which.
	step func(ctx context.Context, w *worker) (opKind, error)
}

// workloads is the registry of workloads, in the order -help lists them.
var workloads = []*workload{
	{
		name:  "read",
		doc:   "getData of existing nodes, chosen uniformly among --keys",
		kinds: []opKind{opGet},
		setup: populateKeys,
		step: func(ctx context.Context, w *worker) (opKind, error) {
			_, _, err := w.cl.Get(ctx, w.randomKey())
			return opGet, err
		},
	},
	{
		name:  "write",
		doc:   "setData (version -1) of existing nodes, chosen uniformly among --keys, each with a fresh value",
		kinds: []opKind{opSet},
		setup: populateKeys,
		step: func(ctx context.Context, w *worker) (opKind, error) {
			_, err := w.cl.Set(ctx, w.randomKey(), w.values.next(w.run.cfg.valueSize), -1)
			return opSet, err
		},
	},
	{
		name: "create",
		doc: "create+delete pairs: each goroutine creates a node of its own under " + createParent +
			" and then deletes it; both count as ops, so the tree keeps its size",
		kinds: []opKind{opCreate, opDelete},
		setup: func(ctx context.Context, run *loadRun) error {
			return ensurePath(ctx, run.clients[0], createParent)
		},
		step: func(ctx context.Context, w *worker) (opKind, error) {
			if w.created == "" {
				w.seq++
				path := w.prefix + strconv.FormatUint(w.seq, 10)
				_, err := w.cl.Create(ctx, path, w.values.next(w.run.cfg.valueSize), client.Persistent, openACL)
				if err == nil {
					w.created = path
				}
				return opCreate, err
			}
			err := w.cl.Delete(ctx, w.created, -1)
			w.created = ""
			return opDelete, err
		},
	},
	{
		name:  "mixed",
		doc:   "90% getData / 10% setData of existing nodes, chosen uniformly among --keys",
		kinds: []opKind{opGet, opSet},
		setup: populateKeys,
		step: func(ctx context.Context, w *worker) (opKind, error) {
			if w.rng.IntN(10) == 0 {
				_, err := w.cl.Set(ctx, w.randomKey(), w.values.next(w.run.cfg.valueSize), -1)
				return opSet, err
			}
			_, _, err := w.cl.Get(ctx, w.randomKey())
			return opGet, err
		},
	},
}

func lookupWorkload(name string) (*workload, error) {
	for _, wl := range workloads {
		if wl.name == name {
			return wl, nil
		}
	}
	return nil, fmt.Errorf("unknown workload %q (have %s)", name, workloadNames())
}

func workloadNames() string {
	var names []string
	for _, wl := range workloads {
		names = append(names, wl.name)
	}
	return strings.Join(names, ", ")
}

// parseWorkloads reads a comma-separated list of workload names.
func parseWorkloads(list string) ([]*workload, error) {
	var out []*workload
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		wl, err := lookupWorkload(name)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, wl) {
			out = append(out, wl)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no workloads in %q", list)
	}
	return out, nil
}

// Where the workloads keep their nodes.
const (
	benchRoot    = "/bench"
	keysParent   = benchRoot + "/keys"
	createParent = benchRoot + "/create"
)

// openACL is world:anyone with every permission, ZooKeeper's OPEN_ACL_UNSAFE.
var openACL = client.WorldACL(client.PermAll)

// keyPath is the path of key i of the read, write and mixed workloads.
func keyPath(i int) string {
	return keysParent + "/k" + zeroPad(i, 7)
}

func zeroPad(i, width int) string {
	s := strconv.Itoa(i)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// worker is one driver goroutine's state.
type worker struct {
	run    *loadRun
	id     int
	cl     *client.Client
	rng    *rand.Rand
	values *valueGen
	keys   []string // the run's key paths, shared

	prefix  string // create: this worker's node name prefix
	seq     uint64 // create: last node number used
	created string // create: the node to delete next, if any
}

func (w *worker) randomKey() string { return w.keys[w.rng.IntN(len(w.keys))] }

// populateKeys creates the --keys nodes with values of --value-size (or sets
// them, if a previous run left them), many requests in flight on every
// connection.
func populateKeys(ctx context.Context, run *loadRun) error {
	if err := ensurePath(ctx, run.clients[0], keysParent); err != nil {
		return err
	}
	return parallel(ctx, run.clients, run.cfg.outstanding, len(run.keys), run.cfg.seed, func(ctx context.Context, cl *client.Client, g *valueGen, i int) error {
		v := g.next(run.cfg.valueSize)
		_, err := cl.Create(ctx, run.keys[i], v, client.Persistent, openACL)
		if errors.Is(err, client.ErrNodeExists) {
			_, err = cl.Set(ctx, run.keys[i], v, -1)
		}
		return err
	})
}

// parallel calls fn for every i in [0, n) from perClient goroutines on each
// client, so that requests are pipelined, and returns the first error.
// Each goroutine has its own value generator.
func parallel(ctx context.Context, clients []*client.Client, perClient, n int, seed uint64, fn func(context.Context, *client.Client, *valueGen, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for ci, cl := range clients {
		for j := range perClient {
			g := newValueGen(seed, setupStream+uint64(ci*perClient+j))
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n || ctx.Err() != nil {
						return
					}
					if err := fn(ctx, cl, g, i); err != nil {
						cancel(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// setupStream separates the PRNG streams of setup goroutines from those of
// workers, so the values a run writes differ from the ones it loaded.
const setupStream = 1 << 32

// ensurePath creates path and its missing ancestors as empty persistent
// nodes.
func ensurePath(ctx context.Context, cl *client.Client, path string) error {
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		_, err := cl.Create(ctx, path[:i], nil, client.Persistent, openACL)
		if err != nil && !errors.Is(err, client.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", path[:i], err)
		}
	}
	return nil
}
