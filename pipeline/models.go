package pipeline

import (
	"fmt"
	"sort"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/linear"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/ml/tree"
	"github.com/housing-mlops/mlops/tune"
)

// buildModel makes an unfitted regressor of family with params named as in
// scikit-learn (null max_depth = unlimited). workers bounds the model's own
// goroutines (1 inside parallel searches, so the search owns the cores).
// Unknown parameter names are errors: a typo in a grid must not be ignored.
func buildModel(family string, p selection.Params, seed uint64, workers int) (ml.Regressor, error) {
	r := paramReader{p: p, used: map[string]bool{}}
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
		// scikit-learn's GradientBoostingRegressor grows depth-limited trees
		// with min_samples_leaf=1; the histogram booster is leaf-wise, so a
		// depth-d tree is allowed its 2^d leaves to match.
		depth := r.int("max_depth", 3)
		bp := ensemble.BoostParams{
			NEstimators:    r.int("n_estimators", 100),
			LearningRate:   r.float("learning_rate", 0.1),
			MaxDepth:       depth,
			MaxLeafNodes:   r.int("max_leaf_nodes", leavesFor(depth)),
			MinSamplesLeaf: r.int("min_samples_leaf", 1),
			L2:             r.float("l2_regularization", 0),
			Subsample:      r.float("subsample", 1),
			Seed:           seed, Workers: workers,
		}
		m = ensemble.NewGradientBoosting(bp)
	case "ridge":
		m = linear.NewRidge(r.float("alpha", 1))
	case "lasso":
		m = linear.NewLasso(r.float("alpha", 1))
	case "decision_tree":
		m = tree.New(tree.Params{MaxDepth: r.int("max_depth", 0), MinSamplesSplit: r.int("min_samples_split", 2),
			MinSamplesLeaf: r.int("min_samples_leaf", 1), MaxFeatures: r.str("max_features", ""), Seed: seed})
	default:
		return nil, fmt.Errorf("unknown model family %q (want one of %v)", family, tune.Families())
	}
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", family, r.err)
	}
	if extra := r.unused(); len(extra) > 0 {
		return nil, fmt.Errorf("%s: unknown parameters %v", family, extra)
	}
	return m, nil
}

func leavesFor(depth int) int {
	if depth <= 0 || depth > 16 {
		return 0 // the booster's default
	}
	return 1 << depth
}

// paramReader reads typed params, remembering the first error and which
// keys were used.
type paramReader struct {
	p    selection.Params
	used map[string]bool
	err  error
}

func (r *paramReader) int(key string, def int) int {
	r.used[key] = true
	if v, ok := r.p[key]; !ok || v == nil {
		return def
	}
	v, _, err := selection.ParamInt(r.p, key)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

func (r *paramReader) float(key string, def float64) float64 {
	r.used[key] = true
	if v, ok := r.p[key]; !ok || v == nil {
		return def
	}
	v, _, err := selection.ParamFloat(r.p, key)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

func (r *paramReader) str(key, def string) string {
	r.used[key] = true
	if v, ok := r.p[key]; !ok || v == nil {
		return def
	}
	v, _, err := selection.ParamString(r.p, key)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

func (r *paramReader) unused() []string {
	var out []string
	for k := range r.p {
		if !r.used[k] && k != "random_state" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
