package impute

import (
	"errors"
	"fmt"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

// BaggedTrees is a random forest of exact CART trees (ml/tree): each tree is
// grown on a bootstrap sample of the rows and predictions are averaged.
//
// It exists because imputation error is dominated by the extreme rows (a
// block of 6,000 households has 6,000-odd bedrooms): a histogram forest puts
// the top 1/255 of each feature into one bin and so cannot separate them,
// while exact thresholds can. On the step-02 protocol the histogram forest of
// ml/ensemble scored RMSE 76-79 where this one scores 48.8-51 (scikit-learn's
// RandomForestRegressor: 48.8-51.8 on the same splits).
//
// Tree t draws its sample from ml.NewRand(Seed, t), so fits are bit-identical
// for any number of workers. All fitted state is exported for JSON.
type BaggedTrees struct {
	NTrees         int    `json:"n_trees"`          // <= 0 means 50
	MinSamplesLeaf int    `json:"min_samples_leaf"` // 0 means 1
	MaxFeatures    string `json:"max_features"`     // see tree.ResolveMaxFeatures; "" means all
	Seed           uint64 `json:"seed"`
	Workers        int    `json:"-"` // goroutines for Fit; <= 0 means all cores

	NFeatures int               `json:"n_features"`
	Trees     []*tree.Regressor `json:"trees"`
}

// Kind names the model in saved pipelines.
func (b *BaggedTrees) Kind() string { return "bagged_trees" }

// Fit grows NTrees trees in parallel on bootstrap samples of X and y.
func (b *BaggedTrees) Fit(X *ml.Matrix, y []float64) error {
	if err := ml.CheckXY(X, y); err != nil {
		return fmt.Errorf("impute: bagged trees: %w", err)
	}
	n := b.NTrees
	if n <= 0 {
		n = 50
	}
	trees := make([]*tree.Regressor, n)
	err := ml.ParallelFor(n, b.Workers, func(t int) error {
		rng := ml.NewRand(b.Seed, uint64(t))
		idx := make([]int, X.Rows)
		for i := range idx {
			idx[i] = rng.IntN(X.Rows)
		}
		tr := tree.New(tree.Params{MinSamplesLeaf: b.MinSamplesLeaf, MaxFeatures: b.MaxFeatures, Seed: rng.Uint64()})
		if err := tr.Fit(X.SelectRows(idx), ml.SelectFloats(y, idx)); err != nil {
			return fmt.Errorf("impute: bagged trees: tree %d: %w", t, err)
		}
		trees[t] = tr
		return nil
	})
	if err != nil {
		return err
	}
	b.NFeatures, b.Trees = X.Cols, trees
	return nil
}

// Predict averages the trees' predictions (summed in tree order).
func (b *BaggedTrees) Predict(X *ml.Matrix) ([]float64, error) {
	if len(b.Trees) == 0 {
		return nil, ml.ErrNotFitted
	}
	if err := ml.CheckCols(X, b.NFeatures); err != nil {
		return nil, fmt.Errorf("impute: bagged trees: %w", err)
	}
	out := make([]float64, X.Rows)
	for t, tr := range b.Trees {
		if tr == nil {
			return nil, errors.New("impute: bagged trees: tree " + fmt.Sprint(t) + " is missing")
		}
		p, err := tr.Predict(X)
		if err != nil {
			return nil, fmt.Errorf("impute: bagged trees: tree %d: %w", t, err)
		}
		for i, v := range p {
			out[i] += v
		}
	}
	inv := float64(len(b.Trees))
	for i := range out {
		out[i] /= inv
	}
	return out, nil
}
