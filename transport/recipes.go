package transport

import (
	"github.com/zkx-project/zkx/core/server"
	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/host/js"
	"github.com/zkx-project/zkx/host/wasm"
	"github.com/zkx-project/zkx/scripts"
)

// RecipeRuntimes returns the runtimes a node runs recipes with: JavaScript
// (goja) and WebAssembly (wazero), the latter with linear memory capped at
// budget's MemoryMiB (host.DefaultBudget's if zero). The node that gets
// them in its server.Config closes them when it stops.
func RecipeRuntimes(budget host.Budget) map[host.Kind]host.Runtime {
	b := host.DefaultBudget.Min(budget)
	return map[host.Kind]host.Runtime{
		host.KindJS:   js.New(),
		host.KindWASM: wasm.New(wasm.WithMaxMemoryMiB(b.MemoryMiB)),
	}
}

// BuiltinRecipes returns zkx's builtin recipe library (package scripts) in
// the form server.InstallBuiltins takes.
func BuiltinRecipes() []server.Builtin {
	var out []server.Builtin
	for _, b := range scripts.Builtins() {
		out = append(out, server.Builtin{Name: b.Name, Module: b.Source})
	}
	return out
}
