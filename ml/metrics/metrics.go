// Package metrics computes the ten regression metrics the project reports:
// MAE, RMSE, R², MAPE, SMAPE, wMAPE, median APE and the share of predictions
// within 5, 10 and 15 % of the truth.
//
// Percent metrics are in percent (24.5 means 24.5 %). APE is |y-p|/|y|, so a
// zero target makes every APE-based metric undefined: those functions return
// an error naming the row instead of a silent Inf.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Report holds all ten metrics for one set of predictions.
type Report struct {
	MAE         float64 `json:"mae"`
	RMSE        float64 `json:"rmse"`
	R2          float64 `json:"r2"`
	MAPE        float64 `json:"mape"`
	SMAPE       float64 `json:"smape"`
	WMAPE       float64 `json:"wmape"`
	MedianAPE   float64 `json:"median_ape"`
	Within5Pct  float64 `json:"within_5pct"`
	Within10Pct float64 `json:"within_10pct"`
	Within15Pct float64 `json:"within_15pct"`
}

// Map returns the report keyed by the metric names used in JSON and by ByName.
func (r Report) Map() map[string]float64 {
	return map[string]float64{
		"mae": r.MAE, "rmse": r.RMSE, "r2": r.R2, "mape": r.MAPE, "smape": r.SMAPE,
		"wmape": r.WMAPE, "median_ape": r.MedianAPE, "within_5pct": r.Within5Pct,
		"within_10pct": r.Within10Pct, "within_15pct": r.Within15Pct,
	}
}

// Regression computes every metric. It fails on empty or mismatched inputs,
// non-finite values and zero targets (see the package doc).
func Regression(yTrue, yPred []float64) (Report, error) {
	if err := check(yTrue, yPred); err != nil {
		return Report{}, err
	}
	ape, err := apes(yTrue, yPred)
	if err != nil {
		return Report{}, err
	}
	var r Report
	r.MAE, _ = MAE(yTrue, yPred)
	r.RMSE, _ = RMSE(yTrue, yPred)
	r.R2, _ = R2(yTrue, yPred)
	r.MAPE = mean(ape) * 100
	if r.SMAPE, err = SMAPE(yTrue, yPred); err != nil {
		return Report{}, err
	}
	r.WMAPE, _ = WMAPE(yTrue, yPred) // cannot fail: no target is zero
	r.MedianAPE = median(ape) * 100
	r.Within5Pct = within(ape, 0.05)
	r.Within10Pct = within(ape, 0.10)
	r.Within15Pct = within(ape, 0.15)
	return r, nil
}

// check validates a pair of target and prediction vectors.
func check(yTrue, yPred []float64) error {
	if len(yTrue) != len(yPred) {
		return fmt.Errorf("metrics: %d targets but %d predictions", len(yTrue), len(yPred))
	}
	if len(yTrue) == 0 {
		return errors.New("metrics: no values")
	}
	for i := range yTrue {
		if !finite(yTrue[i]) {
			return fmt.Errorf("metrics: target %d is %v", i, yTrue[i])
		}
		if !finite(yPred[i]) {
			return fmt.Errorf("metrics: prediction %d is %v", i, yPred[i])
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// apes returns |y-p|/|y| for every row, failing on the first zero target.
func apes(yTrue, yPred []float64) ([]float64, error) {
	out := make([]float64, len(yTrue))
	for i, y := range yTrue {
		if y == 0 {
			return nil, fmt.Errorf("metrics: target %d is 0: percentage errors are undefined", i)
		}
		out[i] = math.Abs(y-yPred[i]) / math.Abs(y)
	}
	return out, nil
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// median of v (the mean of the two middle values for an even length); v is
// not modified.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// within returns the percentage of APEs strictly below limit.
func within(ape []float64, limit float64) float64 {
	n := 0
	for _, a := range ape {
		if a < limit {
			n++
		}
	}
	return float64(n) / float64(len(ape)) * 100
}

// MAE is the mean absolute error.
func MAE(yTrue, yPred []float64) (float64, error) {
	if err := check(yTrue, yPred); err != nil {
		return 0, err
	}
	s := 0.0
	for i, y := range yTrue {
		s += math.Abs(y - yPred[i])
	}
	return s / float64(len(yTrue)), nil
}

// RMSE is the root mean squared error.
func RMSE(yTrue, yPred []float64) (float64, error) {
	if err := check(yTrue, yPred); err != nil {
		return 0, err
	}
	s := 0.0
	for i, y := range yTrue {
		d := y - yPred[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(yTrue))), nil
}

// R2 is the coefficient of determination 1 - SSres/SStot. As in
// scikit-learn, constant targets give 1 for a perfect fit and 0 otherwise
// instead of dividing by zero.
func R2(yTrue, yPred []float64) (float64, error) {
	if err := check(yTrue, yPred); err != nil {
		return 0, err
	}
	m := mean(yTrue)
	var res, tot float64
	for i, y := range yTrue {
		d := y - yPred[i]
		res += d * d
		e := y - m
		tot += e * e
	}
	if tot == 0 {
		if res == 0 {
			return 1, nil
		}
		return 0, nil
	}
	return 1 - res/tot, nil
}

// MAPE is the mean absolute percentage error, in percent.
func MAPE(yTrue, yPred []float64) (float64, error) {
	ape, err := checkedAPEs(yTrue, yPred)
	if err != nil {
		return 0, err
	}
	return mean(ape) * 100, nil
}

// SMAPE is the symmetric MAPE, in percent: mean of |y-p| / ((|y|+|p|)/2).
func SMAPE(yTrue, yPred []float64) (float64, error) {
	if err := check(yTrue, yPred); err != nil {
		return 0, err
	}
	s := 0.0
	for i, y := range yTrue {
		den := (math.Abs(y) + math.Abs(yPred[i])) / 2
		if den == 0 {
			return 0, fmt.Errorf("metrics: target and prediction %d are both 0: SMAPE is undefined", i)
		}
		s += math.Abs(y-yPred[i]) / den
	}
	return s / float64(len(yTrue)) * 100, nil
}

// WMAPE is the weighted MAPE, in percent: sum|y-p| / sum|y|.
func WMAPE(yTrue, yPred []float64) (float64, error) {
	if err := check(yTrue, yPred); err != nil {
		return 0, err
	}
	var num, den float64
	for i, y := range yTrue {
		num += math.Abs(y - yPred[i])
		den += math.Abs(y)
	}
	if den == 0 {
		return 0, errors.New("metrics: every target is 0: wMAPE is undefined")
	}
	return num / den * 100, nil
}

// MedianAPE is the median absolute percentage error, in percent.
func MedianAPE(yTrue, yPred []float64) (float64, error) {
	ape, err := checkedAPEs(yTrue, yPred)
	if err != nil {
		return 0, err
	}
	return median(ape) * 100, nil
}

// WithinPct returns the percentage of predictions whose APE is strictly
// below pct percent.
func WithinPct(yTrue, yPred []float64, pct float64) (float64, error) {
	ape, err := checkedAPEs(yTrue, yPred)
	if err != nil {
		return 0, err
	}
	return within(ape, pct/100), nil
}

func checkedAPEs(yTrue, yPred []float64) ([]float64, error) {
	if err := check(yTrue, yPred); err != nil {
		return nil, err
	}
	return apes(yTrue, yPred)
}

// Func is the signature ByName returns, for cross-validation scoring.
type Func func(yTrue, yPred []float64) (float64, error)

// Names lists the metric names ByName accepts, in report order.
func Names() []string {
	return []string{"mae", "rmse", "r2", "mape", "smape", "wmape", "median_ape",
		"within_5pct", "within_10pct", "within_15pct"}
}

// ByName returns the metric called name (one of Names) and whether a higher
// value is better (true only for r2 and the within_* shares).
func ByName(name string) (fn func(yTrue, yPred []float64) (float64, error), higherIsBetter bool, err error) {
	withinFn := func(pct float64) Func {
		return func(yTrue, yPred []float64) (float64, error) { return WithinPct(yTrue, yPred, pct) }
	}
	switch name {
	case "mae":
		return MAE, false, nil
	case "rmse":
		return RMSE, false, nil
	case "r2":
		return R2, true, nil
	case "mape":
		return MAPE, false, nil
	case "smape":
		return SMAPE, false, nil
	case "wmape":
		return WMAPE, false, nil
	case "median_ape":
		return MedianAPE, false, nil
	case "within_5pct":
		return withinFn(5), true, nil
	case "within_10pct":
		return withinFn(10), true, nil
	case "within_15pct":
		return withinFn(15), true, nil
	}
	return nil, false, fmt.Errorf("metrics: unknown metric %q (want one of %v)", name, Names())
}
