// Package monitor watches a deployed model's inputs: drift statistics
// between a reference sample (the training data) and current data (recent
// requests), an asynchronous prediction log, and a sliding window that the
// server feeds request by request.
//
// The per-feature drift test follows Evidently's default rule, so numbers
// can be compared with the Python stack this replaces: with a reference of
// at most 1000 rows, Kolmogorov–Smirnov for numeric features and
// chi-square (z-test for two categories) for categorical ones, drift when
// p < 0.05; with a larger reference, the Wasserstein distance normed by the
// reference standard deviation for numeric features and the Jensen–Shannon
// distance for categorical ones, drift when ≥ 0.1. The dataset drifts when
// at least half of the features drift. PSI is reported alongside with the
// banking bands of the original system (< 0.1, 0.1–0.2, ≥ 0.2).
package monitor

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// Table is column-named data: each column is numeric (NaN = missing) or
// categorical ("" = missing), all of one length. It is the package's own
// small exchange type; FromFrame converts an ml/frame.Frame.
type Table struct {
	Numeric     map[string][]float64
	Categorical map[string][]string
}

// NewTable returns an empty table ready for columns.
func NewTable() *Table {
	return &Table{Numeric: map[string][]float64{}, Categorical: map[string][]string{}}
}

// Columns returns every column name, sorted.
func (t *Table) Columns() []string {
	names := slices.Collect(maps.Keys(t.Numeric))
	names = slices.AppendSeq(names, maps.Keys(t.Categorical))
	slices.Sort(names)
	return names
}

// Rows checks that every column has the same length and no name is both
// numeric and categorical, and returns that length.
func (t *Table) Rows() (int, error) {
	rows := -1
	check := func(name string, n int) error {
		if rows >= 0 && n != rows {
			return fmt.Errorf("monitor: column %q has %d rows, want %d", name, n, rows)
		}
		rows = n
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(t.Numeric)) {
		if _, dup := t.Categorical[name]; dup {
			return 0, fmt.Errorf("monitor: column %q is both numeric and categorical", name)
		}
		if err := check(name, len(t.Numeric[name])); err != nil {
			return 0, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Categorical)) {
		if err := check(name, len(t.Categorical[name])); err != nil {
			return 0, err
		}
	}
	return max(rows, 0), nil
}

// nonMissingNumeric returns the column's finite values: like Evidently,
// ±Inf counts as missing (no distance or test is defined with it).
func nonMissingNumeric(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

// nonMissingCategorical returns the column's non-empty values.
func nonMissingCategorical(v []string) []string {
	out := make([]string, 0, len(v))
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
