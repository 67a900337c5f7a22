package model

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
)

// Calibration methods recorded in Calibration.Method.
const (
	// CalibScaledQuantiles widens (or narrows) the regressor's own quantile
	// interval around the point prediction by one factor, Scale.
	CalibScaledQuantiles = "scaled_quantiles"
	// CalibAbsResidual is the plain split-conformal interval of models
	// without quantiles: point prediction ± Margin.
	CalibAbsResidual = "absolute_residual"
)

// Calibration makes PredictInterval's nominal level an empirical one. It is
// fitted by CalibrateIntervals on held-out rows (split conformal
// prediction) and saved in the artifact; docs/model-format.md describes the
// method.
type Calibration struct {
	// Method is CalibScaledQuantiles or CalibAbsResidual.
	Method string `json:"method"`
	// Level is the coverage the calibration was fitted for; it applies to
	// PredictInterval at exactly this level.
	Level float64 `json:"level"`
	// Scale multiplies the distances from the point prediction to the raw
	// quantile bounds (CalibScaledQuantiles).
	Scale float64 `json:"scale,omitempty"`
	// Margin is the half-width of the interval around the point
	// prediction (CalibAbsResidual).
	Margin float64 `json:"margin,omitempty"`
	// Rows is how many held-out rows the calibration saw.
	Rows int `json:"rows"`
	// CoverageBefore and CoverageAfter are the empirical coverage on those
	// rows of the raw and the calibrated interval.
	CoverageBefore float64 `json:"coverage_before"`
	CoverageAfter  float64 `json:"coverage_after"`
}

// CalibrateIntervals fits the interval calibration on held-out rows f with
// targets y (rows the model was not trained on) so that the interval at
// level covers at least that share of them, stores it in the artifact and
// re-seals it (the checksum changes: it is a new artifact). It returns the
// coverage of the raw and the calibrated interval on those rows.
//
// For a regressor with quantiles the score of row i is the smallest factor
// k by which the raw interval [lo, hi] must be stretched around the point
// prediction p to hold y: (p−y)/(p−lo) below p, (y−p)/(hi−p) above. For any
// other regressor the score is |y−p|. The stored factor (or margin) is the
// ⌈(n+1)·level⌉-th smallest score, the split-conformal quantile, which
// guarantees coverage ≥ level on exchangeable new rows.
func (a *Artifact) CalibrateIntervals(f *frame.Frame, y []float64, level float64) (coverageBefore, coverageAfter float64, err error) {
	if !(level > 0 && level < 1) {
		return 0, 0, fmt.Errorf("model: calibration level %v must be in (0, 1)", level)
	}
	X, err := a.Transform(f)
	if err != nil {
		return 0, 0, err
	}
	if err := checkCalibTargets(X.Rows, y); err != nil {
		return 0, 0, err
	}
	pred, err := a.Regressor.Predict(X)
	if err != nil {
		return 0, 0, fmt.Errorf("model: %s: %w", a.ModelKind(), err)
	}
	c := Calibration{Level: level, Rows: len(y)}
	scores, lo, hi, err := a.conformityScores(&c, X, y, pred)
	if err != nil {
		return 0, 0, err
	}
	q, err := conformalQuantile(scores, level)
	if err != nil {
		return 0, 0, err
	}
	if c.Method == CalibScaledQuantiles {
		c.Scale = q
	} else {
		c.Margin = q
	}
	lo, hi = c.apply(pred, lo, hi)
	c.CoverageAfter = coverage(y, lo, hi)
	old := a.Calibration
	a.Calibration = &c
	if err := a.seal(); err != nil {
		a.Calibration = old
		return 0, 0, err
	}
	return c.CoverageBefore, c.CoverageAfter, nil
}

// checkCalibTargets checks there is one finite target per row.
func checkCalibTargets(rows int, y []float64) error {
	if len(y) != rows {
		return fmt.Errorf("model: calibration has %d rows but %d targets", rows, len(y))
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("model: calibration target of row %d is %v", i, v)
		}
	}
	return nil
}

// conformityScores scores each row for c.Level: by stretch when the
// regressor has quantiles (lo and hi are its raw interval), by absolute
// residual otherwise (lo and hi are nil). It sets c.Method and
// c.CoverageBefore.
func (a *Artifact) conformityScores(c *Calibration, X *ml.Matrix, y, pred []float64) (scores, lo, hi []float64, err error) {
	scores = make([]float64, len(y))
	lo, hi, err = a.rawInterval(X, c.Level)
	switch {
	case err == nil:
		c.Method = CalibScaledQuantiles
		for i := range y {
			scores[i] = stretch(y[i], pred[i], lo[i], hi[i])
		}
		c.CoverageBefore = coverage(y, lo, hi)
	case errors.Is(err, ErrNoIntervals):
		c.Method = CalibAbsResidual
		for i := range y {
			scores[i] = math.Abs(y[i] - pred[i])
		}
		c.CoverageBefore = coverage(y, pred, pred)
	default:
		return nil, nil, nil, err
	}
	return scores, lo, hi, nil
}

// stretch is the smallest factor by which the interval [lo, hi] around p
// must be scaled to contain y. A side of zero width needs an infinite
// factor unless y sits exactly on p.
func stretch(y, p, lo, hi float64) float64 {
	var num, den float64
	switch {
	case y < p:
		num, den = p-y, p-lo
	case y > p:
		num, den = y-p, hi-p
	default:
		return 0
	}
	if den <= 0 {
		return math.Inf(1)
	}
	return num / den
}

// conformalQuantile returns the ⌈(n+1)·level⌉-th smallest score.
func conformalQuantile(scores []float64, level float64) (float64, error) {
	n := len(scores)
	k := int(math.Ceil(float64(n+1) * level))
	if n == 0 || k > n {
		return 0, fmt.Errorf("model: calibration at level %v needs at least %d rows, got %d",
			level, int(math.Ceil(level/(1-level))), n)
	}
	s := slices.Clone(scores)
	slices.Sort(s)
	q := s[k-1]
	if math.IsInf(q, 0) || math.IsNaN(q) {
		return 0, fmt.Errorf("model: calibration failed: more than %.0f %% of rows fall outside zero-width intervals", 100*(1-level))
	}
	return q, nil
}

func coverage(y, lo, hi []float64) float64 {
	in := 0
	for i, v := range y {
		if v >= lo[i] && v <= hi[i] {
			in++
		}
	}
	return float64(in) / float64(len(y))
}

// apply turns point predictions and raw bounds (nil for CalibAbsResidual)
// into calibrated bounds. Raw bounds are overwritten (every caller owns
// fresh ones), which saves a serving request two allocations.
func (c *Calibration) apply(pred, lo, hi []float64) (lower, upper []float64) {
	lower, upper = lo, hi
	if lower == nil || upper == nil {
		lower, upper = make([]float64, len(pred)), make([]float64, len(pred))
	}
	for i, p := range pred {
		if c.Method == CalibScaledQuantiles {
			lower[i] = p - c.Scale*math.Max(p-lo[i], 0)
			upper[i] = p + c.Scale*math.Max(hi[i]-p, 0)
		} else {
			lower[i], upper[i] = p-c.Margin, p+c.Margin
		}
	}
	return lower, upper
}

// rawInterval is the regressor's own central interval at level.
func (a *Artifact) rawInterval(X *ml.Matrix, level float64) (lower, upper []float64, err error) {
	q, ok := a.Regressor.(Quantiler)
	if !ok {
		return nil, nil, ErrNoIntervals
	}
	alpha := (1 - level) / 2
	out, err := q.PredictQuantiles(X, []float64{alpha, 1 - alpha})
	if err != nil {
		return nil, nil, fmt.Errorf("model: %s: %w", a.ModelKind(), err)
	}
	if len(out) != 2 || len(out[0]) != X.Rows || len(out[1]) != X.Rows {
		return nil, nil, fmt.Errorf("model: %s returned quantiles of the wrong shape", a.ModelKind())
	}
	return out[0], out[1], nil
}

// SupportsIntervalsAt reports whether PredictInterval works at level: the
// regressor has quantiles, or the artifact was calibrated at that level.
func (a *Artifact) SupportsIntervalsAt(level float64) bool {
	if c := a.Calibration; c != nil && c.Level == level {
		return true
	}
	return a.SupportsIntervals()
}

// IntervalsFromMatrix is PredictInterval on already transformed rows X
// whose point predictions are pred (the server computes both once). The
// artifact's calibration applies when it was fitted at level; otherwise a
// regressor with quantiles gives its raw interval and any other returns
// ErrNoIntervals.
func (a *Artifact) IntervalsFromMatrix(X *ml.Matrix, pred []float64, level float64) (lower, upper []float64, err error) {
	if !(level > 0 && level < 1) {
		return nil, nil, fmt.Errorf("model: interval level %v must be in (0, 1)", level)
	}
	if len(pred) != X.Rows {
		return nil, nil, fmt.Errorf("model: %d predictions for %d rows", len(pred), X.Rows)
	}
	c := a.Calibration
	if c == nil || c.Level != level {
		return a.rawInterval(X, level)
	}
	if c.Method == CalibAbsResidual {
		lower, upper = c.apply(pred, nil, nil)
		return lower, upper, nil
	}
	lo, hi, err := a.rawInterval(X, level)
	if err != nil {
		return nil, nil, err
	}
	lower, upper = c.apply(pred, lo, hi)
	return lower, upper, nil
}

// checkCalibration refuses a decoded calibration this reader cannot apply.
func checkCalibration(c *Calibration, hasQuantiles bool) error {
	if c == nil {
		return nil
	}
	switch {
	case !(c.Level > 0 && c.Level < 1):
		return fmt.Errorf("model: calibration level %v must be in (0, 1)", c.Level)
	case c.Method == CalibScaledQuantiles && (!hasQuantiles || !(c.Scale >= 0) || math.IsInf(c.Scale, 0)):
		return fmt.Errorf("model: invalid %s calibration (scale %v, quantiles %v)", c.Method, c.Scale, hasQuantiles)
	case c.Method == CalibAbsResidual && (!(c.Margin >= 0) || math.IsInf(c.Margin, 0)):
		return fmt.Errorf("model: invalid %s calibration (margin %v)", c.Method, c.Margin)
	case c.Method != CalibScaledQuantiles && c.Method != CalibAbsResidual:
		return fmt.Errorf("model: unknown calibration method %q", c.Method)
	}
	return nil
}

// predictOnePass is PredictMatrixWithInterval for a MeanQuantiler: the
// point predictions and the raw interval in one pass, calibrated when the
// artifact's calibration is at level.
func (a *Artifact) predictOnePass(mq MeanQuantiler, X *ml.Matrix, level float64) (pred, lower, upper []float64, err error) {
	alpha := (1 - level) / 2
	mean, qs, err := mq.PredictWithQuantiles(X, []float64{alpha, 1 - alpha})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("model: %s: %w", a.ModelKind(), err)
	}
	if len(mean) != X.Rows || len(qs) != 2 || len(qs[0]) != X.Rows || len(qs[1]) != X.Rows {
		return nil, nil, nil, fmt.Errorf("model: %s returned quantiles of the wrong shape", a.ModelKind())
	}
	c := a.Calibration
	if c == nil || c.Level != level {
		return mean, qs[0], qs[1], nil
	}
	lower, upper = c.apply(mean, qs[0], qs[1])
	return mean, lower, upper, nil
}

// MeanQuantiler is implemented by regressors that give their point
// predictions and quantiles in one pass over the model (the random forest),
// which halves the work of a prediction with an interval.
type MeanQuantiler interface {
	PredictWithQuantiles(X *ml.Matrix, qs []float64) (mean []float64, quantiles [][]float64, err error)
}

// PredictMatrixWithInterval returns the point predictions of transformed
// rows X and their interval at level, exactly as Regressor.Predict and
// IntervalsFromMatrix would, in one pass when the regressor is a
// MeanQuantiler. When the artifact has no interval at level, lower and
// upper are nil and err is nil: the predictions still stand.
func (a *Artifact) PredictMatrixWithInterval(X *ml.Matrix, level float64) (pred, lower, upper []float64, err error) {
	mq, one := a.Regressor.(MeanQuantiler)
	c := a.Calibration
	if one && level > 0 && level < 1 && (c == nil || c.Level != level || c.Method == CalibScaledQuantiles) {
		return a.predictOnePass(mq, X, level)
	}
	pred, err = a.Regressor.Predict(X)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("model: %s: %w", a.ModelKind(), err)
	}
	if !(level > 0 && level < 1) || !a.SupportsIntervalsAt(level) {
		return pred, nil, nil, nil
	}
	lower, upper, err = a.IntervalsFromMatrix(X, pred, level)
	if err != nil {
		return nil, nil, nil, err
	}
	return pred, lower, upper, nil
}
