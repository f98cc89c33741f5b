package main

import "github.com/urfave/cli/v2"

// znodeCommands are the zkCli-style one-shot commands.
func znodeCommands() []*cli.Command { return nil }
