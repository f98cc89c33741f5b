package js

import (
	"errors"
	"math"
	"strconv"

	"github.com/dop251/goja"

	"github.com/zkx-project/zkx/core/tree"
	"github.com/zkx-project/zkx/host"
)

// preludeSource sets up the sandbox of every instance before the module
// runs: ZKError, no code generation from strings, no BigInt, a console
// that writes nowhere, and size checks on the constructors that allocate
// (through the Go functions in guards). It returns what install needs.
const preludeSource = `(function (global, guards) {
	'use strict';
	class ZKError extends Error {
		constructor(code, name, message) {
			super(message);
			this.code = code;
			this.name = name;
		}
	}
	Object.defineProperty(ZKError.prototype, 'name', {value: 'ZKError', writable: true, configurable: true});
	Object.defineProperty(global, 'ZKError', {value: ZKError, writable: true, configurable: true});

	const noCodegen = function Function() {
		throw new EvalError('code generation from strings is disabled in recipes');
	};
	Object.defineProperty(noCodegen, 'prototype', {value: Function.prototype});
	for (const f of [function () {}, async function () {}, function* () {}]) {
		Object.defineProperty(Object.getPrototypeOf(f), 'constructor', {value: noCodegen, writable: true, configurable: true});
	}
	Object.defineProperty(global, 'Function', {value: noCodegen, writable: true, configurable: true});
	delete global.eval;

	delete global.BigInt;
	delete global.BigInt64Array;
	delete global.BigUint64Array;
	for (const m of ['getBigInt64', 'getBigUint64', 'setBigInt64', 'setBigUint64']) {
		delete DataView.prototype[m];
	}

	const noop = function () {};
	Object.defineProperty(global, 'console', {
		value: Object.freeze({log: noop, info: noop, warn: noop, error: noop, debug: noop, trace: noop}),
		writable: true, configurable: true,
	});

	const construct = Reflect.construct;
	function guardConstructor(name, check) {
		const C = global[name];
		if (typeof C !== 'function') {
			return;
		}
		const W = {[name]: function (...args) {
			if (new.target === undefined) {
				return C(...args); // throws: a constructor needs new
			}
			check(args);
			return construct(C, args, new.target);
		}}[name];
		for (const k of Reflect.ownKeys(C)) {
			if (k !== 'prototype' && k !== 'name') {
				Object.defineProperty(W, k, Object.getOwnPropertyDescriptor(C, k));
			}
		}
		Object.defineProperty(W, 'prototype', {value: C.prototype, writable: false});
		Object.defineProperty(C.prototype, 'constructor', {value: W, writable: true, configurable: true});
		Object.setPrototypeOf(W, Object.getPrototypeOf(C));
		Object.defineProperty(global, name, {value: W, writable: true, configurable: true});
	}
	guardConstructor('ArrayBuffer', guards.arrayBuffer);
	for (const name of ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
		'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array']) {
		const C = global[name];
		if (typeof C === 'function') {
			const size = C.BYTES_PER_ELEMENT;
			guardConstructor(name, (args) => guards.typedArray(args, size));
		}
	}

	global.module = {exports: {}};
	global.exports = global.module.exports;

	return {
		ZKError,
		typedArray: Object.getPrototypeOf(Int8Array),
		arrayIterator: Object.getPrototypeOf([][Symbol.iterator]()),
		stringIterator: Object.getPrototypeOf(''[Symbol.iterator]()),
		regexpStringIterator: Object.getPrototypeOf(/x/[Symbol.matchAll]('')),
	};
})`

var prelude = goja.MustCompile("prelude", preludeSource, true)

// install sets up a fresh runtime: the prelude, the builtin guards, zk.
func (i *instance) install() {
	rt := i.rt
	guards := rt.NewObject()
	must(guards.Set("arrayBuffer", i.checkArrayBuffer))
	must(guards.Set("typedArray", i.checkTypedArray))
	fn, err := rt.RunProgram(prelude)
	must(err)
	setup, _ := goja.AssertFunction(fn)
	res, err := setup(goja.Undefined(), rt.GlobalObject(), guards)
	must(err)
	got := res.(*goja.Object)
	i.zkError = got.Get("ZKError").(*goja.Object)
	i.zkErrorProto = i.zkError.Get("prototype").(*goja.Object)
	i.haltValue = rt.NewGoError(errors.New("the run was stopped"))
	i.installGuards(got)
	i.installZK()
}

func must(err error) {
	if err != nil {
		panic("js: setting up a runtime: " + err.Error())
	}
}

func (i *instance) installZK() {
	rt := i.rt
	zk := rt.NewObject()
	for _, f := range []struct {
		name string
		fn   func(goja.FunctionCall) goja.Value
	}{
		{"get", i.zkGet}, {"exists", i.zkExists}, {"children", i.zkChildren},
		{"create", i.zkCreate}, {"set", i.zkSet}, {"delete", i.zkDelete},
		{"wait", i.zkWait}, {"fail", i.zkFail}, {"session", i.zkSession},
		{"now", i.zkNow}, {"random", i.zkRandom}, {"timedOut", i.zkTimedOut},
	} {
		must(zk.Set(f.name, i.nativeFunc(f.name, 1, f.fn)))
	}
	for _, c := range zkCodes {
		must(zk.Set(c.name, c.code))
	}
	freeze, _ := goja.AssertFunction(rt.Get("Object").(*goja.Object).Get("freeze"))
	_, err := freeze(goja.Undefined(), zk)
	must(err)
	must(rt.GlobalObject().DefineDataProperty("zk", zk, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE))
}

// callAPI returns the API of the running call, or throws: zk is only
// usable inside a call, not while the module initializes.
func (i *instance) callAPI(fn string) host.API {
	if i.api == nil {
		panic(i.rt.NewTypeError("zk.%s: the zk API is only available inside a call, not while the module initializes", fn))
	}
	return i.api
}

// apiError throws the ZKError for err, or stops the run: a budget error
// cannot be caught (the module must not go on after one), and an error
// that is not a ZooKeeper error is not the module's to handle.
func (i *instance) apiError(op, path string, err error) goja.Value {
	var he *host.Error
	switch {
	case errors.Is(err, host.ErrBudget):
		i.abort(stop{err: err, discard: false})
	case errors.As(err, &he):
		msg := op + " " + path + ": " + he.Message
		e, nerr := i.rt.New(i.zkError, i.rt.ToValue(he.Code), i.rt.ToValue(codeName(he.Code)), i.rt.ToValue(msg))
		if nerr != nil {
			panic(nerr)
		}
		panic(e)
	default:
		i.abort(stop{err: err})
	}
	return nil
}

func isNoNode(err error) bool {
	var he *host.Error
	return errors.As(err, &he) && he.Code == codeNoNode
}

func (i *instance) pathArg(call goja.FunctionCall, fn string) string {
	v := call.Argument(0)
	if _, ok := v.(goja.String); !ok {
		panic(i.rt.NewTypeError("zk.%s: path must be a string, not %s", fn, typeOf(v)))
	}
	return v.String()
}

func (i *instance) dataArg(v goja.Value, fn string) []byte {
	if goja.IsUndefined(v) || goja.IsNull(v) {
		return nil
	}
	if _, ok := v.(goja.String); !ok {
		panic(i.rt.NewTypeError("zk.%s: data must be a string, not %s", fn, typeOf(v)))
	}
	return []byte(v.String())
}

func (i *instance) versionArg(v goja.Value, fn string) int32 {
	if goja.IsUndefined(v) {
		return -1
	}
	f := v.ToFloat()
	if typeOf(v) != "number" || f != math.Trunc(f) || f < -1 || f > math.MaxInt32 {
		panic(i.rt.NewTypeError("zk.%s: version must be an integer from -1 (any version) to 2147483647, not %s", fn, v.String()))
	}
	return int32(f)
}

// typeOf is JS typeof, for messages and argument checks.
func typeOf(v goja.Value) string {
	switch v := v.(type) {
	case nil:
		return "undefined"
	case goja.String:
		return "string"
	case *goja.Object:
		if _, ok := goja.AssertFunction(v); ok {
			return "function"
		}
		return "object"
	}
	switch {
	case goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "object"
	}
	switch v.Export().(type) {
	case int64, float64:
		return "number"
	case bool:
		return "boolean"
	}
	return "symbol"
}

func hex(v int64) string { return "0x" + strconv.FormatUint(uint64(v), 16) }

func (i *instance) statValue(st tree.Stat) goja.Value {
	o := i.rt.NewObject()
	o.Set("czxid", st.Czxid)
	o.Set("mzxid", st.Mzxid)
	o.Set("pzxid", st.Pzxid)
	o.Set("ctime", st.Ctime)
	o.Set("mtime", st.Mtime)
	o.Set("version", st.Version)
	o.Set("cversion", st.Cversion)
	o.Set("aversion", st.Aversion)
	o.Set("ephemeralOwner", hex(st.EphemeralOwner))
	o.Set("dataLength", st.DataLength)
	o.Set("numChildren", st.NumChildren)
	return o
}

func (i *instance) zkGet(call goja.FunctionCall) goja.Value {
	api := i.callAPI("get")
	path := i.pathArg(call, "get")
	data, st, err := api.Get(path)
	if err != nil {
		if isNoNode(err) {
			return goja.Null()
		}
		return i.apiError("zk.get", path, err)
	}
	o := i.rt.NewObject()
	o.Set("data", string(data))
	o.Set("stat", i.statValue(st))
	return o
}

func (i *instance) zkExists(call goja.FunctionCall) goja.Value {
	api := i.callAPI("exists")
	path := i.pathArg(call, "exists")
	st, ok, err := api.Exists(path)
	switch {
	case err != nil && isNoNode(err):
		return goja.Null()
	case err != nil:
		return i.apiError("zk.exists", path, err)
	case !ok:
		return goja.Null()
	}
	return i.statValue(st)
}

func (i *instance) zkChildren(call goja.FunctionCall) goja.Value {
	api := i.callAPI("children")
	path := i.pathArg(call, "children")
	kids, err := api.Children(path)
	if err != nil {
		if isNoNode(err) {
			return goja.Null()
		}
		return i.apiError("zk.children", path, err)
	}
	vals := make([]any, len(kids))
	for k, name := range kids {
		vals[k] = name
	}
	return i.rt.NewArray(vals...)
}

func (i *instance) zkCreate(call goja.FunctionCall) goja.Value {
	api := i.callAPI("create")
	path := i.pathArg(call, "create")
	data := i.dataArg(call.Argument(1), "create")
	mode := host.ModePersistent
	switch opts := call.Argument(2).(type) {
	case *goja.Object:
		if opts.Get("ephemeral") != nil && opts.Get("ephemeral").ToBoolean() {
			mode |= host.ModeEphemeral
		}
		if opts.Get("sequential") != nil && opts.Get("sequential").ToBoolean() {
			mode |= host.ModePersistentSequential
		}
	default:
		if !goja.IsUndefined(opts) && !goja.IsNull(opts) {
			panic(i.rt.NewTypeError("zk.create: options must be an object like {ephemeral: true, sequential: true}"))
		}
	}
	created, err := api.Create(path, data, mode)
	if err != nil {
		return i.apiError("zk.create", path, err)
	}
	return i.rt.ToValue(created)
}

func (i *instance) zkSet(call goja.FunctionCall) goja.Value {
	api := i.callAPI("set")
	path := i.pathArg(call, "set")
	data := i.dataArg(call.Argument(1), "set")
	version := i.versionArg(call.Argument(2), "set")
	st, err := api.Set(path, data, version)
	if err != nil {
		return i.apiError("zk.set", path, err)
	}
	return i.statValue(st)
}

func (i *instance) zkDelete(call goja.FunctionCall) goja.Value {
	api := i.callAPI("delete")
	path := i.pathArg(call, "delete")
	version := i.versionArg(call.Argument(1), "delete")
	if err := api.Delete(path, version); err != nil {
		return i.apiError("zk.delete", path, err)
	}
	return goja.Undefined()
}

func (i *instance) zkWait(call goja.FunctionCall) goja.Value {
	i.callAPI("wait")
	var paths []string
	switch v := call.Argument(0).(type) {
	case goja.String:
		paths = []string{v.String()}
	case *goja.Object:
		n := v.Get("length")
		if n == nil || n.ToInteger() < 1 || n.ToInteger() > int64(i.m.limits.Elements) {
			panic(i.rt.NewTypeError("zk.wait: give a path or a non-empty array of paths"))
		}
		for k := int64(0); k < n.ToInteger(); k++ {
			p, ok := v.Get(strconv.FormatInt(k, 10)).(goja.String)
			if !ok {
				panic(i.rt.NewTypeError("zk.wait: path %d is not a string", k))
			}
			paths = append(paths, p.String())
		}
	default:
		panic(i.rt.NewTypeError("zk.wait: give a path or a non-empty array of paths"))
	}
	i.abort(stop{wait: paths})
	return nil
}

func (i *instance) zkFail(call goja.FunctionCall) goja.Value {
	i.callAPI("fail")
	c := call.Argument(0)
	f := c.ToFloat()
	if typeOf(c) != "number" || f != math.Trunc(f) || f == 0 || f < math.MinInt32 || f > math.MaxInt32 {
		panic(i.rt.NewTypeError("zk.fail: code must be a non-zero 32-bit integer (a ZooKeeper code such as zk.BadArguments, or your own negative code), not %s", c.String()))
	}
	msg := ""
	if m := call.Argument(1); !goja.IsUndefined(m) {
		msg = m.String()
	}
	i.abort(stop{err: &host.Error{Code: int32(f), Message: msg}})
	return nil
}

func (i *instance) zkSession(goja.FunctionCall) goja.Value {
	return i.rt.ToValue(hex(i.callAPI("session").Session()))
}

func (i *instance) zkNow(goja.FunctionCall) goja.Value {
	return i.rt.ToValue(i.callAPI("now").Now())
}

func (i *instance) zkRandom(goja.FunctionCall) goja.Value {
	i.callAPI("random")
	return i.rt.ToValue(i.random())
}

func (i *instance) zkTimedOut(goja.FunctionCall) goja.Value {
	return i.rt.ToValue(i.callAPI("timedOut").TimedOut())
}
