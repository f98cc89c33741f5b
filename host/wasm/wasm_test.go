package wasm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/host"
)

const (
	counterPkg = "../../scripts/wasm/counter"
	apiPkg     = "./testdata/api"
	loopPkg    = "./testdata/loop"
	hogPkg     = "./testdata/hog"
	trapPkg    = "./testdata/trap"
	sandboxPkg = "./testdata/sandbox"
)

// testBudget is generous so that a loaded machine (or -race) does not fail
// calls that should pass; the budget tests set their own.
var testBudget = host.Budget{Time: 10 * time.Second, MemoryMiB: 64}

// Compiling a Go module takes long (very long under -race), so the tests
// share compiled code: shared is one runtime for the tests that need no
// particular options, and loaded keeps its modules open so that the
// runtimes other tests make find them in testCache.
var (
	testCache = wazero.NewCompilationCache()
	shared    = sync.OnceValue(func() host.Runtime { return New(WithCompilationCache(testCache)) })
	loadMu    sync.Mutex
	loaded    = map[string]host.Module{}
)

func compile(t testing.TB, rt host.Runtime, src []byte) host.Module {
	t.Helper()
	m, err := rt.Compile("test", src)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// load returns the Go module in pkg, compiled by shared.
func load(t testing.TB, pkg string) host.Module {
	t.Helper()
	src := goModule(t, pkg)
	loadMu.Lock()
	defer loadMu.Unlock()
	if m := loaded[pkg]; m != nil {
		return m
	}
	m, err := shared().Compile(pkg, src)
	if err != nil {
		t.Fatalf("compile %s: %v", pkg, err)
	}
	loaded[pkg] = m
	return m
}

func callOK(t *testing.T, m host.Module, fn, args string, a host.API) string {
	t.Helper()
	out, err := m.Call(fn, []byte(args), a, testBudget)
	if err != nil {
		t.Fatalf("%s(%s): %v", fn, args, err)
	}
	if len(out.Wait) > 0 {
		t.Fatalf("%s(%s) waits on %v", fn, args, out.Wait)
	}
	return string(out.Result)
}

func wantCode(t *testing.T, err error, code int32) *host.Error {
	t.Helper()
	var he *host.Error
	if !errors.As(err, &he) || he.Code != code {
		t.Fatalf("got %v, want a *host.Error with code %d", err, code)
	}
	return he
}

func TestCounter(t *testing.T) {
	m := load(t, counterPkg)
	if got, want := m.Functions(), []string{"add", "get", "waitAtLeast"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Functions() = %v, want %v", got, want)
	}
	if m.Kind() != host.KindWASM {
		t.Fatal(m.Kind())
	}
	a := newFakeAPI()
	if got := callOK(t, m, "get", `{"path":"/c"}`, a); got != `{"value":0}` {
		t.Fatalf("get of a missing counter: %s", got)
	}
	if got := callOK(t, m, "add", `{"path":"/c","delta":5}`, a); got != `{"value":5}` {
		t.Fatalf("add: %s", got)
	}
	if got := callOK(t, m, "add", `{"path":"/c","delta":-2}`, a); got != `{"value":3}` {
		t.Fatalf("add: %s", got)
	}
	if n := a.nodes["/c"]; string(n.data) != "3" || n.stat.Version != 1 {
		t.Fatalf("the node holds %q at version %d", n.data, n.stat.Version)
	}
	if got := callOK(t, m, "get", `{"path":"/c"}`, a); got != `{"value":3}` {
		t.Fatalf("get: %s", got)
	}

	out, err := m.Call("waitAtLeast", []byte(`{"path":"/c","value":10}`), a, testBudget)
	if err != nil || !reflect.DeepEqual(out.Wait, []string{"/c"}) {
		t.Fatalf("waitAtLeast below the value: %+v %v", out, err)
	}
	callOK(t, m, "add", `{"path":"/c","delta":7}`, a)
	if got := callOK(t, m, "waitAtLeast", `{"path":"/c","value":10}`, a); got != `{"value":10}` {
		t.Fatalf("waitAtLeast once reached: %s", got)
	}
	a.timedOut = true
	if got := callOK(t, m, "waitAtLeast", `{"path":"/c","value":99}`, a); got != `{"value":10,"timedOut":true}` {
		t.Fatalf("waitAtLeast timed out: %s", got)
	}

	_, err = m.Call("add", []byte(`{"path":"/no/parent","delta":1}`), a, testBudget)
	wantCode(t, err, -101)
	_, err = m.Call("add", []byte(`not json`), a, testBudget)
	wantCode(t, err, -8)
	_, err = m.Call("nope", nil, a, testBudget)
	if !errors.Is(err, host.ErrNoFunction) {
		t.Fatalf("unknown function: %v", err)
	}
}

// do calls the api module's do function and decodes its JSON reply.
type apiReply struct {
	Data     *string    `json:"data"`
	Stat     *tree.Stat `json:"stat"`
	Found    *bool      `json:"found"`
	Children []string   `json:"children"`
	Path     string     `json:"path"`
	Session  int64      `json:"session"`
	Now      int64      `json:"now"`
	Random   uint64     `json:"random"`
	TimedOut bool       `json:"timedOut"`
	Code     int32      `json:"code"`
	Message  string     `json:"message"`
	Is       string     `json:"is"`
}

func do(t *testing.T, m host.Module, a host.API, req string) (apiReply, error) {
	t.Helper()
	out, err := m.Call("do", []byte(req), a, testBudget)
	var r apiReply
	if err == nil {
		if jerr := json.Unmarshal(out.Result, &r); jerr != nil {
			t.Fatalf("%s: reply %q: %v", req, out.Result, jerr)
		}
	}
	return r, err
}

func doOK(t *testing.T, m host.Module, a host.API, req string) apiReply {
	t.Helper()
	r, err := do(t, m, a, req)
	if err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	return r
}

func TestEveryAPIFunction(t *testing.T) {
	m := load(t, apiPkg)
	if got, want := m.Functions(), []string{"do", "echo"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Functions() = %v, want %v (not notARecipe, zkx_reserved, zkx_alloc, _initialize)", got, want)
	}
	a := newFakeAPI()

	if r := doOK(t, m, a, `{"op":"create","path":"/a","data":"hello"}`); r.Path != "/a" {
		t.Fatalf("create: %+v", r)
	}
	if r := doOK(t, m, a, `{"op":"create","path":"/a/s-","mode":2}`); r.Path != "/a/s-0000000000" {
		t.Fatalf("sequential create: %+v", r)
	}
	if r := doOK(t, m, a, `{"op":"create","path":"/a/e","mode":1}`); r.Path != "/a/e" || a.nodes["/a/e"].stat.EphemeralOwner != a.session {
		t.Fatalf("ephemeral create: %+v", r)
	}
	if r := doOK(t, m, a, `{"op":"create","path":"/a/es-","mode":3}`); r.Path != "/a/es-0000000002" || a.nodes[r.Path].stat.EphemeralOwner != a.session {
		t.Fatalf("ephemeral sequential create: %+v", r)
	}
	r := doOK(t, m, a, `{"op":"get","path":"/a"}`)
	if r.Data == nil || *r.Data != "hello" || r.Stat == nil || *r.Stat != a.nodes["/a"].stat {
		t.Fatalf("get: %+v, want the stat %+v", r, a.nodes["/a"].stat)
	}
	if r.Stat.NumChildren != 3 || r.Stat.Ctime != a.now || r.Stat.Czxid != 1 {
		t.Fatalf("get's stat: %+v", r.Stat)
	}
	if r := doOK(t, m, a, `{"op":"exists","path":"/a/e"}`); r.Found == nil || !*r.Found || *r.Stat != a.nodes["/a/e"].stat {
		t.Fatalf("exists: %+v", r)
	}
	if r := doOK(t, m, a, `{"op":"exists","path":"/zz"}`); r.Found == nil || *r.Found || r.Stat != nil {
		t.Fatalf("exists of a missing node: %+v", r)
	}
	if r := doOK(t, m, a, `{"op":"children","path":"/a"}`); !reflect.DeepEqual(r.Children, []string{"e", "es-0000000002", "s-0000000000"}) {
		t.Fatalf("children: %+v", r.Children)
	}
	if r := doOK(t, m, a, `{"op":"set","path":"/a","data":"bye","version":0}`); r.Stat == nil || r.Stat.Version != 1 || string(a.nodes["/a"].data) != "bye" {
		t.Fatalf("set: %+v", r)
	}
	if r := doOK(t, m, a, `{"op":"set","path":"/a","data":"any","version":-1}`); r.Stat.Version != 2 {
		t.Fatalf("set any version: %+v", r)
	}
	doOK(t, m, a, `{"op":"delete","path":"/a/e","version":-1}`)
	if a.nodes["/a/e"] != nil {
		t.Fatal("delete left the node")
	}
	if r := doOK(t, m, a, `{"op":"session"}`); r.Session != a.session {
		t.Fatalf("session: %d", r.Session)
	}
	if r := doOK(t, m, a, `{"op":"now"}`); r.Now != a.now {
		t.Fatalf("now: %d", r.Now)
	}
	seed := a.seed
	if r := doOK(t, m, a, `{"op":"random"}`); r.Random != splitmix(&seed) {
		t.Fatalf("random: %d", r.Random)
	}
	if r := doOK(t, m, a, `{"op":"timedOut"}`); r.TimedOut {
		t.Fatal("timedOut")
	}
	a.timedOut = true
	if r := doOK(t, m, a, `{"op":"timedOut"}`); !r.TimedOut {
		t.Fatal("not timedOut")
	}

	// Every error code reaches the module (which may handle it, matching
	// the SDK's sentinels) and fails the call when it does not.
	a.nodes["/eph"] = &fakeNode{stat: tree.Stat{EphemeralOwner: 1}}
	for _, c := range []struct {
		req  string
		code int32
		is   string
	}{
		{`{"op":"get","path":"/zz"}`, -101, "NoNode"},
		{`{"op":"children","path":"/zz"}`, -101, "NoNode"},
		{`{"op":"get","path":"/secret"}`, -102, "NoAuth"},
		{`{"op":"exists","path":"/secret"}`, -102, "NoAuth"},
		{`{"op":"create","path":"/a"}`, -110, "NodeExists"},
		{`{"op":"create","path":"/zz/y"}`, -101, "NoNode"},
		{`{"op":"create","path":"/eph/kid"}`, -108, "NoChildrenForEphemerals"},
		{`{"op":"create","path":"/m","mode":9}`, -8, "BadArguments"},
		{`{"op":"set","path":"/a","version":7}`, -103, "BadVersion"},
		{`{"op":"set","path":"/zz","version":-1}`, -101, "NoNode"},
		{`{"op":"delete","path":"/a","version":-1}`, -111, "NotEmpty"},
		{`{"op":"delete","path":"/a/s-0000000000","version":3}`, -103, "BadVersion"},
		{`{"op":"delete","path":"/zz","version":-1}`, -101, "NoNode"},
	} {
		_, err := do(t, m, a, c.req)
		if he := wantCode(t, err, c.code); he.Message != c.is {
			t.Fatalf("%s: message %q", c.req, he.Message)
		}
		caught := strings.Replace(c.req, `{`, `{"catch":true,`, 1)
		if r := doOK(t, m, a, caught); r.Code != c.code || r.Is != c.is || r.Message != c.is {
			t.Fatalf("%s caught: %+v", c.req, r)
		}
	}
}

func TestOutcomes(t *testing.T) {
	m := load(t, apiPkg)
	a := newFakeAPI()
	out, err := m.Call("do", []byte(`{"op":"wait","paths":["/x","/y/z"]}`), a, testBudget)
	if err != nil || out.Result != nil || !reflect.DeepEqual(out.Wait, []string{"/x", "/y/z"}) {
		t.Fatalf("wait: %+v %v", out, err)
	}
	_, err = do(t, m, a, `{"op":"wait"}`)
	wantCode(t, err, -8) // Wait needs a path

	_, err = do(t, m, a, `{"op":"fail","code":-4242,"message":"no luck"}`)
	if he := wantCode(t, err, -4242); he.Message != "no luck" {
		t.Fatalf("fail's message: %q", he.Message)
	}
	_, err = do(t, m, a, `{"op":"plainError","message":"oops"}`)
	if he := wantCode(t, err, -7001); he.Message != "oops" {
		t.Fatalf("plain error's message: %q", he.Message)
	}
	_, err = do(t, m, a, `{"op":"panic","message":"boom"}`)
	if he := wantCode(t, err, -7001); he.Message != "panic: boom" {
		t.Fatalf("panic's message: %q", he.Message)
	}

	// Large results and arguments, and a reply longer than the SDK's buffer.
	out, err = m.Call("do", []byte(`{"op":"big","version":3000000}`), a, testBudget)
	if err != nil || len(out.Result) != 3000000 {
		t.Fatalf("big result: %d bytes, %v", len(out.Result), err)
	}
	big := bytes.Repeat([]byte("0123456789"), 20000)
	args := []byte(`{"op":"create","path":"/big","data":"` + string(big) + `"}`)
	if _, err := m.Call("do", args, a, testBudget); err != nil {
		t.Fatal(err)
	}
	if r := doOK(t, m, a, `{"op":"get","path":"/big"}`); *r.Data != string(big) {
		t.Fatalf("a large get came back as %d bytes", len(*r.Data))
	}
	if got := callOK(t, m, "echo", string(args), a); got != string(args) {
		t.Fatal("echo of large arguments")
	}
	if got := callOK(t, m, "echo", "", a); got != "" {
		t.Fatalf("echo of nothing: %q", got)
	}
}

// The module sees the txn's time and seeded randomness, never the
// machine's, and nothing of its files or environment.
func TestSandbox(t *testing.T) {
	m := load(t, sandboxPkg)
	a := newFakeAPI()
	var r struct {
		UnixMilli int64    `json:"unixMilli"`
		Slept     int64    `json:"sleptNs"`
		Rand      string   `json:"rand"`
		Env       []string `json:"env"`
		Args      []string `json:"args"`
		Open      string   `json:"open"`
		ReadDir   string   `json:"readDir"`
	}
	if err := json.Unmarshal([]byte(callOK(t, m, "look", "", a)), &r); err != nil {
		t.Fatal(err)
	}
	if r.UnixMilli != a.now {
		t.Fatalf("time.Now() = %d ms, want the txn's %d", r.UnixMilli, a.now)
	}
	if r.Slept < int64(10*time.Millisecond) {
		t.Fatalf("time.Sleep(10ms) measured %v", time.Duration(r.Slept))
	}
	seed := uint64(42)
	var want []byte
	for range 2 {
		want = binary.LittleEndian.AppendUint64(want, splitmix(&seed))
	}
	if r.Rand != hex.EncodeToString(want) {
		t.Fatalf("crypto/rand gave %s, want %x from API.Random", r.Rand, want)
	}
	if len(r.Env) != 0 || len(r.Args) != 0 {
		t.Fatalf("environment %q, arguments %q", r.Env, r.Args)
	}
	if r.Open == "" || r.ReadDir == "" {
		t.Fatalf("the file system is visible: open %q, readDir %q", r.Open, r.ReadDir)
	}

	// Another txn, another time and seed, on the same (pooled) instance.
	b := newFakeAPI()
	b.now, b.seed = 1_800_000_000_000, 7
	json.Unmarshal([]byte(callOK(t, m, "look", "", b)), &r)
	seed = 7
	if r.UnixMilli != b.now || r.Rand[:16] != fmt.Sprintf("%x", binary.LittleEndian.AppendUint64(nil, splitmix(&seed))) {
		t.Fatalf("second txn: time %d, rand %s", r.UnixMilli, r.Rand)
	}
}

// afterFailure checks that the module still serves calls.
func afterFailure(t *testing.T, m host.Module) {
	t.Helper()
	if got := callOK(t, m, "ok", "", newFakeAPI()); got != "ok" {
		t.Fatalf("after a failure: %q", got)
	}
}

func TestTimeBudget(t *testing.T) {
	m := load(t, loopPkg)
	for range 2 {
		_, err := m.Call("spin", nil, newFakeAPI(), host.Budget{Time: 50 * time.Millisecond})
		if !errors.Is(err, host.ErrBudget) || !strings.Contains(err.Error(), "longer than 50ms") {
			t.Fatalf("an endless loop: %v", err)
		}
		afterFailure(t, m)
	}
}

func TestOpsBudgetEndsTheCall(t *testing.T) {
	m := load(t, loopPkg)
	a := newFakeAPI()
	a.maxOps = 100
	_, err := m.Call("spinAPI", nil, a, testBudget)
	if !errors.Is(err, host.ErrBudget) || !strings.Contains(err.Error(), "100 operations") {
		t.Fatalf("a module ignoring the API's budget error: %v", err)
	}
	if a.ops != 101 {
		t.Fatalf("the module went on after the budget: %d calls", a.ops)
	}
	afterFailure(t, m)
}

func TestMemoryBudget(t *testing.T) {
	m := load(t, hogPkg)
	for _, fn := range []string{"hog", "huge"} {
		_, err := m.Call(fn, nil, newFakeAPI(), host.Budget{Time: 10 * time.Second, MemoryMiB: 32})
		if !errors.Is(err, host.ErrBudget) || !strings.Contains(err.Error(), "memory over 32 MiB") {
			t.Fatalf("%s: %v", fn, err)
		}
		afterFailure(t, m)
	}
}

func TestTraps(t *testing.T) {
	m := load(t, trapPkg)
	for _, c := range []struct {
		fn, says string
		is       error
	}{
		{"oob", "out of bounds memory access", ErrTrap},
		{"panicRaw", "raw panic", ErrTrap},
		{"exit", "exited with code 3", ErrTrap},
		{"badOutcome", "outcome outside memory", ErrABI},
	} {
		_, err := m.Call(c.fn, nil, newFakeAPI(), testBudget)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) {
			t.Fatalf("%s: %v", c.fn, err)
		}
		var he *host.Error
		if errors.As(err, &he) || errors.Is(err, host.ErrBudget) {
			t.Fatalf("%s: a trap is neither a recipe's error nor a budget: %v", c.fn, err)
		}
		afterFailure(t, m)
	}
}

// Hand-made modules: the ABI without the SDK, and what Compile refuses.
func TestHandMadeModule(t *testing.T) {
	w := abiModule().withAlloc()
	w.recipe("hello", 2048, []byte("\x00hello"))
	w.recipe("waits", 4096, append([]byte{1, 2, 0, 0, 0, 2, 0, 0, 0}, "/a\x03\x00\x00\x00/bc"...))
	w.recipe("fails", 6144, append([]byte{2, 0xfe, 0xff, 0xff, 0xff}, "nope"...))
	w.recipe("badWait", 8192, []byte{1, 0, 0, 0, 0})
	w.recipe("badKind", 10240, []byte{9})
	m := compile(t, shared(), w.bytes())
	if got := m.Functions(); !reflect.DeepEqual(got, []string{"badKind", "badWait", "fails", "hello", "waits"}) {
		t.Fatal(got)
	}
	a := newFakeAPI()
	if got := callOK(t, m, "hello", "args", a); got != "hello" {
		t.Fatal(got)
	}
	out, err := m.Call("waits", nil, a, testBudget)
	if err != nil || !reflect.DeepEqual(out.Wait, []string{"/a", "/bc"}) {
		t.Fatalf("waits: %+v %v", out, err)
	}
	_, err = m.Call("fails", nil, a, testBudget)
	if he := wantCode(t, err, -2); he.Message != "nope" {
		t.Fatal(he)
	}
	for _, fn := range []string{"badWait", "badKind"} {
		if _, err := m.Call(fn, nil, a, testBudget); !errors.Is(err, ErrABI) {
			t.Fatalf("%s: %v", fn, err)
		}
	}
}

func TestMalformedRequest(t *testing.T) {
	w := abiModule()
	zcall := w.importFunc("zkx", "call", []byte{wI32, wI32, wI32, wI32}, []byte{wI32})
	w.withAlloc()
	w.segment(512, []byte{9, 0, 0, 0, 0}) // op 9, an empty path
	w.fn("bad", []byte{wI32, wI32}, []byte{wI64},
		cat(i32Const(512), i32Const(5), i32Const(0), i32Const(0), call(zcall), []byte{drop}, i64Const(0))...)
	w.segment(600, []byte{1, 200, 0, 0, 0}) // get, a path longer than the request
	w.fn("short", []byte{wI32, wI32}, []byte{wI64},
		cat(i32Const(600), i32Const(5), i32Const(0), i32Const(0), call(zcall), []byte{drop}, i64Const(0))...)
	w.recipe("ok", 2048, []byte("\x00ok"))
	m := compile(t, shared(), w.bytes())
	for _, fn := range []string{"bad", "short"} {
		if _, err := m.Call(fn, nil, newFakeAPI(), testBudget); !errors.Is(err, ErrABI) {
			t.Fatalf("%s: %v", fn, err)
		}
		afterFailure(t, m)
	}
}

func TestCompileRefuses(t *testing.T) {
	rt := shared()
	cases := []struct {
		name string
		src  func() []byte
		says string
	}{
		{"javascript", func() []byte { return []byte("function f() {}") }, "not WebAssembly"},
		{"garbage", func() []byte { return []byte("\x00asm\x01\x00\x00\x00garbage!") }, "not valid WebAssembly"},
		{"empty module", func() []byte { return []byte("\x00asm\x01\x00\x00\x00") }, `does not export its memory as "memory"`},
		{"no alloc", func() []byte {
			w := abiModule()
			w.recipe("f", 2048, []byte{0})
			return w.bytes()
		}, "does not export zkx_alloc"},
		{"no functions", func() []byte { return abiModule().withAlloc().bytes() }, "exports no recipe function"},
		{"command", func() []byte {
			w := abiModule().withAlloc()
			w.recipe("f", 2048, []byte{0})
			w.fn("_start", nil, nil)
			return w.bytes()
		}, "WASI command"},
		{"foreign import", func() []byte {
			w := abiModule()
			w.importFunc("env", "foo", nil, nil)
			w.withAlloc().recipe("f", 2048, []byte{0})
			return w.bytes()
		}, "imports env.foo"},
		{"unknown zkx import", func() []byte {
			w := abiModule()
			w.importFunc("zkx", "teleport", nil, nil)
			w.withAlloc().recipe("f", 2048, []byte{0})
			return w.bytes()
		}, "imports zkx.teleport, which zkx does not provide"},
		{"wrong import signature", func() []byte {
			w := abiModule()
			w.importFunc("zkx", "now", nil, []byte{wI32})
			w.withAlloc().recipe("f", 2048, []byte{0})
			return w.bytes()
		}, "imports zkx.now as func() i32; zkx provides func() i64"},
		{"API in _initialize", func() []byte {
			w := abiModule()
			session := w.importFunc("zkx", "session", nil, []byte{wI64})
			w.withAlloc().recipe("f", 2048, []byte{0})
			w.fn("_initialize", nil, nil, append(call(session), drop)...)
			return w.bytes()
		}, "API was used while the module started"},
		{"trapping _initialize", func() []byte {
			w := abiModule().withAlloc()
			w.recipe("f", 2048, []byte{0})
			w.fn("_initialize", nil, nil, 0x00) // unreachable
			return w.bytes()
		}, "unreachable"},
	}
	for _, c := range cases {
		_, err := rt.Compile("bad", c.src())
		if !errors.Is(err, host.ErrInvalid) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}

	// An _initialize that never returns is stopped too.
	quick := New(WithInitTimeout(50 * time.Millisecond))
	defer quick.Close()
	w := abiModule().withAlloc()
	w.recipe("f", 2048, []byte{0})
	w.fn("_initialize", nil, nil, 0x03, 0x40, 0x0c, 0x00, 0x0b) // loop br 0 end
	_, err := quick.Compile("endless", w.bytes())
	if !errors.Is(err, host.ErrInvalid) || !errors.Is(err, host.ErrBudget) {
		t.Fatalf("endless _initialize: %v", err)
	}
}

func TestModulesShareCompiledCode(t *testing.T) {
	load(t, counterPkg) // compiled code to share
	rt := New(WithPoolSize(1), WithCompilationCache(testCache))
	defer rt.Close()
	src := goModule(t, counterPkg)
	m1, err := rt.Compile("c", src)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := rt.Compile("c", src)
	if err != nil {
		t.Fatal(err)
	}
	if m1.(*module).c != m2.(*module).c {
		t.Fatal("two compilations of one module")
	}
	m1.Close()
	m1.Close()
	if _, err := m1.Call("get", []byte(`{"path":"/c"}`), newFakeAPI(), testBudget); !errors.Is(err, ErrClosed) {
		t.Fatalf("call on a closed module: %v", err)
	}
	callOK(t, m2, "get", `{"path":"/c"}`, newFakeAPI())
	m2.Close()

	// Released, it stays compiled: compiling it again is free.
	start := time.Now()
	m3, err := rt.Compile("c", src)
	if err != nil {
		t.Fatal(err)
	}
	if m3.(*module).c != m1.(*module).c {
		t.Fatalf("a released module was compiled again (%v)", time.Since(start))
	}
	callOK(t, m3, "get", `{"path":"/c"}`, newFakeAPI())
	m3.Close()
}

func TestConcurrentCalls(t *testing.T) {
	load(t, counterPkg) // compiled code to share
	rt := New(WithPoolSize(2), WithCompilationCache(testCache))
	defer rt.Close()
	m := compile(t, rt, goModule(t, counterPkg))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := newFakeAPI()
			path := fmt.Sprintf(`{"path":"/c%d","delta":1}`, g)
			for i := range 10 {
				out, err := m.Call("add", []byte(path), a, testBudget)
				if err != nil || string(out.Result) != fmt.Sprintf(`{"value":%d}`, i+1) {
					errs <- fmt.Errorf("goroutine %d, call %d: %q %v", g, i, out.Result, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := m.(*module).c
	c.mu.Lock()
	idle := len(c.idle)
	c.mu.Unlock()
	if idle < 1 || idle > 2 {
		t.Fatalf("%d idle instances, want 1 or 2", idle)
	}
}

func TestClosedRuntime(t *testing.T) {
	rt := New()
	w := abiModule().withAlloc()
	w.recipe("f", 2048, []byte{0})
	m := compile(t, rt, w.bytes())
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Compile("x", w.bytes()); err == nil {
		t.Fatal("compiled on a closed runtime")
	}
	if _, err := m.Call("f", nil, newFakeAPI(), testBudget); !errors.Is(err, ErrClosed) {
		t.Fatalf("call on a closed runtime: %v", err)
	}
}

// The benchmarks measure cost, not the budget: a 50ms wall-time budget is
// exceeded now and then by the trivial call itself when the machine's
// cores are oversubscribed.
func BenchmarkTrivialCall(b *testing.B) {
	m := load(b, apiPkg)
	a := newFakeAPI()
	args := []byte(`{"x":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Call("echo", args, a, testBudget); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCounterAdd(b *testing.B) {
	m := load(b, counterPkg)
	a := newFakeAPI()
	args := []byte(`{"path":"/c","delta":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Call("add", args, a, testBudget); err != nil {
			b.Fatal(err)
		}
	}
}
