package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FieldKind is the type of one raw input feature.
type FieldKind int

const (
	// Number fields take a finite JSON number.
	Number FieldKind = iota
	// Category fields take a JSON string from a known set of categories.
	Category
)

// String returns "number" or "category".
func (k FieldKind) String() string {
	if k == Category {
		return "category"
	}
	return "number"
}

// Field describes one raw input feature as the model's recorded schema
// states it. Validation is driven by these values only, so a model trained
// on another dataset is served without code changes.
type Field struct {
	Name string
	Kind FieldKind
	// Categories are the accepted values of a Category field, in their
	// canonical spelling (the one the model was trained on).
	Categories []string
	// Min and Max bound a Number field (inclusive) when HasMin/HasMax.
	Min, Max       float64
	HasMin, HasMax bool
	// Optional fields may be absent or null; the model then sees a missing
	// value (NaN or ""), which its own imputer handles.
	Optional    bool
	Description string
}

// Schema is the ordered list of raw input features a model expects.
// It is immutable once built by NewSchema.
type Schema struct {
	fields []Field
	index  map[string]int
	// cats maps, per field, the normalised spelling of each category to its
	// canonical spelling.
	cats []map[string]string
}

// NewSchema validates fields and indexes them for fast lookup. Names must be
// unique and non-empty; category fields need at least one category; bounds
// must be finite and ordered.
func NewSchema(fields []Field) (*Schema, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("schema: no fields")
	}
	s := &Schema{
		fields: append([]Field(nil), fields...),
		index:  make(map[string]int, len(fields)),
		cats:   make([]map[string]string, len(fields)),
	}
	for i, f := range s.fields {
		if f.Name == "" {
			return nil, fmt.Errorf("schema: field %d has no name", i)
		}
		if _, dup := s.index[f.Name]; dup {
			return nil, fmt.Errorf("schema: field %q appears twice", f.Name)
		}
		s.index[f.Name] = i
		if err := s.indexField(i, f); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Schema) indexField(i int, f Field) error {
	switch f.Kind {
	case Number:
		if (f.HasMin && !finite(f.Min)) || (f.HasMax && !finite(f.Max)) {
			return fmt.Errorf("schema: field %q has a non-finite bound", f.Name)
		}
		if f.HasMin && f.HasMax && f.Min > f.Max {
			return fmt.Errorf("schema: field %q has min %g > max %g", f.Name, f.Min, f.Max)
		}
	case Category:
		if len(f.Categories) == 0 {
			return fmt.Errorf("schema: categorical field %q has no categories", f.Name)
		}
		m := make(map[string]string, len(f.Categories))
		for _, c := range f.Categories {
			m[NormalizeCategory(c)] = c
		}
		s.cats[i] = m
	default:
		return fmt.Errorf("schema: field %q has unknown kind %d", f.Name, f.Kind)
	}
	return nil
}

// Fields returns the fields in order (the schema's own slice: do not modify).
func (s *Schema) Fields() []Field { return s.fields }

// Len returns the number of fields.
func (s *Schema) Len() int { return len(s.fields) }

// Index returns the position of the named field, or -1.
func (s *Schema) Index(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// NormalizeCategory is the spelling categories are matched by: surrounding
// space trimmed, inner runs of white space collapsed to one space, upper
// case. "  near   bay" and "NEAR BAY" therefore match.
func NormalizeCategory(v string) string {
	return strings.ToUpper(strings.Join(strings.Fields(v), " "))
}

// Column holds one field's values for a batch: Num for a Number field
// (NaN = missing), Cat for a Category field ("" = missing).
type Column struct {
	Num []float64
	Cat []string
}

// Batch is a validated, column-major set of instances laid out in schema
// order. Categories are already in their canonical spelling.
type Batch struct {
	Schema  *Schema
	Rows    int
	Columns []Column
}

// newBatch allocates a batch for n rows with every value missing.
func newBatch(s *Schema, n int) *Batch {
	b := &Batch{Schema: s, Rows: n, Columns: make([]Column, s.Len())}
	for i, f := range s.fields {
		if f.Kind == Category {
			b.Columns[i].Cat = make([]string, n)
			continue
		}
		col := make([]float64, n)
		for r := range col {
			col[r] = math.NaN()
		}
		b.Columns[i].Num = col
	}
	return b
}

// truncate keeps the first rows rows of b.
func (b *Batch) truncate(rows int) {
	b.Rows = rows
	for i := range b.Columns {
		c := &b.Columns[i]
		if c.Num != nil {
			c.Num = c.Num[:rows]
		}
		if c.Cat != nil {
			c.Cat = c.Cat[:rows]
		}
	}
}

// Prediction is one model output: the point prediction and an interval
// [Lower, Upper] that holds the truth with the model's nominal level.
type Prediction struct {
	Value, Lower, Upper float64
}

// FieldError is one invalid input value: where it is in the request and why
// it was refused.
type FieldError struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// fieldErrors collects FieldErrors; paths are built lazily so the valid path
// allocates nothing.
type fieldErrors []FieldError

func (e *fieldErrors) add(path, format string, args ...any) {
	*e = append(*e, FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// setValue parses raw as the value of field i for row r of b. It returns ""
// on success and the reason otherwise. A JSON null or an absent value
// (raw == nil) is a missing value, accepted only for Optional fields.
func (s *Schema) setValue(b *Batch, i, r int, raw json.RawMessage) string {
	f := &s.fields[i]
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		if f.Optional {
			return ""
		}
		return "is required"
	}
	if f.Kind == Category {
		v, reason := s.parseCategory(i, raw)
		if reason == "" {
			b.Columns[i].Cat[r] = v
		}
		return reason
	}
	v, reason := parseNumber(f, raw)
	if reason == "" {
		b.Columns[i].Num[r] = v
	}
	return reason
}

// parseNumber reads a JSON number and checks it against the field's bounds.
func parseNumber(f *Field, raw json.RawMessage) (float64, string) {
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, "must be a number, got " + jsonKind(raw)
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || !finite(v) {
		return 0, "must be a finite number, got " + clip(string(raw))
	}
	if f.HasMin && v < f.Min {
		return 0, fmt.Sprintf("must be >= %s, got %s", fmtNum(f.Min), fmtNum(v))
	}
	if f.HasMax && v > f.Max {
		return 0, fmt.Sprintf("must be <= %s, got %s", fmtNum(f.Max), fmtNum(v))
	}
	return v, ""
}

// parseCategory reads a JSON string and maps it to a known category.
func (s *Schema) parseCategory(i int, raw json.RawMessage) (string, string) {
	if raw[0] != '"' {
		return "", "must be a string, got " + jsonKind(raw)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", "must be a valid JSON string"
	}
	n := NormalizeCategory(v)
	if n == "" {
		if s.fields[i].Optional {
			return "", ""
		}
		return "", "must not be empty"
	}
	if c, ok := s.cats[i][n]; ok {
		return c, ""
	}
	return "", fmt.Sprintf("must be one of %s, got %s", strings.Join(quoteAll(s.fields[i].Categories), ", "), clip(strconv.Quote(v)))
}

func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return clip(string(raw))
}

func quoteAll(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = strconv.Quote(s)
	}
	return out
}

// clip bounds user-supplied text echoed in error messages.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
