package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/tune"
)

// validationFraction of the training split scores sweep trials.
const validationFraction = 0.2

// SweepData is what sweep trials train on (Xfit, Yfit) and are scored on
// (Xval, Yval). Trials only read it, so one value serves every trial of a
// sweep, also when trials run in parallel.
type SweepData struct {
	Xfit, Xval *ml.Matrix
	Yfit, Yval []float64
}

// newSweepData cuts the training split into a fitting and a scoring part.
func newSweepData(d *splitData, seed uint64) (*SweepData, error) {
	fit, val, err := selection.TrainTestSplit(d.Xtr.Rows, validationFraction, seed, nil)
	if err != nil {
		return nil, err
	}
	return &SweepData{Xfit: d.Xtr.SelectRows(fit), Yfit: ml.SelectFloats(d.Ytr, fit),
		Xval: d.Xtr.SelectRows(val), Yval: ml.SelectFloats(d.Ytr, val)}, nil
}

func (d *SweepData) check() error {
	if d == nil {
		return errors.New("sweep data: nil")
	}
	if err := ml.CheckXY(d.Xfit, d.Yfit); err != nil {
		return fmt.Errorf("sweep data, fitting part: %w", err)
	}
	if err := ml.CheckXY(d.Xval, d.Yval); err != nil {
		return fmt.Errorf("sweep data, validation part: %w", err)
	}
	if d.Xval.Cols != d.Xfit.Cols {
		return fmt.Errorf("sweep data: validation part has %d columns, fitting part %d", d.Xval.Cols, d.Xfit.Cols)
	}
	return nil
}

// SweepObjective is the objective of a sweep over family, shared by step 06,
// `mlops sweep agent` and `mlops bench sweep`: a trial builds the model its
// parameters describe (scikit-learn names, see buildModel; an unknown name
// fails the trial), trains it on d's fitting part and reports metric on the
// validation part. Forests and boosters are budgeted by n_estimators: Advance
// grows them to the budget by warm start, so a trial Hyperband stops at a
// band has cost only that band's trees. A forest predicts the validation
// rows while its trees grow (RandomForest.GrowPredict) and keeps their sum,
// so each tree is evaluated once however many bands the trial passes.
// workers bounds each model's goroutines (0 = all cores; 1 when trials run
// in parallel).
//
// Random forests of the sweep share one binning of the fitting part (it
// depends only on the data), computed by the first forest that needs it.
func SweepObjective(d *SweepData, family, metric string, seed uint64, workers int) (tune.Objective, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	score, _, err := metrics.ByName(metric)
	if err != nil {
		return nil, fmt.Errorf("sweep metric: %w", err)
	}
	if _, err := buildModel(family, nil, seed, workers); err != nil {
		return nil, err
	}
	bins := ensemble.NewSharedBins(d.Xfit)
	return func(_ context.Context, p map[string]any) (tune.Trial, error) {
		m, err := buildModel(family, p, seed, workers)
		if err != nil {
			return nil, err
		}
		t := &sweepTrial{model: m, score: score, data: d}
		if f, ok := m.(*ensemble.RandomForest); ok {
			f.ShareBins(bins)
			t.forest = f
		}
		if g, ok := m.(grower); ok {
			if n, _, err := selection.ParamInt(p, "n_estimators"); err == nil && n > 0 {
				t.grow, t.max = g, n
			}
		}
		return t, nil
	}, nil
}

// grower is a model that can be warm-started to more trees.
type grower interface {
	Grow(X *ml.Matrix, y []float64, total int) error
}

// sweepTrial trains one parameter set.
type sweepTrial struct {
	model  ml.Regressor
	grow   grower
	max    int
	fitted bool
	score  metrics.Func
	data   *SweepData
	pred   []float64 // validation predictions of the model as last advanced

	forest *ensemble.RandomForest // the model, when it is a random forest
	sum    []float64              // per validation row, the sum of the forest's trees' predictions
}

// MaxBudget implements tune.Budgeted: the trial's own number of trees.
func (t *sweepTrial) MaxBudget() int { return t.max }

// Advance implements tune.Trial.
func (t *sweepTrial) Advance(ctx context.Context, budget int) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var pred []float64
	var err error
	switch {
	case t.forest != nil:
		pred, err = t.growForest(budget)
	case t.grow != nil && budget > 0:
		if err = t.grow.Grow(t.data.Xfit, t.data.Yfit, budget); err == nil {
			pred, err = t.model.Predict(t.data.Xval)
		}
	case !t.fitted:
		if err = t.model.Fit(t.data.Xfit, t.data.Yfit); err == nil {
			pred, err = t.model.Predict(t.data.Xval)
		}
	default:
		pred = t.pred
	}
	if err != nil {
		return 0, err
	}
	t.fitted, t.pred = true, pred
	return t.score(t.data.Yval, pred)
}

// growForest grows the forest to budget trees (its n_estimators when the
// trial has no budget), summing the new trees' validation predictions as
// they grow, and returns the forest's validation predictions: the running
// sum over the number of trees, which is what RandomForest.Predict returns.
func (t *sweepTrial) growForest(budget int) ([]float64, error) {
	if budget <= 0 {
		budget = max(t.forest.NumTrees(), t.forest.Params.NEstimators)
	}
	if t.sum == nil {
		t.sum = make([]float64, t.data.Xval.Rows)
	}
	if err := t.forest.GrowPredict(t.data.Xfit, t.data.Yfit, budget, t.data.Xval, t.sum); err != nil {
		return nil, err
	}
	pred := make([]float64, len(t.sum))
	n := float64(t.forest.NumTrees())
	for i, s := range t.sum {
		pred[i] = s / n
	}
	return pred, nil
}

// Final implements tune.Trial: all ten metrics on the validation part.
func (t *sweepTrial) Final(context.Context) (map[string]float64, error) {
	if t.pred == nil {
		return nil, errors.New("final: the trial was never advanced")
	}
	rep, err := metrics.Regression(t.data.Yval, t.pred)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return rep.Map(), nil
}
