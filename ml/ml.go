// Package ml holds the small set of types every part of the ML engine shares:
// a dense row-major matrix, the Regressor and Transformer contracts, and the
// helpers that keep parallel work deterministic.
//
// Sub-packages (tree, ensemble, linear, cluster, impute, preprocess, metrics,
// selection, frame, model) implement learners and tools against these types.
// None of them keeps global state: every source of randomness is an explicit
// seed, and every parallel loop writes into index-addressed slots so results do
// not depend on GOMAXPROCS.
package ml

import (
	"errors"
	"fmt"
	"math"
)

// Matrix is a dense row-major matrix of float64. Missing values are NaN.
//
// A Matrix with zero rows is valid (an empty batch); Cols must still be set.
type Matrix struct {
	Rows, Cols int
	Data       []float64 // len(Data) == Rows*Cols; element (i, j) is Data[i*Cols+j]
}

// NewMatrix returns a zeroed rows×cols matrix.
func NewMatrix(rows, cols int) *Matrix {
	return &Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// MatrixFrom wraps data (row-major, len rows*cols) without copying.
func MatrixFrom(rows, cols int, data []float64) (*Matrix, error) {
	if rows < 0 || cols < 0 || len(data) != rows*cols {
		return nil, fmt.Errorf("ml: matrix %dx%d needs %d values, got %d", rows, cols, rows*cols, len(data))
	}
	return &Matrix{Rows: rows, Cols: cols, Data: data}, nil
}

// At returns element (i, j).
func (m *Matrix) At(i, j int) float64 { return m.Data[i*m.Cols+j] }

// Set sets element (i, j).
func (m *Matrix) Set(i, j int, v float64) { m.Data[i*m.Cols+j] = v }

// Row returns row i as a slice sharing m's storage.
func (m *Matrix) Row(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// Col returns a copy of column j.
func (m *Matrix) Col(j int) []float64 {
	out := make([]float64, m.Rows)
	for i := range out {
		out[i] = m.Data[i*m.Cols+j]
	}
	return out
}

// Clone returns a deep copy of m.
func (m *Matrix) Clone() *Matrix {
	return &Matrix{Rows: m.Rows, Cols: m.Cols, Data: append([]float64(nil), m.Data...)}
}

// SelectRows returns a new matrix with the given rows of m, in order.
func (m *Matrix) SelectRows(idx []int) *Matrix {
	out := NewMatrix(len(idx), m.Cols)
	for k, i := range idx {
		copy(out.Row(k), m.Row(i))
	}
	return out
}

// SelectCols returns a new matrix with the given columns of m, in order.
func (m *Matrix) SelectCols(cols []int) *Matrix {
	out := NewMatrix(m.Rows, len(cols))
	for i := 0; i < m.Rows; i++ {
		src, dst := m.Row(i), out.Row(i)
		for k, j := range cols {
			dst[k] = src[j]
		}
	}
	return out
}

// HStack concatenates matrices with the same number of rows side by side.
func HStack(ms ...*Matrix) (*Matrix, error) {
	if len(ms) == 0 {
		return NewMatrix(0, 0), nil
	}
	rows, cols := ms[0].Rows, 0
	for k, m := range ms {
		if m.Rows != rows {
			return nil, fmt.Errorf("ml: hstack: block %d has %d rows, want %d", k, m.Rows, rows)
		}
		cols += m.Cols
	}
	out := NewMatrix(rows, cols)
	for i := 0; i < rows; i++ {
		dst := out.Row(i)
		off := 0
		for _, m := range ms {
			copy(dst[off:], m.Row(i))
			off += m.Cols
		}
	}
	return out, nil
}

// SelectFloats returns v[idx[0]], v[idx[1]], ... as a new slice.
func SelectFloats(v []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for k, i := range idx {
		out[k] = v[i]
	}
	return out
}

// Regressor is a supervised learner predicting one numeric target.
//
// Fit may be called again; it replaces the fitted state. Predict on an
// unfitted regressor returns ErrNotFitted. Implementations must be safe for
// concurrent Predict calls once fitted.
type Regressor interface {
	Fit(X *Matrix, y []float64) error
	Predict(X *Matrix) ([]float64, error)
}

// Transformer learns a column-wise transformation on training data and
// applies it to any data with the same columns.
type Transformer interface {
	Fit(X *Matrix) error
	Transform(X *Matrix) (*Matrix, error)
}

// FeatureImportancer is implemented by learners that can rank their inputs
// (impurity-based importances for trees; they sum to 1).
type FeatureImportancer interface {
	FeatureImportances() []float64
}

// ErrNotFitted is returned when a learner is used before Fit.
var ErrNotFitted = errors.New("ml: not fitted")

// CheckXY validates a training set: shapes agree, there is at least one row,
// and no value is NaN or infinite (learners other than imputers need complete
// data). The error names the first offending row and column.
func CheckXY(X *Matrix, y []float64) error {
	if X == nil {
		return errors.New("ml: X is nil")
	}
	if X.Rows == 0 {
		return errors.New("ml: no training rows")
	}
	if len(y) != X.Rows {
		return fmt.Errorf("ml: X has %d rows but y has %d values", X.Rows, len(y))
	}
	if err := CheckFinite(X); err != nil {
		return err
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("ml: y[%d] is %v; targets must be finite", i, v)
		}
	}
	return nil
}

// CheckFinite returns an error naming the first NaN or infinite element of X.
func CheckFinite(X *Matrix) error {
	for k, v := range X.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("ml: X[%d][%d] is %v; impute missing values first", k/X.Cols, k%X.Cols, v)
		}
	}
	return nil
}

// CheckCols returns an error when X does not have the number of columns a
// fitted learner expects.
func CheckCols(X *Matrix, want int) error {
	if X == nil {
		return errors.New("ml: X is nil")
	}
	if X.Cols != want {
		return fmt.Errorf("ml: X has %d columns, the model was fitted on %d", X.Cols, want)
	}
	return nil
}
