// Package tree implements an exact CART regression tree (squared error) with
// scikit-learn 1.2 split semantics, and the struct-of-arrays node layout the
// ensembles in ml/ensemble share.
package tree

import (
	"encoding/json"
	"fmt"

	"github.com/housing-mlops/mlops/ml"
)

// Regressor is a fitted-or-not CART regression tree. All fitted state is in
// exported fields so json.Marshal/Unmarshal round-trips it bit-identically.
type Regressor struct {
	Params      Params      `json:"params"`
	NFeatures   int         `json:"n_features"`
	Tree        Nodes       `json:"tree"`
	Importances ml.Float64s `json:"feature_importances"`
}

// New returns an unfitted tree with the given parameters.
func New(p Params) *Regressor { return &Regressor{Params: p} }

// Kind names the model type for the artifact container.
func (r *Regressor) Kind() string { return "decision_tree" }

// Fit grows the tree on X (no missing values) and y, replacing any previous
// fit.
func (r *Regressor) Fit(X *ml.Matrix, y []float64) error {
	p, err := r.Params.withDefaults()
	if err != nil {
		return err
	}
	if err := ml.CheckXY(X, y); err != nil {
		return fmt.Errorf("tree: %w", err)
	}
	mtry, err := ResolveMaxFeatures(p.MaxFeatures, X.Cols)
	if err != nil {
		return err
	}
	b := newExactBuilder(X, y, p, mtry)
	b.build()
	r.NFeatures = X.Cols
	r.Tree = b.nodes
	r.Importances = importances(&b.nodes, b.nodeN, b.nodeImp, X.Cols)
	return nil
}

// Predict returns one prediction per row of X. It is safe for concurrent use.
func (r *Regressor) Predict(X *ml.Matrix) ([]float64, error) {
	if r.Tree.Len() == 0 {
		return nil, ml.ErrNotFitted
	}
	if err := ml.CheckCols(X, r.NFeatures); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	out := make([]float64, X.Rows)
	for i := range out {
		out[i] = r.Tree.PredictRow(X.Row(i))
	}
	return out, nil
}

// FeatureImportances returns the normalised mean-decrease-in-impurity of each
// feature (a copy; nil before Fit).
func (r *Regressor) FeatureImportances() []float64 {
	if r.Importances == nil {
		return nil
	}
	return append([]float64(nil), r.Importances...)
}

// Depth returns the depth of the fitted tree (0 for a single leaf).
func (r *Regressor) Depth() int { return r.Tree.Depth() }

// Leaves returns the number of leaves of the fitted tree.
func (r *Regressor) Leaves() int { return r.Tree.Leaves() }

// UnmarshalJSON decodes a saved tree and validates its structure, so a
// corrupt model file is rejected at load time rather than at predict time.
func (r *Regressor) UnmarshalJSON(data []byte) error {
	type plain Regressor // drops this method, avoiding recursion
	var v plain
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("tree: decode: %w", err)
	}
	if v.Tree.Len() > 0 {
		if err := v.Tree.Validate(v.NFeatures); err != nil {
			return err
		}
		if len(v.Importances) != v.NFeatures {
			return fmt.Errorf("tree: %d feature importances for %d features", len(v.Importances), v.NFeatures)
		}
	}
	*r = Regressor(v)
	return nil
}

// Regressor satisfies the engine's contracts.
var (
	_ ml.Regressor          = (*Regressor)(nil)
	_ ml.FeatureImportancer = (*Regressor)(nil)
)
