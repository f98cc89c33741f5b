// Command zkx is the zkx server and its command-line client: `zkx server`
// runs a node; the znode commands (ls, create, get, set, ...) talk to one.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitCode(err))
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "zkx",
		Usage: "a ZooKeeper-compatible coordination service",
		Description: "zkx speaks ZooKeeper 3.8's client protocol: existing ZooKeeper clients connect unchanged.\n" +
			"Run `zkx server` to start a node, then use the znode commands below against it.",
		Commands:        []*cli.Command{serverCommand()},
		HideHelpCommand: true,
	}
	app.Commands = append(app.Commands, znodeCommands()...)
	return app
}

// exitCode maps an error to the process exit status.
func exitCode(err error) int {
	if ec, ok := err.(cli.ExitCoder); ok {
		return ec.ExitCode()
	}
	return 1
}
