package search

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string
	num  float64
	pos  int
}

func isIdentStart(c byte) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '/' || c == ':'
}

func isNumberStart(s string, i int) bool {
	c := s[i]
	if c >= '0' && c <= '9' {
		return true
	}
	if (c == '-' || c == '+' || c == '.') && i+1 < len(s) {
		n := s[i+1]
		return (n >= '0' && n <= '9') || (n == '.' && c != '.')
	}
	return false
}

// lex splits a filter into tokens. Quoted key segments (metrics.`a.b`) are
// folded into the identifier with their quotes removed.
// cyclomatic: one case per token class, the lexer's whole table in one switch; splitting it would scatter the token grammar.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{kind: tokLParen, text: "(", pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tokRParen, text: ")", pos: i})
			i++
		case c == ',':
			toks = append(toks, token{kind: tokComma, text: ",", pos: i})
			i++
		case c == '=' || c == '!' || c == '<' || c == '>':
			t, n, err := lexOp(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case c == '\'' || c == '"':
			text, n, err := lexQuoted(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokString, text: text, pos: i})
			i = n
		case c == '`':
			// A whole key in backticks: `metrics.rmse`.
			text, n, err := lexQuoted(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokIdent, text: text, pos: i})
			i = n
		case isNumberStart(s, i):
			t, n, err := lexNumber(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case isIdentStart(c):
			t, n, err := lexIdent(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		default:
			return nil, lexErr(s, i, "unexpected character %q", string(c))
		}
	}
	return append(toks, token{kind: tokEOF, text: "end of filter", pos: len(s)}), nil
}

func lexErr(s string, i int, format string, args ...any) error {
	return mlops.Errorf(mlops.EINVALID, "invalid filter %q at position %d: %s", s, i+1, fmt.Sprintf(format, args...))
}

func lexOp(s string, i int) (token, int, error) {
	for _, op := range []string{"!=", "<>", "<=", ">=", "==", "=", "<", ">"} {
		if strings.HasPrefix(s[i:], op) {
			text := op
			switch op {
			case "<>":
				text = "!="
			case "==":
				text = "="
			}
			return token{kind: tokOp, text: text, pos: i}, i + len(op), nil
		}
	}
	return token{}, 0, lexErr(s, i, "unknown operator %q", s[i:i+1])
}

// lexQuoted reads a string quoted by s[i]; a doubled quote inside stands for
// itself, as in SQL, and a backslash escapes the next character.
func lexQuoted(s string, i int) (string, int, error) {
	q := s[i]
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		c := s[j]
		switch {
		case c == '\\' && j+1 < len(s):
			b.WriteByte(s[j+1])
			j += 2
		case c == q && j+1 < len(s) && s[j+1] == q:
			b.WriteByte(q)
			j += 2
		case c == q:
			return b.String(), j + 1, nil
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", 0, lexErr(s, i, "unterminated quote %c", q)
}

func lexNumber(s string, i int) (token, int, error) {
	j := i
	for j < len(s) {
		c := s[j]
		if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
			((c == '-' || c == '+') && (j == i || s[j-1] == 'e' || s[j-1] == 'E')) {
			j++
			continue
		}
		break
	}
	f, err := strconv.ParseFloat(s[i:j], 64)
	if err != nil {
		return token{}, 0, lexErr(s, i, "bad number %q", s[i:j])
	}
	return token{kind: tokNumber, text: s[i:j], num: f, pos: i}, j, nil
}

// lexIdent reads prefix.name where the part after the first dot may be
// quoted with backticks or double quotes, or be a plain dotted name.
func lexIdent(s string, i int) (token, int, error) {
	var b strings.Builder
	j := i
	for j < len(s) && isIdentChar(s[j]) {
		j++
	}
	b.WriteString(s[i:j])
	for j < len(s) && s[j] == '.' {
		b.WriteByte('.')
		j++
		if j < len(s) && (s[j] == '`' || s[j] == '"') {
			text, n, err := lexQuoted(s, j)
			if err != nil {
				return token{}, 0, err
			}
			b.WriteString(text)
			j = n
			continue
		}
		k := j
		for k < len(s) && isIdentChar(s[k]) {
			k++
		}
		b.WriteString(s[j:k])
		j = k
	}
	return token{kind: tokIdent, text: b.String(), pos: i}, j, nil
}
