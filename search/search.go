// Package search parses and evaluates the subset of MLflow's run search
// grammar that housing-mlops supports, independently of any store: stores run
// a coarse SQL query and then filter, order and page the runs here, so that
// SQLite and PostgreSQL answer identically.
//
// Supported filter clauses, joined by AND (any case):
//
//	metrics.X <op> number        op: = != < <= > >=
//	params.X = 'v'               op: = != LIKE ILIKE
//	tags.X = 'v'                 op: = != LIKE ILIKE
//	attributes.status = 'FINISHED'
//	attributes.run_name = 'v'    (also run_name, attributes.run_name LIKE ...)
//	run_id = '...' / run_id IN ('a', 'b') / NOT IN
//	attributes.start_time > 1700000000000 (milliseconds; end_time too)
//
// Keys containing dots may be quoted with backticks or double quotes:
// metrics.`val.rmse`, tags."mlflow.runName". Unquoted dotted keys after the
// prefix are also accepted (tags.mlflow.parentRunId).
package search

import (
	"fmt"
	"strings"

	"github.com/housing-mlops/mlops"
)

// Kind says which part of a run a clause or an order key reads.
type Kind string

// Kinds of keys.
const (
	KindMetric    Kind = "metric"
	KindParam     Kind = "param"
	KindTag       Kind = "tag"
	KindAttribute Kind = "attribute"
)

// Attribute names understood in filters and order keys.
const (
	AttrRunID     = "run_id"
	AttrRunName   = "run_name"
	AttrStatus    = "status"
	AttrStartTime = "start_time"
	AttrEndTime   = "end_time"
	AttrArtifact  = "artifact_uri"
	AttrLifecycle = "lifecycle_stage"
)

// Clause is one comparison of a filter: Kind.Key Op Value.
type Clause struct {
	Kind Kind
	Key  string
	// Op is upper case: = != < <= > >= LIKE ILIKE IN "NOT IN".
	Op string
	// Number is the value of numeric comparisons (metrics and times).
	Number float64
	// String is the value of string comparisons.
	String string
	// List is the value of IN and NOT IN.
	List []string
}

// attribute describes one attribute key: whether it compares as a number
// (milliseconds) and which operators it accepts.
type attribute struct {
	numeric bool
	ops     []string
}

var stringOps = []string{"=", "!=", "LIKE", "ILIKE"}
var numberOps = []string{"=", "!=", "<", "<=", ">", ">="}

func attributes() map[string]attribute {
	return map[string]attribute{
		AttrRunID:     {ops: []string{"=", "!=", "IN", "NOT IN"}},
		AttrRunName:   {ops: stringOps},
		AttrStatus:    {ops: stringOps},
		AttrArtifact:  {ops: stringOps},
		AttrLifecycle: {ops: []string{"=", "!="}},
		AttrStartTime: {numeric: true, ops: numberOps},
		AttrEndTime:   {numeric: true, ops: numberOps},
	}
}

// ParseRunFilter parses a filter string. An empty or blank string yields no
// clauses. Errors are mlops EINVALID errors naming the offending position.
func ParseRunFilter(s string) ([]Clause, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: s}
	var out []Clause
	if p.peek().kind == tokEOF {
		return nil, nil
	}
	for {
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		t := p.next()
		switch {
		case t.kind == tokEOF:
			return out, nil
		case t.kind == tokIdent && strings.EqualFold(t.text, "AND"):
			continue
		case t.kind == tokIdent && strings.EqualFold(t.text, "OR"):
			return nil, p.errorf(t, "OR is not supported; join clauses with AND")
		default:
			return nil, p.errorf(t, "expected AND or end of filter, got %q", t.text)
		}
	}
}

type parser struct {
	toks []token
	pos  int
	src  string
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return mlops.Errorf(mlops.EINVALID, "invalid filter %q at position %d: %s", p.src, t.pos+1, fmt.Sprintf(format, args...))
}

// clause parses KEY OP VALUE.
func (p *parser) clause() (Clause, error) {
	kt := p.next()
	kind, key, err := p.key(kt)
	if err != nil {
		return Clause{}, err
	}
	op, err := p.op()
	if err != nil {
		return Clause{}, err
	}
	c := Clause{Kind: kind, Key: key, Op: op}
	if err := p.checkOp(kt, c); err != nil {
		return Clause{}, err
	}
	if op == "IN" || op == "NOT IN" {
		c.List, err = p.list()
		return c, err
	}
	vt := p.next()
	if p.numeric(c) {
		if vt.kind != tokNumber {
			return Clause{}, p.errorf(vt, "%s %s needs a number, got %q", c.display(), op, vt.text)
		}
		c.Number = vt.num
		return c, nil
	}
	if vt.kind != tokString {
		return Clause{}, p.errorf(vt, "%s %s needs a quoted string, got %q", c.display(), op, vt.text)
	}
	c.String = vt.text
	return c, nil
}

// key splits an identifier into kind and name.
func (p *parser) key(t token) (Kind, string, error) {
	if t.kind != tokIdent {
		return "", "", p.errorf(t, "expected a key such as metrics.rmse, params.x, tags.x or run_name, got %q", t.text)
	}
	kind, name, err := splitKey(t.text)
	if err != nil {
		return "", "", p.errorf(t, "%v", err)
	}
	return kind, name, nil
}

// splitKey maps an identifier (prefix.name or a bare attribute) to a kind and
// a name. Quotes around the name have been removed by the lexer already.
func splitKey(id string) (Kind, string, error) {
	prefix, name, dotted := strings.Cut(id, ".")
	if !dotted {
		if _, ok := attributes()[strings.ToLower(id)]; ok {
			return KindAttribute, strings.ToLower(id), nil
		}
		return "", "", fmt.Errorf("unknown key %q: use metrics.NAME, params.NAME, tags.NAME or an attribute (run_id, run_name, status, start_time, end_time)", id)
	}
	if name == "" {
		return "", "", fmt.Errorf("empty name after %q", prefix+".")
	}
	switch strings.ToLower(prefix) {
	case "metric", "metrics":
		return KindMetric, name, nil
	case "param", "params", "parameter", "parameters":
		return KindParam, name, nil
	case "tag", "tags":
		return KindTag, name, nil
	case "attr", "attribute", "attributes", "run":
		n := strings.ToLower(name)
		if _, ok := attributes()[n]; !ok {
			return "", "", fmt.Errorf("unknown attribute %q: want run_id, run_name, status, start_time, end_time, artifact_uri or lifecycle_stage", name)
		}
		return KindAttribute, n, nil
	}
	return "", "", fmt.Errorf("unknown key prefix %q: want metrics, params, tags or attributes", prefix)
}

// op reads a comparison operator, including the two-word NOT IN.
func (p *parser) op() (string, error) {
	t := p.next()
	switch t.kind {
	case tokOp:
		return t.text, nil
	case tokIdent:
		u := strings.ToUpper(t.text)
		switch u {
		case "LIKE", "ILIKE", "IN":
			return u, nil
		case "NOT":
			n := p.next()
			if n.kind == tokIdent && strings.EqualFold(n.text, "IN") {
				return "NOT IN", nil
			}
			return "", p.errorf(n, "expected IN after NOT, got %q", n.text)
		}
	}
	return "", p.errorf(t, "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN), got %q", t.text)
}

// checkOp rejects operators that make no sense for the key.
func (p *parser) checkOp(at token, c Clause) error {
	var ok []string
	switch c.Kind {
	case KindMetric:
		ok = numberOps
	case KindParam, KindTag:
		ok = stringOps
	case KindAttribute:
		ok = attributes()[c.Key].ops
	}
	for _, o := range ok {
		if o == c.Op {
			return nil
		}
	}
	return p.errorf(at, "operator %s is not supported for %s (supported: %s)", c.Op, c.display(), strings.Join(ok, " "))
}

func (p *parser) numeric(c Clause) bool {
	return c.Kind == KindMetric || (c.Kind == KindAttribute && attributes()[c.Key].numeric)
}

// list parses ('a', 'b', ...).
func (p *parser) list() ([]string, error) {
	t := p.next()
	if t.kind != tokLParen {
		return nil, p.errorf(t, "expected ( after IN, got %q", t.text)
	}
	var out []string
	for {
		v := p.next()
		if v.kind != tokString {
			return nil, p.errorf(v, "expected a quoted string in IN list, got %q", v.text)
		}
		out = append(out, v.text)
		sep := p.next()
		switch sep.kind {
		case tokComma:
			continue
		case tokRParen:
			return out, nil
		default:
			return nil, p.errorf(sep, "expected , or ) in IN list, got %q", sep.text)
		}
	}
}

// display names the clause's key the way a user writes it.
func (c Clause) display() string {
	switch c.Kind {
	case KindMetric:
		return "metrics." + c.Key
	case KindParam:
		return "params." + c.Key
	case KindTag:
		return "tags." + c.Key
	}
	return c.Key
}
