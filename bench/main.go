package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// subcommand is one thing the harness does. A new measurement adds an
// entry to subcommands.
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var subcommands = []subcommand{
	{"load", "drive one workload against running servers", loadCommand},
	{"compare", "start ZooKeeper and zkx in turn and run the same workloads against each", compareCommand},
	{"memory", "start each server, load N znodes, report resident memory and load time", memoryCommand},
	{"disk", "make N setData txns against each server, report the bytes its txn log used per txn", diskCommand},
	{"restart", "populate each server with N znodes, restart it, time the first getData after start", restartCommand},
	{"recipes", "lock handoffs (zkx lock recipe vs go-zookeeper zk.Lock), round trips, recipe call overhead", recipesCommand},
	{"ensemble", "start a 3-member ensemble of each; throughput, latency, leader failover time, lock handoffs", ensembleCommand},
}

func main() {
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		printMainUsage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var cmd *subcommand
	for i := range subcommands {
		if subcommands[i].name == args[0] {
			cmd = &subcommands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(os.Stderr, "bench: unknown subcommand %q\n\n", args[0])
		printMainUsage()
		return 2
	}

	// The first ^C or SIGTERM cancels ctx: the subcommand stops, servers
	// are stopped and run directories removed. A second one kills the
	// harness at once (its servers get SIGKILL from the kernel).
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		// Profiles the driver itself (the client side of a run).
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	defer stopAllProcesses()

	err := cmd.run(ctx, args[1:])
	var uerr usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsageShown):
		return 2
	case errors.As(err, &uerr):
		fmt.Fprintf(os.Stderr, "bench %s: %s\n\n", cmd.name, uerr.msg)
		uerr.fs.Usage()
		return 2
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "bench %s: interrupted\n", cmd.name)
		return 130
	}
	fmt.Fprintf(os.Stderr, "bench %s: %v\n", cmd.name, err)
	return 1
}

func printMainUsage() {
	fmt.Fprintf(os.Stderr, "usage: go run ./bench <subcommand> [flags]\n\nsubcommands:\n")
	for _, c := range subcommands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nworkloads (load --workload, compare --workloads):\n")
	for _, wl := range workloads {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", wl.name, wl.doc)
	}
	fmt.Fprintf(os.Stderr, "\n'go run ./bench <subcommand> -h' lists its flags; go doc ./bench explains more.\n")
}

// usageError is a bad command line; main prints it with the flags.
type usageError struct {
	fs  *flag.FlagSet
	msg string
}

func (e usageError) Error() string { return e.msg }

// errUsageShown: the flag package has already printed the problem and
// the usage.
var errUsageShown = errors.New("bad flags")

// parseFlags parses a subcommand's flags and refuses positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsageShown
	}
	if fs.NArg() > 0 {
		return usageError{fs, fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	return nil
}

// setUsage gives a subcommand's flag set a usage text.
func setUsage(fs *flag.FlagSet, synopsis, text string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench %s\n\n%s\n\nflags:\n", synopsis, text)
		fs.PrintDefaults()
	}
}
