// Package scripts holds the recipes that ship with zkx: the builtin
// library (builtin/*.js), installed by the server on its first start, and
// the Go SDK and example for recipes compiled to WebAssembly (sdk, wasm).
//
// Every builtin is one JavaScript module. builtin/_prelude.js holds helpers
// that are prepended to each of them, so that a module stays
// self-contained once stored in the tree.
package scripts

import (
	"embed"
	"path"
	"sort"
	"strings"
)

//go:embed builtin/*.js
var builtinFS embed.FS

// Builtin is one builtin recipe: its name (the file name without .js) and
// its complete source (prelude included).
type Builtin struct {
	Name   string
	Source []byte
}

// Builtins returns the builtin recipes in name order.
func Builtins() []Builtin {
	prelude, err := builtinFS.ReadFile("builtin/_prelude.js")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		panic(err)
	}
	var out []Builtin
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "_") || path.Ext(name) != ".js" {
			continue
		}
		body, err := builtinFS.ReadFile("builtin/" + name)
		if err != nil {
			panic(err)
		}
		src := make([]byte, 0, len(prelude)+1+len(body))
		src = append(append(append(src, prelude...), '\n'), body...)
		out = append(out, Builtin{Name: strings.TrimSuffix(name, ".js"), Source: src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
