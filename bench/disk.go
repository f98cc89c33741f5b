package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// diskResult is what one server's txn log grew by for a counted write run.
type diskResult struct {
	kind                  *serverKind
	version               string
	load                  *loadResult
	acked                 uint64 // setData requests that succeeded
	zxidBefore, zxidAfter int64
	before, after         logUsage
	snaps                 snapshotUsage
	notes                 []string
}

func (r *diskResult) used() logUsage { return r.after.sub(r.before) }

func (r *diskResult) bytesPerTxn() float64 {
	if r.acked == 0 {
		return 0
	}
	return float64(r.used().used) / float64(r.acked)
}

// diskCommand: the same number of setData txns against each server, then
// what its txn log grew by.
func diskCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("disk", flag.ContinueOnError)
	var lf loadFlags
	fs.IntVar(&lf.ops, "txns", 200_000, "setData requests (txns) to make against each server")
	fs.IntVar(&lf.conns, "conns", 8, "connections, one client.Client (session) each")
	fs.IntVar(&lf.outstanding, "outstanding", 16, "requests in flight per connection (the servers batch concurrent txns into one log write)")
	fs.IntVar(&lf.valueSize, "value-size", 100, "bytes of znode data (JSON-like text)")
	fs.IntVar(&lf.keys, "keys", 1000, "nodes the setData requests spread over")
	fs.Uint64Var(&lf.seed, "seed", 1, "PRNG seed for key choice and values")
	fs.DurationVar(&lf.drain, "stall", 30*time.Second, "give up when no request has completed for this long")
	var so serverOptions
	so.register(fs)
	setUsage(fs, "disk [flags]",
		"Starts each server fresh, runs the write workload (setData of fresh JSON-like values) for exactly\n"+
			"--txns requests, and reports the bytes the server's txn log used for them (records, not\n"+
			"preallocated space), per txn, with the ratio zkx/ZooKeeper.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if lf.ops < 1 {
		return usageError{fs, "--txns must be at least 1"}
	}
	wl, _ := lookupWorkload("write")
	if _, err := lf.config(nil, wl); err != nil {
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

	var results []*diskResult
	for _, k := range kinds {
		fmt.Fprintf(os.Stderr, "== %s: starting\n", k.name)
		srv, err := launchServer(ctx, k, &so)
		if err != nil {
			return err
		}
		cfg, _ := lf.config([]string{srv.addr}, wl)
		res, err := measureDisk(ctx, srv, cfg)
		if stopErr := srv.stop(); stopErr != nil && err == nil {
			fmt.Fprintln(os.Stderr, "bench:", stopErr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		results = append(results, res)
	}

	cfg, _ := lf.config(nil, wl)
	fmt.Printf("## disk\n\nwrite workload, %s: setData (version -1) of %d-byte JSON-like values to %d nodes %s/kNNNNNNN\n\n",
		cfg.describe(), cfg.valueSize, cfg.keys, keysParent)
	var versions []string
	for _, r := range results {
		versions = append(versions, r.kind.name+": "+r.version)
	}
	so.describe(os.Stdout, versions)
	printDiskTable(results)
	for _, r := range results {
		for _, n := range r.notes {
			fmt.Printf("\nNote: %s: %s.\n", r.kind.name, n)
		}
	}
	return nil
}

// measureDisk sets up the write workload on srv, reads the log, makes
// cfg.ops setData requests and reads the log again. The sessions stay open
// until after the second reading, so no session txn falls in between.
func measureDisk(ctx context.Context, srv *server, cfg loadConfig) (*diskResult, error) {
	res := &diskResult{kind: srv.kind, version: srv.version}
	progress := prefixWriter{os.Stderr, srv.kind.name + " "}
	run, err := startLoad(ctx, cfg, progress)
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, aliveSuffix(srv))
	}
	defer run.close()
	if res.zxidBefore, err = srv.zxid(); err != nil {
		return nil, err
	}
	if res.before, err = srv.kind.logUsage(srv.dataDir()); err != nil {
		return nil, fmt.Errorf("log before the run: %w", err)
	}
	if res.load, err = run.drive(ctx, progress); err != nil {
		return nil, fmt.Errorf("%w%s", err, aliveSuffix(srv))
	}
	printLoadResult(os.Stderr, fmt.Sprintf("write x %d on %s", cfg.ops, srv.kind.name), res.load)
	if err := srv.checkAlive(); err != nil {
		return nil, err
	}
	res.acked = res.load.all.Count()
	// A failed setData may or may not have been logged; the count would be
	// wrong, so such a run does not measure anything.
	if res.load.errors > 0 || res.load.stuck || res.acked != uint64(cfg.ops) {
		return nil, fmt.Errorf("%d of %d setData requests succeeded (%d errors): bytes per txn would be wrong", res.acked, cfg.ops, res.load.errors)
	}
	if res.zxidAfter, err = srv.zxid(); err != nil {
		return nil, err
	}
	if res.after, err = srv.kind.logUsage(srv.dataDir()); err != nil {
		return nil, fmt.Errorf("log after the run: %w", err)
	}
	if res.snaps, err = srv.kind.snapshots(srv.dataDir()); err != nil {
		return nil, err
	}
	if adv := res.zxidAfter - res.zxidBefore; adv < int64(res.acked) {
		return nil, fmt.Errorf("zxid advanced by %d (0x%x to 0x%x) for %d acknowledged setData requests", adv, res.zxidBefore, res.zxidAfter, res.acked)
	} else if adv != int64(res.acked) {
		res.notes = append(res.notes, fmt.Sprintf("zxid advanced by %d for %d setData requests: other txns were logged meanwhile", adv, res.acked))
	}
	if got := res.used().txns; got != int64(res.acked) {
		res.notes = append(res.notes, fmt.Sprintf("the log gained %d txns for %d setData requests", got, res.acked))
	}
	if res.after.files < res.before.files {
		res.notes = append(res.notes, "log files were removed during the run (purge?): the byte count is too low")
	}
	return res, nil
}

func printDiskTable(results []*diskResult) {
	t := &mdTable{
		header: []string{"server", "txns", "zxid +", "log txns +", "log bytes +", "bytes/txn", "log files", "files' size", "allocated", "snapshots", "newest snapshot"},
		right:  []bool{false, true, true, true, true, true, true, true, true, true, true},
	}
	var zk, zkx *diskResult
	for _, r := range results {
		u := r.used()
		newest := "-"
		if r.snaps.count > 0 {
			newest = fmtBytes(uint64(r.snaps.newestBytes)) + " (" + filepath.Base(r.snaps.newest) + ")"
		}
		t.add(r.kind.name, strconv.FormatUint(r.acked, 10), strconv.FormatInt(r.zxidAfter-r.zxidBefore, 10),
			strconv.FormatInt(u.txns, 10), fmtBytes(uint64(u.used)), strconv.FormatFloat(r.bytesPerTxn(), 'f', 1, 64),
			strconv.Itoa(r.after.files), fmtBytes(uint64(r.after.apparent)), fmtBytes(uint64(r.after.allocated)),
			strconv.Itoa(r.snaps.count), newest)
		switch r.kind {
		case zookeeperKind:
			zk = r
		case zkxKind:
			zkx = r
		}
	}
	if zk != nil && zkx != nil {
		t.add("zkx/ZK", "", "", "", fmtRatio(float64(zkx.used().used), float64(zk.used().used)),
			"**"+fmtRatio(zkx.bytesPerTxn(), zk.bytesPerTxn())+"**", "",
			fmtRatio(float64(zkx.after.apparent), float64(zk.after.apparent)),
			fmtRatio(float64(zkx.after.allocated), float64(zk.after.allocated)), "",
			fmtRatio(float64(zkx.snaps.newestBytes), float64(zk.snaps.newestBytes)))
	}
	t.write(os.Stdout)
}
