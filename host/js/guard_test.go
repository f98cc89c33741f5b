package js

import (
	"testing"
)

// The guarded builtins must behave as the builtins they replace. Each
// expression's JSON is compared with what V8 gives.
func TestGuardedBuiltinsKeepTheirMeaning(t *testing.T) {
	cases := []struct{ expr, want string }{
		// join, toString, toLocaleString
		{`[1, [2, [3]], null, undefined, 'a'].join()`, `"1,2,3,,,a"`},
		{`[1, 2].join(undefined)`, `"1,2"`},
		{`[1, 2].join(0)`, `"102"`},
		{`(() => { var a = [1]; a.push(a, 2); return a.join('-'); })()`, `"1--2"`},
		{`Array.prototype.join.call({length: 3, 0: 'a', 2: 'c'}, '-')`, `"a--c"`},
		{`Array.prototype.join.call('abc', '.')`, `"a.b.c"`},
		{`String([1, [2, 3]]) + [4]`, `"1,2,34"`},
		{`[1, 'a', null, {toLocaleString() { return 'L'; }}].toLocaleString()`, `"1,a,,L"`},
		{`[Array.prototype.join.name, Array.prototype.join.length, String.prototype.repeat.name, JSON.stringify.length]`, `["join",1,"repeat",3]`},
		// sort
		{`[10, 9, 1, undefined, 'b', 'a', 2].sort()`, `[1,10,2,9,"a","b",null]`},
		{`[3, 1, 2].sort((a, b) => b - a)`, `[3,2,1]`},
		{`(() => { var a = [3, , 1]; a.sort(); return [a.length, 1 in a, 2 in a, a[0]]; })()`, `[3,true,false,1]`},
		{`['b', 'a', '\uD83D\uDE00', '\uFF61'].sort().map((s) => s.charCodeAt(0))`, `[97,98,55357,65377]`},
		{`[2, 1].toSorted()`, `[1,2]`},
		{`Array.from(new Float64Array([3, NaN, 0, -0, -1]).sort()).map((x) => Object.is(x, -0) ? '-0' : String(x))`, `["-1","-0","0","3","NaN"]`},
		{`Array.from(new Int8Array([3, -1, 2]).sort((a, b) => b - a))`, `[3,2,-1]`},
		// strings
		{`['ab'.repeat(3), ''.repeat(1e9), 'x'.padStart(4, 'ab'), 'x'.padEnd(3), 'abc'.padStart(1e9, ''), 'a'.concat(1, null, [2, 3])]`, `["ababab","","abax","x  ","abc","a1null2,3"]`},
		{`[String.prototype.repeat.call(12, 2), 'a,b,,c'.split(','), 'a,b,c'.split(',', 2), 'abc'.split(''), 'a1b2'.split(/(\d)/), 'ab'.split(/(?:)/u, 1)]`, `["1212",["a","b","","c"],["a","b"],["a","b","c"],["a","1","b","2",""],["a"]]`},
		{`(() => { try { 'x'.repeat(-1); } catch (e) { return e.name; } })()`, `"RangeError"`},
		{`String.raw({raw: ['a', 'b', 'c']}, 1, 2)`, `"a1b2c"`},
		// replace, fast path (the builtin itself)
		{"'abcabc'.replace(/(b)(c)?/g, '[$1|$2|$&|$`|$\\'|$$|$3|$10|$01|$<x>]')", `"a[b|c|bc|a|abc|$|$3|b0|b|$<x>]a[b|c|bc|abca||$|$3|b0|b|$<x>]"`},
		{`'2024-05'.replace(/(?<y>\d+)-(?<m>\d+)/, '$<m>/$<y> $<nope>|$<')`, `"05/2024 |$<"`},
		{`'a.b.c'.replaceAll('.', '$&$&')`, `"a..b..c"`},
		{`'aaa'.replace(/a*?/g, '-')`, `"-a-a-a-"`},
		{`'x'.replace('x', () => '$&')`, `"$&"`},
		{`[...'a1b2'.matchAll(/\d/g)].map((m) => m[0] + m.index)`, `["11","23"]`},
		{`'a1b22'.match(/\d+/g)`, `["1","22"]`},
		// arrays
		{`[Array.from('ab'), Array.from({length: 2}, (_, k) => k * 2), Array.from(new Set([1, 1, 2]))]`, `[["a","b"],[0,2],[1,2]]`},
		{`[[1, [2, [3, [4]]]].flat(Infinity), [1, [2, [3]]].flat(), [[1], 2].flatMap((x) => x)]`, `[[1,2,3,4],[1,2,[3]],[1,2]]`},
		{`[[1].concat(2, [3, [4]], {length: 1, 0: 5}), [].concat({length: 2, 0: 'a', [Symbol.isConcatSpreadable]: true})]`, `[[1,2,3,[4],{"0":5,"length":1}],["a",null]]`},
		{`[new Array(3).fill(7), [1, 2, 3].indexOf(2), [1, 2, 3].includes(4), [1, 2, 3].reverse(), [3, 4].map((x) => x * 2)]`, `[[7,7,7],1,false,[3,2,1],[6,8]]`},
		{`[Math.max.apply(null, [1, 3, 2]), Reflect.apply(Math.min, null, [2, 1]), Reflect.construct(Date, [0]).getTime()]`, `[3,1,0]`},
		{`[Object.keys('ab'), Object.values({a: 1}), Object.entries({a: 1}), Object.assign({}, 'ab'), Reflect.ownKeys([1])]`, `[["0","1"],[1],[["a",1]],{"0":"a","1":"b"},["0","length"]]`},
		{`[...'a\uD83D\uDE00b'].length`, `3`},
		{`(() => { var n = 0; for (const x of [1, 2, 3]) n += x; for (const c of 'ab') n += c.length; return n; })()`, `8`},
		// typed arrays and buffers
		{`[new Uint8Array([1, 2, 3]).join('-'), String(new Int16Array([1, -1])), new Float32Array([0.5]).toLocaleString()]`, `["1-2-3","1,-1","0.5"]`},
		{`[new Uint8Array(3).length, new Uint8Array(new ArrayBuffer(8), 2, 3).length, Uint8Array.from([1, 2]).length, Int8Array.of(1, 2, 3).length]`, `[3,3,2,3]`},
		{`[Uint8Array.name, Uint8Array.length, Uint8Array.BYTES_PER_ELEMENT, Float64Array.BYTES_PER_ELEMENT, new Uint8Array(2).constructor === Uint8Array]`, `["Uint8Array",3,1,8,true]`},
		{`[Object.getPrototypeOf(Uint8Array) === Object.getPrototypeOf(Int8Array), new Uint8Array(1) instanceof Uint8Array, ArrayBuffer.isView(new Uint8Array(1))]`, `[true,true,true]`},
		{`(() => { class B extends Uint8Array { sum() { return this.reduce((a, b) => a + b, 0); } } var b = new B([1, 2, 3]); return [b instanceof B, b.sum(), b.map((x) => x * 2) instanceof B]; })()`, `[true,6,true]`},
		{`(() => { try { Uint8Array(2); } catch (e) { return e.name; } })()`, `"TypeError"`},
		{`[new ArrayBuffer(8).byteLength, new ArrayBuffer(8).slice(2).byteLength, new DataView(new ArrayBuffer(4)).getInt32(0)]`, `[8,6,0]`},
		{`new Uint8Array(new Uint8Array([5, 6]).buffer.slice(1))[0]`, `6`},
		// JSON
		{`JSON.stringify({a: 1, b: [1, 'x', null, undefined, () => 1], c: {toJSON(k) { return 'k=' + k; }}})`, `"{\"a\":1,\"b\":[1,\"x\",null,null,null],\"c\":\"k=c\"}"`},
		{`JSON.stringify({a: 1, b: {c: 2, a: 3}}, function (k, v) { return typeof v === 'number' ? v * 10 + (this === undefined ? 0 : 1) : v; })`, `"{\"a\":11,\"b\":{\"c\":21,\"a\":31}}"`},
		{`JSON.stringify({b: 1, a: {a: 1, c: 2}, c: [{a: 1, z: 2}]}, ['a', 'c', 'a'])`, `"{\"a\":{\"a\":1,\"c\":2},\"c\":[{\"a\":1}]}"`},
		{`JSON.stringify({a: [1, {b: 2}]}, null, 2)`, `"{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ]\n}"`},
		{`JSON.stringify([1], null, '--')`, `"[\n--1\n]"`},
		{`[JSON.stringify(undefined), JSON.stringify(() => 1), JSON.stringify('a"\u2028') === '"a\\"\u2028"', JSON.stringify(new Date(0)), JSON.stringify({x: {toJSON() { return JSON.stringify([1]); }}})]`, `[null,null,true,"\"1970-01-01T00:00:00.000Z\"","{\"x\":\"[1]\"}"]`},
		{`JSON.parse('{"a":[1,{"b":null}],"c":"\\u00e9"}', (k, v) => typeof v === 'number' ? v + 1 : v)`, `{"a":[2,{"b":null}],"c":"é"}`},
		{`(() => { try { JSON.parse('['.repeat(20000) + ']'.repeat(20000)); } catch (e) { return e.name + ': ' + e.message; } })()`, `"SyntaxError: JSON.parse: nesting deeper than 10000"`},
		{`JSON.parse('['.repeat(5000) + ']'.repeat(5000)).length`, `1`},
	}
	var src string
	for k, c := range cases {
		src += "exports.c" + itoa(k) + " = () => " + c.expr + ";\n"
	}
	m := compile(t, src)
	api := newFakeAPI()
	for k, c := range cases {
		if got := mustRun(t, m, "c"+itoa(k), ``, api); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.expr, got, c.want)
		}
	}
}

// When a replacement could make a string longer than Limits.String, the
// guard substitutes in Go (GetSubstitution) instead of the builtin. With the
// limit at 4000, every replace below takes that path (the subjects are
// padded with Z so that the worst case, not the actual result, is over the
// limit); it must give what the builtin gives.
func TestReplaceSubstitutionInGo(t *testing.T) {
	exprs := []string{
		"('abcabc' + Z).replace(/(b)(c)?/g, '[$1|$2|$&|$`|$\\'|$$|$3|$10|$01|$00|$0|$<x>|$]')",
		"('2024-05' + Z).replace(/(?<y>\\d+)-(?<m>\\d+)/, '$<m>/$<y> $<nope>|$<|$<m')",
		"('a1b2c3d4e5f6g7h8i9j0k' + Z).replace(/(a)(1)(b)(2)(c)(3)(d)(4)(e)(5)(f)(6)/, '$12$11$10$9$1x$13')",
		"('a.b.c' + Z).replaceAll('.', '$&$&$`')",
		"('a.b.c' + Z).replace('.', \"$'$$\")",
		"('aaa' + Z).replace(/a*?/g, '[$&]')",
		"('a\\uD83D\\uDE00b' + Z).replace(/\\uD83D\\uDE00/u, \"[$`|$']\")",
		"('xyz' + Z).replace(/q/g, '$&$&')",
		"('x' + Z).replace('x', '<$>')",
		"/b/g[Symbol.replace]('abcb' + Z, '<$&>')",
	}
	src := "var Z = 'z'.repeat(300);\n"
	for k, e := range exprs {
		src += "exports.c" + itoa(k) + " = () => " + e + ";\n"
	}
	builtin := compile(t, src)
	inGo := compile(t, src, WithLimits(Limits{String: 4000}))
	api := newFakeAPI()
	for k, e := range exprs {
		want := mustRun(t, builtin, "c"+itoa(k), ``, api)
		if got := mustRun(t, inGo, "c"+itoa(k), ``, api); got != want {
			t.Errorf("%s\n in Go %s\nbuiltin %s", e, got, want)
		}
	}
}

func itoa(k int) string {
	if k < 10 {
		return string(rune('0' + k))
	}
	return itoa(k/10) + string(rune('0'+k%10))
}
