package js

import (
	"strings"
	"testing"
	"time"

	"github.com/zkx-project/zkx/host"
)

// expectBudget compiles each body as a function, calls it, wants an
// ErrBudget, and then wants the module to answer a plain call: the
// process and the module survive.
func expectBudget(t *testing.T, budget host.Budget, opts []Option, cases map[string]string) {
	t.Helper()
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			m := compile(t, "exports.f = function () {\n"+body+"\n};\nexports.ok = () => 'ok';", opts...)
			api := newFakeAPI()
			out, err := m.Call("f", nil, api, budget)
			wantBudget(t, err)
			if out.Result != nil || out.Wait != nil {
				t.Fatalf("a failed call has an outcome: %+v", out)
			}
			if got := mustRun(t, m, "ok", ``, api); got != `"ok"` {
				t.Fatalf("after the failure: %s", got)
			}
		})
	}
}

func TestTimeBudget(t *testing.T) {
	expectBudget(t, host.DefaultBudget, nil, map[string]string{
		"loop":              `for (;;) {}`,
		"catch and finally": `for (;;) { try { for (;;) {} } catch (e) {} finally { continue; } }`,
		"in a getter":       `JSON.stringify({get x() { for (;;) {} }});`,
		"in a comparator":   `[2, 1].sort(() => { for (;;) {} });`,
		"in a toString":     `String({toString() { for (;;) {} }});`,
		"recursing timers":  `var n = 0; function f() { n++; return n < 100 ? f() : 0; } for (;;) { n = 0; f(); }`,
		"async":             `(async () => { for (;;) { await null; } })();`,
		// goja spreads in Go; the iterator checks for the halt at each step.
		"spread a sparse array": `return [...new Array(1e9)].length;`,
		"spread array keys":     `return Math.max(...new Array(2 ** 32 - 1).keys());`,
		"destructure":           `var [a, ...rest] = new Array(1e9); return rest.length;`,
		"new Set":               `return new Set(new Array(1e9)).size;`,
		// regexp2 backtracks exponentially; it gives up after 100ms, and the call
		// has been halted by then.
		"regexp backtracking": `return /^(a|aa)+\1$/.test('a'.repeat(40) + 'b');`,
	})
	t.Run("custom budget", func(t *testing.T) {
		m := compile(t, `exports.f = () => { for (;;) {} };`)
		_, err := m.Call("f", nil, newFakeAPI(), host.Budget{Time: 10 * time.Millisecond})
		wantBudget(t, err, "time budget of 10ms exceeded")
	})
}

// Sorting without a comparator runs in Go, which goja cannot interrupt; the
// guard's comparator checks for the halt. The arrays are built by one call
// (with time to spare) and sorted by the next, in the same instance (which
// a high InstanceAlloc keeps).
func TestSortIsInterruptible(t *testing.T) {
	m := compile(t, `
var a, t;
exports.build = () => {
	a = new Array(1 << 20).fill(0).map(Math.random);
	t = new Float64Array(1 << 19).map(Math.random);
	return a.length + t.length;
};
exports.sort = () => { a.sort(); return 'sorted'; };
exports.sortTyped = () => { t.sort(); return 'sorted'; };`, WithLimits(Limits{InstanceAlloc: 1 << 40, Elements: 1 << 20}))
	api := newFakeAPI()
	for _, fn := range []string{"sort", "sortTyped"} {
		if out, err := m.Call("build", nil, api, host.Budget{Time: 20 * time.Second}); err != nil || string(out.Result) != "1572864" {
			t.Fatalf("build: %s %v", out.Result, err)
		}
		_, err := m.Call(fn, nil, api, host.DefaultBudget)
		wantBudget(t, err, "time budget of 50ms exceeded")
	}
}

func TestStackBudget(t *testing.T) {
	expectBudget(t, host.DefaultBudget, nil, map[string]string{
		"recursion":          `function f(n) { return f(n + 1) + 1; } return f(0);`,
		"caught":             `function f(n) { return f(n + 1) + 1; } try { return f(0); } catch (e) { return 'caught'; }`,
		"through native map": `function f() { return [1].map(f); } return f();`,
		"through toJSON":     `var o = {toJSON() { return [o]; }}; return JSON.stringify(o);`,
		"through getters":    `var o = {get x() { return o.x; }}; return o.x;`,
		"nested arrays":      `var a = []; for (var k = 0; k < 5000; k++) a = [a]; return String(a);`,
		"constructors":       `class A { constructor() { new A(); } } new A();`,
	})
	m := compile(t, `exports.depth = (n) => { function f(k) { return k === 0 ? 0 : 1 + f(k - 1); } return f(n); };`)
	small := host.Budget{Stack: 50}
	if out, err := m.Call("depth", []byte("40"), newFakeAPI(), small); err != nil || string(out.Result) != "40" {
		t.Fatalf("40 frames within a 50-frame budget: %s %v", out.Result, err)
	}
	_, err := m.Call("depth", []byte("60"), newFakeAPI(), small)
	wantBudget(t, err, "stack budget of 50 frames exceeded")
}

// Builtins that would allocate without bound in one step fail the call
// instead; none of these allocates more than a few MiB before failing.
func TestHugeAllocations(t *testing.T) {
	expectBudget(t, host.DefaultBudget, nil, map[string]string{
		"Array fill":                 `return new Array(1e9).fill(0).length;`,
		"length setter then fill":    `var a = []; a.length = 1e9; a.fill(0);`,
		"index then fill":            `var a = []; a[1e9] = 1; a.fill(0);`,
		"array-like fill":            `Array.prototype.fill.call({length: 1e9}, 0);`,
		"repeat":                     `return 'x'.repeat(1e9);`,
		"repeat long":                `return 'xyz'.repeat(1e4).repeat(1e4);`,
		"padStart":                   `return 'x'.padStart(1e9);`,
		"padEnd":                     `return 'x'.padEnd(1e9, 'ab');`,
		"concat":                     `var s = 'x'.repeat(1e6); return ''.concat(...new Array(1e4).fill(s));`,
		"ArrayBuffer":                `return new ArrayBuffer(2e9);`,
		"resizable ArrayBuffer":      `return new ArrayBuffer(8, {maxByteLength: 2e9});`,
		"Uint8Array":                 `return new Uint8Array(1e9);`,
		"Float64Array":               `return new Float64Array(1e8);`,
		"typed array from length":    `return new Int32Array({length: 1e9});`,
		"typed array from sparse":    `return new Uint8Array(new Array(1e9));`,
		"TypedArray.from":            `return Uint8Array.from({length: 1e9});`,
		"typed array subclass":       `class Big extends Uint8Array {} return new Big(1e9);`,
		"Array.from array-like":      `return Array.from({length: 1e9});`,
		"Array.from sparse":          `return Array.from(new Array(1e9));`,
		"join of a sparse array":     `return new Array(1e9).join('x');`,
		"join of shared strings":     `return new Array(1e5).fill('x'.repeat(1e6)).join('');`,
		"toString of shared strings": `return String(new Array(1e5).fill('x'.repeat(1e6)));`,
		"toLocaleString":             `return new Array(1e5).fill('x'.repeat(1e6)).toLocaleString();`,
		"typed array join":           `return new Uint8Array(4e6).join('x'.repeat(100));`,
		"stringify shared strings":   `return JSON.stringify(new Array(1e5).fill('x'.repeat(1e6)));`,
		"stringify sparse":           `return JSON.stringify(new Array(1e8));`,
		"stringify a DAG":            `var o = [1]; for (var k = 0; k < 64; k++) o = [o, o]; return JSON.stringify(o);`,
		"stringify indented":         `var o = 1; for (var k = 0; k < 900; k++) o = [o]; return JSON.stringify(new Array(1e5).fill(o), null, 10);`,
		"replaceAll":                 `return 'x'.repeat(1e5).replaceAll('x', 'x'.repeat(1e5));`,
		"replaceAll every position":  `return 'x'.repeat(4e6).replaceAll('', '-');`,
		"replace $&":                 `return 'x'.repeat(1e5).replace(/x/g, '$&'.repeat(1000));`,
		"replace $backtick":          "return 'ab'.repeat(1e6).replace(/a/g, '$`');",
		"replace with a function":    `var big = 'x'.repeat(1e6); return 'x'.repeat(1e4).replace(/x/g, () => big);`,
		"regexp replace directly":    `return /x/g[Symbol.replace]('x'.repeat(1e5), '$&'.repeat(1000));`,
		"match every position":       `return 'x'.repeat(4e6).match(/(?:)/g).length;`,
		"split":                      `return 'x'.repeat(4e6).split('').length;`,
		"split by regexp":            `return 'x'.repeat(4e6).split(/(?:)/).length;`,
		"apply":                      `return Math.max.apply(null, {length: 1e9});`,
		"Reflect.apply":              `return Reflect.apply(Math.max, null, {length: 1e9});`,
		"Reflect.construct":          `return Reflect.construct(Array, {length: 1e9});`,
		"concat arrays":              `var a = new Array(1e6).fill(0); return a.concat(a, a).length;`,
		"concat spreadable":          `var o = {length: 1e9, [Symbol.isConcatSpreadable]: true}; return [].concat(o).length;`,
		"flat":                       `var a = new Array(1e3).fill(new Array(1e3).fill(new Array(1e3).fill(0))); return a.flat(2).length;`,
		"Object.keys of a string":    `return Object.keys('x'.repeat(4e6)).length;`,
		"Object.assign a string":     `return Object.assign({}, 'x'.repeat(4e6));`,
		"String.raw":                 `return String.raw({raw: {length: 1e9}});`,
		"indexOf on sparse":          `return new Array(1e9).indexOf(1);`,
		"reverse":                    `return new Array(1e9).reverse();`,
		"sort sparse":                `return new Array(1e9).sort();`,
		"forEach array-like":         `Array.prototype.forEach.call({length: 1e9}, () => {});`,
	})
}

// The watchdog samples the heap: a call that allocates more than
// Limits.Alloc (here 32 MiB) fails, whatever the allocation looks like.
func TestMemoryBudget(t *testing.T) {
	long := host.Budget{Time: 20 * time.Second}
	opts := []Option{WithLimits(Limits{Alloc: 32 << 20})}
	expectBudget(t, long, opts, map[string]string{
		"arrays":           `var keep = []; for (;;) keep.push(new Array(1000).fill(1));`,
		"doubling":         `var s = 'xy'; for (;;) s += s;`,
		"objects":          `var o = null; for (var k = 0; ; k++) o = {next: o, k: k, s: 'v' + k};`,
		"big steps":        `var keep = []; for (;;) keep.push(new Array(1 << 20).fill(0));`,
		"garbage":          `for (;;) new Array(1000).fill(1);`, // allocation, not growth, is what counts
		"bound names":      `var f = function () {}; for (;;) f = f.bind(null);`,
		"typed arrays":     `var keep = []; for (;;) keep.push(new Float64Array(1 << 16));`,
		"in a native loop": `var big = new Array(1e5).fill(0); for (;;) big.map((x) => [x, x, x]);`,
	})
	m := compile(t, `exports.f = () => { for (;;) new Array(1000).fill(1); };`, opts...)
	_, err := m.Call("f", nil, newFakeAPI(), long)
	wantBudget(t, err, "memory budget exceeded", "limit 32 MiB")
}

func TestGuardsDoNotFireOnOrdinaryWork(t *testing.T) {
	m := compile(t, `
exports.f = function () {
	var kids = [];
	for (var k = 0; k < 20000; k++) kids.push('lock-' + String(k).padStart(10, '0'));
	kids.sort();
	var s = kids.join('/');
	var parsed = JSON.parse(JSON.stringify({kids: kids}));
	var big = 'x'.repeat(1 << 16).split('').length;
	return [kids.indexOf('lock-0000019999'), s.length, parsed.kids.length, big,
		new Uint8Array(1 << 20).length, Array.from({length: 1000}).length, 'a-b'.replace(/-/g, '$&$&')];
};`)
	out, err := m.Call("f", nil, newFakeAPI(), host.Budget{Time: 5 * time.Second})
	if got := string(out.Result); err != nil || got != `[19999,319999,20000,65536,1048576,1000,"a--b"]` {
		t.Fatalf("got %s %v", got, err)
	}
}

func TestBudgetMessagesName(t *testing.T) {
	m := compile(t, `exports.f = () => 'x'.repeat(1e9); exports.g = () => new Uint8Array(1e9);`)
	_, err := m.Call("f", nil, newFakeAPI(), host.DefaultBudget)
	wantBudget(t, err, "String.prototype.repeat", "4194304")
	_, err = m.Call("g", nil, newFakeAPI(), host.DefaultBudget)
	if !strings.Contains(err.Error(), "typed array of 1000000000 elements") {
		t.Fatalf("message: %v", err)
	}
}
