package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/housing-mlops/mlops/dataset"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/linear"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/ml/tree"
	"github.com/housing-mlops/mlops/tune"
)

// The objective of `mlops sweep agent` and `mlops bench sweep`. Pipeline
// step 06 has its own (unexported) trial and model builder in package
// pipeline, with the pipeline's feature engineering; this one uses the
// generic design of `mlops bench learners` (median-imputed numeric columns,
// one-hot categorical ones) so agents need nothing but the data file.

// sweepData is the training split cut into a fitting part and a validation
// part that scores trials; the test split is held out and never seen.
type sweepData struct {
	Xfit, Xval *ml.Matrix
	yfit, yval []float64
}

// loadSweepData reads the data (path "" = the housing archive built into
// the binary), optionally keeps a seeded sample of rows, holds out a 20 %
// test split, and cuts the rest 80/20 into fitting and validation parts.
func loadSweepData(path, target string, seed uint64, rows int) (*sweepData, error) {
	f, err := readSweepFrame(path)
	if err != nil {
		return nil, err
	}
	if rows > 0 && rows < f.NumRows() {
		keep := ml.NewRand(seed, 1).Perm(f.NumRows())[:rows]
		sort.Ints(keep)
		f = f.Select(keep)
	}
	y, err := f.Numeric(target)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	for i, v := range y {
		if math.IsNaN(v) {
			return nil, fmt.Errorf("target %q is missing on data row %d", target, i+1)
		}
	}
	train, _, err := selection.TrainTestSplit(f.NumRows(), 0.2, seed, nil)
	if err != nil {
		return nil, err
	}
	fitPos, valPos, err := selection.TrainTestSplit(len(train), 0.2, seed+1, nil)
	if err != nil {
		return nil, err
	}
	fit, val := pickRows(train, fitPos), pickRows(train, valPos)
	ct, err := benchPreprocessor(f, target)
	if err != nil {
		return nil, err
	}
	Xfit, err := ct.FitTransform(f.Select(fit))
	if err != nil {
		return nil, err
	}
	Xval, err := ct.Transform(f.Select(val))
	if err != nil {
		return nil, err
	}
	return &sweepData{Xfit: Xfit, Xval: Xval, yfit: ml.SelectFloats(y, fit), yval: ml.SelectFloats(y, val)}, nil
}

func pickRows(rows, pos []int) []int {
	out := make([]int, len(pos))
	for i, p := range pos {
		out[i] = rows[p]
	}
	return out
}

func readSweepFrame(path string) (*frame.Frame, error) {
	if path == "" {
		return frame.ReadArchive(bytes.NewReader(dataset.HousingTGZ), "housing.tgz", frame.CSVOptions{})
	}
	return readFrame(path)
}

// housingObjective builds trials of family scored by metric on the
// validation part. workers bounds each model's goroutines (0 = all cores).
func housingObjective(family, metric string, d *sweepData, seed uint64, workers int) (tune.Objective, error) {
	score, _, err := metrics.ByName(metric)
	if err != nil {
		return nil, fmt.Errorf("sweep metric: %w", err)
	}
	return func(_ context.Context, p map[string]any) (tune.Trial, error) {
		m, err := sweepModel(family, p, seed, workers)
		if err != nil {
			return nil, err
		}
		t := &housingTrial{model: m, data: d, score: score}
		if g, ok := m.(interface {
			Grow(X *ml.Matrix, y []float64, total int) error
		}); ok {
			if n, ok, _ := selection.ParamInt(p, "n_estimators"); ok && n > 0 {
				t.max = n
				t.grow = func(total int) error { return g.Grow(d.Xfit, d.yfit, total) }
			}
		}
		return t, nil
	}, nil
}

// housingTrial trains one parameter set; ensembles grow tree by tree so a
// Hyperband stop saves the trees not grown.
type housingTrial struct {
	model  ml.Regressor
	grow   func(total int) error
	max    int
	fitted bool
	data   *sweepData
	score  metrics.Func
}

// MaxBudget implements tune.Budgeted.
func (t *housingTrial) MaxBudget() int { return t.max }

// Advance implements tune.Trial.
func (t *housingTrial) Advance(ctx context.Context, budget int) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	switch {
	case t.grow != nil && budget > 0:
		if err := t.grow(budget); err != nil {
			return 0, err
		}
	case !t.fitted:
		if err := t.model.Fit(t.data.Xfit, t.data.yfit); err != nil {
			return 0, err
		}
	}
	t.fitted = true
	pred, err := t.model.Predict(t.data.Xval)
	if err != nil {
		return 0, err
	}
	return t.score(t.data.yval, pred)
}

// Final implements tune.Trial: every regression metric on the validation part.
func (t *housingTrial) Final(context.Context) (map[string]float64, error) {
	pred, err := t.model.Predict(t.data.Xval)
	if err != nil {
		return nil, err
	}
	rep, err := metrics.Regression(t.data.yval, pred)
	if err != nil {
		return nil, err
	}
	return rep.Map(), nil
}

// sweepModel builds a model of family from sweep parameters (scikit-learn
// names); a parameter the family does not take is an error, so a typo in a
// sweep file fails the trial loudly.
func sweepModel(family string, p map[string]any, seed uint64, workers int) (ml.Regressor, error) {
	r := &sweepParams{p: p, used: map[string]bool{}}
	var m ml.Regressor
	switch family {
	case "random_forest":
		fp := ensemble.DefaultForestParams()
		fp.NEstimators = r.int("n_estimators", fp.NEstimators)
		fp.MaxDepth = r.int("max_depth", 0)
		fp.MinSamplesSplit = r.int("min_samples_split", 2)
		fp.MinSamplesLeaf = r.int("min_samples_leaf", 1)
		fp.MaxFeatures = r.str("max_features", fp.MaxFeatures)
		fp.Seed, fp.Workers = seed, workers
		m = ensemble.NewRandomForest(fp)
	case "gradient_boosting":
		depth := r.int("max_depth", 3)
		leaves := 0
		if depth > 0 && depth <= 16 {
			leaves = 1 << depth // a depth-d tree may have its 2^d leaves
		}
		m = ensemble.NewGradientBoosting(ensemble.BoostParams{NEstimators: r.int("n_estimators", 100),
			LearningRate: r.float("learning_rate", 0.1), MaxDepth: depth, MaxLeafNodes: leaves,
			MinSamplesLeaf: r.int("min_samples_leaf", 1), Subsample: r.float("subsample", 1),
			L2: r.float("l2_regularization", 0), Seed: seed, Workers: workers})
	case "decision_tree":
		m = tree.New(tree.Params{MaxDepth: r.int("max_depth", 0), MinSamplesSplit: r.int("min_samples_split", 2),
			MinSamplesLeaf: r.int("min_samples_leaf", 1), MaxFeatures: r.str("max_features", ""), Seed: seed})
	case "ridge":
		m = linear.NewRidge(r.float("alpha", 1))
	case "lasso":
		m = linear.NewLasso(r.float("alpha", 1))
	default:
		return nil, fmt.Errorf("unknown model family %q (want one of %v)", family, tune.Families())
	}
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", family, r.err)
	}
	for k := range p {
		if !r.used[k] {
			return nil, fmt.Errorf("%s: unknown parameter %q", family, k)
		}
	}
	return m, nil
}

// sweepParams reads typed sweep parameters, keeping the first error and which
// keys were read.
type sweepParams struct {
	p    map[string]any
	used map[string]bool
	err  error
}

func (r *sweepParams) int(key string, def int) int {
	r.used[key] = true
	v, ok, err := selection.ParamInt(r.p, key)
	return keepParam(r, key, v, ok, err, def)
}

func (r *sweepParams) float(key string, def float64) float64 {
	r.used[key] = true
	v, ok, err := selection.ParamFloat(r.p, key)
	return keepParam(r, key, v, ok, err, def)
}

func (r *sweepParams) str(key, def string) string {
	r.used[key] = true
	v, ok, err := selection.ParamString(r.p, key)
	return keepParam(r, key, v, ok, err, def)
}

// keepParam returns v, or def when absent or invalid (remembering the error).
func keepParam[T any](r *sweepParams, key string, v T, ok bool, err error, def T) T {
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("parameter %s: %w", key, err)
	}
	if !ok || err != nil {
		return def
	}
	return v
}
