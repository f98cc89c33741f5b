package zkx

import (
	"strconv"
	"unicode/utf8"
)

// Args reads a call's arguments when they are a flat JSON object (the
// clients' usual {"path": "/x", "delta": 1}) without encoding/json, whose
// reflection costs tens of microseconds per call inside WebAssembly:
//
//	a, err := zkx.ParseArgs(args)
//	path := a.String("path")
//	delta, err := a.Int("delta")
//
// Values that are objects or arrays are skipped (read them with
// encoding/json if a recipe needs them). A repeated field's last value
// wins, as with encoding/json.
type Args struct {
	fields map[string]argValue
}

type argValue struct {
	raw    string // a number, true/false/null, or the decoded string
	quoted bool
}

// ParseArgs parses a flat JSON object. Empty args are an empty object.
func ParseArgs(b []byte) (Args, error) {
	a := Args{fields: make(map[string]argValue, 4)}
	p := argParser{b: b}
	p.space()
	if p.done() {
		return a, nil
	}
	if !p.eat('{') {
		return a, p.fail("arguments must be a JSON object")
	}
	p.space()
	if p.eat('}') {
		return a, p.end()
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return a, p.fail("expected a field name")
		}
		p.space()
		if !p.eat(':') {
			return a, p.fail("expected ':'")
		}
		p.space()
		v, ok := p.value()
		if !ok {
			return a, p.fail("bad value for " + strconv.Quote(key))
		}
		a.fields[key] = v
		p.space()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return a, p.end()
		}
		return a, p.fail("expected ',' or '}'")
	}
}

// Has reports whether the object has field name.
func (a Args) Has(name string) bool { _, ok := a.fields[name]; return ok }

// String returns string field name ("" if absent or not a string).
func (a Args) String(name string) string {
	v := a.fields[name]
	if !v.quoted {
		return ""
	}
	return v.raw
}

// Int returns integer field name (0 if absent); a field that is not an
// integer is a BadArguments failure naming it.
func (a Args) Int(name string) (int64, error) {
	v, ok := a.fields[name]
	if !ok || !v.quoted && v.raw == "null" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v.raw, 10, 64)
	if err != nil || v.quoted {
		return 0, Fail(CodeBadArguments, strconv.Quote(name)+" must be an integer")
	}
	return n, nil
}

// Bool returns boolean field name (false if absent or not a boolean).
func (a Args) Bool(name string) bool {
	v := a.fields[name]
	return !v.quoted && v.raw == "true"
}

type argParser struct {
	b []byte
	i int
}

func (p *argParser) done() bool { return p.i >= len(p.b) }

func (p *argParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *argParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *argParser) end() error {
	p.space()
	if !p.done() {
		return p.fail("trailing bytes after the object")
	}
	return nil
}

func (p *argParser) fail(why string) error {
	return Fail(CodeBadArguments, "arguments must be a JSON object: "+why+" at byte "+strconv.Itoa(p.i))
}

// str reads a JSON string.
func (p *argParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	plain := true
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if plain {
				return string(s), true
			}
			return unquote(s)
		case c == '\\':
			plain = false
			p.i += 2
		case c >= utf8.RuneSelf:
			plain = false // checked and decoded by unquote
			p.i++
		case c < 0x20:
			return "", false
		default:
			p.i++
		}
	}
	return "", false
}

// unquote decodes the escapes of a JSON string's body; invalid UTF-8
// becomes U+FFFD, as encoding/json reads it.
func unquote(s []byte) (string, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			out = utf8.AppendRune(out, r) // RuneError for a bad byte
			i += size - 1
			continue
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return "", false
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(s) {
				return "", false
			}
			r, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 32)
			if err != nil {
				return "", false
			}
			i += 4
			rr := rune(r)
			if rr >= 0xd800 && rr < 0xdc00 && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if lo, err := strconv.ParseUint(string(s[i+3:i+7]), 16, 32); err == nil && lo >= 0xdc00 && lo < 0xe000 {
					rr = (rr-0xd800)<<10 | (rune(lo) - 0xdc00) + 0x10000
					i += 6
				}
			}
			out = utf8.AppendRune(out, rr)
		default:
			return "", false
		}
	}
	return string(out), true
}

// value reads a string, number, true, false or null, and skips an object
// or array (recording it as absent-valued).
func (p *argParser) value() (argValue, bool) {
	if p.done() {
		return argValue{}, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		return argValue{raw: s, quoted: true}, ok
	case c == '{' || c == '[':
		return argValue{raw: "null"}, p.skipNested()
	default:
		start := p.i
		for p.i < len(p.b) {
			c := p.b[p.i]
			if c == ',' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			p.i++
		}
		raw := string(p.b[start:p.i])
		switch raw {
		case "true", "false", "null":
			return argValue{raw: raw}, true
		}
		if _, err := strconv.ParseFloat(raw, 64); err != nil {
			return argValue{}, false
		}
		return argValue{raw: raw}, true
	}
}

// skipNested skips a JSON object or array, strings included.
func (p *argParser) skipNested() bool {
	depth := 0
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			if _, ok := p.str(); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		}
		p.i++
	}
	return false
}

// Object builds a flat JSON object result without encoding/json:
//
//	return zkx.Object().Int("value", v).Bool("timedOut", true).JSON(), nil
type ObjectBuilder struct{ b []byte }

// Object starts an empty JSON object.
func Object() *ObjectBuilder { return &ObjectBuilder{b: append(make([]byte, 0, 64), '{')} }

func (o *ObjectBuilder) key(name string) {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = appendJSONString(o.b, name)
	o.b = append(o.b, ':')
}

// Int adds an integer field.
func (o *ObjectBuilder) Int(name string, v int64) *ObjectBuilder {
	o.key(name)
	o.b = strconv.AppendInt(o.b, v, 10)
	return o
}

// Bool adds a boolean field.
func (o *ObjectBuilder) Bool(name string, v bool) *ObjectBuilder {
	o.key(name)
	o.b = strconv.AppendBool(o.b, v)
	return o
}

// String adds a string field.
func (o *ObjectBuilder) String(name, v string) *ObjectBuilder {
	o.key(name)
	o.b = appendJSONString(o.b, v)
	return o
}

// JSON returns the object's encoding.
func (o *ObjectBuilder) JSON() []byte { return append(o.b, '}') }

// appendJSONString quotes s as JSON (strconv.Quote's Go escapes such as
// \x00 are not JSON).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		case r == utf8.RuneError:
			b = append(b, `\ufffd`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
