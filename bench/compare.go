package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// compareCommand: start each server in turn and run the same workloads
// against it with the same driver.
func compareCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	wlList := fs.String("workloads", "read,mixed", "comma-separated `workloads` to run: "+workloadNames())
	var lf loadFlags
	lf.register(fs)
	var so serverOptions
	so.register(fs)
	setUsage(fs, "compare [flags]",
		"Starts Apache ZooKeeper 3.8 and zkx, one after the other, each fresh on a free loopback port\n"+
			"with its own data directory, runs the same workloads against each with the same driver, and\n"+
			"prints a markdown table with the ratios zkx/ZooKeeper.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	wls, err := parseWorkloads(*wlList)
	if err != nil {
		return usageError{fs, err.Error()}
	}
	kinds, err := so.kinds()
	if err != nil {
		return usageError{fs, err.Error()}
	}
	for _, wl := range wls {
		if _, err := lf.config(nil, wl); err != nil {
			return usageError{fs, err.Error()}
		}
	}
	defer so.cleanup()
	// Check everything before starting anything: a missing JVM should
	// not show up after ten minutes of zkx runs.
	if err := so.prepare(ctx, kinds); err != nil {
		return err
	}

	var (
		results  = map[string]map[string]*loadResult{} // workload -> server kind -> result
		versions []string
		notes    []string
	)
	for _, k := range kinds {
		fmt.Fprintf(os.Stderr, "== %s: starting\n", k.name)
		srv, err := launchServer(ctx, k, &so)
		if err != nil {
			return err
		}
		versions = append(versions, fmt.Sprintf("%s: %s (pid %d)", k.name, srv.version, srv.proc.pid()))
		err = runWorkloadsOn(ctx, k, []string{srv.addr}, srv.checkAlive, wls, &lf, results)
		if k == zkxKind && anyWrites(wls) && srv.logContains("data is kept in memory only") {
			notes = append(notes, "this zkx build keeps data in memory only (no write-ahead log yet): "+
				"its writes are not fsynced, ZooKeeper's are, so write numbers are not comparable yet")
		}
		if stopErr := srv.stop(); stopErr != nil && err == nil {
			fmt.Fprintln(os.Stderr, "bench:", stopErr)
		}
		if err != nil {
			return err
		}
	}

	cfg, _ := lf.config(nil, wls[0])
	fmt.Printf("## compare\n\n%s\n\n", cfg.describe())
	so.describe(os.Stdout, versions)
	printCompareTable(os.Stdout, wls, kinds, results)
	for _, n := range notes {
		fmt.Printf("\nNote: %s.\n", n)
	}
	return nil
}

// anyWrites reports whether some workload changes the tree.
func anyWrites(wls []*workload) bool {
	for _, wl := range wls {
		for _, k := range wl.kinds {
			if k != opGet {
				return true
			}
		}
	}
	return false
}

// runWorkloadsOn runs each workload against the servers of kind at addrs
// (one server, or the members of an ensemble), one after the other, and
// files the results under the kind. checkAlive reports servers that died.
func runWorkloadsOn(ctx context.Context, kind *serverKind, addrs []string, checkAlive func() error, wls []*workload, lf *loadFlags, results map[string]map[string]*loadResult) error {
	for _, wl := range wls {
		cfg, err := lf.config(addrs, wl)
		if err != nil {
			return err
		}
		res, err := runLoad(ctx, cfg, prefixWriter{os.Stderr, kind.name + " "})
		if aliveErr := checkAlive(); aliveErr != nil {
			return errors.Join(err, aliveErr)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind.name, wl.name, err)
		}
		if results[wl.name] == nil {
			results[wl.name] = map[string]*loadResult{}
		}
		results[wl.name][kind.name] = res
		printLoadResult(os.Stderr, fmt.Sprintf("%s on %s", wl.name, kind.name), res)
	}
	return nil
}

// printCompareTable writes one row per workload and server; the zkx row
// carries the ratios zkx/ZooKeeper of throughput and p99 latency.
func printCompareTable(w io.Writer, wls []*workload, kinds []*serverKind, results map[string]map[string]*loadResult) {
	t := &mdTable{
		header: []string{"workload", "server", "ops/s", "p50", "p99", "p99.9", "errors", "ops/s zkx/ZK", "p99 zkx/ZK"},
		right:  []bool{false, false, true, true, true, true, true, true, true},
	}
	for _, wl := range wls {
		zk := results[wl.name][zookeeperKind.name]
		for _, k := range kinds {
			r := results[wl.name][k.name]
			if r == nil {
				continue
			}
			tputRatio, p99Ratio := "", ""
			if k == zkxKind && zk != nil {
				tputRatio = fmtRatio(r.opsPerSec(), zk.opsPerSec())
				p99Ratio = fmtRatio(float64(r.all.Quantile(0.99)), float64(zk.all.Quantile(0.99)))
			}
			t.add(wl.name, k.name, fmtRate(r.opsPerSec()),
				fmtLatency(r.all.Quantile(0.50)), fmtLatency(r.all.Quantile(0.99)), fmtLatency(r.all.Quantile(0.999)),
				fmt.Sprint(r.errors), tputRatio, p99Ratio)
		}
	}
	t.write(w)
	for _, wl := range wls {
		for _, k := range kinds {
			if r := results[wl.name][k.name]; r != nil && r.overran() {
				fmt.Fprintf(w, "\nWarning: %s on %s: the driver slept %.2fs for %v: the machine was busy.\n", wl.name, k.name, r.window.Seconds(), r.cfg.duration)
			}
		}
	}
}

// prefixWriter puts a prefix before every write (progress lines).
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
