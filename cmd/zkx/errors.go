package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zkx-project/zkx/transport/jute"
)

// Exit statuses of the znode commands.
const (
	exitFailed = 1 // the server refused the request, or could not be reached
	exitUsage  = 2 // the command line is wrong; nothing was sent
)

// usageError is a command line that cannot run. It prints the message, then
// how to call the command.
type usageError struct {
	cmd *cli.Command // nil: the app itself
	msg string
}

func (e *usageError) Error() string {
	if e.cmd == nil {
		return e.msg + "\nRun 'zkx --help' for usage."
	}
	return fmt.Sprintf("%s\nUsage: %s\nRun 'zkx %s --help' for details.", e.msg, e.cmd.UsageText, commandName(e.cmd))
}

// commandName is what follows "zkx" to call cmd: "ls", or "wal dump" for a
// subcommand.
func commandName(cmd *cli.Command) string {
	if name, ok := strings.CutPrefix(cmd.HelpName, "zkx "); ok {
		return name
	}
	return cmd.Name
}

func (e *usageError) ExitCode() int { return exitUsage }

func usageErrorf(c *cli.Context, format string, args ...any) error {
	return &usageError{cmd: c.Command, msg: fmt.Sprintf(format, args...)}
}

// onUsageError turns cli's flag parsing errors into usage errors.
func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	if !isSubcommand {
		return &usageError{msg: "zkx: " + err.Error()}
	}
	return usageErrorf(c, "zkx %s: %v", commandName(c.Command), err)
}

// errHelpShown ends a command whose trailing --help printed its help.
var errHelpShown = cli.Exit("", 0)

// partialDeleteError is a deleteTree that failed after it began deleting:
// part of the subtree may be gone.
type partialDeleteError struct{ err error }

func (e *partialDeleteError) Error() string { return e.err.Error() }
func (e *partialDeleteError) Unwrap() error { return e.err }

// keeperMessage is what zkCli prints for a request that failed with code
// on path (CliWrapperException), or KeeperException's own message for the
// codes zkCli does not reword.
func keeperMessage(code jute.Err, path string) string {
	switch code {
	case jute.ErrNoNode:
		return "Node does not exist: " + path
	case jute.ErrNoChildrenForEphemerals:
		return "Ephemerals cannot have children: " + path
	case jute.ErrNodeExists:
		return "Node already exists: " + path
	case jute.ErrNotEmpty:
		return "Node not empty: " + path
	case jute.ErrNotReadOnly:
		return "Not a read-only call: " + path
	case jute.ErrInvalidACL:
		return "Acl is not valid : " + path
	case jute.ErrNoAuth:
		return "Insufficient permission : " + path
	case jute.ErrBadArguments:
		return "Arguments are not valid : " + path
	case jute.ErrBadVersion:
		return "version No is not valid : " + path
	case jute.ErrQuotaExceeded:
		return "Quota has exceeded : " + path
	}
	if path == "" {
		return code.Error()
	}
	return code.Error() + " for " + path
}
