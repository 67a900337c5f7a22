package selection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// meanModel predicts the training mean: the simplest honest regressor.
type meanModel struct {
	mean   float64
	fitted bool
}

func (m *meanModel) Fit(X *ml.Matrix, y []float64) error {
	if err := ml.CheckXY(X, y); err != nil {
		return err
	}
	m.mean = 0
	for _, v := range y {
		m.mean += v
	}
	m.mean /= float64(len(y))
	m.fitted = true
	return nil
}

func (m *meanModel) Predict(X *ml.Matrix) ([]float64, error) {
	if !m.fitted {
		return nil, ml.ErrNotFitted
	}
	out := make([]float64, X.Rows)
	for i := range out {
		out[i] = m.mean
	}
	return out, nil
}

// slopeModel predicts slope·x0 + b with a fixed slope; Fit learns b as the
// mean residual. Grid searching the slope has a known answer.
type slopeModel struct {
	slope, b float64
	failFit  bool
}

func (m *slopeModel) Fit(X *ml.Matrix, y []float64) error {
	if m.failFit {
		return errors.New("deliberate failure")
	}
	m.b = 0
	for i, v := range y {
		m.b += v - m.slope*X.At(i, 0)
	}
	m.b /= float64(len(y))
	return nil
}

func (m *slopeModel) Predict(X *ml.Matrix) ([]float64, error) {
	out := make([]float64, X.Rows)
	for i := range out {
		out[i] = m.slope*X.At(i, 0) + m.b
	}
	return out, nil
}

// lineData returns x = 0..n-1 and y = 2x + 1 + a small deterministic wiggle.
func lineData(n int) (*ml.Matrix, []float64) {
	X := ml.NewMatrix(n, 1)
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		X.Set(i, 0, float64(i))
		y[i] = 2*float64(i) + 1 + 0.1*math.Sin(float64(i))
	}
	return X, y
}

func TestCrossValidateMeanModelMatchesHandComputation(t *testing.T) {
	X, y := lineData(12)
	folds, _ := KFold{K: 3}.Splits(12)
	res, err := CrossValidate(context.Background(), func() ml.Regressor { return &meanModel{} }, X, y, folds, MAE(), 2)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for f, fold := range folds {
		// Independent computation: mean of training y, MAE over test y.
		m := 0.0
		for _, i := range fold.Train {
			m += y[i]
		}
		m /= float64(len(fold.Train))
		e := 0.0
		for _, i := range fold.Test {
			e += math.Abs(y[i] - m)
		}
		e /= float64(len(fold.Test))
		if math.Abs(res.Folds[f].Test-e) > 1e-12 {
			t.Errorf("fold %d test MAE %v, want %v", f, res.Folds[f].Test, e)
		}
		sum += e
	}
	if math.Abs(res.MeanTest-sum/3) > 1e-12 {
		t.Errorf("mean %v, want %v", res.MeanTest, sum/3)
	}
	var ss float64
	for _, fs := range res.Folds {
		ss += (fs.Test - res.MeanTest) * (fs.Test - res.MeanTest)
	}
	if math.Abs(res.StdTest-math.Sqrt(ss/3)) > 1e-12 {
		t.Errorf("std %v, want population std %v", res.StdTest, math.Sqrt(ss/3))
	}
	if res.MeanTrain >= res.MeanTest {
		t.Errorf("train MAE %v should be below test MAE %v for a mean model on a trend", res.MeanTrain, res.MeanTest)
	}
	if res.Scorer != "mae" {
		t.Errorf("scorer name %q", res.Scorer)
	}
}

func TestCrossValidateDeterministicAcrossGOMAXPROCS(t *testing.T) {
	X, y := lineData(40)
	folds, _ := KFold{K: 5, Shuffle: true, Seed: 3}.Splits(40)
	run := func(procs int) CVResult {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		r, err := CrossValidate(context.Background(), func() ml.Regressor { return &slopeModel{slope: 1.5} }, X, y, folds, RMSE(), 0)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(1), run(2)
	for f := range a.Folds {
		if a.Folds[f].Test != b.Folds[f].Test || a.Folds[f].Train != b.Folds[f].Train {
			t.Fatalf("fold %d differs: %+v vs %+v", f, a.Folds[f], b.Folds[f])
		}
	}
	if a.MeanTest != b.MeanTest || a.StdTest != b.StdTest {
		t.Fatal("summary differs across GOMAXPROCS")
	}
}

func TestCrossValidateErrors(t *testing.T) {
	X, y := lineData(10)
	folds, _ := KFold{K: 2}.Splits(10)
	ctx := context.Background()
	_, err := CrossValidate(ctx, func() ml.Regressor { return &slopeModel{failFit: true} }, X, y, folds, MAE(), 2)
	if err == nil || !strings.Contains(err.Error(), "fold 0") || !strings.Contains(err.Error(), "deliberate") {
		t.Errorf("fit failure: %v", err)
	}
	_, err = CrossValidate(ctx, func() ml.Regressor { return &meanModel{} }, X, y[:9], folds, MAE(), 2)
	if err == nil || !strings.Contains(err.Error(), "y has 9") {
		t.Errorf("shape: %v", err)
	}
	bad := []Fold{{Train: []int{0, 1}, Test: []int{10}}}
	_, err = CrossValidate(ctx, func() ml.Regressor { return &meanModel{} }, X, y, bad, MAE(), 2)
	if err == nil || !strings.Contains(err.Error(), "row 10 of 10") {
		t.Errorf("fold range: %v", err)
	}
	_, err = CrossValidate(ctx, func() ml.Regressor { return &meanModel{} }, X, y, folds, Scorer{Name: "x"}, 2)
	if err == nil {
		t.Error("nil score func accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = CrossValidate(cctx, func() ml.Regressor { return &meanModel{} }, X, y, folds, MAE(), 2)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestExpandGridOrder(t *testing.T) {
	got, err := ExpandGrid(map[string][]any{"b": {1, 2}, "a": {"x", "y", "z"}})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, FormatParams(p))
	}
	want := []string{"a=x b=1", "a=x b=2", "a=y b=1", "a=y b=2", "a=z b=1", "a=z b=2"}
	if !slices.Equal(s, want) {
		t.Fatalf("expansion %v, want %v", s, want)
	}
	if empty, _ := ExpandGrid(nil); len(empty) != 1 || len(empty[0]) != 0 {
		t.Fatalf("empty grid gave %v", empty)
	}
	if _, err := ExpandGrid(map[string][]any{"k": {}}); err == nil || !strings.Contains(err.Error(), `"k" has no values`) {
		t.Fatalf("empty values: %v", err)
	}
}

func buildSlope(p Params) (ml.Regressor, error) {
	s, _, err := ParamFloat(p, "slope")
	if err != nil {
		return nil, err
	}
	return &slopeModel{slope: s}, nil
}

func TestGridSearchFindsTrueSlopeAndRecordsFailures(t *testing.T) {
	X, y := lineData(30)
	folds, _ := KFold{K: 3, Shuffle: true, Seed: 9}.Splits(30)
	grid := map[string][]any{"slope": {0, 1, 2, 3, "bad"}}
	var calls, last atomic.Int64
	results, best, err := GridSearch(context.Background(), grid, buildSlope, X, y, folds, MAE(), 2,
		func(done, total int) {
			calls.Add(1)
			if int64(done) <= last.Load() || total != 15 {
				t.Errorf("progress %d/%d after %d", done, total, last.Load())
			}
			last.Store(int64(done))
		})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 15 || last.Load() != 15 {
		t.Errorf("progress called %d times, last %d; want 15", calls.Load(), last.Load())
	}
	if len(results) != 5 {
		t.Fatalf("%d results", len(results))
	}
	if results[best].Params["slope"] != 2 {
		t.Fatalf("best slope %v, want 2", results[best].Params["slope"])
	}
	if results[best].Rank != 1 {
		t.Errorf("best rank %d", results[best].Rank)
	}
	bad := results[4]
	if bad.Err == nil || !errors.Is(bad.Err, ErrParamType) || !math.IsNaN(bad.MeanTest) || bad.Rank != 5 {
		t.Errorf("failed candidate recorded as %+v", bad)
	}
	// Slope 1 and 3 are equally wrong on x but the intercept absorbs the
	// mean; their errors mirror each other, so both must trail slope 2.
	for _, i := range []int{0, 1, 3} {
		if !(results[i].MeanTest > results[best].MeanTest) || len(results[i].FoldTest) != 3 {
			t.Errorf("candidate %d: %+v", i, results[i])
		}
	}
}

func TestGridSearchRankTies(t *testing.T) {
	X, y := lineData(12)
	folds, _ := KFold{K: 3}.Splits(12)
	grid := map[string][]any{"slope": {2.0, 0, 2}} // 2.0 and 2 tie exactly
	results, best, err := GridSearch(context.Background(), grid, buildSlope, X, y, folds, MAE(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if best != 0 || results[0].Rank != 1 || results[2].Rank != 1 || results[1].Rank != 3 {
		t.Fatalf("best %d ranks %d %d %d", best, results[0].Rank, results[1].Rank, results[2].Rank)
	}
}

func TestGridSearchDeterministicAcrossGOMAXPROCS(t *testing.T) {
	X, y := lineData(50)
	folds, _ := KFold{K: 5, Shuffle: true, Seed: 11}.Splits(50)
	grid := map[string][]any{"slope": {0.5, 1, 1.5, 2, 2.5}}
	run := func(procs int) []CandidateResult {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		r, _, err := GridSearch(context.Background(), grid, buildSlope, X, y, folds, R2(), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(1), run(2)
	for i := range a {
		if a[i].MeanTest != b[i].MeanTest || !slices.Equal(a[i].FoldTest, b[i].FoldTest) || a[i].Rank != b[i].Rank {
			t.Fatalf("candidate %d differs", i)
		}
	}
}

func TestGridSearchAllFailAndCancel(t *testing.T) {
	X, y := lineData(10)
	folds, _ := KFold{K: 2}.Splits(10)
	build := func(p Params) (ml.Regressor, error) { return nil, fmt.Errorf("no model for %v", p["k"]) }
	_, best, err := GridSearch(context.Background(), map[string][]any{"k": {1, 2}}, build, X, y, folds, MAE(), 2, nil)
	if err == nil || best != -1 || !strings.Contains(err.Error(), "all 2 candidates failed") || !strings.Contains(err.Error(), "no model for 1") {
		t.Errorf("all fail: best %d err %v", best, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = GridSearch(ctx, map[string][]any{"slope": {1}}, buildSlope, X, y, folds, MAE(), 2, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v", err)
	}
}

func TestParamAccessors(t *testing.T) {
	p := Params{"i": 3, "f": 2.0, "ff": 2.5, "s": "sqrt", "i64": int64(7)}
	if v, ok, err := ParamInt(p, "f"); v != 2 || !ok || err != nil {
		t.Errorf("int from integral float: %v %v %v", v, ok, err)
	}
	if _, _, err := ParamInt(p, "ff"); !errors.Is(err, ErrParamType) {
		t.Errorf("int from 2.5: %v", err)
	}
	if v, _, _ := ParamInt(p, "i64"); v != 7 {
		t.Errorf("int64: %v", v)
	}
	if v, _, _ := ParamFloat(p, "i"); v != 3 {
		t.Errorf("float from int: %v", v)
	}
	if _, ok, err := ParamFloat(p, "missing"); ok || err != nil {
		t.Errorf("missing: %v %v", ok, err)
	}
	if v, _, err := ParamString(p, "s"); v != "sqrt" || err != nil {
		t.Errorf("string: %v %v", v, err)
	}
	if _, _, err := ParamString(p, "i"); !errors.Is(err, ErrParamType) {
		t.Errorf("string from int: %v", err)
	}
}

func TestScorers(t *testing.T) {
	yt, yp := []float64{1, 2, 3, 4}, []float64{1, 3, 3, 2}
	if v, _ := MAE().Score(yt, yp); v != 0.75 {
		t.Errorf("mae %v", v)
	}
	if v, _ := RMSE().Score(yt, yp); math.Abs(v-math.Sqrt(5.0/4)) > 1e-15 {
		t.Errorf("rmse %v", v)
	}
	if v, _ := R2().Score(yt, yp); math.Abs(v-(1-5.0/5)) > 1e-15 {
		t.Errorf("r2 %v", v)
	}
	if _, err := MAE().Score(yt, yp[:3]); err == nil {
		t.Error("length mismatch accepted")
	}
	if s, err := ScorerByName("r2"); err != nil || !s.HigherIsBetter {
		t.Errorf("by name: %+v %v", s, err)
	}
	if s, err := ScorerByName("wmape"); err != nil || s.HigherIsBetter || s.Name != "wmape" {
		t.Errorf("wmape by name: %+v %v", s, err)
	}
	if _, err := ScorerByName("accuracy"); err == nil {
		t.Error("unknown scorer accepted")
	}
	if !R2().Better(0.9, 0.8) || MAE().Better(0.9, 0.8) || MAE().Better(math.NaN(), 1) || !MAE().Better(1, math.NaN()) {
		t.Error("Better direction wrong")
	}
}
