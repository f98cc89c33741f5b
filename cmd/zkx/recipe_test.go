package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/transport/client"
	"github.com/zkx-project/zkx/transport/jute"
	"github.com/zkx-project/zkx/transport/zkxtest"
)

func TestRecipeCommands(t *testing.T) {
	c := startCluster(t, zkxtest.Options{Recipes: true})
	dir := t.TempDir()

	list := c.ok("recipe", "list")
	for _, name := range []string{"lock", "rwlock", "semaphore", "election", "barrier", "double_barrier",
		"queue", "priority_queue", "counter", "registry", "config", "idgen"} {
		if !strings.Contains(list, "\n"+name+" ") {
			t.Errorf("recipe list lacks builtin %s:\n%s", name, list)
		}
	}
	if !strings.HasPrefix(list, "NAME") || !strings.Contains(list, "acquire, holder, release") {
		t.Errorf("recipe list:\n%s", list)
	}

	src := filepath.Join(dir, "greet.js")
	os.WriteFile(src, []byte(`exports.hello = function (a) { return {greeting: "hello " + a.who}; };`), 0o644)
	if out := c.ok("recipe", "put", "greet", src); !strings.Contains(out, "Installed recipe greet version 1 (js") {
		t.Errorf("put: %q", out)
	}
	if out := c.ok("recipe", "call", "greet", "hello", `{"who":"zkx"}`); out != `{"greeting":"hello zkx"}`+"\n" {
		t.Errorf("call: %q", out)
	}
	if out := c.ok("recipe", "get", "greet"); !strings.Contains(out, "hello ") {
		t.Errorf("get: %q", out)
	}
	os.WriteFile(src, []byte(`exports.hello = function (a) { return "v2"; }; exports.bye = function () { return 0; };`), 0o644)
	if out := c.ok("recipe", "put", "greet", src); !strings.Contains(out, "version 2") || !strings.Contains(out, "bye, hello") {
		t.Errorf("second put: %q", out)
	}

	broken := filepath.Join(dir, "broken.js")
	os.WriteFile(broken, []byte("exports.f = function ( {"), 0o644)
	r := c.zkx("recipe", "put", "broken", broken)
	if r.code == 0 || !strings.Contains(r.stderr, "broken") || !strings.Contains(strings.ToLower(r.stderr), "syntax") {
		t.Errorf("put of a module that does not compile: %+v", r)
	}
	c.fails(1, "zkx: recipe call greet.nope: recipe greet has no function \"nope\"...", "recipe", "call", "greet", "nope")
	c.fails(2, "...", "recipe", "call", "greet", "hello", "{not json")

	// A lock held by the test's own session: the CLI's acquire waits,
	// then gives up with --timeout.
	if out := c.ok("recipe", "call", "lock", "acquire", `{"path":"/l"}`); !strings.Contains(out, `"acquired":true`) {
		t.Errorf("acquire: %q", out)
	}
	if _, err := c.zk.Call(c.ctx(), "lock", "acquire", []byte(`{"path":"/l2"}`)); err != nil {
		t.Fatal(err)
	}
	r = c.zkx("recipe", "call", "--timeout", "200ms", "lock", "acquire", `{"path":"/l2"}`)
	if r.code != 1 || r.stderr != "zkx: recipe call lock.acquire: timed out\n" || !strings.Contains(r.stdout, `"timedOut":true`) {
		t.Errorf("acquire of a held lock with --timeout: %+v", r)
	}

	c.ok("recipe", "delete", "greet")
	c.fails(1, "zkx: recipe call greet.hello: no recipe named \"greet\"...", "recipe", "call", "greet", "hello")
	c.fails(1, "zkx: no recipe named greet\n", "recipe", "get", "greet")
}

var wasmBuild struct {
	once sync.Once
	path string
	err  error
}

// buildCounterWasm builds the Go example recipe scripts/wasm/counter as
// its doc says, once per test binary.
func buildCounterWasm(t *testing.T) string {
	t.Helper()
	wasmBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "zkx-wasm-")
		if err != nil {
			wasmBuild.err = err
			return
		}
		wasmBuild.path = filepath.Join(dir, "counter.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasmBuild.path, "./scripts/wasm/counter")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			wasmBuild.err = err
			wasmBuild.path = string(out)
		}
	})
	if wasmBuild.err != nil {
		t.Fatalf("GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ./scripts/wasm/counter: %v\n%s", wasmBuild.err, wasmBuild.path)
	}
	return wasmBuild.path
}

// The Go example recipe, built for WebAssembly, uploaded with the CLI and
// called through it; its blocking function waits for another session.
func TestWasmRecipeFromGo(t *testing.T) {
	wasm := buildCounterWasm(t)
	c := startCluster(t, zkxtest.Options{Recipes: true})
	out := c.ok("recipe", "put", "gocounter", wasm)
	if !strings.Contains(out, "Installed recipe gocounter version 1 (wasm") || !strings.Contains(out, "add, get, waitAtLeast") {
		t.Fatalf("put: %q", out)
	}
	if out := c.ok("recipe", "list"); !regexp.MustCompile(`\ngocounter +wasm +\d+ +1 +add, get, waitAtLeast\n`).MatchString(out) {
		t.Errorf("list: %q", out)
	}
	for i, want := range []string{`{"value":5}`, `{"value":8}`} {
		delta := []string{"5", "3"}[i]
		if out := c.ok("recipe", "call", "gocounter", "add", `{"path":"/hits","delta":`+delta+`}`); out != want+"\n" {
			t.Errorf("add %s: %q, want %s", delta, out, want)
		}
	}
	if got := string(c.data("/hits")); got != "8" {
		t.Errorf("/hits holds %q", got)
	}
	// waitAtLeast parks until another session's add gets there.
	done := make(chan result, 1)
	go func() { done <- c.zkx("recipe", "call", "gocounter", "waitAtLeast", `{"path":"/hits","value":10}`) }()
	waitParked(t, c)
	if _, err := c.zk.Call(c.ctx(), "gocounter", "add", []byte(`{"path":"/hits","delta":2}`)); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.code != 0 || r.stdout != `{"value":10}`+"\n" {
		t.Errorf("waitAtLeast: %+v", r)
	}
	r := c.zkx("recipe", "call", "gocounter", "add", `{"delta":1}`)
	if r.code != 1 || !strings.Contains(r.stderr, `"path" is required`) {
		t.Errorf("add without a path: %+v", r)
	}
	if got, err := os.ReadFile(wasm); err == nil {
		if out := c.ok("recipe", "get", "gocounter"); out != string(got) {
			t.Errorf("recipe get returned %d bytes, the module has %d", len(out), len(got))
		}
	}
}

// waitParked waits until a recipe call is parked (mntr counts them).
func waitParked(t *testing.T, c *cluster) {
	t.Helper()
	eventually(t, "a parked recipe call", func() bool {
		out, err := client.FourLetterWord(c.addr, "mntr")
		return err == nil && strings.Contains(out, "zkx_recipe_parked\t1")
	})
}

// eventually waits for cond, failing the test after 20s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestModuleCompileHoldsUpNobody puts a Go module (about a second to
// compile here, several under -race) through a follower of a 3-member
// ensemble. The uploading client keeps its connection although its
// session timeout is shorter than the compile (its pings are answered
// meanwhile), and another session on the same follower, with as short a
// timeout, keeps working and does not expire (the leader compiles off
// the path of the learner's requests and session touches).
func TestModuleCompileHoldsUpNobody(t *testing.T) {
	wasm, err := os.ReadFile(buildCounterWasm(t))
	if err != nil {
		t.Fatal(err)
	}
	e := zkxtest.StartEnsemble(t, 3, 0, zkxtest.Options{Recipes: true, MaxSessionTimeout: 10 * time.Second})
	leader := e.Leader(30 * time.Second)
	follower := leader%3 + 1
	ctx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		return ctx
	}
	var mu sync.Mutex
	var states []string
	onEvent := func(who string) func(client.Event) {
		return func(ev client.Event) {
			if ev.Type == jute.EventNone && ev.State != jute.StateSyncConnected {
				mu.Lock()
				states = append(states, who+": "+client.StateName(ev.State))
				mu.Unlock()
			}
		}
	}
	const timeout = 1500 * time.Millisecond
	connect := func(who string) *client.Client {
		c, err := client.Connect(ctx(), []string{e.Addr(follower)}, client.WithSessionTimeout(timeout), client.WithEventCallback(onEvent(who)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	uploader, worker := connect("uploader"), connect("worker")
	if _, err := worker.Create(ctx(), "/alive", nil, client.Ephemeral, client.WorldACL(client.PermAll)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		defer func() { wrote <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := worker.Set(ctx(), "/alive", []byte{byte(n)}, -1); err != nil {
				t.Errorf("the worker's write while a module compiles: %v", err)
				return
			}
			n++
		}
	}()
	start := time.Now()
	err = uploader.PutRecipe(ctx(), "gocounter", wasm, 0)
	took := time.Since(start)
	close(stop)
	n := <-wrote
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	t.Logf("put took %v (session timeout %v); the worker wrote %d times meanwhile", took, timeout, n)
	if out, err := uploader.Call(ctx(), "gocounter", "add", []byte(`{"path":"/hits","delta":2}`)); err != nil || string(out) != `{"value":2}` {
		t.Errorf("call after the put: %s %v", out, err)
	}
	if _, _, err := worker.Get(ctx(), "/alive"); err != nil {
		t.Errorf("the worker's ephemeral after the put: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) > 0 {
		t.Errorf("connection state changes while the module compiled: %v", states)
	}
}
