package scripts

import (
	"bytes"
	"slices"
	"testing"
)

// TestBuiltins: the library has the recipes the README lists, in name
// order, each a self-contained module (the prelude first, then its own
// source), and no helper file is a recipe of its own.
func TestBuiltins(t *testing.T) {
	want := []string{"barrier", "config", "counter", "double_barrier", "election", "idgen",
		"lock", "priority_queue", "queue", "registry", "rwlock", "semaphore"}
	bs := Builtins()
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("builtins %v, want %v", names, want)
	}
	prelude, err := builtinFS.ReadFile("builtin/_prelude.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		own, err := builtinFS.ReadFile("builtin/" + b.Name + ".js")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b.Source, prelude) || !bytes.HasSuffix(b.Source, own) || len(b.Source) != len(prelude)+1+len(own) {
			t.Errorf("%s: source is not the prelude followed by builtin/%s.js", b.Name, b.Name)
		}
	}
}
