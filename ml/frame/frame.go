// Package frame is a small typed column table: ordered named columns, each
// numeric ([]float64, NaN = missing) or categorical ([]string, "" = missing).
//
// It is the ML engine's boundary with raw data: CSV files and archives are read
// into a Frame, learners get dense *ml.Matrix values out of it, and the
// preprocessing column transformer selects its inputs from it by name.
package frame

import (
	"fmt"
	"math"

	"github.com/housing-mlops/mlops/ml"
)

// Kind is the type of a column.
type Kind int

const (
	// Numeric columns hold float64 values; NaN marks a missing value.
	Numeric Kind = iota
	// Categorical columns hold strings; "" marks a missing value.
	Categorical
)

// String returns "numeric" or "categorical", the names used in schemas.
func (k Kind) String() string {
	switch k {
	case Numeric:
		return "numeric"
	case Categorical:
		return "categorical"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// column is one named column; exactly one of num and cat is used.
type column struct {
	name string
	kind Kind
	num  []float64
	cat  []string
}

// Frame is an ordered set of equally long, uniquely named columns.
//
// The zero value is an empty frame ready for AddNumeric/AddCategorical. A
// Frame is not safe for concurrent mutation; concurrent reads are fine.
type Frame struct {
	cols  []*column
	index map[string]int
	rows  int
}

// New returns an empty frame.
func New() *Frame { return &Frame{} }

// NumRows returns the number of rows (0 for a frame without columns).
func (f *Frame) NumRows() int { return f.rows }

// NumCols returns the number of columns.
func (f *Frame) NumCols() int { return len(f.cols) }

// Names returns the column names in order (a fresh slice).
func (f *Frame) Names() []string {
	out := make([]string, len(f.cols))
	for i, c := range f.cols {
		out[i] = c.name
	}
	return out
}

// Has reports whether the frame has a column called name.
func (f *Frame) Has(name string) bool {
	_, ok := f.index[name]
	return ok
}

// Kind returns the kind of column name.
func (f *Frame) Kind(name string) (Kind, error) {
	c, err := f.col(name)
	if err != nil {
		return 0, err
	}
	return c.kind, nil
}

func (f *Frame) col(name string) (*column, error) {
	i, ok := f.index[name]
	if !ok {
		return nil, fmt.Errorf("frame: no column %q (have %v)", name, f.Names())
	}
	return f.cols[i], nil
}

// Numeric returns the values of numeric column name. The slice is the
// frame's own storage: callers must not modify it.
func (f *Frame) Numeric(name string) ([]float64, error) {
	c, err := f.col(name)
	if err != nil {
		return nil, err
	}
	if c.kind != Numeric {
		return nil, fmt.Errorf("frame: column %q is %v, not numeric", name, c.kind)
	}
	return c.num, nil
}

// Categorical returns the values of categorical column name. The slice is the
// frame's own storage: callers must not modify it.
func (f *Frame) Categorical(name string) ([]string, error) {
	c, err := f.col(name)
	if err != nil {
		return nil, err
	}
	if c.kind != Categorical {
		return nil, fmt.Errorf("frame: column %q is %v, not categorical", name, c.kind)
	}
	return c.cat, nil
}

// AddNumeric appends a numeric column; the frame keeps v (no copy).
func (f *Frame) AddNumeric(name string, v []float64) error {
	return f.add(&column{name: name, kind: Numeric, num: v}, len(v))
}

// AddCategorical appends a categorical column; the frame keeps v (no copy).
func (f *Frame) AddCategorical(name string, v []string) error {
	return f.add(&column{name: name, kind: Categorical, cat: v}, len(v))
}

func (f *Frame) add(c *column, n int) error {
	if c.name == "" {
		return fmt.Errorf("frame: column name is empty")
	}
	if f.Has(c.name) {
		return fmt.Errorf("frame: duplicate column %q", c.name)
	}
	if len(f.cols) > 0 && n != f.rows {
		return fmt.Errorf("frame: column %q has %d rows, frame has %d", c.name, n, f.rows)
	}
	if f.index == nil {
		f.index = make(map[string]int)
	}
	f.index[c.name] = len(f.cols)
	f.cols = append(f.cols, c)
	f.rows = n
	return nil
}

// Select returns a new frame holding the given rows, in order (indices may
// repeat). It panics on an out-of-range index like slice indexing does,
// since indices come from code, not from data.
func (f *Frame) Select(rows []int) *Frame {
	out := &Frame{index: make(map[string]int, len(f.cols)), rows: len(rows)}
	for i, c := range f.cols {
		nc := &column{name: c.name, kind: c.kind}
		if c.kind == Numeric {
			nc.num = ml.SelectFloats(c.num, rows)
		} else {
			nc.cat = make([]string, len(rows))
			for k, r := range rows {
				nc.cat[k] = c.cat[r]
			}
		}
		out.index[c.name] = i
		out.cols = append(out.cols, nc)
	}
	return out
}

// Columns returns a new frame with only the named columns, in the given
// order. Column storage is shared with f.
func (f *Frame) Columns(names []string) (*Frame, error) {
	out := &Frame{index: make(map[string]int, len(names)), rows: f.rows}
	for i, name := range names {
		c, err := f.col(name)
		if err != nil {
			return nil, err
		}
		if _, dup := out.index[name]; dup {
			return nil, fmt.Errorf("frame: column %q requested twice", name)
		}
		out.index[name] = i
		out.cols = append(out.cols, c)
	}
	return out, nil
}

// Drop returns a new frame without the named columns (names that are not
// present are ignored). Column storage is shared with f.
func (f *Frame) Drop(names ...string) *Frame {
	skip := make(map[string]bool, len(names))
	for _, n := range names {
		skip[n] = true
	}
	out := &Frame{index: make(map[string]int), rows: f.rows}
	for _, c := range f.cols {
		if skip[c.name] {
			continue
		}
		out.index[c.name] = len(out.cols)
		out.cols = append(out.cols, c)
	}
	return out
}

// Matrix returns the named numeric columns as a dense rows×len(cols) matrix
// (NaN stays NaN). A categorical or unknown column is an error.
func (f *Frame) Matrix(cols []string) (*ml.Matrix, error) {
	vals := make([][]float64, len(cols))
	for j, name := range cols {
		v, err := f.Numeric(name)
		if err != nil {
			return nil, err
		}
		vals[j] = v
	}
	m := ml.NewMatrix(f.rows, len(cols))
	for j, v := range vals {
		for i, x := range v {
			m.Data[i*m.Cols+j] = x
		}
	}
	return m, nil
}

// CountMissing returns how many values of column name are missing.
func (f *Frame) CountMissing(name string) (int, error) {
	c, err := f.col(name)
	if err != nil {
		return 0, err
	}
	n := 0
	if c.kind == Numeric {
		for _, v := range c.num {
			if math.IsNaN(v) {
				n++
			}
		}
		return n, nil
	}
	for _, s := range c.cat {
		if s == "" {
			n++
		}
	}
	return n, nil
}
