package selection

import (
	"fmt"
	"math"

	"github.com/housing-mlops/mlops/ml/metrics"
)

// Scorer turns predictions into one number and says which direction is
// better, so searches can rank candidates without knowing the metric.
type Scorer struct {
	Name           string
	Score          func(yTrue, yPred []float64) (float64, error)
	HigherIsBetter bool
}

// Better reports whether score a beats score b under s. NaN never wins.
func (s Scorer) Better(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	if math.IsNaN(b) {
		return true
	}
	if s.HigherIsBetter {
		return a > b
	}
	return a < b
}

// MAE scores by mean absolute error (lower is better).
func MAE() Scorer {
	return Scorer{Name: "mae", Score: metrics.MAE}
}

// RMSE scores by root mean squared error (lower is better).
func RMSE() Scorer {
	return Scorer{Name: "rmse", Score: metrics.RMSE}
}

// R2 scores by the coefficient of determination (higher is better).
func R2() Scorer {
	return Scorer{Name: "r2", Score: metrics.R2, HigherIsBetter: true}
}

// ScorerByName returns a scorer for any of the regression metrics in
// ml/metrics (metrics.Names: mae, rmse, r2, mape, smape, wmape, ...), with
// its direction, so configuration files can name one.
func ScorerByName(name string) (Scorer, error) {
	fn, higher, err := metrics.ByName(name)
	if err != nil {
		return Scorer{}, fmt.Errorf("selection: scorer: %w", err)
	}
	return Scorer{Name: name, Score: fn, HigherIsBetter: higher}, nil
}
