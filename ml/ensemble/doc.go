// Package ensemble implements tree ensembles for regression: a bootstrap
// random forest and histogram gradient boosting. Both bin every feature once
// per fit (at most 255 bins, cut at quantiles of the training values) and
// grow trees on the bin codes, which is what makes them fast; the fitted
// trees keep real-valued thresholds, so prediction needs no binning.
//
// Determinism: every random choice comes from ml.NewRand(Seed, i) with i the
// tree (forest) or iteration (boosting) index, and parallel loops write only
// index-addressed slots, so a fit is bit-identical for any GOMAXPROCS or
// Workers, and Grow(total) equals a Fit with NEstimators = total.
//
// Both models implement ml.Regressor and ml.FeatureImportancer, expose
// Kind() for the artifact container, NumTrees() and Grow() for budgeted
// (Hyperband) searches, and marshal to JSON with their trees in packed
// struct-of-arrays form (tree.Nodes).
package ensemble

import "github.com/housing-mlops/mlops/ml"

// The models satisfy the engine's contracts.
var (
	_ ml.Regressor          = (*RandomForest)(nil)
	_ ml.FeatureImportancer = (*RandomForest)(nil)
	_ ml.Regressor          = (*GradientBoosting)(nil)
	_ ml.FeatureImportancer = (*GradientBoosting)(nil)
)
