// Package preprocess turns a raw frame.Frame into the numeric matrix a
// regressor is trained on: StandardScaler, OneHotEncoder and a
// ColumnTransformer that composes named blocks of columns, like
// scikit-learn's ColumnTransformer, and names every output feature.
//
// Every fitted component keeps its state in exported JSON-tagged fields so a
// saved pipeline (see package model) transforms bit-identically after loading.
package preprocess

import (
	"fmt"
	"math"

	"github.com/housing-mlops/mlops/ml"
)

// StandardScaler centres each column on its mean and divides by its
// population standard deviation, like scikit-learn's StandardScaler. NaN is
// ignored when fitting and stays NaN when transforming, so the scaler can
// run before or after an imputer.
type StandardScaler struct {
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"` // 1 for (numerically) constant columns
}

// NewStandardScaler returns an unfitted scaler.
func NewStandardScaler() *StandardScaler { return &StandardScaler{} }

// Kind names the transformer in saved artifacts.
func (s *StandardScaler) Kind() string { return "standard_scaler" }

// Fit learns each column's mean and scale from its non-missing values.
func (s *StandardScaler) Fit(X *ml.Matrix) error {
	if X == nil || X.Rows == 0 {
		return fmt.Errorf("standard scaler: no rows to fit")
	}
	p := X.Cols
	sum := make([]float64, p)
	count := make([]int, p)
	for i := 0; i < X.Rows; i++ {
		for j, v := range X.Row(i) {
			if math.IsInf(v, 0) {
				return fmt.Errorf("standard scaler: X[%d][%d] is %v", i, j, v)
			}
			if !math.IsNaN(v) {
				sum[j] += v
				count[j]++
			}
		}
	}
	mean := make([]float64, p)
	for j := range mean {
		if count[j] == 0 {
			return fmt.Errorf("standard scaler: column %d has no observed value", j)
		}
		mean[j] = sum[j] / float64(count[j])
	}
	// Two-pass variance (sum of squared deviations from the mean) is
	// accurate for data far from zero, where E[x²]-E[x]² is not.
	ss := make([]float64, p)
	for i := 0; i < X.Rows; i++ {
		for j, v := range X.Row(i) {
			if !math.IsNaN(v) {
				d := v - mean[j]
				ss[j] += d * d
			}
		}
	}
	scale := make([]float64, p)
	for j := range scale {
		n := float64(count[j])
		variance := ss[j] / n
		scale[j] = math.Sqrt(variance)
		if isConstant(variance, mean[j], n) {
			scale[j] = 1
		}
	}
	s.Mean, s.Scale = mean, scale
	return nil
}

// isConstant mirrors scikit-learn's _is_constant_feature: a variance within
// the rounding error of its own computation counts as zero, so a constant
// column is left unscaled instead of being blown up by noise.
func isConstant(variance, mean, n float64) bool {
	const eps = 0x1p-52
	bound := n*eps*variance + (n*mean*eps)*(n*mean*eps)
	return variance <= bound
}

// Transform returns (X - Mean) / Scale; NaN stays NaN.
func (s *StandardScaler) Transform(X *ml.Matrix) (*ml.Matrix, error) {
	if s.Mean == nil {
		return nil, ml.ErrNotFitted
	}
	if len(s.Scale) != len(s.Mean) {
		return nil, fmt.Errorf("standard scaler: %d means but %d scales", len(s.Mean), len(s.Scale))
	}
	if err := ml.CheckCols(X, len(s.Mean)); err != nil {
		return nil, fmt.Errorf("standard scaler: %w", err)
	}
	out := ml.NewMatrix(X.Rows, X.Cols)
	for i := 0; i < X.Rows; i++ {
		src, dst := X.Row(i), out.Row(i)
		for j, v := range src {
			dst[j] = (v - s.Mean[j]) / s.Scale[j]
		}
	}
	return out, nil
}

// InverseTransform maps scaled values back to the original units.
func (s *StandardScaler) InverseTransform(X *ml.Matrix) (*ml.Matrix, error) {
	if s.Mean == nil {
		return nil, ml.ErrNotFitted
	}
	if err := ml.CheckCols(X, len(s.Mean)); err != nil {
		return nil, fmt.Errorf("standard scaler: %w", err)
	}
	out := ml.NewMatrix(X.Rows, X.Cols)
	for i := 0; i < X.Rows; i++ {
		src, dst := X.Row(i), out.Row(i)
		for j, v := range src {
			dst[j] = v*s.Scale[j] + s.Mean[j]
		}
	}
	return out, nil
}
