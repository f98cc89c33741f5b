package js

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkx-project/zkx/host"
)

func compile(t testing.TB, src string, opts ...Option) host.Module {
	t.Helper()
	m, err := New(opts...).Compile("test", []byte(src))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// run calls fn and returns its result as a string.
func run(t testing.TB, m host.Module, fn, args string, api host.API) (string, error) {
	t.Helper()
	out, err := m.Call(fn, []byte(args), api, host.DefaultBudget)
	if len(out.Wait) > 0 {
		t.Fatalf("%s: unexpected wait on %v", fn, out.Wait)
	}
	return string(out.Result), err
}

func mustRun(t testing.TB, m host.Module, fn, args string, api host.API) string {
	t.Helper()
	res, err := run(t, m, fn, args, api)
	if err != nil {
		t.Fatalf("%s(%s): %v", fn, args, err)
	}
	return res
}

// wantCode checks that err is a *host.Error with code and a message
// containing each of parts.
func wantCode(t testing.TB, err error, code int32, parts ...string) {
	t.Helper()
	var he *host.Error
	if !errors.As(err, &he) {
		t.Fatalf("want a *host.Error with code %d, got %v", code, err)
	}
	if he.Code != code {
		t.Fatalf("want code %d, got %d (%s)", code, he.Code, he.Message)
	}
	for _, p := range parts {
		if !strings.Contains(he.Message, p) {
			t.Fatalf("message %q does not contain %q", he.Message, p)
		}
	}
}

func wantBudget(t testing.TB, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, host.ErrBudget) {
		t.Fatalf("want an ErrBudget, got %v", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

func TestKindAndFunctions(t *testing.T) {
	rt := New()
	if rt.Kind() != host.KindJS {
		t.Fatalf("kind %q", rt.Kind())
	}
	m := compile(t, `
exports.release = function () {};
exports.acquire = function () {};
exports.version = 3;           // not a function: not listed
exports.check = () => true;`)
	if m.Kind() != host.KindJS {
		t.Fatalf("module kind %q", m.Kind())
	}
	if got, want := m.Functions(), []string{"acquire", "check", "release"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("functions %v, want %v", got, want)
	}
	m = compile(t, `module.exports = {b() { return 2; }, a: function () { return 1; }};`)
	if got, want := m.Functions(), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("module.exports functions %v, want %v", got, want)
	}
	if got := mustRun(t, m, "b", "", newFakeAPI()); got != "2" {
		t.Fatalf("b() = %q", got)
	}
	if _, err := m.Call("nope", nil, newFakeAPI(), host.DefaultBudget); !errors.Is(err, host.ErrNoFunction) {
		t.Fatalf("calling a missing function: %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		name, src string
		parts     []string
		budget    bool
	}{
		{"syntax", "exports.a = function () {\n  return 1;\n  var x = ;\n};", []string{"SyntaxError", "test", "Line 3:"}, false},
		{"no exports", "var x = 1;", []string{"exports no function", "exports.acquire"}, false},
		{"only values", "exports.a = 1;", []string{"exports no function"}, false},
		{"throws", "exports.a = () => 1;\nnull.x;", []string{"TypeError", "initializing", "test:2"}, false},
		{"zk at top level", "zk.get('/');\nexports.a = () => 1;", []string{"only available inside a call"}, false},
		{"loops", "for (;;) {}", []string{"time budget"}, true},
		{"recursion", "function f() { return f() + 1; } f();", []string{"stack budget"}, true},
		{"bigint", "exports.a = () => 1;\nvar big = 10n ** 100n;", []string{"BigInt", "Line 2:11"}, false},
		{"nesting", "exports.a = () => " + strings.Repeat("(", 20000) + "1" + strings.Repeat(")", 20000) + ";", []string{"nesting deeper than 10000"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New().Compile("test", []byte(c.src))
			if err == nil {
				t.Fatal("compiled")
			}
			if !errors.Is(err, host.ErrInvalid) {
				t.Fatalf("not ErrInvalid: %v", err)
			}
			if errors.Is(err, host.ErrBudget) != c.budget {
				t.Fatalf("ErrBudget is %v: %v", !c.budget, err)
			}
			for _, p := range c.parts {
				if !strings.Contains(err.Error(), p) {
					t.Fatalf("%q does not contain %q", err, p)
				}
			}
		})
	}
}

// Nesting that would overflow the Go stack in goja's parser (a fatal error,
// no recover) is refused before goja sees it.
func TestCompileSurvivesDeepNesting(t *testing.T) {
	for _, src := range []string{
		strings.Repeat("(", 1_000_000) + "1" + strings.Repeat(")", 1_000_000),
		"var a; " + strings.Repeat("a=", 1_000_000) + "1;",
		strings.Repeat("!", 2_000_000) + "1;",
		"var f; f" + strings.Repeat("()", 1_000_000) + ";",
		strings.Repeat("if (a) ", 1_000_000) + "1;",
		"var x = `" + strings.Repeat("${`", 500_000) + strings.Repeat("`}", 500_000) + "`;",
	} {
		_, err := New().Compile("deep", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "nesting deeper") {
			t.Fatalf("%.20s...: %v", src, err)
		}
	}
}

func TestArgsAndResult(t *testing.T) {
	m := compile(t, `
exports.echo = function (a) { return a; };
exports.kind = function (a) { return typeof a; };
exports.nothing = function () {};
exports.text = function () { return 'héllo "wörld"\n☃'; };
exports.nums = function () { return [1, -2.5, 1e21, NaN, Infinity, 0.1 + 0.2]; };
exports.num = function (a) { return [-0, 0.5, 1e21, NaN, -Infinity, 2 ** 53, true, null][a]; };
exports.fn = function () { return function () {}; };
exports.date = function () { return {d: new Date(0)}; };
exports.cyclic = function () { var o = {}; o.o = o; return o; };
exports.self = function () { return this === exports; };
`)
	api := newFakeAPI()
	for _, c := range []struct{ fn, args, want string }{
		{"echo", `{"a":[1,2,{"b":null}],"s":"x\u00e9\ud83d\ude00","t":true}`, `{"a":[1,2,{"b":null}],"s":"xé😀","t":true}`},
		{"echo", `42`, `42`},
		{"echo", `-0.5`, `-0.5`},
		{"echo", `"str"`, `"str"`},
		{"echo", `null`, `null`},
		{"echo", `false`, `false`},
		{"echo", ` [ ] `, `[]`},
		{"echo", ``, ``},
		{"kind", ``, `"undefined"`},
		{"kind", `{}`, `"object"`},
		{"nothing", `{}`, ``},
		{"text", ``, `"héllo \"wörld\"\n☃"`},
		{"nums", ``, `[1,-2.5,1e+21,null,null,0.30000000000000004]`},
		{"fn", ``, ``},
		{"num", `0`, `0`},
		{"num", `1`, `0.5`},
		{"num", `2`, `1e+21`},
		{"num", `3`, `null`},
		{"num", `4`, `null`},
		{"num", `5`, `9007199254740992`},
		{"num", `6`, `true`},
		{"num", `7`, `null`},
		{"date", ``, `{"d":"1970-01-01T00:00:00.000Z"}`},
		{"self", ``, `true`},
	} {
		if got := mustRun(t, m, c.fn, c.args, api); got != c.want {
			t.Errorf("%s(%s) = %s, want %s", c.fn, c.args, got, c.want)
		}
	}
	_, err := run(t, m, "echo", `{"a":`, api)
	wantCode(t, err, -8, "arguments are not valid JSON", "unexpected end of JSON input")
	_, err = run(t, m, "echo", `{'a':1}`, api)
	wantCode(t, err, -8, "arguments are not valid JSON")
	_, err = run(t, m, "echo", strings.Repeat("[", 20000)+strings.Repeat("]", 20000), api)
	wantCode(t, err, -8, "arguments are not valid JSON", "depth")
	_, err = run(t, m, "cyclic", ``, api)
	wantCode(t, err, -7001, "TypeError")
}

func TestZKReads(t *testing.T) {
	api := newFakeAPI()
	api.mustCreate("/app", "héllo")
	api.mustCreate("/app/b", "")
	api.mustCreate("/app/a", "")
	m := compile(t, `
exports.get = (p) => zk.get(p);
exports.exists = (p) => zk.exists(p);
exports.children = (p) => zk.children(p);
exports.info = () => ({session: zk.session(), now: zk.now(), timedOut: zk.timedOut(), r: typeof zk.random()});
`)
	got := mustRun(t, m, "get", `"/app"`, api)
	want := `{"data":"héllo","stat":{"czxid":4294967297,"mzxid":4294967297,"pzxid":4294967299,"ctime":1700000000000,"mtime":1700000000000,"version":0,"cversion":2,"aversion":0,"ephemeralOwner":"0x0","dataLength":6,"numChildren":2}}`
	if got != want {
		t.Fatalf("get:\n got %s\nwant %s", got, want)
	}
	if got := mustRun(t, m, "get", `"/nope"`, api); got != `null` {
		t.Fatalf("get of a missing node: %s", got)
	}
	if got := mustRun(t, m, "exists", `"/app/a"`, api); !strings.Contains(got, `"czxid":4294967299`) {
		t.Fatalf("exists: %s", got)
	}
	if got := mustRun(t, m, "exists", `"/nope"`, api); got != `null` {
		t.Fatalf("exists of a missing node: %s", got)
	}
	if got := mustRun(t, m, "children", `"/app"`, api); got != `["a","b"]` {
		t.Fatalf("children: %s", got)
	}
	if got := mustRun(t, m, "children", `"/nope"`, api); got != `null` {
		t.Fatalf("children of a missing node: %s", got)
	}
	api.timedOut = true
	if got := mustRun(t, m, "info", ``, api); got != `{"session":"0x1a2b3c4d5e6f7788","now":1700000000000,"timedOut":true,"r":"number"}` {
		t.Fatalf("info: %s", got)
	}
	api.session = -0x7000000000000000 // session ids use all 64 bits
	if got := mustRun(t, m, "info", ``, api); !strings.Contains(got, `"session":"0x9000000000000000"`) {
		t.Fatalf("negative session: %s", got)
	}
}

func TestZKWrites(t *testing.T) {
	api := newFakeAPI()
	api.mustCreate("/app", "")
	m := compile(t, `
exports.create = (a) => zk.create(a.path, a.data, a.opts);
exports.set = (a) => zk.set(a.path, a.data, a.version);
exports.del = (a) => zk.delete(a.path, a.version);
exports.bad = (a) => {
	try { zk[a.fn].apply(null, a.args); } catch (e) { return e.name + ': ' + e.message; }
	return 'no error';
};`)
	if got := mustRun(t, m, "create", `{"path":"/app/x","data":"v1"}`, api); got != `"/app/x"` {
		t.Fatalf("create: %s", got)
	}
	if string(api.nodes["/app/x"].data) != "v1" || api.nodes["/app/x"].stat.EphemeralOwner != 0 {
		t.Fatalf("created node %+v", api.nodes["/app/x"])
	}
	if got := mustRun(t, m, "create", `{"path":"/app/empty"}`, api); got != `"/app/empty"` || api.nodes["/app/empty"].data == nil && len(api.nodes["/app/empty"].data) != 0 {
		t.Fatalf("create without data: %s", got)
	}
	got := mustRun(t, m, "create", `{"path":"/app/q-","opts":{"sequential":true}}`, api)
	if got != `"/app/q-0000000002"` {
		t.Fatalf("sequential create: %s", got)
	}
	got = mustRun(t, m, "create", `{"path":"/app/e-","opts":{"sequential":true,"ephemeral":true}}`, api)
	if got != `"/app/e-0000000003"` || api.nodes["/app/e-0000000003"].stat.EphemeralOwner != api.session {
		t.Fatalf("ephemeral sequential create: %s", got)
	}
	mustRun(t, m, "create", `{"path":"/app/eph","opts":{"ephemeral":true}}`, api)
	if api.nodes["/app/eph"].stat.EphemeralOwner != api.session {
		t.Fatal("ephemeral node not owned by the session")
	}
	got = mustRun(t, m, "set", `{"path":"/app/x","data":"v2"}`, api)
	if !strings.Contains(got, `"version":1`) || string(api.nodes["/app/x"].data) != "v2" {
		t.Fatalf("set: %s", got)
	}
	mustRun(t, m, "set", `{"path":"/app/x","data":"v3","version":1}`, api)
	mustRun(t, m, "del", `{"path":"/app/x","version":2}`, api)
	mustRun(t, m, "del", `{"path":"/app/empty"}`, api)
	if api.nodes["/app/x"] != nil || api.nodes["/app/empty"] != nil {
		t.Fatal("delete did not delete")
	}
	for _, c := range []struct{ args, want string }{
		{`{"fn":"create","args":[1]}`, "TypeError: zk.create: path must be a string, not number"},
		{`{"fn":"create","args":["/app/y", 5]}`, "TypeError: zk.create: data must be a string, not number"},
		{`{"fn":"create","args":["/app/y", "", "eph"]}`, "TypeError: zk.create: options must be an object"},
		{`{"fn":"set","args":["/app/eph", "", 1.5]}`, "TypeError: zk.set: version must be an integer"},
		{`{"fn":"set","args":["/app/eph", "", -2]}`, "TypeError: zk.set: version must be an integer"},
		{`{"fn":"delete","args":["/app/eph", "1"]}`, "TypeError: zk.delete: version must be an integer"},
		{`{"fn":"wait","args":[[]]}`, "TypeError: zk.wait: give a path"},
		{`{"fn":"wait","args":[["/a", 2]]}`, "TypeError: zk.wait: path 1 is not a string"},
		{`{"fn":"wait","args":[{"length":1e9}]}`, "TypeError: zk.wait: give a path"},
		{`{"fn":"fail","args":[0, "x"]}`, "TypeError: zk.fail: code must be a non-zero"},
		{`{"fn":"fail","args":["-7001", "x"]}`, "TypeError: zk.fail: code must be a non-zero"},
	} {
		if got := mustRun(t, m, "bad", c.args, api); !strings.Contains(got, c.want) {
			t.Errorf("%s: %s, want %q", c.args, got, c.want)
		}
	}
}

func TestZKErrors(t *testing.T) {
	api := newFakeAPI()
	api.mustCreate("/app", "")
	api.mustCreate("/app/kid", "")
	api.mustCreate("/secret", "")
	api.denied["/secret"] = true
	eph, _ := api.Create("/eph", nil, host.ModeEphemeral)
	m := compile(t, `
exports.try = function (a) {
	try {
		zk[a.fn].apply(null, a.args);
	} catch (e) {
		return [e instanceof ZKError, e instanceof Error, e.code, e.name, e.message, e.code === zk[e.name]];
	}
	return 'no error';
};
exports.uncaught = (a) => zk[a.fn].apply(null, a.args);
exports.own = () => { throw new ZKError(-1234, 'Mine', 'my own error'); };
exports.nonzk = () => { throw new Error('plain'); };
`)
	for _, c := range []struct {
		fn, args string
		code     int32
		name     string
	}{
		{"create", `["/app"]`, -110, "NodeExists"},
		{"create", `["/nope/x"]`, -101, "NoNode"},
		{"create", `["` + eph + `/x"]`, -108, "NoChildrenForEphemerals"},
		{"create", `["/secret/x"]`, -102, "NoAuth"},
		{"get", `["/secret"]`, -102, "NoAuth"},
		{"exists", `["/secret"]`, -102, "NoAuth"},
		{"children", `["/secret"]`, -102, "NoAuth"},
		{"set", `["/nope", ""]`, -101, "NoNode"},
		{"set", `["/app", "", 7]`, -103, "BadVersion"},
		{"delete", `["/app"]`, -111, "NotEmpty"},
		{"delete", `["/app/kid", 3]`, -103, "BadVersion"},
		{"delete", `["/nope"]`, -101, "NoNode"},
		{"create", `["relative"]`, -8, "BadArguments"},
	} {
		args := fmt.Sprintf(`{"fn":%q,"args":%s}`, c.fn, c.args)
		got := mustRun(t, m, "try", args, api)
		var path string
		fmt.Sscanf(strings.Trim(c.args, `[]"`), "%s", &path)
		path = strings.Split(path, `"`)[0]
		want := fmt.Sprintf(`[true,true,%d,%q,"zk.%s %s: `, c.code, c.name, c.fn, path)
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ",true]") {
			t.Errorf("%s %s caught: %s, want %s...,true]", c.fn, c.args, got, want)
		}
		_, err := run(t, m, "uncaught", args, api)
		wantCode(t, err, c.code, "zk."+c.fn, path)
	}
	_, err := run(t, m, "own", ``, api)
	wantCode(t, err, -1234, "my own error")
	_, err = run(t, m, "nonzk", ``, api)
	wantCode(t, err, -7001, "Error: plain", "at test:12:")
}

func TestWaitAndFail(t *testing.T) {
	api := newFakeAPI()
	api.mustCreate("/q", "")
	m := compile(t, `
exports.wait = function (a) {
	zk.create('/q/w-', '', {sequential: true, ephemeral: true});
	try {
		zk.wait(a);
	} catch (e) {
		zk.create('/q/caught');
	} finally {
		zk.create('/q/finally');
	}
	zk.create('/q/after');
	return 'returned';
};
exports.fail = function (a) {
	zk.create('/q/before-fail-', '', {sequential: true});
	try {
		zk.fail(a.code, a.message);
	} catch (e) {
		return 'caught';
	} finally {
		zk.create('/q/finally');
	}
};
`)
	out, err := m.Call("wait", []byte(`"/q/flag"`), api, host.DefaultBudget)
	if err != nil || !reflect.DeepEqual(out.Wait, []string{"/q/flag"}) || out.Result != nil {
		t.Fatalf("wait: %+v %v", out, err)
	}
	if !reflect.DeepEqual(api.log, []string{"create /q/w-0000000000"}) {
		t.Fatalf("writes of a waiting run: %v", api.log)
	}
	out, err = m.Call("wait", []byte(`["/a","/b"]`), api, host.DefaultBudget)
	if err != nil || !reflect.DeepEqual(out.Wait, []string{"/a", "/b"}) {
		t.Fatalf("wait on two paths: %+v %v", out, err)
	}
	api.log = nil
	_, err = run(t, m, "fail", `{"code":-42,"message":"no quorum of widgets"}`, api)
	wantCode(t, err, -42, "no quorum of widgets")
	_, err = run(t, m, "fail", `{"code":-8}`, api)
	wantCode(t, err, -8)
	if !reflect.DeepEqual(api.log, []string{"create /q/before-fail-0000000002", "create /q/before-fail-0000000003"}) {
		t.Fatalf("writes of failing runs (the server discards them): %v", api.log)
	}
}

func TestThrowAfterWrites(t *testing.T) {
	api := newFakeAPI()
	m := compile(t, `
exports.half = function () {
	zk.create('/one');
	zk.create('/two');
	undefinedFunction();
};`)
	_, err := run(t, m, "half", ``, api)
	wantCode(t, err, -7001, "ReferenceError", "undefinedFunction", "at test:5:")
	// The API saw the writes; the server discards them because the call failed.
	if !reflect.DeepEqual(api.log, []string{"create /one", "create /two"}) {
		t.Fatalf("writes %v", api.log)
	}
}

// A module that catches the API's budget error and carries on still
// fails: the run stops at the budget error.
func TestAPIBudgetErrorCannotBeCaught(t *testing.T) {
	api := newFakeAPI()
	api.maxOps = 3
	m := compile(t, `
exports.greedy = function () {
	var made = 0;
	for (var k = 0; k < 10; k++) {
		try { zk.create('/n' + k); made++; } catch (e) {}
	}
	return made;
};
exports.finally = function () {
	try { for (;;) zk.exists('/'); } finally { return 'escaped'; }
};`)
	res, err := run(t, m, "greedy", ``, api)
	wantBudget(t, err, "more than 3 operations")
	if res != "" || len(api.log) != 3 {
		t.Fatalf("result %q, writes %v", res, api.log)
	}
	_, err = run(t, m, "finally", ``, api)
	wantBudget(t, err, "more than 3 operations")
}

func TestDeterminism(t *testing.T) {
	m := compile(t, `
var atInit = [Math.random(), Date.now()];
exports.roll = function () {
	return [Math.random(), zk.random(), Math.random(), Date.now(), new Date().getTime(), zk.now(), new Date().toISOString()];
};
exports.init = () => atInit;`)
	roll := func(seed uint64) string {
		api := newFakeAPI()
		api.seed = seed
		return mustRun(t, m, "roll", ``, api)
	}
	a, b, c := roll(7), roll(7), roll(8)
	if a != b {
		t.Fatalf("same txn, different runs:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatalf("different seeds, same numbers: %s", a)
	}
	if !strings.HasSuffix(a, `1700000000000,1700000000000,1700000000000,"2023-11-14T22:13:20.000Z"]`) {
		t.Fatalf("time is not the txn's: %s", a)
	}
	// The numbers are the API's: Math.random and zk.random share it.
	api := newFakeAPI()
	api.seed = 7
	want := fmt.Sprintf("[%v,%v,%v,", float64(api.Random()>>11)/(1<<53), float64(api.Random()>>11)/(1<<53), float64(api.Random()>>11)/(1<<53))
	if !strings.HasPrefix(a, want) {
		t.Fatalf("roll %s, want prefix %s", a, want)
	}
	if got := mustRun(t, compile(t, `var x = [Math.random(), Date.now()]; exports.f = () => x;`), "f", ``, api); got != mustRun(t, m, "init", ``, api) {
		t.Fatalf("module initialization differs between modules: %s", got)
	}
}

func TestSandbox(t *testing.T) {
	m := compile(t, `
exports.probe = function () {
	var out = {};
	for (const name of ['require', 'process', 'fs', 'module', 'exports', 'eval', 'BigInt', 'BigInt64Array',
			'setTimeout', 'setInterval', 'fetch', 'XMLHttpRequest', 'WebAssembly', 'Deno', 'Bun', 'global']) {
		out[name] = typeof globalThis[name];
	}
	out.console = typeof console.log + ':' + console.log('x'.repeat(1000));
	return out;
};
exports.codegen = function (a) {
	try {
		return String(a.how === 'new' ? new Function('return 1')() :
			a.how === 'ctor' ? (function () {}).constructor('return 1')() :
			a.how === 'async' ? Object.getPrototypeOf(async function () {}).constructor('return 1') :
			a.how === 'gen' ? Object.getPrototypeOf(function* () {}).constructor('yield 1') :
			a.how === 'indirect' ? (0, globalThis['ev' + 'al'])('1') : 'none');
	} catch (e) {
		return e.name + ': ' + e.message;
	}
};
exports.instanceOfFunction = () => [(() => 1) instanceof Function, typeof Function, Function.prototype.call.name];
exports.dataview = () => [typeof DataView.prototype.getBigInt64, typeof DataView.prototype.getInt32];
`)
	api := newFakeAPI()
	got := mustRun(t, m, "probe", ``, api)
	want := `{"require":"undefined","process":"undefined","fs":"undefined","module":"object","exports":"object","eval":"undefined","BigInt":"undefined","BigInt64Array":"undefined","setTimeout":"undefined","setInterval":"undefined","fetch":"undefined","XMLHttpRequest":"undefined","WebAssembly":"undefined","Deno":"undefined","Bun":"undefined","global":"undefined","console":"function:undefined"}`
	if got != want {
		t.Fatalf("globals:\n got %s\nwant %s", got, want)
	}
	for _, how := range []string{"new", "ctor", "async", "gen"} {
		if got := mustRun(t, m, "codegen", `{"how":"`+how+`"}`, api); got != `"EvalError: code generation from strings is disabled in recipes"` {
			t.Errorf("%s: %s", how, got)
		}
	}
	if got := mustRun(t, m, "codegen", `{"how":"indirect"}`, api); !strings.Contains(got, "TypeError") {
		t.Errorf("indirect eval: %s", got)
	}
	if got := mustRun(t, m, "instanceOfFunction", ``, api); got != `[true,"function","call"]` {
		t.Errorf("Function after the sandbox: %s", got)
	}
	if got := mustRun(t, m, "dataview", ``, api); got != `["undefined","function"]` {
		t.Errorf("DataView: %s", got)
	}
}

func TestPromises(t *testing.T) {
	m := compile(t, `
exports.ok = async function (a) { const v = await Promise.resolve(a + 1); return {v}; };
exports.rejects = async function () { await null; throw new ZKError(zk.BadVersion, 'BadVersion', 'stale'); };
exports.rejectsPlain = () => Promise.reject(new RangeError('nope'));
exports.pending = () => new Promise(() => {});
exports.waits = async function () { await null; zk.create('/w'); zk.wait('/flag'); return 'not reached'; };`)
	api := newFakeAPI()
	if got := mustRun(t, m, "ok", `1`, api); got != `{"v":2}` {
		t.Fatalf("async: %s", got)
	}
	_, err := run(t, m, "rejects", ``, api)
	wantCode(t, err, -103, "stale")
	_, err = run(t, m, "rejectsPlain", ``, api)
	wantCode(t, err, -7001, "RangeError: nope")
	_, err = run(t, m, "pending", ``, api)
	wantCode(t, err, -7001, "did not settle")
	out, err := m.Call("waits", nil, api, host.DefaultBudget)
	if err != nil || !reflect.DeepEqual(out.Wait, []string{"/flag"}) || !reflect.DeepEqual(api.log, []string{"create /w"}) {
		t.Fatalf("wait after await: %+v %v %v", out, err, api.log)
	}
}

// Module state lives in an instance: it persists while the instance is
// pooled, and goes with it after a budget failure.
func TestInstanceState(t *testing.T) {
	m := compile(t, `
var calls = 0;
exports.count = () => ++calls;
exports.spin = () => { calls = 1000; for (;;) {} };`)
	api := newFakeAPI()
	for want := 1; want <= 3; want++ {
		if got := mustRun(t, m, "count", ``, api); got != fmt.Sprint(want) {
			t.Fatalf("call %d: %s", want, got)
		}
	}
	_, err := run(t, m, "spin", ``, api)
	wantBudget(t, err, "time budget of 50ms exceeded")
	if got := mustRun(t, m, "count", ``, api); got != "1" {
		t.Fatalf("the instance that ran out of budget was reused: count = %s", got)
	}
}

// An instance whose calls allocated InstanceAlloc in all is replaced.
func TestInstanceRetires(t *testing.T) {
	m := compile(t, `
var calls = 0;
exports.count = () => ++calls;
exports.churn = () => { var s = 0; for (var k = 0; k < 50; k++) s += new Array(1000).fill(k).length; return ++calls; };`,
		WithLimits(Limits{InstanceAlloc: 1 << 20}))
	api := newFakeAPI()
	mustRun(t, m, "count", ``, api)
	for k := 0; k < 50; k++ {
		out, err := m.Call("churn", nil, api, host.Budget{Time: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if string(out.Result) == "1" {
			return // a fresh instance
		}
	}
	t.Fatal("an instance that allocated far more than InstanceAlloc is still in use")
}

func TestConcurrentCalls(t *testing.T) {
	m := compile(t, `exports.work = function (a) { var s = 0; for (var k = 0; k < a; k++) s += k; return s; };`)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				out, err := m.Call("work", []byte("1000"), newFakeAPI(), host.DefaultBudget)
				if err != nil || string(out.Result) != "499500" {
					t.Errorf("%s %v", out.Result, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestClose(t *testing.T) {
	m := compile(t, `exports.f = () => 1;`)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Call("f", nil, newFakeAPI(), host.DefaultBudget); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

// The package comment's lock works as it says.
func TestDocExample(t *testing.T) {
	m := compile(t, `
exports.acquire = function (args) {
	const kids = zk.children(args.dir);
	let mine = kids.find((k) => zk.exists(args.dir + '/' + k).ephemeralOwner === zk.session());
	if (mine === undefined) { // not a re-run, nor a retry
		mine = zk.create(args.dir + '/lock-', '', {ephemeral: true, sequential: true}).slice(args.dir.length + 1);
		kids.push(mine); // sequential names sort last
	}
	const i = kids.indexOf(mine);
	if (i > 0) {
		zk.wait(args.dir + '/' + kids[i - 1]); // runs again when the predecessor goes
	}
	return {path: args.dir + '/' + mine, token: zk.exists(args.dir + '/' + mine).czxid};
};`)
	api := newFakeAPI()
	api.mustCreate("/locks", "")
	args := []byte(`{"dir":"/locks"}`)
	api.session = 1
	out, err := m.Call("acquire", args, api, host.DefaultBudget)
	if err != nil || string(out.Result) != `{"path":"/locks/lock-0000000000","token":4294967298}` {
		t.Fatalf("first: %s %v", out.Result, err)
	}
	api.session = 2
	out, err = m.Call("acquire", args, api, host.DefaultBudget)
	if err != nil || !reflect.DeepEqual(out.Wait, []string{"/locks/lock-0000000000"}) {
		t.Fatalf("second: %+v %v", out, err)
	}
	out, err = m.Call("acquire", args, api, host.DefaultBudget) // a re-run before the change
	if err != nil || !reflect.DeepEqual(out.Wait, []string{"/locks/lock-0000000000"}) || len(api.kids("/locks")) != 2 {
		t.Fatalf("re-run: %+v %v %v", out, err, api.kids("/locks"))
	}
	api.Delete("/locks/lock-0000000000", -1)
	out, err = m.Call("acquire", args, api, host.DefaultBudget)
	if err != nil || string(out.Result) != `{"path":"/locks/lock-0000000001","token":4294967299}` {
		t.Fatalf("after the release: %s %v", out.Result, err)
	}
}
