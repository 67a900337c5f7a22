// Package impute fills missing values (NaN) in an ml.Matrix.
//
// Three imputers mirror scikit-learn's: Simple (per-column statistic), KNN
// (mean of the nearest complete neighbours under nan_euclidean distance) and
// Iterative (round-robin regression of each column on the others). All are
// ml.Transformers whose fitted state lives in exported, JSON-tagged fields so a
// saved pipeline transforms bit-identically after a round trip.
//
// MaskedValidation implements the comparison protocol of pipeline step 02:
// hide known values, impute them with each strategy and score the error.
package impute

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Strategies accepted by NewSimple.
const (
	StrategyMean         = "mean"
	StrategyMedian       = "median"
	StrategyMostFrequent = "most_frequent"
	StrategyConstant     = "constant"
)

// Simple replaces each missing value by a per-column statistic learned at
// Fit, like scikit-learn's SimpleImputer.
type Simple struct {
	// Strategy is one of "mean", "median", "most_frequent" or "constant".
	Strategy string `json:"strategy"`
	// Fill is the value used by the "constant" strategy.
	Fill float64 `json:"fill"`
	// Statistics holds the fitted fill value of each column (nil before Fit).
	Statistics []float64 `json:"statistics"`
}

// NewSimple returns an unfitted Simple imputer using strategy.
func NewSimple(strategy string) *Simple { return &Simple{Strategy: strategy} }

// Kind names the transformer in saved pipelines.
func (s *Simple) Kind() string { return "simple_imputer" }

// Fit learns one fill value per column from the observed (non-NaN) values.
// Every strategy but "constant" needs at least one observed value per column.
func (s *Simple) Fit(X *Matrix) error {
	if err := checkInput(X, -1); err != nil {
		return fmt.Errorf("impute: simple: %w", err)
	}
	stat, err := simpleStatistic(s.Strategy, s.Fill)
	if err != nil {
		return err
	}
	out := make([]float64, X.Cols)
	col := make([]float64, 0, X.Rows)
	for j := 0; j < X.Cols; j++ {
		col = observed(X, j, col[:0])
		if len(col) == 0 && s.Strategy != StrategyConstant {
			return fmt.Errorf("impute: simple: column %d has no observed value; strategy %q cannot fill it", j, s.Strategy)
		}
		out[j] = stat(col)
	}
	s.Statistics = out
	return nil
}

// Transform returns a copy of X with every NaN replaced by its column's
// fitted statistic.
func (s *Simple) Transform(X *Matrix) (*Matrix, error) {
	if s.Statistics == nil {
		return nil, ErrNotFitted
	}
	if err := checkInput(X, len(s.Statistics)); err != nil {
		return nil, fmt.Errorf("impute: simple: %w", err)
	}
	out := X.Clone()
	for i := 0; i < out.Rows; i++ {
		row := out.Row(i)
		for j, v := range row {
			if math.IsNaN(v) {
				row[j] = s.Statistics[j]
			}
		}
	}
	return out, nil
}

// simpleStatistic returns the function computing strategy's statistic from
// a column's observed values.
func simpleStatistic(strategy string, fill float64) (func([]float64) float64, error) {
	switch strategy {
	case StrategyMean:
		return mean, nil
	case StrategyMedian:
		return median, nil
	case StrategyMostFrequent:
		return mostFrequent, nil
	case StrategyConstant:
		return func([]float64) float64 { return fill }, nil
	}
	return nil, fmt.Errorf("impute: simple: unknown strategy %q (want mean, median, most_frequent or constant)", strategy)
}

// observed appends the non-NaN values of column j of X to dst.
func observed(X *Matrix, j int, dst []float64) []float64 {
	for i := 0; i < X.Rows; i++ {
		if v := X.Data[i*X.Cols+j]; !math.IsNaN(v) {
			dst = append(dst, v)
		}
	}
	return dst
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// median sorts v in place; for an even count it averages the middle pair,
// as numpy does.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// mostFrequent sorts v in place and returns its mode; ties go to the
// smallest value, as scikit-learn's SimpleImputer does.
func mostFrequent(v []float64) float64 {
	slices.Sort(v)
	best, bestN := v[0], 0
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j] == v[i] {
			j++
		}
		if j-i > bestN {
			best, bestN = v[i], j-i
		}
		i = j
	}
	return best
}

// checkInput rejects a nil matrix, a column-count mismatch (when cols >= 0)
// and infinite values, which are not "missing" and would poison statistics.
func checkInput(X *Matrix, cols int) error {
	if X == nil {
		return errors.New("input matrix is nil")
	}
	if cols >= 0 && X.Cols != cols {
		return fmt.Errorf("input has %d columns, the imputer was fitted on %d", X.Cols, cols)
	}
	for k, v := range X.Data {
		if math.IsInf(v, 0) {
			return fmt.Errorf("row %d column %d is %v; only NaN marks a missing value", k/X.Cols, k%X.Cols, v)
		}
	}
	return nil
}
