// Package selection splits data and compares models: seeded (optionally
// stratified) train/test splits, K-fold cross-validation and an exhaustive
// grid search, all parallel and deterministic for a given seed.
//
// It replaces scikit-learn's train_test_split, KFold, cross_validate and
// GridSearchCV as used by the original pipeline (steps 04 and 05).
package selection

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/housing-mlops/mlops/ml"
)

// Bin assigns each value an integer class by the ascending cut points edges,
// with right-closed intervals like pandas.cut: label k means
// edges[k-1] < v <= edges[k], label 0 is v <= edges[0] and label len(edges)
// is v > edges[len(edges)-1]. NaN gets -1 so missing values form a stratum of
// their own instead of silently joining one.
//
// The original income_cat is Bin(median_income, []float64{1.5, 3, 4.5, 6})
// (labels 0..4 for its 1..5).
func Bin(values []float64, edges []float64) []int {
	out := make([]int, len(values))
	for i, v := range values {
		if math.IsNaN(v) {
			out[i] = -1
			continue
		}
		// Number of edges strictly below v: the first edge >= v.
		k, _ := slices.BinarySearch(edges, v)
		out[i] = k
	}
	return out
}

// TrainTestSplit returns row indices for a seeded random split of n rows with
// ceil(testSize·n) test rows, like scikit-learn's train_test_split. Both
// slices are in shuffled order.
//
// With strata (one integer label per row, e.g. from Bin) the split keeps each
// class's share: the test rows of a class are its share of the test size,
// rounded down, and the rows left over by rounding go to the classes with the
// largest remainders (ties to the lower label), as StratifiedShuffleSplit
// does. Every class needs at least two rows so it can appear on both sides.
func TrainTestSplit(n int, testSize float64, seed uint64, strata []int) (train, test []int, err error) {
	if n < 2 {
		return nil, nil, fmt.Errorf("selection: split needs at least 2 rows, got %d", n)
	}
	if !(testSize > 0 && testSize < 1) {
		return nil, nil, fmt.Errorf("selection: test size %v must be in (0, 1)", testSize)
	}
	nTest := int(math.Ceil(testSize * float64(n)))
	nTrain := n - nTest
	if nTrain < 1 {
		return nil, nil, fmt.Errorf("selection: test size %v of %d rows leaves no training rows", testSize, n)
	}
	rng := ml.NewRand(seed, 0)
	if strata == nil {
		perm := rng.Perm(n)
		return perm[nTest:], perm[:nTest], nil
	}
	if len(strata) != n {
		return nil, nil, fmt.Errorf("selection: %d strata labels for %d rows", len(strata), n)
	}
	classes, members := groupByLabel(strata)
	if nTest < len(classes) || nTrain < len(classes) {
		return nil, nil, fmt.Errorf("selection: %d test and %d train rows cannot cover %d strata", nTest, nTrain, len(classes))
	}
	for k, c := range classes {
		if len(members[k]) < 2 {
			return nil, nil, fmt.Errorf("selection: stratum %d has %d row; stratification needs at least 2 per stratum", c, len(members[k]))
		}
	}
	quota := allocate(members, nTest, n)
	for k, idx := range members {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		test = append(test, idx[:quota[k]]...)
		train = append(train, idx[quota[k]:]...)
	}
	// Classes were appended in label order; shuffle so callers that take a
	// prefix (or batch in order) see a mixed sample.
	rng.Shuffle(len(test), func(i, j int) { test[i], test[j] = test[j], test[i] })
	rng.Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
	return train, test, nil
}

// groupByLabel returns the distinct labels in ascending order and the row
// indices of each, in row order.
func groupByLabel(labels []int) (classes []int, members [][]int) {
	pos := map[int]int{}
	for _, c := range labels {
		if _, ok := pos[c]; !ok {
			pos[c] = 0
			classes = append(classes, c)
		}
	}
	slices.Sort(classes)
	for k, c := range classes {
		pos[c] = k
	}
	members = make([][]int, len(classes))
	for i, c := range labels {
		k := pos[c]
		members[k] = append(members[k], i)
	}
	return classes, members
}

// allocate splits total test rows across classes proportionally to their
// sizes by the largest-remainder method, deterministic on ties.
func allocate(members [][]int, total, n int) []int {
	quota := make([]int, len(members))
	rem := make([]float64, len(members))
	used := 0
	for k, idx := range members {
		exact := float64(total) * float64(len(idx)) / float64(n)
		quota[k] = int(math.Floor(exact))
		rem[k] = exact - float64(quota[k])
		used += quota[k]
	}
	order := make([]int, len(members))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rem[a] > rem[b]:
			return -1
		case rem[a] < rem[b]:
			return 1
		}
		return 0
	})
	for _, k := range order {
		if used == total {
			break
		}
		if quota[k] < len(members[k]) {
			quota[k]++
			used++
		}
	}
	return quota
}

// Fold is one train/test partition of row indices.
type Fold struct {
	Train, Test []int
}

// KFold partitions rows into K consecutive test folds, like scikit-learn's
// KFold: the first n%K folds get one extra row. With Shuffle the rows are
// permuted first with Seed.
type KFold struct {
	K       int
	Shuffle bool
	Seed    uint64
}

// Splits returns the K folds for n rows. Test indices follow the (possibly
// shuffled) row order; train indices are ascending.
func (kf KFold) Splits(n int) ([]Fold, error) {
	if kf.K < 2 {
		return nil, fmt.Errorf("selection: k-fold needs K >= 2, got %d", kf.K)
	}
	if n < kf.K {
		return nil, fmt.Errorf("selection: %d-fold split needs at least %d rows, got %d", kf.K, kf.K, n)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if kf.Shuffle {
		order = ml.NewRand(kf.Seed, 0).Perm(n)
	}
	folds := make([]Fold, kf.K)
	start := 0
	for f := range folds {
		size := n / kf.K
		if f < n%kf.K {
			size++
		}
		test := append([]int(nil), order[start:start+size]...)
		inTest := make([]bool, n)
		for _, i := range test {
			inTest[i] = true
		}
		train := make([]int, 0, n-size)
		for i := 0; i < n; i++ {
			if !inTest[i] {
				train = append(train, i)
			}
		}
		folds[f] = Fold{Train: train, Test: test}
		start += size
	}
	return folds, nil
}

// checkFolds verifies every fold is non-empty on both sides and in range.
func checkFolds(folds []Fold, n int) error {
	if len(folds) == 0 {
		return errors.New("selection: no folds")
	}
	for f, fold := range folds {
		if len(fold.Train) == 0 || len(fold.Test) == 0 {
			return fmt.Errorf("selection: fold %d has %d train and %d test rows; both must be non-empty", f, len(fold.Train), len(fold.Test))
		}
		for _, side := range [][]int{fold.Train, fold.Test} {
			for _, i := range side {
				if i < 0 || i >= n {
					return fmt.Errorf("selection: fold %d refers to row %d of %d", f, i, n)
				}
			}
		}
	}
	return nil
}
