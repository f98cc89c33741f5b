package js

import "fmt"

// checkSource looks at a module's source before goja parses it, and refuses
// two things:
//
//   - Nesting deeper than maxNesting. goja's parser and compiler recurse once
//     per level of nesting, and a Go stack overflow is fatal to the process
//     (no recover): a few megabytes of "((((" or "a=a=a=" or "!!!!" or
//     "f()()()" take the server down. The scanner counts open brackets plus,
//     per bracket level, the operators, calls and nesting keywords of the
//     statement at hand (what makes a chain the parser or compiler recurses
//     on). It over-counts rather than under-counts; the limit is two orders
//     of magnitude below what crashes.
//   - BigInt literals (10n). BigInt arithmetic (3n ** 10000000n, 1n << 10n**10n)
//     runs in one uninterruptible step of unbounded time and memory.
//
// It is a tokenizer that knows comments, strings, template literals and
// regular expression literals well enough to skip them; it is not a parser,
// and whatever it lets through goja still checks.
func checkSource(name string, src []byte, maxNesting int) error {
	s := scanner{src: src, max: maxNesting}
	s.frames = append(s.frames, frame{})
	s.total = 1
	if msg := s.run(); msg != "" {
		line, col := position(src, s.errPos)
		return &compileError{msg: fmt.Sprintf("SyntaxError: %s: Line %d:%d %s", name, line, col, msg)}
	}
	return nil
}

// position turns a byte offset into goja-style 1-based line and column.
func position(src []byte, off int) (line, col int) {
	line, col = 1, 1
	for i := 0; i < off && i < len(src); i++ {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

type tokKind uint8

const (
	tNone      tokKind = iota
	tIdent             // identifier, or a keyword that can end an expression (this, null, ...)
	tKeyword           // any other keyword
	tLiteral           // number, string, template, regular expression
	tOp                // operator punctuation
	tOpen              // ( [ {
	tClose             // ) ] }
	tSep               // , ;
	tPostfix           // ++ or -- after an operand
	tCtrlClose         // the ) closing the head of if/for/while/with
)

type frame struct {
	open     byte // '(', '[', '{', or '$' for a template's ${
	chain    int  // operators and nesting keywords of the current statement
	ctrlHead bool // the ( of if/for/while/with
}

type scanner struct {
	src    []byte
	pos    int
	max    int
	frames []frame
	total  int // len(frames) + the chains of all frames: the nesting estimate
	errPos int

	prev        tokKind
	prevWord    string // the previous token, when it was a keyword or identifier
	prevBrace   bool   // the previous token closed a { } (not a ${ })
	newline     bool   // a line break since the previous token
	inTemplate  bool   // resume scanning inside a template literal
	templateEnd int
}

func (s *scanner) top() *frame { return &s.frames[len(s.frames)-1] }

func (s *scanner) grow(tokPos int) string {
	s.top().chain++
	s.total++
	if s.total > s.max {
		s.errPos = tokPos
		return s.tooDeep()
	}
	return ""
}

func (s *scanner) tooDeep() string {
	return fmt.Sprintf("nesting deeper than %d levels (brackets, operator or call chains, else-if chains)", s.max)
}

func (s *scanner) reset() {
	f := s.top()
	s.total -= f.chain
	f.chain = 0
}

// continuesStatement is true of tokens that cannot start a statement, so a
// line break or a closing brace before them does not end one.
func continuesStatement(kind tokKind, word string) bool {
	switch kind {
	case tIdent:
		return false
	case tKeyword:
		switch word {
		case "else", "catch", "finally", "in", "instanceof", "of", "extends":
			return true
		}
		return false
	case tLiteral:
		return false
	}
	return true
}

func endsExpression(kind tokKind) bool {
	switch kind {
	case tIdent, tLiteral, tClose, tPostfix:
		return true
	}
	return false
}

// nestingKeywords are the keywords whose operand or body the parser
// reaches by recursion.
var nestingKeywords = map[string]bool{
	"if": true, "for": true, "while": true, "do": true, "with": true, "new": true,
	"typeof": true, "void": true, "delete": true, "await": true, "yield": true,
	"in": true, "instanceof": true, "extends": true,
}

var keywords = map[string]bool{
	"break": true, "case": true, "catch": true, "class": true, "const": true, "continue": true,
	"debugger": true, "default": true, "delete": true, "do": true, "else": true, "export": true,
	"extends": true, "finally": true, "for": true, "function": true, "if": true, "import": true,
	"in": true, "instanceof": true, "new": true, "return": true, "switch": true, "throw": true,
	"try": true, "typeof": true, "var": true, "void": true, "while": true, "with": true,
	"yield": true, "let": true, "static": true, "await": true, "of": true, "async": true,
}

// token is called for every significant token, before s.prev is updated.
func (s *scanner) token(kind tokKind, word string, at int) string {
	if (s.newline && endsExpression(s.prev) || s.prevBrace) && !continuesStatement(kind, word) {
		s.reset() // a new statement (automatic semicolon insertion, or after a block)
	}
	if kind == tKeyword && (word == "case" || word == "default") {
		s.reset()
	}
	if kind == tKeyword && nestingKeywords[word] {
		if msg := s.grow(at); msg != "" {
			return msg
		}
	}
	s.prev, s.prevWord, s.prevBrace, s.newline = kind, word, false, false
	return ""
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' || c == '\\' || c == '#' || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func isOpChar(c byte) bool {
	switch c {
	case '=', '<', '>', '!', '+', '-', '*', '%', '&', '|', '^', '~', '?', ':', '.':
		return true
	}
	return false
}

func (s *scanner) run() string {
	src := s.src
	for s.pos < len(src) {
		if s.inTemplate {
			if msg := s.template(); msg != "" {
				return msg
			}
			continue
		}
		c := src[s.pos]
		at := s.pos
		switch {
		case c == '\n' || c == '\r' || c == 0xe2 && s.pos+2 < len(src) && src[s.pos+1] == 0x80 && (src[s.pos+2] == 0xa8 || src[s.pos+2] == 0xa9):
			s.newline = true
			s.pos++
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			s.pos++
		case c == '/' && s.pos+1 < len(src) && src[s.pos+1] == '/':
			for s.pos < len(src) && src[s.pos] != '\n' && src[s.pos] != '\r' {
				s.pos++
			}
		case c == '/' && s.pos+1 < len(src) && src[s.pos+1] == '*':
			s.pos += 2
			for s.pos < len(src) && !(src[s.pos] == '*' && s.pos+1 < len(src) && src[s.pos+1] == '/') {
				if src[s.pos] == '\n' || src[s.pos] == '\r' {
					s.newline = true
				}
				s.pos++
			}
			s.pos += 2
		case c == '/':
			if endsExpression(s.prev) {
				s.pos++
				if s.pos < len(src) && src[s.pos] == '=' {
					s.pos++
				}
				if msg := s.token(tOp, "", at); msg != "" {
					return msg
				}
				if msg := s.grow(at); msg != "" {
					return msg
				}
				continue
			}
			if msg := s.token(tLiteral, "", at); msg != "" {
				return msg
			}
			s.regexp()
		case c == '\'' || c == '"':
			if msg := s.token(tLiteral, "", at); msg != "" {
				return msg
			}
			s.pos++
			for s.pos < len(src) && src[s.pos] != c && src[s.pos] != '\n' {
				if src[s.pos] == '\\' {
					s.pos++
				}
				s.pos++
			}
			s.pos++
		case c == '`':
			tagged := endsExpression(s.prev) // f`a``b`: a call chain
			if msg := s.token(tLiteral, "", at); msg != "" {
				return msg
			}
			if tagged {
				if msg := s.grow(at); msg != "" {
					return msg
				}
			}
			s.pos++
			s.inTemplate = true
		case c >= '0' && c <= '9' || c == '.' && s.pos+1 < len(src) && src[s.pos+1] >= '0' && src[s.pos+1] <= '9':
			if msg := s.token(tLiteral, "", at); msg != "" {
				return msg
			}
			for s.pos < len(src) && (isIdentPart(src[s.pos]) || src[s.pos] == '.' ||
				(src[s.pos] == '+' || src[s.pos] == '-') && (src[s.pos-1] == 'e' || src[s.pos-1] == 'E')) {
				s.pos++
			}
			if src[s.pos-1] == 'n' {
				s.errPos = at
				return "BigInt literals are not supported in recipes"
			}
		case isIdentStart(c):
			for s.pos < len(src) && isIdentPart(src[s.pos]) {
				if src[s.pos] == '\\' {
					s.pos++
				}
				s.pos++
			}
			word := string(src[at:min(s.pos, len(src))])
			kind := tIdent
			if keywords[word] {
				kind = tKeyword
			}
			if msg := s.token(kind, word, at); msg != "" {
				return msg
			}
		case c == '(' || c == '[' || c == '{':
			call := c != '{' && endsExpression(s.prev)
			ctrl := c == '(' && s.prev == tKeyword && (s.prevWord == "if" || s.prevWord == "for" || s.prevWord == "while" || s.prevWord == "with")
			if msg := s.token(tOpen, "", at); msg != "" {
				return msg
			}
			if call { // f(x)(y), a[0][1]: a chain the compiler recurses on
				if msg := s.grow(at); msg != "" {
					return msg
				}
			}
			s.pos++
			s.frames = append(s.frames, frame{open: c, ctrlHead: ctrl})
			s.total++
			if s.total > s.max {
				s.errPos = at
				return s.tooDeep()
			}
		case c == ')' || c == ']' || c == '}':
			s.pos++
			f := s.top()
			open := byte('{')
			switch c {
			case ')':
				open = '('
			case ']':
				open = '['
			}
			if len(s.frames) > 1 && (f.open == open || c == '}' && f.open == '$') {
				if msg := s.token(tClose, "", at); msg != "" {
					return msg
				}
				s.total -= 1 + f.chain
				s.frames = s.frames[:len(s.frames)-1]
				switch {
				case f.open == '$':
					s.inTemplate = true
				case f.ctrlHead:
					s.prev = tCtrlClose
				case c == '}':
					s.prevBrace = true
				}
			} else if msg := s.token(tClose, "", at); msg != "" { // unbalanced: goja will say so
				return msg
			}
		case c == ',' || c == ';':
			if msg := s.token(tSep, "", at); msg != "" {
				return msg
			}
			s.pos++
			s.reset()
		case isOpChar(c):
			op := punctuator(src[s.pos:])
			s.pos += len(op)
			if (op == "++" || op == "--") && endsExpression(s.prev) && !s.newline {
				if msg := s.token(tPostfix, "", at); msg != "" {
					return msg
				}
				continue
			}
			if msg := s.token(tOp, "", at); msg != "" {
				return msg
			}
			if msg := s.grow(at); msg != "" {
				return msg
			}
		default:
			s.pos++
		}
	}
	return ""
}

// punctuators are JavaScript's operator punctuators made of isOpChar
// characters, longest first.
var punctuators = []string{
	">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=",
	"=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=",
	"%=", "&=", "|=", "^=", "**", "<<", ">>",
}

// punctuator returns the operator at the start of b (b[0] is an isOpChar).
func punctuator(b []byte) string {
	for _, p := range punctuators {
		if len(b) >= len(p) && string(b[:len(p)]) == p {
			return p
		}
	}
	return string(b[:1])
}

// regexp skips a regular expression literal (s.pos at its opening slash).
func (s *scanner) regexp() {
	src := s.src
	s.pos++
	inClass := false
	for s.pos < len(src) && src[s.pos] != '\n' && src[s.pos] != '\r' {
		switch c := src[s.pos]; {
		case c == '\\':
			s.pos++
		case c == '[':
			inClass = true
		case c == ']':
			inClass = false
		case c == '/' && !inClass:
			s.pos++
			for s.pos < len(src) && isIdentPart(src[s.pos]) {
				s.pos++
			}
			return
		}
		s.pos++
	}
}

// template skips template literal text up to its end or the next ${.
func (s *scanner) template() string {
	src := s.src
	for s.pos < len(src) {
		switch src[s.pos] {
		case '\\':
			s.pos += 2
			continue
		case '`':
			s.pos++
			s.inTemplate = false
			s.prev = tLiteral
			return ""
		case '$':
			if s.pos+1 < len(src) && src[s.pos+1] == '{' {
				at := s.pos
				s.pos += 2
				s.inTemplate = false
				s.frames = append(s.frames, frame{open: '$'})
				s.total++
				s.prev = tOpen
				if s.total > s.max {
					s.errPos = at
					return s.tooDeep()
				}
				return ""
			}
		}
		s.pos++
	}
	s.inTemplate = false
	return ""
}
