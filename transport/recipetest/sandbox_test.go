package recipetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/host"
	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

// badRecipe is a module that misbehaves after writing, and how its call
// must fail.
var badRecipes = []struct {
	name, fn, src string
	code          jute.Err
	says          string // in the error message
}{
	{"spin", "run", `exports.run = function () { zk.create("/sb/spin", ""); for (;;) {} };`,
		jute.ErrRecipeBudget, "spin.run"},
	{"hog", "run", `exports.run = function () { zk.create("/sb/hog", ""); var a = []; for (;;) a.push(new Array(1 << 16).fill(1)); };`,
		jute.ErrRecipeBudget, "hog.run"},
	{"deep", "run", `function f(n) { return f(n + 1) + 1; } exports.run = function () { zk.create("/sb/deep", ""); return f(0); };`,
		jute.ErrRecipeBudget, "stack"},
	{"thrower", "run", `exports.run = function () { zk.create("/sb/thrower", ""); zk.set("/sb", "changed"); throw new Error("halfway"); };`,
		jute.ErrRecipeFailed, "halfway"},
	{"failer", "run", `exports.run = function () { zk.create("/sb/failer", ""); zk.fail(zk.BadVersion, "told to"); };`,
		jute.ErrBadVersion, "told to"},
	{"sneaky", "run", `exports.run = function () { zk.create("/sb/sneaky", ""); zk.set("/sb/secret", "mine"); return "done"; };`,
		jute.ErrNoAuth, "sneaky.run"},
	{"opspam", "run", `exports.run = function () { zk.create("/sb/opspam", ""); for (var i = 0; ; i++) zk.exists("/sb/x" + i); };`,
		jute.ErrRecipeBudget, "opspam.run"},
}

// Each misbehaving recipe fails with a clear error and leaves no trace of
// its writes, and the server keeps answering everyone else meanwhile.
func TestMisbehavingRecipesHaveNoEffect(t *testing.T) {
	n := zkxtest.Start(t, zkxtest.Options{Recipes: true})
	admin := connect(t, n.Addr(), client.WithAuth("digest", []byte("owner:pw")))
	ctx := ctxFor(t)
	if _, err := admin.Create(ctx, "/sb", []byte("orig"), client.Persistent, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create(ctx, "/sb/secret", []byte("s"), client.Persistent,
		[]client.ACL{{Perms: client.PermAll, Scheme: "auth", ID: ""}, {Perms: client.PermRead, Scheme: "world", ID: "anyone"}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range badRecipes {
		if err := admin.PutRecipe(ctx, r.name, []byte(r.src), 0); err != nil {
			t.Fatalf("upload %s: %v", r.name, err)
		}
	}
	caller := connect(t, n.Addr())
	other := connect(t, n.Addr())
	for _, r := range badRecipes {
		t.Run(r.name, func(t *testing.T) {
			_, err := caller.Call(ctxFor(t), r.name, r.fn, nil)
			if codeOf(err) != r.code || !strings.Contains(err.Error(), r.says) {
				t.Fatalf("call: %v; want %s mentioning %q", err, r.code.Name(), r.says)
			}
			// Everyone else is served as before.
			if _, err := other.Set(ctxFor(t), "/sb", []byte("orig"), -1); err != nil {
				t.Fatalf("another client's write after the failed call: %v", err)
			}
			kids, err := admin.Children(ctxFor(t), "/sb")
			if err != nil || len(kids) != 1 || kids[0] != "secret" {
				t.Fatalf("after the failed call /sb has %v (%v): its writes were not undone", kids, err)
			}
			data, _, _ := admin.Get(ctxFor(t), "/sb")
			secret, _, _ := admin.Get(ctxFor(t), "/sb/secret")
			if string(data) != "orig" || string(secret) != "s" {
				t.Fatalf("after the failed call /sb holds %q and /sb/secret %q", data, secret)
			}
			// The recipe machinery still works for the next caller.
			if r := call(t, caller, "counter", "add", obj{"path": "/sb-count"}); r["value"] == nil {
				t.Fatalf("a good recipe after a bad one: %v", r)
			}
		})
	}
}

// A module that does not compile is refused at upload, with the
// compiler's message, and nothing is stored; so is one that is too big or
// that has no functions to call.
func TestBrokenUploadsAreRefused(t *testing.T) {
	n := zkxtest.Start(t, zkxtest.Options{Recipes: true})
	c := connect(t, n.Addr())
	ctx := ctxFor(t)
	before, _ := c.Children(ctx, "/zkx/recipes")
	for _, u := range []struct {
		name   string
		module []byte
		says   string
	}{
		{"syntax", []byte("exports.f = function ( { return 1 };"), "syntax"},
		{"empty", []byte("var x = 1;"), "function"},
		{"wasmjunk", append([]byte("\x00asm\x01\x00\x00\x00"), 0xff, 0xff, 0xff), "wasm"},
		{"huge", bytes.Repeat([]byte("//"), 9<<20), "larger than"},
		{"bad/name", []byte("exports.f = function () {};"), "not a valid recipe name"},
	} {
		err := c.PutRecipe(ctx, u.name, u.module, 0)
		if codeOf(err) != jute.ErrRecipeInvalid && codeOf(err) != jute.ErrBadArguments {
			t.Fatalf("upload %s: %v, want the upload refused", u.name, err)
		}
		if !strings.Contains(strings.ToLower(err.Error()), u.says) {
			t.Errorf("upload %s: %v; want the reason (%q)", u.name, err, u.says)
		}
	}
	after, _ := c.Children(ctx, "/zkx/recipes")
	if len(after) != len(before) {
		t.Fatalf("recipes %v after refused uploads, were %v", after, before)
	}
	if ups, _ := c.Children(ctx, "/zkx/uploads"); len(ups) != 0 {
		t.Fatalf("refused uploads left %v behind", ups)
	}
	if _, err := c.Call(ctx, "syntax", "f", nil); codeOf(err) != jute.ErrRecipeNotFound {
		t.Fatalf("calling a refused recipe: %v, want RecipeNotFound", err)
	}
}

// Only ADMIN on /zkx/recipes may change recipes, and nobody writes the
// registry directly.
func TestRegistryIsGuarded(t *testing.T) {
	n := zkxtest.Start(t, zkxtest.Options{Recipes: true})
	c := connect(t, n.Addr())
	ctx := ctxFor(t)
	if _, err := c.Set(ctx, "/zkx/recipes/lock", []byte("{}"), -1); codeOf(err) != jute.ErrNoAuth {
		t.Fatalf("direct write to a recipe: %v, want NoAuth", err)
	}
	if _, err := c.Create(ctx, "/zkx/recipes/mine", nil, client.Persistent, client.WorldACL(client.PermAll)); codeOf(err) != jute.ErrNoAuth {
		t.Fatalf("direct create in the registry: %v, want NoAuth", err)
	}
	// Lock the registry down to one digest user: others may no longer put.
	if _, err := c.SetACL(ctx, "/zkx/recipes", []client.ACL{
		{Perms: client.PermRead, Scheme: "world", ID: "anyone"},
		{Perms: client.PermAdmin | client.PermRead, Scheme: "digest", ID: client.DigestID("ops", "secret")},
	}, -1); err != nil {
		t.Fatal(err)
	}
	if err := c.PutRecipe(ctx, "mine", []byte("exports.f = function () { return 1; };"), 0); codeOf(err) != jute.ErrNoAuth {
		t.Fatalf("put without ADMIN: %v, want NoAuth", err)
	}
	if err := c.DeleteRecipe(ctx, "lock"); codeOf(err) != jute.ErrNoAuth {
		t.Fatalf("delete without ADMIN: %v, want NoAuth", err)
	}
	ops := connect(t, n.Addr(), client.WithAuth("digest", []byte("ops:secret")))
	if err := ops.PutRecipe(ctx, "mine", []byte("exports.f = function () { return 1; };"), 0); err != nil {
		t.Fatalf("put with ADMIN: %v", err)
	}
	if out, err := c.Call(ctx, "mine", "f", nil); err != nil || string(out) != "1" {
		t.Fatalf("anyone may call it: %q %v", out, err)
	}
}

// Recipes live in the tree: uploaded and builtin ones survive a restart,
// and so does an operator's choice to delete or replace a builtin.
func TestRecipesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	n := zkxtest.Start(t, zkxtest.Options{Recipes: true, DataDir: dir})
	c := connect(t, n.Addr())
	ctx := ctxFor(t)
	if err := c.PutRecipe(ctx, "hello", []byte(`exports.hi = function (a) { return "hi " + a.who; };`), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRecipe(ctx, "idgen"); err != nil {
		t.Fatal(err)
	}
	if err := c.PutRecipe(ctx, "counter", []byte(`exports.add = function () { return {value: 42}; };`), 0); err != nil {
		t.Fatal(err)
	}
	call(t, c, "lock", "acquire", obj{"path": "/l"})
	addr := n.Addr()
	c.Close()
	n.Stop()

	n2 := zkxtest.Start(t, zkxtest.Options{Recipes: true, DataDir: dir, Addr: addr})
	c2 := connect(t, n2.Addr())
	out, err := c2.Call(ctxFor(t), "hello", "hi", []byte(`{"who":"again"}`))
	if err != nil || string(out) != `"hi again"` {
		t.Fatalf("uploaded recipe after restart: %q %v", out, err)
	}
	if _, err := c2.Call(ctxFor(t), "idgen", "next", []byte(`{"path":"/i"}`)); codeOf(err) != jute.ErrRecipeNotFound {
		t.Fatalf("a deleted builtin came back after restart: %v", err)
	}
	if r := call(t, c2, "counter", "add", obj{"path": "/c"}); num(t, r["value"]) != 42 {
		t.Fatalf("a replaced builtin was reinstalled over the operator's: %v", r)
	}
	// The lock holder's session is gone (closed): the lock is free.
	if r := call(t, c2, "lock", "acquire", obj{"path": "/l", "timeout_ms": 5000}); r["acquired"] != true {
		t.Fatalf("acquire after restart: %v", r)
	}
}

// Reads do not wait for a recipe that runs long: a recipe holds up only
// the writes ordered after it.
func TestReadsGoOnWhileARecipeRuns(t *testing.T) {
	n := zkxtest.Start(t, zkxtest.Options{Recipes: true, RecipeBudget: host.Budget{Time: 300 * time.Millisecond}})
	admin := connect(t, n.Addr())
	ctx := ctxFor(t)
	if err := admin.PutRecipe(ctx, "spin", []byte(`exports.run = function () { for (;;) {} };`), 0); err != nil {
		t.Fatal(err)
	}
	reader := connect(t, n.Addr())
	p := start(ctx, admin, "spin", "run", nil)
	reads := 0
	for !p.returned() {
		if _, _, err := reader.Get(ctx, "/zookeeper"); err != nil {
			t.Fatal(err)
		}
		reads++
	}
	wantCode(t, "spin", p.err, jute.ErrRecipeBudget)
	if reads < 2 {
		t.Fatalf("only %d reads were answered while a recipe ran for 300ms", reads)
	}
}
