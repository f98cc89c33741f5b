package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
)

func recipeCommand() *cli.Command {
	return &cli.Command{
		Name:  "recipe",
		Usage: "manage and call server-side recipes (locks, queues, ... running inside zkx)",
		Description: "Recipes are JavaScript or WebAssembly modules that run inside the server, atomically.\n" +
			"They are stored in the tree under /zkx/recipes and replicated like any znode.\n\n" +
			"Examples:\n" +
			"  zkx recipe list\n" +
			"  zkx recipe call lock acquire '{\"path\":\"/locks/db\"}'\n" +
			"  zkx recipe put mylock ./mylock.js\n" +
			"  zkx recipe get mylock > mylock.js\n" +
			"  zkx recipe delete mylock",
		Subcommands: []*cli.Command{
			{
				Name:      "put",
				Usage:     "upload a module as recipe NAME (.js source, or .wasm by its magic bytes)",
				ArgsUsage: "NAME FILE",
				Description: "The server compiles the module before it stores it; a module that does not\n" +
					"compile is refused with the compiler's message. Modules up to 16 MiB.\n" +
					"Compiling takes time, so put waits --timeout plus 5s per MiB of module.\n" +
					"Example: zkx recipe put counter ./counter.wasm",
				Flags:  []cli.Flag{&cli.IntFlag{Name: "budget-ms", Usage: "lower the recipe's time budget per call to `MS` milliseconds"}},
				Action: runRecipePut,
			},
			{
				Name:        "get",
				Usage:       "print recipe NAME's module (or write it to a file)",
				ArgsUsage:   "NAME",
				Description: "Example: zkx recipe get lock > lock.js",
				Flags:       []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the module to `FILE`"}},
				Action:      runRecipeGet,
			},
			{
				Name:        "list",
				Usage:       "list the recipes: name, kind, size, version, functions",
				Description: "Example: zkx recipe list",
				Action:      runRecipeList,
			},
			{
				Name:        "delete",
				Usage:       "delete recipe NAME",
				ArgsUsage:   "NAME",
				Description: "Example: zkx recipe delete mylock",
				Action:      runRecipeDelete,
			},
			{
				Name:      "call",
				Usage:     "call FUNCTION of recipe NAME and print its JSON result",
				ArgsUsage: "NAME FUNCTION [ARGS-JSON]",
				Description: "A call that waits (a lock that is held, say) returns when it is done.\n" +
					"--timeout bounds the wait: it is passed to the recipe as timeout_ms. A result that\n" +
					"says {\"timedOut\": true} (the recipe gave up waiting) exits with status 1.\n" +
					"Example: zkx recipe call counter add '{\"path\":\"/counters/hits\",\"delta\":1}'",
				Flags:  []cli.Flag{&cli.DurationFlag{Name: "timeout", Usage: "give up waiting after `DURATION`"}},
				Action: runRecipeCall,
			},
		},
	}
}

func recipeArgs(c *cli.Context, n int, usage string) ([]string, error) {
	args := c.Args().Slice()
	if len(args) != n {
		return nil, usageErrorf(c, "zkx recipe %s: want %s", c.Command.Name, usage)
	}
	return args, nil
}

// recipeFailure prints a failed recipe operation the way the server said
// it, with its message.
func recipeFailure(s *session, what string, err error) error {
	var ze *client.Error
	if errors.As(err, &ze) && ze.Message != "" {
		return cli.Exit(fmt.Sprintf("zkx: %s: %s (%s)", what, ze.Message, ze.Code.Name()), exitFailed)
	}
	return cli.Exit(fmt.Sprintf("zkx: %s: %s", what, s.describe(err)), exitFailed)
}

// compileAllowance is how much longer than --timeout put waits for a
// module of n bytes: the server compiles it before answering (about
// 0.5 s per MiB of WebAssembly on a 2-core machine; 5 s leaves room for
// a slower or busier one).
func compileAllowance(n int) time.Duration {
	return time.Duration(n>>20+1) * 5 * time.Second
}

func runRecipePut(c *cli.Context) error {
	args, err := recipeArgs(c, 2, "NAME FILE")
	if err != nil {
		return err
	}
	name, file := args[0], args[1]
	module, err := os.ReadFile(file)
	if err != nil {
		return cli.Exit(fmt.Sprintf("zkx: recipe put: %v", err), exitFailed)
	}
	if len(module) > server.MaxModuleSize {
		return cli.Exit(fmt.Sprintf("zkx: recipe put: %s is %d bytes; modules may be at most %d", file, len(module), server.MaxModuleSize), exitFailed)
	}
	return withSession(c, func(s *session) error {
		ctx, cancel := context.WithTimeout(s.base, s.timeout+compileAllowance(len(module)))
		defer cancel()
		if err := s.zk.PutRecipe(ctx, name, module, c.Int("budget-ms")); err != nil {
			return recipeFailure(s, "recipe put "+name, err)
		}
		man, err := readManifest(s, name)
		if err != nil {
			return recipeFailure(s, "recipe put "+name, err)
		}
		fmt.Fprintf(s.stdout, "Installed recipe %s version %d (%s, %d bytes); functions: %s\n",
			name, man.Version, man.Kind, man.Size, strings.Join(man.Functions, ", "))
		return nil
	})
}

// manifestView is what the CLI reads of a recipe's manifest.
type manifestView struct {
	Kind      host.Kind `json:"kind"`
	Size      int       `json:"size"`
	Chunks    int       `json:"chunks"`
	Version   int64     `json:"version"`
	Functions []string  `json:"functions"`
	BudgetMs  int       `json:"budget_ms"`
}

func readManifest(s *session, name string) (manifestView, error) {
	var man manifestView
	ctx, cancel := s.ctx()
	defer cancel()
	data, _, err := s.zk.Get(ctx, server.RecipesPath+"/"+name)
	if err != nil {
		return man, err
	}
	if err := json.Unmarshal(data, &man); err != nil {
		return man, fmt.Errorf("bad manifest: %v", err)
	}
	return man, nil
}

func runRecipeGet(c *cli.Context) error {
	args, err := recipeArgs(c, 1, "NAME")
	if err != nil {
		return err
	}
	name := args[0]
	return withSession(c, func(s *session) error {
		man, err := readManifest(s, name)
		if errors.Is(err, jute.ErrNoNode) {
			return cli.Exit(fmt.Sprintf("zkx: no recipe named %s", name), exitFailed)
		} else if err != nil {
			return recipeFailure(s, "recipe get "+name, err)
		}
		ctx, cancel := s.ctx()
		defer cancel()
		var compressed []byte
		for i := 0; i < man.Chunks; i++ {
			chunk, _, err := s.zk.Get(ctx, fmt.Sprintf("%s/%s/chunk-%05d", server.RecipesPath, name, i))
			if err != nil {
				return recipeFailure(s, "recipe get "+name, err)
			}
			compressed = append(compressed, chunk...)
		}
		module, err := server.DecompressModule(compressed)
		if err != nil {
			return cli.Exit(fmt.Sprintf("zkx: recipe get %s: %v", name, err), exitFailed)
		}
		if out := c.String("output"); out != "" {
			if err := os.WriteFile(out, module, 0o644); err != nil {
				return cli.Exit(fmt.Sprintf("zkx: recipe get: %v", err), exitFailed)
			}
			return nil
		}
		s.stdout.Write(module)
		return nil
	})
}

func runRecipeList(c *cli.Context) error {
	return withSession(c, func(s *session) error {
		ctx, cancel := s.ctx()
		defer cancel()
		names, err := s.zk.Children(ctx, server.RecipesPath)
		if errors.Is(err, jute.ErrNoNode) {
			names = nil
		} else if err != nil {
			return recipeFailure(s, "recipe list", err)
		}
		sort.Strings(names)
		tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tSIZE\tVERSION\tFUNCTIONS")
		for _, n := range names {
			man, err := readManifest(s, n)
			if err != nil {
				fmt.Fprintf(tw, "%s\t?\t?\t?\t(%v)\n", n, err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", n, man.Kind, man.Size, man.Version, strings.Join(man.Functions, ", "))
		}
		return tw.Flush()
	})
}

func runRecipeDelete(c *cli.Context) error {
	args, err := recipeArgs(c, 1, "NAME")
	if err != nil {
		return err
	}
	return withSession(c, func(s *session) error {
		ctx, cancel := s.ctx()
		defer cancel()
		if err := s.zk.DeleteRecipe(ctx, args[0]); err != nil {
			return recipeFailure(s, "recipe delete "+args[0], err)
		}
		return nil
	})
}

func runRecipeCall(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) < 2 || len(args) > 3 {
		return usageErrorf(c, "zkx recipe call: want NAME FUNCTION [ARGS-JSON]")
	}
	var callArgs []byte
	if len(args) == 3 {
		callArgs = []byte(args[2])
		if !json.Valid(callArgs) {
			return usageErrorf(c, "zkx recipe call: arguments %q are not JSON", args[2])
		}
	}
	wait := c.Duration("timeout")
	if wait > 0 {
		// The server stops waiting then too, and runs the call once more
		// with timedOut() true so it can clean up.
		var obj map[string]any
		if len(callArgs) == 0 {
			obj = map[string]any{}
		} else if json.Unmarshal(callArgs, &obj) != nil {
			obj = nil
		}
		if obj != nil {
			if _, ok := obj["timeout_ms"]; !ok {
				obj["timeout_ms"] = wait.Milliseconds()
			}
			callArgs, _ = json.Marshal(obj)
		}
	}
	return withSession(c, func(s *session) error {
		deadline := s.timeout
		if wait > 0 {
			deadline = wait + s.timeout // the server answers when the wait ends
		}
		ctx, cancel := context.WithTimeout(s.base, deadline)
		defer cancel()
		result, err := s.zk.Call(ctx, args[0], args[1], callArgs)
		if err != nil {
			return recipeFailure(s, fmt.Sprintf("recipe call %s.%s", args[0], args[1]), err)
		}
		s.stdout.Write(result)
		if len(result) > 0 && result[len(result)-1] != '\n' {
			s.stdout.WriteString("\n")
		}
		// A waiting recipe that gave up says so in its result; a script
		// must not go on as if it held the lock.
		var gaveUp struct {
			TimedOut bool `json:"timedOut"`
		}
		if json.Unmarshal(result, &gaveUp) == nil && gaveUp.TimedOut {
			return cli.Exit(fmt.Sprintf("zkx: recipe call %s.%s: timed out", args[0], args[1]), exitFailed)
		}
		return nil
	})
}
