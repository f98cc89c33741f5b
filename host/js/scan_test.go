package js

import (
	"strings"
	"testing"
)

func TestScannerAcceptsOrdinaryModules(t *testing.T) {
	var noSemicolons, elseIfs, cases, keys, numbers, statements strings.Builder
	for k := 0; k < 20000; k++ {
		noSemicolons.WriteString("x = x + 1\nfoo(x)\nconst y" + itoa(k) + " = [x, {a: x}]\ni++\n")
	}
	elseIfs.WriteString("if (x === 0) { y = 0 }")
	for k := 1; k < 5000; k++ {
		elseIfs.WriteString(" else if (x === " + itoa(k) + ") { y = " + itoa(k) + " }")
	}
	cases.WriteString("switch (x) {")
	for k := 0; k < 20000; k++ {
		cases.WriteString("case " + itoa(k) + ": case -" + itoa(k) + ":\n")
	}
	cases.WriteString("}")
	keys.WriteString("var o = {")
	numbers.WriteString("var n = [")
	for k := 0; k < 50000; k++ {
		keys.WriteString("k" + itoa(k) + ": {a: [1, 2], b: 'x'},\n")
		numbers.WriteString(itoa(k) + ", ")
	}
	keys.WriteString("};")
	numbers.WriteString("];")
	for k := 0; k < 20000; k++ {
		statements.WriteString("function f" + itoa(k) + "() { return 1 }\nclass C" + itoa(k) + " { m() {} }\n")
	}
	for name, src := range map[string]string{
		"recipe": `
// A lock: the (lowest) sequential child holds it; the others wait ( on
/* their predecessor [ { ( */
'use strict';
const PREFIX = 'lock-';
exports.acquire = function (args) {
	const dir = args.dir.replace(/\/+$/, '');      // regex with brackets: /[(]/
	const re = /^lock-(\d{10})$/, odd = /[)\]}]/g, n = 10 / 2 / 1;
	if (!zk.exists(dir)) zk.create(dir);
	const me = zk.create(` + "`${dir}/${PREFIX}`" + `, JSON.stringify({s: zk.session()}), {ephemeral: true, sequential: true});
	const kids = (zk.children(dir) || []).filter((k) => re.test(k)).sort();
	const i = kids.indexOf(me.slice(dir.length + 1));
	return i === 0 ? {path: me, token: zk.exists(me).czxid, note: "a '10n' string"} : zk.wait(` + "`${dir}/${kids[i - 1]}`" + `);
};
exports.n = () => [1e3, 0x1f, 1.5e-3, .5, 0b101, 0o17];
`,
		"no semicolons":       noSemicolons.String(),
		"else-ifs":            "var x, y;\n" + elseIfs.String(),
		"switch":              "var x;\n" + cases.String(),
		"object":              keys.String(),
		"array":               numbers.String(),
		"statements":          statements.String(),
		"bigint-looking text": "var s = '10n', t = \"0x1fn\", u = `1n ${'2n'} 3n`; // 4n\n/* 5n */ var r = /6n/; var a10n = 1; var o = {n: 1}; o.n10n = 2;",
	} {
		if err := checkSource("m", []byte(src), DefaultLimits.Nesting); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestScannerRefuses(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"var a = 1;\nvar b = 10n;", "SyntaxError: m: Line 2:9 BigInt"},
		{"var b = 0x1fn;", "Line 1:9 BigInt"},
		{"var b = `${1n}`;", "BigInt"},
		{strings.Repeat("[", 10001), "Line 1:10000 nesting deeper than 10000"},
		{"x = " + strings.Repeat("a.b(", 6000), "nesting deeper"},
		{"x = " + strings.Repeat("a = ", 10001) + "1", "nesting deeper"},
		{"x = " + strings.Repeat("- ", 10001) + "1", "nesting deeper"},
		{"x = " + strings.Repeat("typeof ", 10001) + "1", "nesting deeper"},
		{"x = " + strings.Repeat("1 + ", 10001) + "1", "nesting deeper"},
		{"x = " + strings.Repeat("c ? d : ", 5001) + "1", "nesting deeper"},
		{"x = " + strings.Repeat("f()", 10001), "nesting deeper"},
		{"x = " + strings.Repeat("a[0]", 10001), "nesting deeper"},
		{"x = " + strings.Repeat("y => ", 10001) + "1", "nesting deeper"},
		{strings.Repeat("if (a)\n", 10001) + "1", "nesting deeper"},
		{strings.Repeat("a:\n", 10001) + "1", "nesting deeper"},
		{"if (a) {}" + strings.Repeat(" else if (a) {}", 10001), "nesting deeper"},
		{"x = f" + strings.Repeat("`a`", 10001), "nesting deeper"},
		{"x = " + strings.Repeat("class extends ", 10001) + "Object {}", "nesting deeper"},
		{"x = `" + strings.Repeat("${`", 10001) + strings.Repeat("`}", 10001) + "`", "nesting deeper"},
	} {
		err := checkSource("m", []byte(c.src), DefaultLimits.Nesting)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40q: %v, want %q", c.src, err, c.want)
		}
	}
}

// The scanner must not panic on anything, valid JavaScript or not.
func FuzzCheckSource(f *testing.F) {
	for _, s := range []string{"", "`", "`${", "/", "'\\", "/*", "0x", "a\\", "1.e+", "}}}", "a=/[/]/", "#!x", "`${`${}`}`", "x\u2028y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_ = checkSource("f", []byte(src), 50)
	})
}
