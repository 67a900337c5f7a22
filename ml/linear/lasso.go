package linear

import (
	"fmt"
	"math"

	"github.com/housing-mlops/mlops/ml"
)

// Lasso is least squares with an L1 penalty. It minimises scikit-learn's
// objective (1/2n)·||y - Xw - b||² + Alpha·||w||₁ by cyclic coordinate
// descent on centred data, with scikit-learn's stopping rule: after a sweep
// whose largest coefficient change is below Tol·max|w|, the duality gap is
// computed and the fit stops once it is below Tol·||yc||².
type Lasso struct {
	Alpha   float64 `json:"alpha"`
	Tol     float64 `json:"tol"`      // scikit-learn's default is 1e-4
	MaxIter int     `json:"max_iter"` // full sweeps; scikit-learn's default is 1000
	// Fitted state.
	Coef      []float64 `json:"coef,omitempty"`
	Intercept float64   `json:"intercept"`
	NIter     int       `json:"n_iter"`   // sweeps run
	DualGap   float64   `json:"dual_gap"` // last duality gap, in the scaled units of the solver
	Converged bool      `json:"converged"`
}

// NewLasso returns an unfitted lasso with scikit-learn's defaults
// (tol 1e-4, 1000 iterations).
func NewLasso(alpha float64) *Lasso { return &Lasso{Alpha: alpha, Tol: 1e-4, MaxIter: 1000} }

// Kind names the model in saved artifacts.
func (l *Lasso) Kind() string { return "lasso" }

// Predict returns X·Coef + Intercept.
func (l *Lasso) Predict(X *ml.Matrix) ([]float64, error) {
	return predictLinear(X, l.Coef, l.Intercept)
}

// Fit runs coordinate descent from zero coefficients. Not converging within
// MaxIter is not an error (scikit-learn only warns): Converged says so.
func (l *Lasso) Fit(X *ml.Matrix, y []float64) error {
	if l.Alpha < 0 || math.IsNaN(l.Alpha) {
		return fmt.Errorf("lasso: alpha must be >= 0, got %v", l.Alpha)
	}
	if l.MaxIter <= 0 {
		return fmt.Errorf("lasso: max_iter must be > 0, got %d", l.MaxIter)
	}
	if !(l.Tol >= 0) {
		return fmt.Errorf("lasso: tol must be >= 0, got %v", l.Tol)
	}
	if err := ml.CheckXY(X, y); err != nil {
		return fmt.Errorf("lasso: %w", err)
	}
	xMean, yMean, xc, yc := centred(X, y)
	w := make([]float64, X.Cols)
	n, gap, converged := descend(xc, yc, l.Alpha*float64(X.Rows), l.Tol, l.MaxIter, w)
	intercept := yMean
	for j, v := range w {
		intercept -= xMean[j] * v
	}
	l.Coef, l.Intercept, l.NIter, l.DualGap, l.Converged = w, intercept, n, gap, converged
	return nil
}

// descend minimises ½||y - Xw||² + alpha·||w||₁ (alpha already scaled by n)
// in place, following scikit-learn's enet_coordinate_descent without the L2
// term. x is column-major. It returns the sweeps run, the last duality gap
// and whether the gap fell below tol·||y||².
func descend(x [][]float64, y []float64, alpha, tol float64, maxIter int, w []float64) (int, float64, bool) {
	norms := make([]float64, len(x))
	for j, col := range x {
		norms[j] = dot(col, col)
	}
	r := append([]float64(nil), y...) // residual y - Xw, with w = 0
	gapTol := tol * dot(y, y)
	gap := gapTol + 1
	for iter := 0; iter < maxIter; iter++ {
		wMax, dwMax := 0.0, 0.0
		for j, col := range x {
			if norms[j] == 0 {
				continue
			}
			old := w[j]
			if old != 0 {
				axpy(old, col, r)
			}
			tmp := dot(col, r)
			nw := math.Max(math.Abs(tmp)-alpha, 0) / norms[j]
			if tmp < 0 {
				nw = -nw
			}
			w[j] = nw
			if nw != 0 {
				axpy(-nw, col, r)
			}
			dwMax = math.Max(dwMax, math.Abs(nw-old))
			wMax = math.Max(wMax, math.Abs(nw))
		}
		if wMax == 0 || dwMax/wMax < tol || iter == maxIter-1 {
			gap = dualityGap(x, y, r, w, alpha)
			if gap < gapTol {
				return iter + 1, gap, true
			}
		}
	}
	return maxIter, gap, false
}

// axpy computes r += a·x.
func axpy(a float64, x, r []float64) {
	for i, v := range x {
		r[i] += a * v
	}
}

// dualityGap is the lasso duality gap at w with residual r (scikit-learn's
// formula with the L2 weight set to zero).
func dualityGap(x [][]float64, y, r, w []float64, alpha float64) float64 {
	dualNorm := 0.0
	for _, col := range x {
		dualNorm = math.Max(dualNorm, math.Abs(dot(col, r)))
	}
	rNorm2 := dot(r, r)
	var gap, c float64
	if dualNorm > alpha {
		c = alpha / dualNorm
		gap = 0.5 * (rNorm2 + rNorm2*c*c)
	} else {
		c = 1
		gap = rNorm2
	}
	l1 := 0.0
	for _, v := range w {
		l1 += math.Abs(v)
	}
	return gap + alpha*l1 - c*dot(r, y)
}
