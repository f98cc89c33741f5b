package js

import (
	"math"
	"strconv"

	"github.com/dop251/goja"
)

// goja cannot interrupt its builtins (Interrupt takes effect at the next
// JS instruction), and has no memory limit. So the builtins that could
// allocate without bound in one step, or loop for long without running JS,
// are replaced here by Go functions that check sizes against Limits and
// then call the original, or that call back into guards which check
// whether the watchdog halted the run (checkHalt). A guard that finds a
// size over its limit fails the call with ErrBudget (over).
//
// Lengths by themselves cost nothing in goja (new Array(1e9) and
// a.length = 1e9 only set a number: the array stays sparse), so they are
// not checked where they are made, which goja does not allow anyway, but
// where they are used: every Array.prototype method that loops over
// this.length, spreading (through the iterators' next), Array.from, apply.

// nativeFunc makes f a JS function with the given name and length.
func (i *instance) nativeFunc(name string, length int, f func(goja.FunctionCall) goja.Value) *goja.Object {
	o := i.rt.ToValue(f).(*goja.Object)
	must(o.DefineDataProperty("name", i.rt.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE))
	must(o.DefineDataProperty("length", i.rt.ToValue(length), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE))
	return o
}

type guardFunc func(orig goja.Callable) func(goja.FunctionCall) goja.Value

// guard replaces the method obj[name] by g(the original).
func (i *instance) guard(obj *goja.Object, name string, g guardFunc) {
	v, ok := obj.Get(name).(*goja.Object)
	if !ok {
		return
	}
	orig, ok := goja.AssertFunction(v)
	if !ok {
		return
	}
	f := i.nativeFunc(name, int(v.Get("length").ToInteger()), g(orig))
	must(obj.DefineDataProperty(name, f, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE))
}

func (i *instance) guardSymbol(obj *goja.Object, sym *goja.Symbol, name string, g guardFunc) {
	v, ok := obj.GetSymbol(sym).(*goja.Object)
	if !ok {
		return
	}
	orig, ok := goja.AssertFunction(v)
	if !ok {
		return
	}
	f := i.nativeFunc(name, int(v.Get("length").ToInteger()), g(orig))
	must(obj.DefineDataPropertySymbol(sym, f, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE))
}

// invoke calls a builtin from a guard, passing its exceptions through.
func (i *instance) invoke(f goja.Callable, this goja.Value, args ...goja.Value) goja.Value {
	v, err := f(this, args...)
	if err != nil {
		panic(err)
	}
	return v
}

// lengthOf is ToLength(o.length).
func lengthOf(o *goja.Object) int64 {
	v := o.Get("length")
	if v == nil {
		return 0
	}
	return max(v.ToInteger(), 0)
}

func (i *instance) checkElements(n int64, what string) {
	if n > int64(i.m.limits.Elements) {
		i.over("%s: %d elements is more than the limit of %d", what, n, i.m.limits.Elements)
	}
}

func (i *instance) checkString(n int64, what string) {
	if n > int64(i.m.limits.String) {
		i.over("%s: a string of %d characters is longer than the limit of %d", what, n, i.m.limits.String)
	}
}

// thisString is RequireObjectCoercible(this) then ToString.
func (i *instance) thisString(call goja.FunctionCall, what string) goja.String {
	if goja.IsUndefined(call.This) || goja.IsNull(call.This) {
		panic(i.rt.NewTypeError("%s called on null or undefined", what))
	}
	return i.toStr(call.This)
}

// toStr is ToString: goja leaves numbers and booleans as they are.
func (i *instance) toStr(v goja.Value) goja.String {
	p := v.ToString()
	if s, ok := p.(goja.String); ok {
		return s
	}
	return i.str(p.String())
}

func (i *instance) str(s string) goja.String { return i.rt.ToValue(s).(goja.String) }

func (i *instance) isArray(v goja.Value) bool {
	return i.invoke(i.arrayIsArray, goja.Undefined(), v).ToBoolean()
}

// installGuards replaces the builtins that need it. protos holds the
// prototypes the prelude found.
func (i *instance) installGuards(protos *goja.Object) {
	rt := i.rt
	i.comma, i.empty, i.dollar = i.str(","), i.str(""), i.str("$")
	i.minusOne, i.zero, i.one = rt.ToValue(-1), rt.ToValue(0), rt.ToValue(1)
	global := rt.GlobalObject()
	object := func(o *goja.Object, name string) *goja.Object { return o.Get(name).(*goja.Object) }

	array := object(global, "Array")
	i.arrayIsArray, _ = goja.AssertFunction(array.Get("isArray"))
	arrayProto := object(array, "prototype")
	for _, name := range []string{"copyWithin", "every", "fill", "filter", "find", "findIndex", "findLast",
		"findLastIndex", "flatMap", "forEach", "includes", "indexOf", "lastIndexOf", "map", "reduce",
		"reduceRight", "reverse", "shift", "slice", "some", "splice", "toReversed", "toSpliced", "unshift", "with"} {
		i.guard(arrayProto, name, i.lengthGuard("Array.prototype."+name))
	}
	i.guard(arrayProto, "concat", i.concatGuard)
	i.guard(arrayProto, "flat", i.flatGuard)
	stringCompare := i.nativeFunc("compare", 2, i.stringCompare)
	i.guard(arrayProto, "sort", i.sortGuard("Array.prototype.sort", stringCompare))
	i.guard(arrayProto, "toSorted", i.sortGuard("Array.prototype.toSorted", stringCompare))
	must(arrayProto.DefineDataProperty("join", i.nativeFunc("join", 1, i.join), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE))
	must(arrayProto.DefineDataProperty("toLocaleString", i.nativeFunc("toLocaleString", 0, i.toLocaleString), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE))
	i.guard(array, "from", func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			switch items := call.Argument(0).(type) {
			case goja.String:
				i.checkElements(int64(items.Length()), "Array.from")
			case *goja.Object:
				i.checkElements(lengthOf(items), "Array.from")
			}
			return i.invoke(orig, call.This, call.Arguments...)
		}
	})

	typedArrayProto := object(object(protos, "typedArray"), "prototype")
	numberCompare := i.nativeFunc("compare", 2, i.numberCompare)
	i.guard(typedArrayProto, "sort", i.sortGuard("TypedArray.prototype.sort", numberCompare))
	i.guard(typedArrayProto, "toSorted", i.sortGuard("TypedArray.prototype.toSorted", numberCompare))
	i.guard(typedArrayProto, "join", i.typedArrayJoin)
	i.guard(typedArrayProto, "toLocaleString", func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			i.checkString(lengthOf(call.This.ToObject(i.rt))*26, "TypedArray.prototype.toLocaleString")
			return i.invoke(orig, call.This, call.Arguments...)
		}
	})

	// Spreading, destructuring, for-of, Array.from, new Set(...) step
	// through these in Go; each step now checks for a halt.
	for _, name := range []string{"arrayIterator", "stringIterator", "regexpStringIterator"} {
		i.guard(object(protos, name), "next", func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
			return func(call goja.FunctionCall) goja.Value {
				i.checkHalt()
				return i.invoke(orig, call.This)
			}
		})
	}

	applyGuard := func(what string, argList int) guardFunc {
		return func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
			return func(call goja.FunctionCall) goja.Value {
				if list, ok := call.Argument(argList).(*goja.Object); ok {
					i.checkElements(lengthOf(list), what)
				}
				return i.invoke(orig, call.This, call.Arguments...)
			}
		}
	}
	i.guard(object(object(global, "Function"), "prototype"), "apply", applyGuard("Function.prototype.apply", 1))
	reflect := object(global, "Reflect")
	i.guard(reflect, "apply", applyGuard("Reflect.apply", 2))
	i.guard(reflect, "construct", applyGuard("Reflect.construct", 1))

	stringObj := object(global, "String")
	stringProto := object(stringObj, "prototype")
	i.guard(stringProto, "repeat", i.repeatGuard)
	i.guard(stringProto, "padStart", i.padGuard("String.prototype.padStart"))
	i.guard(stringProto, "padEnd", i.padGuard("String.prototype.padEnd"))
	i.guard(stringProto, "concat", i.stringConcatGuard)
	i.guard(stringProto, "split", i.splitGuard("String.prototype.split", 1))
	i.guard(stringProto, "replace", i.stringReplaceGuard("String.prototype.replace", false))
	i.guard(stringProto, "replaceAll", i.stringReplaceGuard("String.prototype.replaceAll", true))
	i.guard(stringObj, "raw", func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			if cooked, ok := call.Argument(0).(*goja.Object); ok {
				if raw, ok := cooked.Get("raw").(*goja.Object); ok {
					i.checkElements(lengthOf(raw), "String.raw")
				}
			}
			return i.invoke(orig, call.This, call.Arguments...)
		}
	})

	regexp := object(global, "RegExp")
	i.regexpCtor = regexp
	regexpProto := object(regexp, "prototype")
	i.regexpExecValue = object(regexpProto, "exec")
	i.regexpExec, _ = goja.AssertFunction(i.regexpExecValue)
	i.guardSymbol(regexpProto, goja.SymReplace, "[Symbol.replace]", i.regexpReplaceGuard)
	i.guardSymbol(regexpProto, goja.SymMatch, "[Symbol.match]", i.regexpMatchGuard)
	i.guardSymbol(regexpProto, goja.SymSplit, "[Symbol.split]", func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		split := i.splitGuard("RegExp.prototype[Symbol.split]", 1)(orig)
		return func(call goja.FunctionCall) goja.Value {
			if rx, ok := call.This.(*goja.Object); ok {
				s := i.toStr(call.Argument(0))
				i.precount(rx, s, "RegExp.prototype[Symbol.split]", true)
				call.Arguments = append([]goja.Value{s}, call.Arguments[min(1, len(call.Arguments)):]...)
			}
			return split(call)
		}
	})

	// Own keys of a string or typed array are its indexes, all listed in
	// one step.
	keysGuard := func(what string, from int) guardFunc {
		return func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
			return func(call goja.FunctionCall) goja.Value {
				for k := from; k < len(call.Arguments); k++ {
					switch a := call.Arguments[k].(type) {
					case goja.String:
						i.checkElements(int64(a.Length()), what)
					case *goja.Object:
						i.checkElements(lengthOf(a), what)
					}
				}
				return i.invoke(orig, call.This, call.Arguments...)
			}
		}
	}
	objectCtor := object(global, "Object")
	for _, name := range []string{"keys", "values", "entries", "getOwnPropertyNames", "getOwnPropertyDescriptors"} {
		i.guard(objectCtor, name, keysGuard("Object."+name, 0))
	}
	i.guard(objectCtor, "assign", keysGuard("Object.assign", 1))
	i.guard(reflect, "ownKeys", keysGuard("Reflect.ownKeys", 0))

	i.syntaxError = object(global, "SyntaxError")
	json := object(global, "JSON")
	i.jsonParse, _ = goja.AssertFunction(json.Get("parse"))
	i.guard(json, "parse", i.jsonParseGuard)
	i.jsonHookFn = i.nativeFunc("replacer", 2, i.jsonHook)
	i.guard(json, "stringify", i.jsonStringifyGuard)
	i.stringify, _ = goja.AssertFunction(json.Get("stringify"))
}

// lengthGuard checks this.length before a method that loops over it.
func (i *instance) lengthGuard(what string) guardFunc {
	return func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			i.checkElements(lengthOf(call.This.ToObject(i.rt)), what)
			return i.invoke(orig, call.This, call.Arguments...)
		}
	}
}

func (i *instance) concatGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		n := i.spreadLength(call.This.ToObject(i.rt))
		for _, a := range call.Arguments {
			n += i.spreadLength(a)
			i.checkElements(n, "Array.prototype.concat")
		}
		i.checkElements(n, "Array.prototype.concat")
		return i.invoke(orig, call.This, call.Arguments...)
	}
}

// spreadLength is how many elements concat takes from v.
func (i *instance) spreadLength(v goja.Value) int64 {
	o, ok := v.(*goja.Object)
	if !ok {
		return 1
	}
	if s := o.GetSymbol(goja.SymIsConcatSpreadable); s != nil && !goja.IsUndefined(s) {
		if s.ToBoolean() {
			return lengthOf(o)
		}
		return 1
	}
	if i.isArray(o) {
		return lengthOf(o)
	}
	return 1
}

// flatGuard counts what flat would produce (shared sub-arrays can make it
// the product of lengths) before it builds it.
func (i *instance) flatGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		o := call.This.ToObject(i.rt)
		n := lengthOf(o)
		i.checkElements(n, "Array.prototype.flat")
		depth := int64(1)
		if d := call.Argument(0); !goja.IsUndefined(d) {
			depth = max(d.ToInteger(), 0)
		}
		type level struct {
			o    *goja.Object
			k, n int64
		}
		stack := []level{{o, 0, n}}
		count, steps := int64(0), 0
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.k == top.n {
				stack = stack[:len(stack)-1]
				continue
			}
			if steps++; steps&1023 == 0 {
				i.checkHalt()
			}
			v := top.o.Get(strconv.FormatInt(top.k, 10))
			top.k++
			if sub, ok := v.(*goja.Object); ok && int64(len(stack)) <= depth && i.isArray(sub) {
				m := lengthOf(sub)
				i.checkElements(count+m, "Array.prototype.flat")
				stack = append(stack, level{sub, 0, m})
				continue
			}
			count++
			i.checkElements(count, "Array.prototype.flat")
		}
		return i.invoke(orig, call.This, call.Arguments...)
	}
}

// sortGuard gives sort without a comparator one that checks for a halt:
// the default comparison runs in Go and cannot be interrupted.
func (i *instance) sortGuard(what string, compare *goja.Object) guardFunc {
	return func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			i.checkElements(lengthOf(call.This.ToObject(i.rt)), what)
			if goja.IsUndefined(call.Argument(0)) {
				return i.invoke(orig, call.This, compare)
			}
			return i.invoke(orig, call.This, call.Arguments...)
		}
	}
}

// stringCompare is Array.prototype.sort's default order (sort itself puts
// undefined last and never passes it).
func (i *instance) stringCompare(call goja.FunctionCall) goja.Value {
	i.checkHalt()
	switch c := i.toStr(call.Argument(0)).CompareTo(i.toStr(call.Argument(1))); {
	case c < 0:
		return i.minusOne
	case c > 0:
		return i.one
	}
	return i.zero
}

// numberCompare is TypedArray.prototype.sort's default order: numeric,
// -0 before +0, NaN last.
func (i *instance) numberCompare(call goja.FunctionCall) goja.Value {
	i.checkHalt()
	x, y := call.Argument(0).ToFloat(), call.Argument(1).ToFloat()
	switch {
	case math.IsNaN(x) && math.IsNaN(y):
		return i.zero
	case math.IsNaN(x):
		return i.one
	case math.IsNaN(y):
		return i.minusOne
	case x < y:
		return i.minusOne
	case x > y:
		return i.one
	case x == 0 && y == 0 && math.Signbit(x) != math.Signbit(y):
		if math.Signbit(x) {
			return i.minusOne
		}
		return i.one
	}
	return i.zero
}

// join is Array.prototype.join, in Go so that its result is bounded (an
// array of n references to one long string joins to n times its length)
// and its loop can be halted.
func (i *instance) join(call goja.FunctionCall) goja.Value {
	o := call.This.ToObject(i.rt)
	n := lengthOf(o)
	i.checkElements(n, "Array.prototype.join")
	sep := i.comma
	if s := call.Argument(0); !goja.IsUndefined(s) {
		sep = i.toStr(s)
	}
	return i.joinWith(o, n, sep, false, "Array.prototype.join")
}

func (i *instance) toLocaleString(call goja.FunctionCall) goja.Value {
	o := call.This.ToObject(i.rt)
	n := lengthOf(o)
	i.checkElements(n, "Array.prototype.toLocaleString")
	return i.joinWith(o, n, i.comma, true, "Array.prototype.toLocaleString")
}

func (i *instance) joinWith(o *goja.Object, n int64, sep goja.String, locale bool, what string) goja.Value {
	for _, p := range i.joining {
		if p == o {
			return i.empty // a cycle joins to "", as in V8 and goja
		}
	}
	if len(i.joining) >= i.budget.Stack {
		i.over("stack budget of %d frames exceeded (%s of nested arrays)", i.budget.Stack, what)
	}
	i.joining = append(i.joining, o)
	defer func() { i.joining = i.joining[:len(i.joining)-1] }()
	var b goja.StringBuilder
	total, limit := int64(0), int64(i.m.limits.String)
	for k := int64(0); k < n; k++ {
		if k&1023 == 1023 {
			i.checkHalt()
		}
		if k > 0 {
			b.WriteString(sep)
			total += int64(sep.Length())
		}
		el := o.Get(strconv.FormatInt(k, 10))
		if el == nil || goja.IsUndefined(el) || goja.IsNull(el) {
			continue
		}
		var s goja.String
		if locale {
			f, ok := goja.AssertFunction(el.ToObject(i.rt).Get("toLocaleString"))
			if !ok {
				panic(i.rt.NewTypeError("%s: element %d has no toLocaleString method", what, k))
			}
			s = i.toStr(i.invoke(f, el))
		} else {
			s = i.toStr(el)
		}
		total += int64(s.Length())
		if total > limit {
			i.checkString(total, what)
		}
		b.WriteString(s)
	}
	i.checkString(total, what)
	return b.String()
}

func (i *instance) typedArrayJoin(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		o := call.This.ToObject(i.rt)
		n := lengthOf(o)
		sep := i.comma
		if s := call.Argument(0); !goja.IsUndefined(s) {
			sep = i.toStr(s)
		}
		// A number prints in at most 25 characters.
		if n*(25+int64(sep.Length())) <= int64(i.m.limits.String) {
			return i.invoke(orig, o, sep)
		}
		return i.joinWith(o, n, sep, false, "TypedArray.prototype.join")
	}
}

// checkArrayBuffer is the prelude's check of new ArrayBuffer(args).
func (i *instance) checkArrayBuffer(call goja.FunctionCall) goja.Value {
	args := call.Argument(0).ToObject(i.rt)
	limit := int64(i.m.limits.Buffer)
	if n := args.Get("0"); n != nil && n.ToInteger() > limit {
		i.over("ArrayBuffer of %d bytes is larger than the limit of %d", n.ToInteger(), limit)
	}
	if opts, ok := args.Get("1").(*goja.Object); ok {
		if m := opts.Get("maxByteLength"); m != nil && m.ToInteger() > limit {
			i.over("ArrayBuffer of up to %d bytes is larger than the limit of %d", m.ToInteger(), limit)
		}
	}
	return goja.Undefined()
}

// checkTypedArray is the prelude's check of new XxxArray(args); size is
// the element size.
func (i *instance) checkTypedArray(call goja.FunctionCall) goja.Value {
	args := call.Argument(0).ToObject(i.rt)
	size := max(call.Argument(1).ToInteger(), 1)
	var n int64
	switch a := args.Get("0").(type) {
	case nil:
		return goja.Undefined()
	case *goja.Object:
		if a.ClassName() == "ArrayBuffer" {
			return goja.Undefined() // a view: allocates nothing
		}
		n = lengthOf(a)
	default:
		if goja.IsUndefined(a) {
			return goja.Undefined()
		}
		n = a.ToInteger()
	}
	if limit := int64(i.m.limits.Buffer); n > limit/size {
		i.over("typed array of %d elements of %d bytes is larger than the limit of %d bytes", n, size, limit)
	}
	return goja.Undefined()
}
