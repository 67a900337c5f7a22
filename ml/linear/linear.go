// Package linear holds the regularised linear regressors: Ridge (closed form)
// and Lasso (cyclic coordinate descent), both with an intercept and both
// matching scikit-learn's objectives so that coefficients agree with it.
package linear

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/housing-mlops/mlops/ml"
)

// centred returns the column means of X, the mean of y, X with its column
// means subtracted (column-major: xc[j] is column j) and the centred y.
// Fitting on centred data and recovering the intercept afterwards is how
// scikit-learn fits an unpenalised intercept.
func centred(X *ml.Matrix, y []float64) (xMean []float64, yMean float64, xc [][]float64, yc []float64) {
	n, p := X.Rows, X.Cols
	xMean = make([]float64, p)
	for i := 0; i < n; i++ {
		row := X.Row(i)
		for j, v := range row {
			xMean[j] += v
		}
	}
	for j := range xMean {
		xMean[j] /= float64(n)
	}
	xc = make([][]float64, p)
	for j := range xc {
		col := make([]float64, n)
		for i := 0; i < n; i++ {
			col[i] = X.Data[i*p+j] - xMean[j]
		}
		xc[j] = col
	}
	for _, v := range y {
		yMean += v
	}
	yMean /= float64(n)
	yc = make([]float64, n)
	for i, v := range y {
		yc[i] = v - yMean
	}
	return xMean, yMean, xc, yc
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// predictLinear computes X·coef + intercept.
func predictLinear(X *ml.Matrix, coef []float64, intercept float64) ([]float64, error) {
	if coef == nil {
		return nil, ml.ErrNotFitted
	}
	if err := ml.CheckCols(X, len(coef)); err != nil {
		return nil, err
	}
	out := make([]float64, X.Rows)
	for i := range out {
		out[i] = dot(X.Row(i), coef) + intercept
	}
	return out, nil
}

// Ridge is least squares with an L2 penalty: it minimises
// ||y - Xw - b||² + Alpha·||w||², solving (XcᵀXc + αI)w = Xcᵀyc on centred data
// by Cholesky factorisation, like scikit-learn's "cholesky" solver.
type Ridge struct {
	Alpha float64 `json:"alpha"`
	// Fitted state.
	Coef      []float64 `json:"coef,omitempty"`
	Intercept float64   `json:"intercept"`
}

// NewRidge returns an unfitted ridge regressor with penalty alpha.
func NewRidge(alpha float64) *Ridge { return &Ridge{Alpha: alpha} }

// Kind names the model in saved artifacts.
func (r *Ridge) Kind() string { return "ridge" }

// Fit learns the coefficients and intercept.
func (r *Ridge) Fit(X *ml.Matrix, y []float64) error {
	if r.Alpha < 0 || math.IsNaN(r.Alpha) {
		return fmt.Errorf("ridge: alpha must be >= 0, got %v", r.Alpha)
	}
	if err := ml.CheckXY(X, y); err != nil {
		return fmt.Errorf("ridge: %w", err)
	}
	xMean, yMean, xc, yc := centred(X, y)
	p := X.Cols
	a := mat.NewSymDense(p, nil)
	b := mat.NewVecDense(p, nil)
	for j := 0; j < p; j++ {
		for k := j; k < p; k++ {
			a.SetSym(j, k, dot(xc[j], xc[k]))
		}
		a.SetSym(j, j, a.At(j, j)+r.Alpha)
		b.SetVec(j, dot(xc[j], yc))
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(a); !ok {
		return errors.New("ridge: XᵀX + αI is not positive definite (collinear or constant columns with alpha 0); use alpha > 0")
	}
	var w mat.VecDense
	if err := chol.SolveVecTo(&w, b); err != nil {
		return fmt.Errorf("ridge: solve: %w", err)
	}
	coef := make([]float64, p)
	intercept := yMean
	for j := range coef {
		coef[j] = w.AtVec(j)
		intercept -= xMean[j] * coef[j]
	}
	r.Coef, r.Intercept = coef, intercept
	return nil
}

// Predict returns X·Coef + Intercept.
func (r *Ridge) Predict(X *ml.Matrix) ([]float64, error) {
	return predictLinear(X, r.Coef, r.Intercept)
}
