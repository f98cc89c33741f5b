package js

import (
	"strconv"

	"github.com/dop251/goja"
)

// jsonMaxDepth is the deepest JSON that JSON.parse accepts: goja's decoder
// recurses once per level.
const jsonMaxDepth = 10000

func (i *instance) jsonParseGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		text := i.toStr(call.Argument(0))
		if text.Length() > jsonMaxDepth && jsonDepth(text) > jsonMaxDepth {
			e, err := i.rt.New(i.syntaxError, i.rt.ToValue("JSON.parse: nesting deeper than "+strconv.Itoa(jsonMaxDepth)))
			if err != nil {
				panic(err)
			}
			panic(e)
		}
		return i.invoke(orig, call.This, text, call.Argument(1))
	}
}

// jsonDepth is the deepest bracket nesting of text, outside strings.
func jsonDepth(text goja.String) int {
	depth, deepest, inString := 0, 0, false
	for k, n := 0, text.Length(); k < n; k++ {
		c := text.CharAt(k)
		switch {
		case inString && c == '\\':
			k++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// jsonHook is one JSON.stringify in progress.
type jsonHook struct {
	user    goja.Callable // the caller's replacer function
	list    []goja.Value  // the caller's property list
	hasList bool
	gap     int64 // indentation per level
	depth   map[*goja.Object]int64
	size    int64 // estimated length of the output so far
}

// jsonStringifyGuard runs the builtin with a replacer of ours (jsonHook),
// which it calls for every value: that makes the Go loop haltable and lets
// the output be counted (shared references make it grow as the product of
// sizes). The caller's replacer, function or property list, is applied by
// ours.
func (i *instance) jsonStringifyGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		value, replacer, space := call.Argument(0), call.Argument(1), call.Argument(2)
		var h jsonHook
		if f, ok := goja.AssertFunction(replacer); ok {
			h.user = f
		} else if r, ok := replacer.(*goja.Object); ok && i.isArray(r) {
			h.hasList = true
			seen := map[string]bool{}
			for k, n := int64(0), lengthOf(r); k < n; k++ {
				v := r.Get(strconv.FormatInt(k, 10))
				switch e := v.(type) {
				case goja.String:
				case *goja.Object:
					if c := e.ClassName(); c != "String" && c != "Number" {
						continue
					}
				default:
					if typeOf(v) != "number" {
						continue
					}
				}
				key := i.toStr(v)
				if !seen[key.String()] {
					seen[key.String()] = true
					h.list = append(h.list, key)
				}
			}
		}
		switch s := space.(type) {
		case goja.String:
			h.gap = int64(min(s.Length(), 10))
		case *goja.Object:
			switch s.ClassName() {
			case "Number":
				h.gap = min(max(s.ToInteger(), 0), 10)
			case "String":
				h.gap = int64(min(i.toStr(s).Length(), 10))
			}
		default:
			if typeOf(space) == "number" {
				h.gap = min(max(space.ToInteger(), 0), 10)
			}
		}
		if h.gap > 0 {
			h.depth = map[*goja.Object]int64{}
		}
		i.jsonHooks = append(i.jsonHooks, h)
		defer func() { i.jsonHooks = i.jsonHooks[:len(i.jsonHooks)-1] }()
		return i.invoke(orig, call.This, value, i.jsonHookFn, space)
	}
}

func (i *instance) jsonHook(call goja.FunctionCall) goja.Value {
	key, value := call.Argument(0), call.Argument(1)
	if len(i.jsonHooks) == 0 {
		return value
	}
	i.checkHalt()
	if user := i.jsonHooks[len(i.jsonHooks)-1].user; user != nil {
		value = i.invoke(user, call.This, key, value) // may stringify in turn
	}
	h := &i.jsonHooks[len(i.jsonHooks)-1]
	if o, ok := value.(*goja.Object); ok && h.hasList {
		if _, fn := goja.AssertFunction(o); !fn && !i.isArray(o) {
			// Plain objects order integer-like keys first, so a list
			// with such keys comes out in a different order than the
			// spec's; nothing else differs.
			picked := i.rt.NewObject()
			for _, k := range h.list {
				v := o.Get(k.String())
				if v == nil {
					v = goja.Undefined()
				}
				must(picked.Set(k.String(), v))
			}
			value = picked
		}
	}
	size := int64(1) // the comma
	holder, _ := call.This.(*goja.Object)
	if k, ok := key.(goja.String); ok && holder != nil && holder.ClassName() != "Array" {
		size += int64(k.Length()) + 3
	}
	switch v := value.(type) {
	case goja.String:
		size += int64(v.Length()) + 2
	case *goja.Object:
		size += 2
	default:
		size += jsonNumberLength(v)
	}
	if h.gap > 0 {
		d := h.depth[holder]
		size += h.gap*d + 1
		if o, ok := value.(*goja.Object); ok {
			h.depth[o] = d + 1
		}
	}
	h.size += size
	i.checkString(h.size, "JSON.stringify")
	return value
}

// jsonNumberLength bounds how long a primitive that is not a string prints.
func jsonNumberLength(v goja.Value) int64 {
	switch x := v.Export().(type) {
	case int64:
		n := int64(1)
		if x < 0 {
			n, x = 2, -x
		}
		for ; x >= 10; x /= 10 {
			n++
		}
		return n
	case bool:
		return 5
	case nil:
		return 4
	}
	return 24
}
