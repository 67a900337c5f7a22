package pipeline

import (
	"context"
	"fmt"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/selection"
)

// validationFraction of the training split scores sweep trials.
const validationFraction = 0.2

// validation is the training split cut into a fitting and a scoring part.
type validation struct {
	Xfit, Xval *ml.Matrix
	Yfit, Yval []float64
}

func newValidation(d *splitData, seed uint64) (*validation, error) {
	fit, val, err := selection.TrainTestSplit(d.Xtr.Rows, validationFraction, seed, nil)
	if err != nil {
		return nil, err
	}
	return &validation{Xfit: d.Xtr.SelectRows(fit), Yfit: ml.SelectFloats(d.Ytr, fit),
		Xval: d.Xtr.SelectRows(val), Yval: ml.SelectFloats(d.Ytr, val)}, nil
}

// grower is a model that can be warm-started to more trees.
type grower interface {
	Grow(X *ml.Matrix, y []float64, total int) error
}

// sweepTrial trains one parameter set; forests and boosters grow tree by
// tree so Hyperband can stop them early at a real saving.
type sweepTrial struct {
	model  ml.Regressor
	grow   grower
	max    int
	fitted bool
	score  metrics.Func
	val    *validation
}

func newSweepTrial(family string, p map[string]any, seed uint64, workers int, metric string, val *validation) (*sweepTrial, error) {
	m, err := buildModel(family, p, seed, workers)
	if err != nil {
		return nil, err
	}
	// The sweep config's goal, not the metric, says which way is better.
	score, _, err := metrics.ByName(metric)
	if err != nil {
		return nil, fmt.Errorf("sweep metric: %w", err)
	}
	t := &sweepTrial{model: m, score: score, val: val}
	if g, ok := m.(grower); ok {
		if n, _, err := selection.ParamInt(p, "n_estimators"); err == nil && n > 0 {
			t.grow, t.max = g, n
		}
	}
	return t, nil
}

// MaxBudget implements tune.Budgeted: the trial's own number of trees.
func (t *sweepTrial) MaxBudget() int { return t.max }

// Advance implements tune.Trial.
func (t *sweepTrial) Advance(ctx context.Context, budget int) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	switch {
	case t.grow != nil && budget > 0:
		if err := t.grow.Grow(t.val.Xfit, t.val.Yfit, budget); err != nil {
			return 0, err
		}
	case !t.fitted:
		if err := t.model.Fit(t.val.Xfit, t.val.Yfit); err != nil {
			return 0, err
		}
	}
	t.fitted = true
	return predictScore(t.model, t.val.Xval, t.val.Yval, t.score)
}

// Final implements tune.Trial: all ten metrics on the validation part.
func (t *sweepTrial) Final(context.Context) (map[string]float64, error) {
	rep, err := evaluate(t.model, t.val.Xval, t.val.Yval)
	if err != nil {
		return nil, err
	}
	return rep.Map(), nil
}
