package js

import (
	"math"
	"strings"

	"github.com/dop251/goja"
)

// precountFrom is the length of string from which the matches of a pattern
// are counted before replaceAll, replace, match or split collect them all
// at once.
const precountFrom = 1 << 16

func (i *instance) repeatGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		s := i.thisString(call, "String.prototype.repeat")
		count := call.Argument(0).ToNumber()
		if n := count.ToInteger(); n > 0 && s.Length() > 0 && n > int64(i.m.limits.String)/int64(s.Length()) {
			i.over("String.prototype.repeat: a string of %d×%d characters is longer than the limit of %d", s.Length(), n, i.m.limits.String)
		}
		return i.invoke(orig, s, count)
	}
}

func (i *instance) padGuard(what string) guardFunc {
	return func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			s := i.thisString(call, what)
			n := max(call.Argument(0).ToInteger(), 0)
			fill := call.Argument(1)
			if !goja.IsUndefined(fill) {
				fill = i.toStr(fill)
			}
			if n > int64(s.Length()) && (goja.IsUndefined(fill) || fill.(goja.String).Length() > 0) {
				i.checkString(n, what)
			}
			return i.invoke(orig, s, i.rt.ToValue(n), fill)
		}
	}
}

func (i *instance) stringConcatGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		s := i.thisString(call, "String.prototype.concat")
		total := int64(s.Length())
		args := make([]goja.Value, len(call.Arguments))
		for k, a := range call.Arguments {
			as := i.toStr(a)
			args[k] = as
			total += int64(as.Length())
			i.checkString(total, "String.prototype.concat")
		}
		return i.invoke(orig, s, args...)
	}
}

// splitGuard passes split a limit no larger than Limits.Elements+1, so it
// stops early, and fails the call if that many pieces came back.
func (i *instance) splitGuard(what string, limitArg int) guardFunc {
	return func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			lim := uint32(min(i.m.limits.Elements+1, math.MaxUint32))
			if l := call.Argument(limitArg); !goja.IsUndefined(l) {
				lim = min(lim, toUint32(l.ToFloat()))
			}
			args := append([]goja.Value(nil), call.Arguments...)
			for len(args) <= limitArg {
				args = append(args, goja.Undefined())
			}
			args[limitArg] = i.rt.ToValue(lim)
			res := i.invoke(orig, call.This, args...)
			if o, ok := res.(*goja.Object); ok {
				i.checkElements(lengthOf(o), what)
			}
			return res
		}
	}
}

func toUint32(f float64) uint32 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	m := math.Mod(math.Trunc(f), 1<<32)
	if m < 0 {
		m += 1 << 32
	}
	return uint32(m)
}

// stringReplaceGuard covers replace and replaceAll with a string pattern;
// a RegExp pattern goes to RegExp.prototype[Symbol.replace], guarded below.
func (i *instance) stringReplaceGuard(what string, all bool) guardFunc {
	return func(orig goja.Callable) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			pattern, repl := call.Argument(0), call.Argument(1)
			if p, ok := pattern.(*goja.Object); ok {
				if m := p.GetSymbol(goja.SymReplace); m != nil && !goja.IsUndefined(m) && !goja.IsNull(m) {
					return i.invoke(orig, call.This, call.Arguments...)
				}
			}
			if _, ok := goja.AssertFunction(repl); ok {
				return i.invoke(orig, call.This, call.Arguments...)
			}
			s := i.thisString(call, what)
			ps := i.toStr(pattern)
			if all && s.Length() >= precountFrom {
				// replaceAll finds every occurrence before it replaces one.
				n := int64(s.Length()) + 1
				if ps.Length() > 0 {
					n = int64(strings.Count(s.String(), ps.String()))
				}
				i.checkElements(n, what)
			}
			rs := i.toStr(repl)
			return i.invoke(orig, s, ps, i.replacement(s, rs, what))
		}
	}
}

func (i *instance) regexpReplaceGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		rx, ok := call.This.(*goja.Object)
		if !ok {
			return i.invoke(orig, call.This, call.Arguments...) // throws
		}
		s := i.toStr(call.Argument(0))
		i.precount(rx, s, "RegExp.prototype[Symbol.replace]", false)
		repl := call.Argument(1)
		if _, ok := goja.AssertFunction(repl); ok {
			return i.invoke(orig, rx, s, repl)
		}
		return i.invoke(orig, rx, s, i.replacement(s, i.toStr(repl), "RegExp.prototype[Symbol.replace]"))
	}
}

func (i *instance) regexpMatchGuard(orig goja.Callable) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		rx, ok := call.This.(*goja.Object)
		if !ok {
			return i.invoke(orig, call.This, call.Arguments...)
		}
		s := i.toStr(call.Argument(0))
		i.precount(rx, s, "RegExp.prototype[Symbol.match]", false)
		return i.invoke(orig, rx, s)
	}
}

// precount counts the matches of a regular expression in a long string
// before replace, match or split collects them all in one uninterruptible
// step (/(?:)/g matches at every position; goja's split finds every match
// whatever its limit). It runs a copy of the expression with the builtin
// exec, checking for a halt as it goes; an expression with its own exec
// runs JS at every match anyway. all counts every match of a non-global
// expression too, as split does.
func (i *instance) precount(rx *goja.Object, s goja.String, what string, all bool) {
	if s.Length() < precountFrom || !all && !rx.Get("global").ToBoolean() || rx.Get("exec") != i.regexpExecValue {
		return
	}
	flags := strings.ReplaceAll(rx.Get("flags").String(), "y", "")
	if !strings.Contains(flags, "g") {
		flags += "g"
	}
	clone, err := i.rt.New(i.regexpCtor, rx.Get("source"), i.rt.ToValue(flags))
	if err != nil {
		panic(err)
	}
	for count := int64(1); ; count++ {
		i.checkHalt()
		m, ok := i.invoke(i.regexpExec, clone, s).(*goja.Object)
		if !ok {
			return
		}
		i.checkElements(count, what)
		if i.toStr(m.Get("0")).Length() == 0 {
			must(clone.Set("lastIndex", clone.Get("lastIndex").ToInteger()+1))
		}
	}
}

// replacement returns repl itself when the result of replacing with it is
// surely within Limits.String, and otherwise a Go function that substitutes
// as the spec's GetSubstitution does while keeping count of the result.
func (i *instance) replacement(s, repl goja.String, what string) goja.Value {
	n, r := int64(s.Length()), int64(repl.Length())
	limit := int64(i.m.limits.String)
	// At most n+1 matches; a $ pattern takes at least two characters and
	// expands to at most n.
	if per := r + r/2*n; per <= limit && n+(n+1)*per <= limit {
		return repl
	}
	total := n
	return i.rt.ToValue(func(call goja.FunctionCall) goja.Value {
		i.checkHalt()
		out := i.substitute(call.Arguments, repl)
		total += int64(out.Length())
		i.checkString(total, what)
		return out
	})
}

// substitute is GetSubstitution for a replacer called with (matched,
// captures..., position, string[, groups]).
func (i *instance) substitute(args []goja.Value, repl goja.String) goja.String {
	n := len(args)
	var groups *goja.Object
	if n > 3 {
		if g, ok := args[n-1].(*goja.Object); ok {
			groups, n = g, n-1
		}
	}
	if n < 3 {
		return repl
	}
	matched, str := i.toStr(args[0]), i.toStr(args[n-1])
	pos := int(max(args[n-2].ToInteger(), 0))
	captures := args[1 : n-2]
	capture := func(k int) goja.String {
		if v := captures[k-1]; !goja.IsUndefined(v) {
			return i.toStr(v)
		}
		return i.empty
	}
	var b goja.StringBuilder
	rl, start := repl.Length(), 0
	for k := 0; k+1 < rl; k++ {
		if repl.CharAt(k) != '$' {
			continue
		}
		var sub goja.String
		used := 0
		switch c := repl.CharAt(k + 1); {
		case c == '$':
			sub, used = i.dollar, 2
		case c == '&':
			sub, used = matched, 2
		case c == '`':
			sub, used = str.Substring(0, min(pos, str.Length())), 2
		case c == '\'':
			tail := min(pos+matched.Length(), str.Length())
			sub, used = str.Substring(tail, str.Length()), 2
		case c >= '0' && c <= '9':
			d := int(c - '0')
			if k+2 < rl {
				if c2 := repl.CharAt(k + 2); c2 >= '0' && c2 <= '9' {
					if dd := d*10 + int(c2-'0'); dd >= 1 && dd <= len(captures) {
						sub, used = capture(dd), 3
					}
				}
			}
			if used == 0 && d >= 1 && d <= len(captures) {
				sub, used = capture(d), 2
			}
		case c == '<' && groups != nil:
			for e := k + 2; e < rl; e++ {
				if repl.CharAt(e) == '>' {
					if v := groups.Get(repl.Substring(k+2, e).String()); v != nil && !goja.IsUndefined(v) {
						sub = i.toStr(v)
					} else {
						sub = i.empty
					}
					used = e - k + 1
					break
				}
			}
		}
		if used == 0 {
			continue
		}
		b.WriteSubstring(repl, start, k)
		b.WriteString(sub)
		k += used - 1
		start = k + 1
	}
	b.WriteSubstring(repl, start, rl)
	return b.String()
}
