package main

import (
	"os"
	"path/filepath"
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

// ZooKeeper 3.5+ lets a server.N line carry its server's client address
// (";2181" or ";host:2181"), used when the file has no clientPort.
func TestClientAddressFromServerLine(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("dataDir=/d\nserver.1=h1:2888:3888;2191\nserver.2=h2:2888:3888;127.0.0.1:2192\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MyID = 1
	if got := cfg.ClientAddr(); got != "0.0.0.0:2191" {
		t.Errorf("server 1 client address %q, want 0.0.0.0:2191", got)
	}
	cfg.MyID = 2
	if got := cfg.ClientAddr(); got != "127.0.0.1:2192" {
		t.Errorf("server 2 client address %q, want 127.0.0.1:2192", got)
	}
	cfg, err = ParseConfig(strings.NewReader("dataDir=/d\nclientPort=2200\nserver.1=h1:2888:3888;2191\nserver.2=h2:2888:3888\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MyID = 1
	if got := cfg.ClientAddr(); !strings.HasSuffix(got, ":2200") {
		t.Errorf("with clientPort set: %q, want port 2200", got)
	}
}

// zkx.quorum.secretFile: the file's trimmed content is the secret; a short
// or missing one stops the server with a message that says so.
func TestQuorumSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := ParseConfig(strings.NewReader("dataDir=/d\nzkx.quorum.secretFile=" + write("good", "  0123456789abcdef0123\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := readQuorumSecret(cfg.QuorumSecretFile); err != nil || string(s) != "0123456789abcdef0123" {
		t.Fatalf("secret %q, %v", s, err)
	}
	if s, err := readQuorumSecret(""); err != nil || s != nil {
		t.Fatalf("no file: %q, %v", s, err)
	}
	if _, err := readQuorumSecret(write("short", "tooshort\n")); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := readQuorumSecret(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "zkx.quorum.secretFile") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestParseConfigAccessKeys: the super digest (both spellings ZooKeeper
// accepts) and the four-letter-word whitelist come from zoo.cfg.
func TestParseConfigAccessKeys(t *testing.T) {
	for _, key := range []string{"DigestAuthenticationProvider.superDigest", "zookeeper.DigestAuthenticationProvider.superDigest"} {
		cfg, err := ParseConfig(strings.NewReader("dataDir=/d\n" + key + "=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SuperDigest != "super:D/InIHSb7yEEbrWz8b9l71RjZJU=" {
			t.Errorf("%s: super digest %q", key, cfg.SuperDigest)
		}
	}
	cfg, err := ParseConfig(strings.NewReader("dataDir=/d\n4lw.commands.whitelist=ruok, cons ,dump\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.FourLetterWhitelist, ","); got != "ruok,cons,dump" {
		t.Errorf("whitelist %q", got)
	}
	if cfg, _ := ParseConfig(strings.NewReader("dataDir=/d\n")); cfg.FourLetterWhitelist != nil {
		t.Errorf("no 4lw.commands.whitelist: %q, want nil (ZooKeeper's default list)", cfg.FourLetterWhitelist)
	}
}
