package pipeline

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/selection"
)

// smallXY is 600 complete rows of the housing features.
func smallXY(t *testing.T) (*ml.Matrix, []float64) {
	t.Helper()
	f, err := frame.ReadCSVFile("../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	X, err := f.Matrix([]string{"longitude", "latitude", "housing_median_age", "total_rooms", "population", "households", "median_income"})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := f.Numeric("median_house_value")
	idx := make([]int, 600)
	for i := range idx {
		idx[i] = i * 30
	}
	return X.SelectRows(idx), ml.SelectFloats(y, idx)
}

// The staged search must give exactly what selection.GridSearch gives.
func TestStagedGridSearchEqualsGridSearch(t *testing.T) {
	X, y := smallXY(t)
	folds, err := selection.KFold{K: 3}.Splits(X.Rows)
	if err != nil {
		t.Fatal(err)
	}
	grids := map[string]map[string][]any{
		"random_forest":     {"n_estimators": {3, 6, 9}, "max_depth": {4, nil}, "min_samples_leaf": {1, 3}},
		"gradient_boosting": {"n_estimators": {5, 10}, "learning_rate": {0.1, 0.2}, "max_depth": {3}, "subsample": {0.8}},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for fam, grid := range grids {
		build := func(p selection.Params) (ml.Regressor, error) { return buildModel(fam, p, 7, 1) }
		want, wantBest, err := selection.GridSearch(context.Background(), grid, build, X, y, folds, selection.MAE(), 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		got, gotBest, err := gridSearch(context.Background(), fam, grid, 7, X, y, folds, selection.MAE(), 2, func() { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if gotBest != wantBest || len(got) != len(want) || calls != len(want)*len(folds) {
			t.Fatalf("%s: best %d vs %d, %d vs %d candidates, %d progress calls", fam, gotBest, wantBest, len(got), len(want), calls)
		}
		for i := range want {
			g, w := got[i], want[i]
			if selection.FormatParams(g.Params) != selection.FormatParams(w.Params) || g.Rank != w.Rank ||
				g.MeanTest != w.MeanTest || g.MeanTrain != w.MeanTrain || math.Abs(g.StdTest-w.StdTest) > 1e-9*w.StdTest {
				t.Fatalf("%s candidate %d: got %+v\nwant %+v", fam, i, g, w)
			}
			for f := range w.FoldTest {
				if g.FoldTest[f] != w.FoldTest[f] {
					t.Fatalf("%s candidate %d fold %d: %v vs %v", fam, i, f, g.FoldTest[f], w.FoldTest[f])
				}
			}
		}
	}
}

// benchGrid is a forest grid whose points differ mostly in n_estimators, as
// the default random-forest grid does.
var benchGrid = map[string][]any{"n_estimators": {10, 20, 40}, "max_depth": {6, nil}}

func benchSearch(b *testing.B, staged bool) {
	f, err := frame.ReadCSVFile("../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	X, _ := f.Matrix([]string{"longitude", "latitude", "housing_median_age", "total_rooms", "population", "households", "median_income"})
	y, _ := f.Numeric("median_house_value")
	folds, _ := selection.KFold{K: 3}.Splits(X.Rows)
	build := func(p selection.Params) (ml.Regressor, error) { return buildModel("random_forest", p, 1, 1) }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if staged {
			_, _, err = gridSearch(context.Background(), "random_forest", benchGrid, 1, X, y, folds, selection.MAE(), 0, func() {})
		} else {
			_, _, err = selection.GridSearch(context.Background(), benchGrid, build, X, y, folds, selection.MAE(), 0, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGridSearchStaged and BenchmarkGridSearchPlain compare the staged
// search with selection.GridSearch on the same grid (same results).
func BenchmarkGridSearchStaged(b *testing.B) { benchSearch(b, true) }

// BenchmarkGridSearchPlain is the baseline of BenchmarkGridSearchStaged.
func BenchmarkGridSearchPlain(b *testing.B) { benchSearch(b, false) }
