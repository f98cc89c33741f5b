package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// commandArgs returns the command's positional arguments, between min and
// max of them. zkCli takes options anywhere ("set /a data -v 3", as its own
// usage text shows), while cli stops at the first argument, so options
// after the arguments are applied here. After "--" everything is an
// argument, so data may start with '-'; so may a negative number ("-1").
func commandArgs(c *cli.Context, min, max int) ([]string, error) {
	raw := c.Args().Slice()
	var args []string
	for i := 0; i < len(raw); i++ {
		a := raw[i]
		if a == "--" {
			args = append(args, raw[i+1:]...)
			break
		}
		names, value, hasValue := splitOption(c.Command, a)
		if names == nil {
			args = append(args, a)
			continue
		}
		for _, name := range names {
			if name == "help" || name == "h" {
				if err := cli.ShowCommandHelp(c.Lineage()[1], c.Command.Name); err != nil {
					return nil, err
				}
				return nil, errHelpShown
			}
			v := value
			switch {
			case isBoolFlag(c.Command, name):
				if !hasValue {
					v = "true"
				}
			case !hasValue:
				if i+1 == len(raw) {
					return nil, usageErrorf(c, "zkx %s: flag needs an argument: -%s", commandName(c.Command), name)
				}
				i++
				v = raw[i]
			}
			if err := c.Set(name, v); err != nil {
				return nil, usageErrorf(c, "zkx %s: invalid value %q for flag -%s: %v", commandName(c.Command), v, name, err)
			}
		}
	}
	switch {
	case len(args) < min:
		return nil, usageErrorf(c, "zkx %s: missing arguments", commandName(c.Command))
	case len(args) > max:
		return nil, usageErrorf(c, "zkx %s: too many arguments", commandName(c.Command))
	}
	return args, nil
}

// splitOption returns the flag names that arg sets ("-v", "--v=3", or
// "-es" for two bool flags), or nil if arg is not an option of cmd.
func splitOption(cmd *cli.Command, arg string) (names []string, value string, hasValue bool) {
	if len(arg) < 2 || arg[0] != '-' {
		return nil, "", false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	name, value, hasValue = strings.Cut(name, "=")
	if hasFlag(cmd, name) {
		return []string{name}, value, hasValue
	}
	if hasValue || strings.HasPrefix(arg, "--") {
		return nil, "", false
	}
	for _, r := range name {
		if !isBoolFlag(cmd, string(r)) {
			return nil, "", false
		}
		names = append(names, string(r))
	}
	return names, "", false
}

func hasFlag(cmd *cli.Command, name string) bool {
	if name == "help" || name == "h" {
		return true
	}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func isBoolFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.BoolFlag); !ok {
			continue
		}
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
