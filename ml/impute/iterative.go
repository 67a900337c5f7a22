package impute

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/housing-mlops/mlops/ml"
)

// Iterative imputes each column from the others with a regressor, in
// round-robin rounds, like scikit-learn's IterativeImputer (defaults
// max_iter 10, tol 1e-3, mean initial fill, ascending order, all columns).
//
// Fit starts from a Simple fill, then each round visits the modelled columns
// in ascending order of missing count; for each it fits a fresh estimator on
// the rows where the column is observed (features: every other column, with
// current fills) and overwrites the column's missing cells with its
// predictions. Rounds stop when max_i Σ_j |X_t - X_{t-1}| (numpy's matrix
// inf-norm) falls below Tol · max |observed X|. Every fitted estimator is
// kept in Steps; Transform replays them in order, refitting nothing, as
// scikit-learn's imputation_sequence_.
//
// Steps serialise their estimator as JSON. A decoded Iterative rebuilds
// each one with Estimator (DefaultEstimator when nil), so a custom Estimator
// must be set again before Transform on a decoded imputer, and its regressor
// must round-trip its fitted state through encoding/json. Saved forests are
// large: fitted on all of housing.csv (one modelled column, two rounds) the
// default imputer is about 80 MB of JSON.
type Iterative struct {
	MaxIter         int     `json:"max_iter"`          // rounds; <= 0 means 10
	Tol             float64 `json:"tol"`               // convergence tolerance, relative to max |X|
	InitialStrategy string  `json:"initial_strategy"`  // Simple strategy for the first fill; "" means mean
	Columns         []int   `json:"columns,omitempty"` // columns to model; nil means all
	// Estimator makes a fresh regressor per step; nil means DefaultEstimator.
	Estimator func() ml.Regressor `json:"-"`

	Cols    int        `json:"cols"`    // columns seen at Fit
	Initial *Simple    `json:"initial"` // the first fill
	Steps   []IterStep `json:"steps"`   // every fitted estimator, in the order applied
	NIter   int        `json:"n_iter"`  // rounds run at Fit

	mu sync.Mutex // guards lazy decoding of Steps' estimators
}

// IterStep is one fitted estimator: Col predicted from Features.
type IterStep struct {
	Col      int             `json:"col"`
	Features []int           `json:"features"`
	Model    json.RawMessage `json:"model"` // the estimator's JSON; filled when marshalled

	est ml.Regressor
}

// MarshalJSON encodes the step with its estimator's current fitted state.
func (s IterStep) MarshalJSON() ([]byte, error) {
	type plain IterStep
	p := plain(s)
	if s.est != nil {
		b, err := json.Marshal(s.est)
		if err != nil {
			return nil, fmt.Errorf("impute: iterative: encode estimator for column %d: %w", s.Col, err)
		}
		p.Model = b
	}
	return json.Marshal(p)
}

// NewIterative returns an unfitted Iterative imputer with scikit-learn's
// defaults and the given estimator factory (nil for DefaultEstimator).
func NewIterative(estimator func() ml.Regressor) *Iterative {
	return &Iterative{MaxIter: 10, Tol: 1e-3, InitialStrategy: StrategyMean, Estimator: estimator}
}

// DefaultEstimator is the regressor Iterative uses when Estimator is nil:
// 100 exact bootstrapped trees with leaves of at least 3 rows (seed 42),
// which matches the original system's RandomForestRegressor on the step-02
// protocol (see BaggedTrees for why not the histogram forest).
func DefaultEstimator() ml.Regressor {
	return &BaggedTrees{NTrees: 100, MinSamplesLeaf: 3, Seed: 42}
}

// Kind names the transformer in saved pipelines.
func (m *Iterative) Kind() string { return "iterative_imputer" }

func (m *Iterative) factory() func() ml.Regressor {
	if m.Estimator != nil {
		return m.Estimator
	}
	return DefaultEstimator
}

// Fit runs the imputation rounds on X and keeps every fitted estimator.
func (m *Iterative) Fit(X *Matrix) error {
	if err := checkInput(X, -1); err != nil {
		return fmt.Errorf("impute: iterative: %w", err)
	}
	if X.Rows == 0 {
		return errors.New("impute: iterative: no rows to fit")
	}
	if m.Tol < 0 || math.IsNaN(m.Tol) {
		return fmt.Errorf("impute: iterative: Tol is %v, want >= 0", m.Tol)
	}
	strategy := m.InitialStrategy
	if strategy == "" {
		strategy = StrategyMean
	}
	initial := NewSimple(strategy)
	if err := initial.Fit(X); err != nil {
		return fmt.Errorf("impute: iterative: initial fill: %w", err)
	}
	Xt, err := initial.Transform(X)
	if err != nil {
		return err
	}
	order, err := m.order(X)
	if err != nil {
		return err
	}
	steps, nIter, err := m.rounds(X, Xt, order)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Cols, m.Initial, m.Steps, m.NIter = X.Cols, initial, steps, nIter
	return nil
}

// order returns the modelled columns sorted by ascending missing count, ties
// by column index (scikit-learn's stable "ascending" order).
func (m *Iterative) order(X *Matrix) ([]int, error) {
	cols := m.Columns
	if cols == nil {
		cols = make([]int, X.Cols)
		for j := range cols {
			cols[j] = j
		}
	}
	seen := map[int]bool{}
	for _, c := range cols {
		if c < 0 || c >= X.Cols || seen[c] {
			return nil, fmt.Errorf("impute: iterative: Columns entry %d is out of range or repeated (X has %d columns)", c, X.Cols)
		}
		seen[c] = true
	}
	missing := make([]int, X.Cols)
	for k, v := range X.Data {
		if math.IsNaN(v) {
			missing[k%X.Cols]++
		}
	}
	out := slices.Clone(cols)
	slices.SortStableFunc(out, func(a, b int) int {
		if missing[a] != missing[b] {
			return missing[a] - missing[b]
		}
		return a - b
	})
	return out, nil
}

// rounds runs the imputation rounds, updating Xt in place.
func (m *Iterative) rounds(X, Xt *Matrix, order []int) ([]IterStep, int, error) {
	if X.Cols < 2 || len(order) == 0 {
		return nil, 0, nil // nothing to regress on: the initial fill is final
	}
	maxIter := m.MaxIter
	if maxIter <= 0 {
		maxIter = 10
	}
	maxAbs := 0.0
	for _, v := range X.Data {
		if !math.IsNaN(v) {
			maxAbs = max(maxAbs, math.Abs(v))
		}
	}
	tol := m.Tol * maxAbs
	newEst := m.factory()
	prev := Xt.Clone()
	var steps []IterStep
	nIter := 0
	for nIter < maxIter {
		nIter++
		for _, c := range order {
			step, err := fitStep(X, Xt, c, newEst())
			if err != nil {
				return nil, 0, fmt.Errorf("impute: iterative: round %d: %w", nIter, err)
			}
			steps = append(steps, step)
		}
		if infNorm(Xt, prev) < tol {
			break
		}
		copy(prev.Data, Xt.Data)
	}
	return steps, nIter, nil
}

// fitStep fits est to predict column c of the observed rows from the other
// columns of Xt, then writes its predictions into c's missing cells of Xt.
func fitStep(X, Xt *Matrix, c int, est ml.Regressor) (IterStep, error) {
	if est == nil {
		return IterStep{}, errors.New("the Estimator factory returned a nil regressor")
	}
	feats := otherColumns(X.Cols, c)
	var obs, miss []int
	for i := 0; i < X.Rows; i++ {
		if math.IsNaN(X.At(i, c)) {
			miss = append(miss, i)
		} else {
			obs = append(obs, i)
		}
	}
	y := make([]float64, len(obs))
	for k, i := range obs {
		y[k] = X.At(i, c)
	}
	if err := est.Fit(Xt.SelectRows(obs).SelectCols(feats), y); err != nil {
		return IterStep{}, fmt.Errorf("column %d: fit: %w", c, err)
	}
	step := IterStep{Col: c, Features: feats, est: est}
	return step, step.apply(Xt, miss)
}

func otherColumns(n, c int) []int {
	out := make([]int, 0, n-1)
	for j := 0; j < n; j++ {
		if j != c {
			out = append(out, j)
		}
	}
	return out
}

// apply overwrites rows miss of column s.Col in Xt with s's predictions.
func (s *IterStep) apply(Xt *Matrix, miss []int) error {
	if len(miss) == 0 {
		return nil
	}
	pred, err := s.est.Predict(Xt.SelectRows(miss).SelectCols(s.Features))
	if err != nil {
		return fmt.Errorf("column %d: predict: %w", s.Col, err)
	}
	for k, i := range miss {
		Xt.Set(i, s.Col, pred[k])
	}
	return nil
}

// infNorm is numpy's matrix inf-norm of a - b: the largest row sum of
// absolute differences.
func infNorm(a, b *Matrix) float64 {
	worst := 0.0
	for i := 0; i < a.Rows; i++ {
		s := 0.0
		ra, rb := a.Row(i), b.Row(i)
		for j := range ra {
			s += math.Abs(ra[j] - rb[j])
		}
		worst = max(worst, s)
	}
	return worst
}

// Transform fills X's missing values with the initial statistics and then
// replays every fitted step on the cells that were missing.
func (m *Iterative) Transform(X *Matrix) (*Matrix, error) {
	steps, err := m.fittedSteps()
	if err != nil {
		return nil, err
	}
	if err := checkInput(X, m.Cols); err != nil {
		return nil, fmt.Errorf("impute: iterative: %w", err)
	}
	Xt, err := m.Initial.Transform(X)
	if err != nil {
		return nil, fmt.Errorf("impute: iterative: %w", err)
	}
	missing := make(map[int][]int)
	for i := 0; i < X.Rows; i++ {
		for j, v := range X.Row(i) {
			if math.IsNaN(v) {
				missing[j] = append(missing[j], i)
			}
		}
	}
	for k := range steps {
		if err := steps[k].apply(Xt, missing[steps[k].Col]); err != nil {
			return nil, fmt.Errorf("impute: iterative: step %d: %w", k, err)
		}
	}
	return Xt, nil
}

// fittedSteps checks the fitted state and returns the steps with their
// estimators, decoding them on first use after a JSON round trip.
func (m *Iterative) fittedSteps() ([]IterStep, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Initial == nil || m.Cols == 0 {
		return nil, ErrNotFitted
	}
	newEst := m.factory()
	for k := range m.Steps {
		s := &m.Steps[k]
		if s.Col < 0 || s.Col >= m.Cols || len(s.Features) != m.Cols-1 {
			return nil, fmt.Errorf("impute: iterative: step %d: column %d with %d features does not fit %d columns", k, s.Col, len(s.Features), m.Cols)
		}
		for _, f := range s.Features {
			if f < 0 || f >= m.Cols || f == s.Col {
				return nil, fmt.Errorf("impute: iterative: step %d: feature %d is invalid for column %d", k, f, s.Col)
			}
		}
		if s.est != nil {
			continue
		}
		est := newEst()
		if len(s.Model) == 0 || est == nil {
			return nil, fmt.Errorf("impute: iterative: step %d has no estimator", k)
		}
		if err := json.Unmarshal(s.Model, est); err != nil {
			return nil, fmt.Errorf("impute: iterative: step %d (column %d): decode estimator: %w", k, s.Col, err)
		}
		s.est = est
	}
	return slices.Clone(m.Steps), nil
}
