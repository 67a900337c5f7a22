package impute

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/housing-mlops/mlops/ml"
)

// Result is one strategy's score in MaskedValidation.
type Result struct {
	Name    string  `json:"name"`
	RMSE    float64 `json:"rmse"`
	MAE     float64 `json:"mae"`
	Seconds float64 `json:"seconds"` // wall time of Fit + Transform
	N       int     `json:"n"`       // masked cells scored
}

// MaskedValidation scores imputation strategies the way the original
// pipeline's step 02 did: keep the rows where column col is observed, split
// them at random (seeded) into a training part and a validation part of
// ceil(testFraction·rows) rows, hide col in the validation rows, fit each
// strategy on the training rows, transform the validation rows and compare
// the imputed cells with the hidden truth. All other columns, whatever they
// are, serve as features.
//
// Strategies run one after another in name order; results come back sorted
// by RMSE, lowest first (ties by name).
func MaskedValidation(X *ml.Matrix, col int, testFraction float64, seed uint64, strategies map[string]func() ml.Transformer) ([]Result, error) {
	if X == nil {
		return nil, fmt.Errorf("impute: masked validation: X is nil")
	}
	if col < 0 || col >= X.Cols {
		return nil, fmt.Errorf("impute: masked validation: column %d out of range (X has %d columns)", col, X.Cols)
	}
	if !(testFraction > 0 && testFraction < 1) {
		return nil, fmt.Errorf("impute: masked validation: testFraction %v must be in (0, 1)", testFraction)
	}
	known := knownRows(X, col)
	nVal := int(math.Ceil(testFraction * float64(len(known))))
	if nVal >= len(known) {
		return nil, fmt.Errorf("impute: masked validation: %d rows with column %d observed cannot be split %v", len(known), col, testFraction)
	}
	perm := ml.NewRand(seed, 0).Perm(len(known))
	val := make([]int, nVal)
	for k := range val {
		val[k] = known[perm[k]]
	}
	return MaskedValidationRows(X, col, val, strategies)
}

// MaskedValidationRows is MaskedValidation with the validation rows given
// (for instance scikit-learn's split, to compare like with like): every
// other row with col observed is a training row, in X's order.
func MaskedValidationRows(X *ml.Matrix, col int, valRows []int, strategies map[string]func() ml.Transformer) ([]Result, error) {
	train, val, truth, err := maskedSplit(X, col, valRows)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(strategies))
	for name := range strategies {
		names = append(names, name)
	}
	slices.Sort(names)
	results := make([]Result, 0, len(names))
	for _, name := range names {
		r, err := scoreStrategy(name, strategies[name], train, val, truth, col)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	slices.SortStableFunc(results, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.RMSE, b.RMSE), cmp.Compare(a.Name, b.Name))
	})
	return results, nil
}

func knownRows(X *ml.Matrix, col int) []int {
	var known []int
	for i := 0; i < X.Rows; i++ {
		if !math.IsNaN(X.At(i, col)) {
			known = append(known, i)
		}
	}
	return known
}

// DefaultStrategies are the four strategies the original step 02 compared,
// for imputing column col: median, mean, KNN (k=5, standardised distances)
// and Iterative with the default forest. Iterative models only col: on the
// protocol's complete training rows that is exactly what modelling every
// column would give (the other estimators never have a cell to fill) at a
// fraction of the cost.
func DefaultStrategies(col int) map[string]func() ml.Transformer {
	return map[string]func() ml.Transformer{
		"median": func() ml.Transformer { return NewSimple(StrategyMedian) },
		"mean":   func() ml.Transformer { return NewSimple(StrategyMean) },
		"knn": func() ml.Transformer {
			m := NewKNN(5)
			m.Standardize = true
			return m
		},
		"iterative_rf": func() ml.Transformer {
			m := NewIterative(nil)
			m.Columns = []int{col}
			return m
		},
	}
}

// maskedSplit returns the training rows, the validation rows with col set to
// NaN, and the hidden values.
func maskedSplit(X *ml.Matrix, col int, valRows []int) (train, val *ml.Matrix, truth []float64, err error) {
	if X == nil {
		return nil, nil, nil, fmt.Errorf("impute: masked validation: X is nil")
	}
	if col < 0 || col >= X.Cols {
		return nil, nil, nil, fmt.Errorf("impute: masked validation: column %d out of range (X has %d columns)", col, X.Cols)
	}
	isVal := make([]bool, X.Rows)
	for _, i := range valRows {
		switch {
		case i < 0 || i >= X.Rows:
			return nil, nil, nil, fmt.Errorf("impute: masked validation: validation row %d out of range (X has %d rows)", i, X.Rows)
		case isVal[i]:
			return nil, nil, nil, fmt.Errorf("impute: masked validation: validation row %d is listed twice", i)
		case math.IsNaN(X.At(i, col)):
			return nil, nil, nil, fmt.Errorf("impute: masked validation: validation row %d has column %d missing: nothing to compare with", i, col)
		}
		isVal[i] = true
	}
	var trainIdx []int
	for _, i := range knownRows(X, col) {
		if !isVal[i] {
			trainIdx = append(trainIdx, i)
		}
	}
	if len(valRows) == 0 || len(trainIdx) == 0 {
		return nil, nil, nil, fmt.Errorf("impute: masked validation: %d validation and %d training rows; both must be non-empty", len(valRows), len(trainIdx))
	}
	val = X.SelectRows(valRows)
	truth = make([]float64, len(valRows))
	for i := range truth {
		truth[i] = val.At(i, col)
		val.Set(i, col, math.NaN())
	}
	return X.SelectRows(trainIdx), val, truth, nil
}

// scoreStrategy fits one fresh transformer and measures its error.
func scoreStrategy(name string, make func() ml.Transformer, train, val *ml.Matrix, truth []float64, col int) (Result, error) {
	if make == nil {
		return Result{}, fmt.Errorf("impute: masked validation: strategy %q has no constructor", name)
	}
	t := make()
	if t == nil {
		return Result{}, fmt.Errorf("impute: masked validation: strategy %q returned nil", name)
	}
	start := time.Now()
	if err := t.Fit(train); err != nil {
		return Result{}, fmt.Errorf("impute: masked validation: strategy %q: fit: %w", name, err)
	}
	out, err := t.Transform(val)
	if err != nil {
		return Result{}, fmt.Errorf("impute: masked validation: strategy %q: transform: %w", name, err)
	}
	secs := time.Since(start).Seconds()
	if out.Rows != val.Rows || out.Cols != val.Cols {
		return Result{}, fmt.Errorf("impute: masked validation: strategy %q returned %dx%d for %dx%d", name, out.Rows, out.Cols, val.Rows, val.Cols)
	}
	var se, ae float64
	for i, want := range truth {
		got := out.At(i, col)
		if math.IsNaN(got) {
			return Result{}, fmt.Errorf("impute: masked validation: strategy %q left row %d unimputed", name, i)
		}
		se += (got - want) * (got - want)
		ae += math.Abs(got - want)
	}
	n := float64(len(truth))
	return Result{Name: name, RMSE: math.Sqrt(se / n), MAE: ae / n, Seconds: secs, N: len(truth)}, nil
}
