package http

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// fastDecode is the predict path's allocation-light decoder. It handles
// only the common, valid shape — {"instances":[{…},…]} with known keys and
// number/string/null values — and fills the batch
// without reflection. On anything else (an error, a duplicate
// key, an unknown field) it reports false and the caller falls back to the
// encoding/json decoder, which produces the precise error list. A fuzz test
// checks that whenever fastDecode succeeds, the fallback agrees bit for bit.
func fastDecode(schema *Schema, data []byte, maxBatch int) (*Batch, bool) {
	p := fastParser{data: data}
	if !p.lit('{') || !p.key("instances") || !p.lit(':') || !p.lit('[') {
		return nil, false
	}
	// Every instance opens with a brace, so counting them (a vectorised
	// byte count) bounds the rows from above; braces inside strings only
	// make the batch roomier.
	n := min(bytes.Count(p.data[p.pos:], []byte{'{'}), maxBatch)
	if n < 1 {
		return nil, false
	}
	b := newBatch(schema, n)
	seen := make([]bool, schema.Len())
	p.order = make([]int, schema.Len())
	rows := 0
	for !p.lit(']') {
		if rows == n || (rows > 0 && !p.lit(',')) || !p.instance(schema, b, rows, seen) {
			return nil, false
		}
		rows++
	}
	if rows == 0 {
		return nil, false
	}
	b.truncate(rows)
	if !p.lit('}') {
		return nil, false
	}
	p.ws()
	return b, p.pos == len(p.data)
}

// fastParser scans JSON bytes in place.
type fastParser struct {
	data []byte
	pos  int
	// order[j] is the field the j-th key of the last instance named.
	order []int
}

func (p *fastParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// lit consumes c after optional white space.
func (p *fastParser) lit(c byte) bool {
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// str consumes a string and returns its content. Strings with escapes
// (rare: "\u003c" from HTML-safe encoders) are decoded by encoding/json,
// exactly as the slow path would. The content is not checked for valid
// UTF-8: callers only look it up among the schema's names and categories,
// which are valid, so invalid bytes find nothing and the request goes to
// the slow path.
func (p *fastParser) str() ([]byte, bool) {
	p.ws()
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return nil, false
	}
	start := p.pos + 1
	escaped := false
	for i := start; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.pos = i + 1
			if escaped {
				var v string
				if json.Unmarshal(p.data[start-1:i+1], &v) != nil {
					return nil, false
				}
				return []byte(v), true
			}
			return p.data[start:i], true
		case c == '\\':
			escaped = true
			i++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (p *fastParser) key(want string) bool {
	k, ok := p.str()
	return ok && string(k) == want
}

// instance reads one object into row r, accepting only known, distinct
// keys with valid values.
func (p *fastParser) instance(schema *Schema, b *Batch, r int, seen []bool) bool {
	if !p.lit('{') {
		return false
	}
	clear(seen)
	if p.lit('}') {
		return allOptionalSeen(schema, seen)
	}
	for j := 0; ; {
		k, ok := p.str()
		if !ok {
			return false
		}
		i, known := p.field(schema, k, j)
		if !known || seen[i] || !p.lit(':') {
			return false
		}
		seen[i] = true
		j++
		if !p.value(schema, b, i, r) {
			return false
		}
		if p.lit('}') {
			return allOptionalSeen(schema, seen)
		}
		if !p.lit(',') {
			return false
		}
	}
}

// field returns the index of the schema field named k, the j-th key of
// an instance. Clients write every instance's keys in one order, so the
// field the previous instance had j-th is tried before the name index.
func (p *fastParser) field(schema *Schema, k []byte, j int) (int, bool) {
	if j < len(p.order) {
		if i := p.order[j]; schema.fields[i].Name == string(k) {
			return i, true
		}
	}
	i, known := schema.index[string(k)]
	if known && j < len(p.order) {
		p.order[j] = i
	}
	return i, known
}

// allOptionalSeen reports whether every field not seen may be missing.
func allOptionalSeen(schema *Schema, seen []bool) bool {
	for i, f := range schema.fields {
		if !seen[i] && !f.Optional {
			return false
		}
	}
	return true
}

// value reads the value of field i for row r.
func (p *fastParser) value(schema *Schema, b *Batch, i, r int) bool {
	p.ws()
	if p.pos >= len(p.data) {
		return false
	}
	f := &schema.fields[i]
	c := p.data[p.pos]
	switch {
	case c == 'n':
		if len(p.data)-p.pos < 4 || string(p.data[p.pos:p.pos+4]) != "null" || !f.Optional {
			return false
		}
		p.pos += 4
		return true
	case f.Kind == Category:
		return p.category(schema, b, i, r)
	}
	return p.numberField(f, b.Columns[i].Num, r)
}

// category reads a categorical value of field i, in any spelling the
// schema knows, into row r.
func (p *fastParser) category(schema *Schema, b *Batch, i, r int) bool {
	s, ok := p.str()
	if !ok {
		return false
	}
	// The canonical spelling is its own normal form: no allocation.
	cat, hit := schema.cats[i][string(s)]
	if !hit && utf8.Valid(s) {
		cat, hit = schema.cats[i][NormalizeCategory(string(s))]
	}
	if !hit {
		return false
	}
	b.Columns[i].Cat[r] = cat
	return true
}

// numberField reads a finite number within f's bounds into num[r].
func (p *fastParser) numberField(f *Field, num []float64, r int) bool {
	raw, ok := p.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || !finite(v) || (f.HasMin && v < f.Min) || (f.HasMax && v > f.Max) {
		return false
	}
	num[r] = v
	return true
}

// number consumes a number in strict JSON syntax:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// cyclomatic: the grammar above written out once, each branch a bounds-checked step of it; on every predict request's hot path.
func (p *fastParser) number() ([]byte, bool) {
	d, i := p.data, p.pos
	start := i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return nil, false
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return nil, false
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return nil, false
		}
		i = j
	}
	p.pos = i
	return d[start:i], true
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}
