// Command zkx is the zkx server and its command-line client: `zkx server`
// runs a node; the znode commands (ls, create, get, set, ...) talk to one;
// wal dump, snapshot dump and purge work on a node's data directory.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run runs zkx with args (args[0] is the program name), writing to stdout
// and stderr, and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).Run(args)
	if err == nil {
		return 0
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(stderr, msg)
	}
	return exitCode(err)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "zkx",
		Usage: "a ZooKeeper-compatible coordination service",
		UsageText: "zkx server [options]\n" +
			"zkx [--server HOST:PORT[,HOST:PORT...]] [--auth SCHEME:AUTH] [--timeout DURATION] COMMAND [options] ARGS...\n" +
			"zkx wal dump|snapshot dump|purge [options] DIR|FILE",
		Description: "zkx speaks ZooKeeper 3.8's client protocol: existing ZooKeeper clients connect unchanged.\n" +
			"Run `zkx server` to start a node, then use the znode commands below against it.\n" +
			"wal dump, snapshot dump and purge work on a node's data directory, running or not.\n" + znodeExamples,
		Flags:           znodeFlags(),
		Commands:        []*cli.Command{serverCommand()},
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       stderr,
		// run prints errors and picks the exit status; cli's default
		// handler would call os.Exit from inside Run.
		ExitErrHandler: func(*cli.Context, error) {},
		// --auth digest:user:pa,ss must stay one identity.
		DisableSliceFlagSeparator: true,
		OnUsageError:              onUsageError,
		Action:                    runNoCommand,
	}
	app.Commands = append(app.Commands, znodeCommands()...)
	app.Commands = append(app.Commands, dataDirCommands()...)
	app.Commands = append(app.Commands, recipeCommand())
	app.Commands = append(app.Commands, ensembleCommand())
	return app
}

// runNoCommand runs when no command matched: bare `zkx` shows the help, an
// unknown word is a usage error.
func runNoCommand(c *cli.Context) error {
	if c.Args().Present() {
		return &usageError{msg: fmt.Sprintf("zkx: unknown command %q", c.Args().First())}
	}
	return cli.ShowAppHelp(c)
}

// exitCode maps an error to the process exit status.
func exitCode(err error) int {
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
