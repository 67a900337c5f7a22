package impute

import "github.com/housing-mlops/mlops/ml"

// Matrix is ml.Matrix, aliased to keep signatures short.
type Matrix = ml.Matrix

// ErrNotFitted is ml.ErrNotFitted: Transform before Fit.
var ErrNotFitted = ml.ErrNotFitted

// Compile-time checks that every imputer is an ml.Transformer.
var _ ml.Transformer = (*Simple)(nil)

var _ ml.Transformer = (*KNN)(nil)

var _ ml.Transformer = (*Iterative)(nil)

var _ ml.Regressor = (*BaggedTrees)(nil)
