package pipeline

import (
	"fmt"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/metrics"
)

// evaluate returns all ten regression metrics of m on (X, y).
func evaluate(m ml.Regressor, X *ml.Matrix, y []float64) (metrics.Report, error) {
	pred, err := m.Predict(X)
	if err != nil {
		return metrics.Report{}, fmt.Errorf("predict: %w", err)
	}
	rep, err := metrics.Regression(y, pred)
	if err != nil {
		return metrics.Report{}, fmt.Errorf("metrics: %w", err)
	}
	return rep, nil
}

// predictScore returns one metric of m on (X, y).
func predictScore(m ml.Regressor, X *ml.Matrix, y []float64, f metrics.Func) (float64, error) {
	pred, err := m.Predict(X)
	if err != nil {
		return 0, fmt.Errorf("predict: %w", err)
	}
	return f(y, pred)
}
