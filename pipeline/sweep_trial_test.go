package pipeline

import (
	"context"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/internal/mltest"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/tune"
)

// smallSweepData is smallXY cut 450/150 into fitting and validation parts.
func smallSweepData(t *testing.T) *SweepData {
	t.Helper()
	X, y := smallXY(t)
	fit, val := make([]int, 0, 450), make([]int, 0, 150)
	for i := 0; i < X.Rows; i++ {
		if i%4 == 3 {
			val = append(val, i)
		} else {
			fit = append(fit, i)
		}
	}
	return &SweepData{Xfit: X.SelectRows(fit), Yfit: ml.SelectFloats(y, fit), Xval: X.SelectRows(val), Yval: ml.SelectFloats(y, val)}
}

func newTrial(t *testing.T, obj tune.Objective, p map[string]any) tune.Trial {
	t.Helper()
	tr, err := obj(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A forest trial advanced band by band (warm start, validation predictions
// summed tree by tree) must report at every band exactly the metric of a
// forest of that many trees fitted from scratch, for any number of workers.
func TestSweepObjectiveForestBandsEqualFreshFits(t *testing.T) {
	d := smallSweepData(t)
	params := map[string]any{"n_estimators": 13, "max_depth": 9, "min_samples_leaf": 2, "max_features": "sqrt"}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var first []float64
	for _, workers := range []int{1, 2} {
		obj, err := SweepObjective(d, "random_forest", "wmape", 5, workers)
		if err != nil {
			t.Fatal(err)
		}
		tr := newTrial(t, obj, params)
		if b, ok := tr.(tune.Budgeted); !ok || b.MaxBudget() != 13 {
			t.Fatalf("forest trial budget: %v", tr)
		}
		var got []float64
		for _, band := range []int{2, 6, 13} {
			m, err := tr.Advance(context.Background(), band)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
			p := map[string]any{}
			for k, v := range params {
				p[k] = v
			}
			p["n_estimators"] = band
			fresh, err := buildModel("random_forest", p, 5, workers)
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.Fit(d.Xfit, d.Yfit); err != nil {
				t.Fatal(err)
			}
			pred, err := fresh.Predict(d.Xval)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := metrics.WMAPE(d.Yval, pred)
			if math.Float64bits(m) != math.Float64bits(want) {
				t.Errorf("workers %d, %d trees: trial wmape %v, fresh forest %v", workers, band, m, want)
			}
			if band == 13 {
				final, err := tr.Final(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				rep, _ := metrics.Regression(d.Yval, pred)
				if final["rmse"] != rep.Map()["rmse"] || final["wmape"] != m {
					t.Errorf("final metrics %v, want those of the fresh forest %v", final, rep.Map())
				}
			}
		}
		if first == nil {
			first = got
		} else if !mltest.SameBits(first, got) {
			t.Errorf("band metrics with 1 worker %v, with 2 %v", first, got)
		}
	}
}

// Non-iterative families advance once, with budget 0.
func TestSweepObjectiveRidge(t *testing.T) {
	d := smallSweepData(t)
	obj, err := SweepObjective(d, "ridge", "rmse", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTrial(t, obj, map[string]any{"alpha": 2.0})
	if b, ok := tr.(tune.Budgeted); ok && b.MaxBudget() != 0 {
		t.Fatalf("ridge trial has budget %d", b.MaxBudget())
	}
	if _, err := tr.Final(context.Background()); err == nil {
		t.Error("Final before any Advance succeeded")
	}
	m, err := tr.Advance(context.Background(), 0)
	if err != nil || !(m > 0) {
		t.Fatalf("rmse %v, %v", m, err)
	}
	final, err := tr.Final(context.Background())
	if err != nil || final["rmse"] != m {
		t.Fatalf("final %v (%v), want rmse %v", final, err, m)
	}
}

func TestSweepObjectiveErrors(t *testing.T) {
	d := smallSweepData(t)
	for name, c := range map[string]struct {
		d              *SweepData
		family, metric string
		want           string
	}{
		"family":  {d, "svm", "wmape", "svm"},
		"metric":  {d, "ridge", "accuracy", "sweep metric"},
		"nil":     {nil, "ridge", "rmse", "sweep data"},
		"columns": {&SweepData{Xfit: d.Xfit, Yfit: d.Yfit, Xval: ml.NewMatrix(2, 3), Yval: []float64{1, 2}}, "ridge", "rmse", "columns"},
		"rows":    {&SweepData{Xfit: d.Xfit, Yfit: d.Yfit[1:], Xval: d.Xval, Yval: d.Yval}, "ridge", "rmse", "fitting part"},
	} {
		if _, err := SweepObjective(c.d, c.family, c.metric, 1, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, c.want)
		}
	}
	obj, err := SweepObjective(d, "random_forest", "wmape", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A parameter of another family is a typo in the sweep file: the trial
	// must fail, naming it, rather than silently ignore it.
	if _, err := obj(context.Background(), map[string]any{"n_estimators": 5, "learning_rate": 0.1}); err == nil ||
		!strings.Contains(err.Error(), "learning_rate") {
		t.Errorf("err = %v, want one naming learning_rate", err)
	}
	if _, err := obj(context.Background(), map[string]any{"max_depth": "deep"}); err == nil {
		t.Error("a string max_depth was accepted")
	}
}

// BenchmarkSweepTrialForest advances one deep random forest trial through
// Hyperband bands on the housing data, the unit of work of a forest sweep
// (go test -bench SweepTrial -cpuprofile cpu.out to see where it goes).
func BenchmarkSweepTrialForest(b *testing.B) {
	f, err := frame.ReadCSVFile("../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	X, err := f.Matrix([]string{"longitude", "latitude", "housing_median_age", "total_rooms", "population", "households", "median_income"})
	if err != nil {
		b.Fatal(err)
	}
	y, _ := f.Numeric("median_house_value")
	fit, val, err := selection.TrainTestSplit(X.Rows, 0.2, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	d := &SweepData{Xfit: X.SelectRows(fit), Yfit: ml.SelectFloats(y, fit), Xval: X.SelectRows(val), Yval: ml.SelectFloats(y, val)}
	obj, err := SweepObjective(d, "random_forest", "wmape", 42, 0)
	if err != nil {
		b.Fatal(err)
	}
	params := map[string]any{"n_estimators": 60, "max_depth": 25, "min_samples_leaf": 2, "min_samples_split": 2, "max_features": "sqrt"}
	var metric float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr, err := obj(context.Background(), params)
		if err != nil {
			b.Fatal(err)
		}
		for _, band := range []int{10, 30, 60} {
			if metric, err = tr.Advance(context.Background(), band); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(metric, "wmape")
}
