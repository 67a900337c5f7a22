package search

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops"
)

// Page size limits, as MLflow's: 1000 by default, 50000 at most.
const (
	DefaultMaxResults = 1000
	MaxMaxResults     = 50000
)

// Query is a compiled mlops.RunFilter: everything a store needs to finish a
// search after fetching candidate runs (with their params, tags and latest
// metrics) by experiment, parent and lifecycle in SQL.
type Query struct {
	Clauses []Clause
	Order   []OrderKey
	Tags    map[string]string
	Max     int
	Offset  int
	likes   map[string]*regexp.Regexp
}

// Compile validates f's filter, order, page size and token. Errors are
// EINVALID.
func Compile(f mlops.RunFilter) (*Query, error) {
	cl, err := ParseRunFilter(f.Filter)
	if err != nil {
		return nil, err
	}
	order, err := ParseOrderBy(f.OrderBy)
	if err != nil {
		return nil, err
	}
	q := &Query{Clauses: cl, Order: order, Tags: f.Tags, Max: f.MaxResults, likes: compileLikes(cl)}
	switch {
	case q.Max == 0:
		q.Max = DefaultMaxResults
	case q.Max < 0 || q.Max > MaxMaxResults:
		return nil, mlops.Errorf(mlops.EINVALID, "invalid max_results %d: want 1..%d", q.Max, MaxMaxResults)
	}
	if q.Offset, err = DecodePageToken(f.PageToken); err != nil {
		return nil, err
	}
	return q, nil
}

// Apply filters runs by tags and clauses, sorts them and returns one page
// and the token of the next page ("" when this is the last). It reorders
// nothing in place.
func (q *Query) Apply(runs []*mlops.Run) ([]*mlops.Run, string) {
	var kept []*mlops.Run
	for _, r := range runs {
		if q.match(r) {
			kept = append(kept, r)
		}
	}
	Sort(kept, q.Order)
	if q.Offset >= len(kept) {
		return nil, ""
	}
	end := min(q.Offset+q.Max, len(kept))
	next := ""
	if end < len(kept) {
		next = EncodePageToken(end)
	}
	return kept[q.Offset:end], next
}

func (q *Query) match(r *mlops.Run) bool {
	for k, v := range q.Tags {
		if got, ok := r.Tags[k]; !ok || got != v {
			return false
		}
	}
	for _, c := range q.Clauses {
		if !q.matchClause(r, c) {
			return false
		}
	}
	return true
}

// Match reports whether r satisfies every clause. A clause on a metric,
// param or tag the run lacks is false, whatever the operator, as in MLflow.
func Match(r *mlops.Run, clauses []Clause) bool {
	q := &Query{Clauses: clauses, likes: compileLikes(clauses)}
	return q.match(r)
}

// compileLikes compiles each LIKE and ILIKE pattern once per query.
func compileLikes(cl []Clause) map[string]*regexp.Regexp {
	likes := map[string]*regexp.Regexp{}
	for _, c := range cl {
		if c.Op == "LIKE" || c.Op == "ILIKE" {
			likes[c.Op+"\x00"+c.String] = Like(c.String, c.Op == "ILIKE")
		}
	}
	return likes
}

func (q *Query) matchClause(r *mlops.Run, c Clause) bool {
	switch c.Kind {
	case KindMetric:
		v, ok := latestMetric(r, c.Key)
		return ok && CompareNumber(v, c.Op, c.Number)
	case KindParam:
		v, ok := r.Params[c.Key]
		return ok && q.compareString(v, c)
	case KindTag:
		v, ok := r.Tags[c.Key]
		return ok && q.compareString(v, c)
	}
	switch c.Key {
	case AttrStartTime:
		return CompareNumber(float64(r.StartTime.UnixMilli()), c.Op, c.Number)
	case AttrEndTime:
		if r.EndTime.IsZero() {
			return false
		}
		return CompareNumber(float64(r.EndTime.UnixMilli()), c.Op, c.Number)
	}
	return q.compareString(attrString(r, c.Key), c)
}

func attrString(r *mlops.Run, key string) string {
	switch key {
	case AttrRunID:
		return r.ID
	case AttrRunName:
		return r.Name
	case AttrStatus:
		return string(r.Status)
	case AttrArtifact:
		return r.ArtifactURI
	case AttrLifecycle:
		return r.LifecycleStage
	}
	return ""
}

func latestMetric(r *mlops.Run, key string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Key == key {
			return m.Value, true
		}
	}
	return 0, false
}

// CompareNumber applies a filter comparison operator (=, !=, <, <=, >, >=)
// to v and x; any other operator is false.
func CompareNumber(v float64, op string, x float64) bool {
	switch op {
	case "=":
		return v == x
	case "!=":
		return v != x
	case "<":
		return v < x
	case "<=":
		return v <= x
	case ">":
		return v > x
	case ">=":
		return v >= x
	}
	return false
}

func (q *Query) compareString(v string, c Clause) bool {
	switch c.Op {
	case "=":
		return v == c.String
	case "!=":
		return v != c.String
	case "LIKE", "ILIKE":
		re := q.likes[c.Op+"\x00"+c.String]
		return re != nil && re.MatchString(v)
	case "IN":
		return slices.Contains(c.List, v)
	case "NOT IN":
		return !slices.Contains(c.List, v)
	}
	return false
}

// Like turns a SQL LIKE pattern (% any run, _ one character) into an
// anchored regular expression, case-insensitive when fold (ILIKE). Stores
// use it rather than SQL LIKE because SQLite's LIKE folds ASCII case and
// PostgreSQL's does not.
func Like(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?is)")
	} else {
		b.WriteString("(?s)")
	}
	b.WriteByte('^')
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteByte('.')
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteByte('$')
	return regexp.MustCompile(b.String())
}

// OrderKey is one term of an ORDER BY.
type OrderKey struct {
	Kind Kind
	Key  string
	Desc bool
}

// ParseOrderBy parses terms such as "metrics.rmse ASC", "params.alpha",
// "attributes.start_time DESC", "start_time". No terms means start_time
// DESC. Runs are always finally ordered by start_time DESC and run_id, so
// that pages are stable.
func ParseOrderBy(terms []string) ([]OrderKey, error) {
	var out []OrderKey
	for _, t := range terms {
		k, err := parseOrderTerm(t)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return append(out,
		OrderKey{Kind: KindAttribute, Key: AttrStartTime, Desc: true},
		OrderKey{Kind: KindAttribute, Key: AttrRunID}), nil
}

func parseOrderTerm(term string) (OrderKey, error) {
	toks, err := lex(term)
	if err != nil {
		return OrderKey{}, err
	}
	bad := func(format string, args ...any) error {
		return mlops.Errorf(mlops.EINVALID, "invalid order_by %q: %s", term, fmt.Sprintf(format, args...))
	}
	if toks[0].kind != tokIdent {
		return OrderKey{}, bad("expected a key such as metrics.rmse or start_time")
	}
	kind, key, err := splitKey(toks[0].text)
	if err != nil {
		return OrderKey{}, bad("%v", err)
	}
	k := OrderKey{Kind: kind, Key: key}
	rest := toks[1:]
	if rest[0].kind == tokIdent {
		switch strings.ToUpper(rest[0].text) {
		case "ASC":
		case "DESC":
			k.Desc = true
		default:
			return OrderKey{}, bad("expected ASC or DESC, got %q", rest[0].text)
		}
		rest = rest[1:]
	}
	if rest[0].kind != tokEOF {
		return OrderKey{}, bad("unexpected %q after the direction", rest[0].text)
	}
	return k, nil
}

// Sort orders runs by keys, stably. A run lacking the key's value comes
// after every run that has it, in either direction, and NaN metrics come
// after numbers.
func Sort(runs []*mlops.Run, keys []OrderKey) {
	slices.SortStableFunc(runs, func(a, b *mlops.Run) int {
		for _, k := range keys {
			if c := compareKey(a, b, k); c != 0 {
				return c
			}
		}
		return 0
	})
}

func compareKey(a, b *mlops.Run, k OrderKey) int {
	switch {
	case k.Kind == KindMetric:
		va, oka := latestMetric(a, k.Key)
		vb, okb := latestMetric(b, k.Key)
		if ra, rb := metricRank(va, oka), metricRank(vb, okb); ra != rb || ra != 0 {
			return cmp.Compare(ra, rb)
		}
		return direction(cmp.Compare(va, vb), k.Desc)
	case k.Kind == KindParam:
		va, oka := a.Params[k.Key]
		vb, okb := b.Params[k.Key]
		return missingLast(oka, okb, k.Desc, func() int { return cmp.Compare(va, vb) })
	case k.Kind == KindTag:
		va, oka := a.Tags[k.Key]
		vb, okb := b.Tags[k.Key]
		return missingLast(oka, okb, k.Desc, func() int { return cmp.Compare(va, vb) })
	case k.Key == AttrStartTime:
		return direction(a.StartTime.Compare(b.StartTime), k.Desc)
	case k.Key == AttrEndTime:
		return missingLast(!a.EndTime.IsZero(), !b.EndTime.IsZero(), k.Desc, func() int { return a.EndTime.Compare(b.EndTime) })
	}
	return direction(cmp.Compare(attrString(a, k.Key), attrString(b, k.Key)), k.Desc)
}

// metricRank puts numbers (0) before NaN (1) before a missing metric (2),
// whatever the direction.
func metricRank(v float64, ok bool) int {
	switch {
	case !ok:
		return 2
	case math.IsNaN(v):
		return 1
	}
	return 0
}

func missingLast(hasA, hasB, desc bool, c func() int) int {
	switch {
	case hasA && hasB:
		return direction(c(), desc)
	case hasA:
		return -1
	case hasB:
		return 1
	}
	return 0
}

func direction(c int, desc bool) int {
	if desc {
		return -c
	}
	return c
}

// EncodePageToken returns the opaque token for a page starting at offset.
func EncodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset)))
}

// DecodePageToken returns the offset a token stands for; "" is 0.
func DecodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, mlops.Errorf(mlops.EINVALID, "invalid page token %q: not one this server issued", tok)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return 0, mlops.Errorf(mlops.EINVALID, "invalid page token %q: not one this server issued", tok)
	}
	return n, nil
}
