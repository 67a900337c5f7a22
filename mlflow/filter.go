package mlflow

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/search"
)

// This file filters, orders and pages experiments, registered models and
// model versions: MLflow's grammar for those searches is small (name,
// tags.X, a few attributes, AND) and the domain's Registry has no filter
// argument, so the handler evaluates it over the store's full listing.
// Run searches go to the store, which uses package search.

// record is an entity flattened for filtering and ordering.
type record struct {
	str  map[string]string
	num  map[string]float64
	tags map[string]string
}

// fclause is one comparison: key op value.
type fclause struct {
	tag   bool
	key   string
	op    string
	str   string
	num   float64
	isNum bool
	list  []string
	like  *regexp.Regexp
}

// filterSpec says which attributes a search knows and which are numeric.
type filterSpec struct {
	what    string
	strs    []string
	nums    []string
	aliases map[string]string // other spellings of attributes
}

func (s filterSpec) attr(name string) (string, bool, bool) {
	n := strings.ToLower(name)
	if a, ok := s.aliases[n]; ok {
		n = a
	}
	if slices.Contains(s.strs, n) {
		return n, false, true
	}
	if slices.Contains(s.nums, n) {
		return n, true, true
	}
	return "", false, false
}

// ftoken is a lexeme of a filter.
type ftoken struct {
	kind string // ident, string, number, op, punct
	text string
}

// lexFilter splits a filter into identifiers (a part after a dot may be
// `quoted` or "quoted"), string literals, numbers, operators and
// punctuation.
func lexFilter(s string) ([]ftoken, error) {
	var out []ftoken
	for i := 0; i < len(s); {
		if unicode.IsSpace(rune(s[i])) {
			i++
			continue
		}
		tok, next, err := lexOne(s, i)
		if err != nil {
			return nil, err
		}
		out = append(out, tok)
		i = next
	}
	return out, nil
}

// lexOne reads the token starting at s[i] and returns where the next
// begins.
func lexOne(s string, i int) (ftoken, int, error) {
	c := s[i]
	switch {
	case c == '\'' || c == '"':
		j := strings.IndexByte(s[i+1:], c)
		if j < 0 {
			return ftoken{}, 0, mlops.Errorf(mlops.EINVALID, "invalid filter %q: unterminated string at %d", s, i)
		}
		return ftoken{"string", s[i+1 : i+1+j]}, i + j + 2, nil
	case c == '(' || c == ')' || c == ',':
		return ftoken{"punct", string(c)}, i + 1, nil
	case strings.IndexByte("=!<>", c) >= 0:
		j := i + 1
		if j < len(s) && s[j] == '=' {
			j++
		}
		return ftoken{"op", s[i:j]}, j, nil
	case c == '-' || c == '.' || (c >= '0' && c <= '9'):
		j := i + 1 + strings.IndexFunc(s[i+1:]+" ", func(r rune) bool { return !strings.ContainsRune("0123456789.eE+-", r) })
		return ftoken{"number", s[i:j]}, j, nil
	}
	j, text, err := lexIdent(s, i)
	return ftoken{"ident", text}, j, err
}

// lexIdent reads name[.name] where a part after a dot may be quoted.
func lexIdent(s string, i int) (int, string, error) {
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		if c == '`' || (c == '"' && strings.HasSuffix(b.String(), ".")) {
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return 0, "", mlops.Errorf(mlops.EINVALID, "invalid filter %q: unterminated quoted key at %d", s, i)
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
			continue
		}
		if !isIdentByte(c) {
			break
		}
		b.WriteByte(c)
		i++
	}
	if b.Len() == 0 {
		return 0, "", mlops.Errorf(mlops.EINVALID, "invalid filter %q: unexpected %q at %d", s, s[i], i)
	}
	return i, b.String(), nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))
}

// parseFilter parses "clause AND clause ...".
func parseFilter(s string, spec filterSpec) ([]fclause, error) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	var out []fclause
	for i := 0; i < len(toks); {
		c, n, err := parseClause(toks[i:], spec)
		if err != nil {
			return nil, mlops.Errorf(mlops.EINVALID, "invalid %s filter %q: %v", spec.what, s, err)
		}
		out = append(out, c)
		i += n
		if i == len(toks) {
			break
		}
		if toks[i].kind != "ident" || !strings.EqualFold(toks[i].text, "AND") {
			return nil, mlops.Errorf(mlops.EINVALID, "invalid %s filter %q: expected AND, got %q (OR is not supported)", spec.what, s, toks[i].text)
		}
		if i++; i == len(toks) {
			return nil, mlops.Errorf(mlops.EINVALID, "invalid %s filter %q: nothing after AND", spec.what, s)
		}
	}
	return out, nil
}

// parseClause parses key op value and returns how many tokens it used.
func parseClause(toks []ftoken, spec filterSpec) (fclause, int, error) {
	if len(toks) < 3 || toks[0].kind != "ident" {
		return fclause{}, 0, errors.New("want key op value")
	}
	c, err := parseKey(toks[0].text, spec)
	if err != nil {
		return c, 0, err
	}
	n := 2
	c.op = strings.ToUpper(toks[1].text)
	if c.op == "NOT" && strings.EqualFold(toks[2].text, "IN") {
		c.op, n = "NOT IN", 3
	}
	if c.op == "IN" || c.op == "NOT IN" {
		list, used, err := parseList(toks[n:])
		c.list = list
		return c, n + used, err
	}
	if n >= len(toks) {
		return c, 0, fmt.Errorf("missing value after %s", c.op)
	}
	if c.isNum {
		return c, n + 1, c.numberValue(toks[n])
	}
	return c, n + 1, c.stringValue(toks[n])
}

// parseKey reads tags.KEY or an attribute (optionally attributes.NAME).
func parseKey(id string, spec filterSpec) (fclause, error) {
	prefix, name, dotted := strings.Cut(id, ".")
	switch p := strings.ToLower(prefix); {
	case dotted && (p == "tags" || p == "tag"):
		return fclause{tag: true, key: name}, nil
	case dotted && (p == "attributes" || p == "attribute" || p == "attr"):
		prefix = name
	}
	key, num, ok := spec.attr(prefix)
	if !ok {
		return fclause{}, fmt.Errorf("unknown key %s; want tags.KEY or one of %s", id, strings.Join(append(slices.Clone(spec.strs), spec.nums...), ", "))
	}
	return fclause{key: key, isNum: num}, nil
}

func (c *fclause) numberValue(v ftoken) error {
	if !slices.Contains([]string{"=", "!=", "<", "<=", ">", ">="}, c.op) || v.kind != "number" {
		return fmt.Errorf("want %s compared with a number by = != < <= > >=", c.key)
	}
	f, err := strconv.ParseFloat(v.text, 64)
	if err != nil {
		return fmt.Errorf("invalid number %s", v.text)
	}
	c.num = f
	return nil
}

func (c *fclause) stringValue(v ftoken) error {
	if v.kind != "string" {
		return fmt.Errorf("want a quoted string after %s", c.op)
	}
	c.str = v.text
	switch c.op {
	case "=", "!=":
	case "LIKE", "ILIKE":
		c.like = likeRegexp(v.text, c.op == "ILIKE")
	default:
		return fmt.Errorf("operator %s not supported on %s", c.op, c.key)
	}
	return nil
}

// parseList reads ('a', 'b') after IN.
func parseList(toks []ftoken) ([]string, int, error) {
	if len(toks) == 0 || toks[0].text != "(" {
		return nil, 0, errors.New("want ( after IN")
	}
	var out []string
	for i := 1; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == "punct" && t.text == ")":
			return out, i + 1, nil
		case t.kind == "punct" && t.text == ",":
		case t.kind == "string":
			out = append(out, t.text)
		default:
			return nil, 0, fmt.Errorf("want quoted strings in IN list, got %q", t.text)
		}
	}
	return nil, 0, errors.New("unterminated IN list")
}

func likeRegexp(pat string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?is)")
	} else {
		b.WriteString("(?s)")
	}
	b.WriteString("^")
	for _, r := range pat {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// match reports whether rec satisfies every clause; a missing tag fails.
func match(rec record, clauses []fclause) bool {
	for _, c := range clauses {
		if !matchOne(rec, c) {
			return false
		}
	}
	return true
}

func matchOne(rec record, c fclause) bool {
	if c.isNum {
		v, ok := rec.num[c.key]
		return ok && search.CompareNumber(v, c.op, c.num)
	}
	var v string
	var ok bool
	if c.tag {
		v, ok = rec.tags[c.key]
	} else {
		v, ok = rec.str[c.key]
	}
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return v == c.str
	case "!=":
		return v != c.str
	case "LIKE", "ILIKE":
		return c.like.MatchString(v)
	case "IN":
		return slices.Contains(c.list, v)
	case "NOT IN":
		return !slices.Contains(c.list, v)
	}
	return false
}

// orderKey is one ORDER BY term.
type orderKey struct {
	key  string
	num  bool
	desc bool
}

func parseOrder(terms []string, spec filterSpec, dflt []orderKey) ([]orderKey, error) {
	var out []orderKey
	for _, t := range terms {
		f := strings.Fields(t)
		if len(f) == 0 {
			continue
		}
		name := f[0]
		if p, n, ok := strings.Cut(name, "."); ok && (p == "attributes" || p == "attribute" || p == "attr") {
			name = n
		}
		key, num, ok := spec.attr(name)
		if !ok || len(f) > 2 {
			return nil, mlops.Errorf(mlops.EINVALID, "invalid order_by clause %q for %s: want one of %s, then ASC or DESC", t, spec.what, strings.Join(append(slices.Clone(spec.strs), spec.nums...), ", "))
		}
		k := orderKey{key: key, num: num}
		if len(f) == 2 {
			switch strings.ToUpper(f[1]) {
			case "ASC":
			case "DESC":
				k.desc = true
			default:
				return nil, mlops.Errorf(mlops.EINVALID, "invalid order_by clause %q: want ASC or DESC", t)
			}
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		out = dflt
	}
	return out, nil
}

func sortRecords[T any](items []T, recs []record, keys []orderKey) {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		for _, k := range keys {
			var c int
			if k.num {
				c = cmp.Compare(recs[a].num[k.key], recs[b].num[k.key])
			} else {
				c = strings.Compare(recs[a].str[k.key], recs[b].str[k.key])
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	sorted := make([]T, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
}

// page filters, orders and pages items and returns the page and the token
// of the next one ("" on the last page).
func page[T any](items []T, toRecord func(T) record, spec filterSpec, filter string, orderBy []string, dflt []orderKey, maxResults, defMax, maxMax int, token string) ([]T, string, error) {
	clauses, err := parseFilter(filter, spec)
	if err != nil {
		return nil, "", err
	}
	order, err := parseOrder(orderBy, spec, dflt)
	if err != nil {
		return nil, "", err
	}
	switch {
	case maxResults == 0:
		maxResults = defMax
	case maxResults < 0 || maxResults > maxMax:
		return nil, "", mlops.Errorf(mlops.EINVALID, "invalid max_results %d: want 1..%d", maxResults, maxMax)
	}
	offset, err := search.DecodePageToken(token)
	if err != nil {
		return nil, "", err
	}
	var kept []T
	var recs []record
	for _, it := range items {
		rec := toRecord(it)
		if match(rec, clauses) {
			kept = append(kept, it)
			recs = append(recs, rec)
		}
	}
	sortRecords(kept, recs, order)
	if offset >= len(kept) {
		return nil, "", nil
	}
	end := min(offset+maxResults, len(kept))
	next := ""
	if end < len(kept) {
		next = search.EncodePageToken(end)
	}
	return kept[offset:end], next, nil
}
