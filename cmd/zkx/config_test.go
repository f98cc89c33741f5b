package main

import (
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/host"
)

func TestParseConfigDurability(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("dataDir=/d\nforceSync=no\nsnapCount=500\npreAllocSize=256\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ForceSync || cfg.SnapCount != 500 || cfg.PreAllocSize != 256<<10 {
		t.Errorf("forceSync %v, snapCount %d, preAllocSize %d bytes", cfg.ForceSync, cfg.SnapCount, cfg.PreAllocSize)
	}
	if cfg, _ := ParseConfig(strings.NewReader("dataDir=/d\n")); !cfg.ForceSync || cfg.PreAllocSize != 0 {
		t.Errorf("defaults: forceSync %v, preAllocSize %d", cfg.ForceSync, cfg.PreAllocSize)
	}
	if _, err := ParseConfig(strings.NewReader("dataDir=/d\npreAllocSize=0\n")); err == nil || !strings.Contains(err.Error(), "preAllocSize must be positive") {
		t.Errorf("preAllocSize=0: %v", err)
	}
}

func TestParseConfigRecipes(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("dataDir=/d\n"))
	if err != nil || !cfg.Recipes || cfg.RecipeBudget != (host.Budget{}) {
		t.Fatalf("defaults: recipes %v, budget %+v (%v)", cfg.Recipes, cfg.RecipeBudget, err)
	}
	cfg, err = ParseConfig(strings.NewReader("dataDir=/d\nzkx.recipes=false\nzkx.recipe.timeMs=20\nzkx.recipe.maxOps=100\n" +
		"zkx.recipe.maxBytes=4096\nzkx.recipe.wasmMemoryMiB=16\nzkx.recipe.jsStackDepth=200\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := host.Budget{Time: 20 * time.Millisecond, Ops: 100, Bytes: 4096, MemoryMiB: 16, Stack: 200}
	if cfg.Recipes || cfg.RecipeBudget != want {
		t.Fatalf("recipes %v, budget %+v; want off and %+v", cfg.Recipes, cfg.RecipeBudget, want)
	}
	if _, err := ParseConfig(strings.NewReader("dataDir=/d\nzkx.recipe.timeMs=0\n")); err == nil || !strings.Contains(err.Error(), "zkx.recipe.timeMs") {
		t.Fatalf("timeMs=0: %v", err)
	}
}
