package query

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// Eve's Python-style where: comparisons of a field with a literal joined by
// "and" and "or", with parentheses:
//
//	done == False and (title == "x" or prio >= 2) and tags in ["a", "b"]
//
// Literals are strings ('…' or "…"), numbers, True, False, None and lists.

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp    // == != < <= > >=
	tokPunct // ( ) [ ] ,
)

type token struct {
	kind tokKind
	text string
}

const maxTokens = 1000

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		if len(toks) > maxTokens {
			return nil, errorf("more than %d tokens", maxTokens)
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return nil, errorf("not valid UTF-8")
		case unicode.IsSpace(r):
			i += size
		case r == '_' || unicode.IsLetter(r):
			j := i
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				j += n
			}
			toks = append(toks, token{tokIdent, s[i:j]})
			i = j
		case r == '-' || r == '.' || (r >= '0' && r <= '9'):
			j := i + 1
			for j < len(s) && strings.ContainsRune("0123456789.eE+-", rune(s[j])) {
				if (s[j] == '+' || s[j] == '-') && s[j-1] != 'e' && s[j-1] != 'E' {
					break
				}
				j++
			}
			toks = append(toks, token{tokNumber, s[i:j]})
			i = j
		case r == '"' || r == '\'':
			var sb strings.Builder
			j := i + 1
			closed := false
			for j < len(s) {
				c := s[j]
				if c == byte(r) {
					closed = true
					j++
					break
				}
				if c == '\\' && j+1 < len(s) {
					switch s[j+1] {
					case 'n':
						sb.WriteByte('\n')
					case 't':
						sb.WriteByte('\t')
					default:
						sb.WriteByte(s[j+1])
					}
					j += 2
					continue
				}
				sb.WriteByte(c)
				j++
			}
			if !closed {
				return nil, errorf("unterminated string")
			}
			toks = append(toks, token{tokString, sb.String()})
			i = j
		case strings.HasPrefix(s[i:], "==") || strings.HasPrefix(s[i:], "!=") ||
			strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			toks = append(toks, token{tokOp, s[i : i+2]})
			i += 2
		case r == '<' || r == '>':
			toks = append(toks, token{tokOp, string(r)})
			i++
		case strings.ContainsRune("()[],", r):
			toks = append(toks, token{tokPunct, string(r)})
			i++
		default:
			return nil, errorf("unexpected character %q", r)
		}
	}
	return append(toks, token{kind: tokEOF}), nil
}

type parser struct {
	toks  []token
	pos   int
	sch   Schema
	depth int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) accept(k tokKind, text string) bool {
	if t := p.peek(); t.kind == k && t.text == text {
		p.pos++
		return true
	}
	return false
}

func parsePython(s string, sch Schema) (docquery.Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, sch: sch}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, errorf("unexpected %q", t.text)
	}
	return e, nil
}

func (p *parser) or() (docquery.Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errorf("nested more than %d deep", maxDepth)
	}
	var list docquery.Or
	for {
		e, err := p.and()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		if !p.accept(tokIdent, "or") {
			break
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

func (p *parser) and() (docquery.Expr, error) {
	var list docquery.And
	for {
		e, err := p.atom()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		if !p.accept(tokIdent, "and") {
			break
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

var pyOps = map[string]docquery.Op{
	"==": docquery.Eq, "!=": docquery.Ne, "<": docquery.Lt, "<=": docquery.Lte, ">": docquery.Gt, ">=": docquery.Gte,
}

func (p *parser) atom() (docquery.Expr, error) {
	if p.accept(tokPunct, "(") {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.accept(tokPunct, ")") {
			return nil, errorf("missing )")
		}
		return e, nil
	}
	name := p.next()
	if name.kind != tokIdent {
		return nil, errorf("expected a field name, got %q", name.text)
	}
	f, ok := p.sch.Field(name.text)
	if !ok {
		return nil, errorf("unknown field %q", name.text)
	}
	op := docquery.Op("")
	switch t := p.next(); {
	case t.kind == tokOp:
		op = pyOps[t.text]
	case t.kind == tokIdent && t.text == "in":
		op = docquery.In
	case t.kind == tokIdent && t.text == "not" && p.accept(tokIdent, "in"):
		op = docquery.Nin
	default:
		return nil, errorf("expected an operator after %q", name.text)
	}
	lit, err := p.literal(op == docquery.In || op == docquery.Nin)
	if err != nil {
		return nil, err
	}
	if op == docquery.In || op == docquery.Nin {
		return mongoCond(f, string(op), lit)
	}
	return mongoCond(f, string(op), lit)
}

// literal returns the JSON-like value of the next literal.
func (p *parser) literal(list bool) (any, error) {
	if list {
		if !p.accept(tokPunct, "[") && !p.accept(tokPunct, "(") {
			return nil, errorf("in needs a list")
		}
		vals := []any{}
		for {
			if p.accept(tokPunct, "]") || p.accept(tokPunct, ")") {
				return vals, nil
			}
			if len(vals) > 0 && !p.accept(tokPunct, ",") {
				return nil, errorf("expected , in list")
			}
			if p.accept(tokPunct, "]") || p.accept(tokPunct, ")") {
				return vals, nil
			}
			v, err := p.literal(false)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
		}
	}
	t := p.next()
	switch t.kind {
	case tokString:
		return t.text, nil
	case tokNumber:
		n := json.Number(t.text)
		if _, err := n.Float64(); err != nil {
			return nil, errorf("bad number %q", t.text)
		}
		return n, nil
	case tokIdent:
		switch t.text {
		case "True", "true":
			return true, nil
		case "False", "false":
			return false, nil
		case "None", "null":
			return nil, nil
		}
	}
	return nil, errorf("expected a value, got %q", t.text)
}
