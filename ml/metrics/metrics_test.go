package metrics

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

type golden struct {
	YTrue   []float64          `json:"y_true"`
	YPred   []float64          `json:"y_pred"`
	Metrics map[string]float64 `json:"metrics"`
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile("../../testdata/reference/metrics_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.YTrue) != 500 || len(g.Metrics) != 10 {
		t.Fatalf("golden file: %d rows, %d metrics", len(g.YTrue), len(g.Metrics))
	}
	return g
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), 1e-300)
}

func TestRegressionMatchesScikitLearn(t *testing.T) {
	g := loadGolden(t)
	r, err := Regression(g.YTrue, g.YPred)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Map()
	for name, want := range g.Metrics {
		v, ok := got[name]
		if !ok {
			t.Errorf("report has no %s", name)
			continue
		}
		if !relClose(v, want, 1e-9) {
			t.Errorf("%s = %.17g, scikit-learn %.17g", name, v, want)
		}
		// The single functions agree with the report.
		fn, _, err := ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		single, err := fn(g.YTrue, g.YPred)
		if err != nil {
			t.Fatal(err)
		}
		if single != v {
			t.Errorf("%s: ByName gives %v, report %v", name, single, v)
		}
	}
	b, _ := json.Marshal(r)
	var back map[string]float64
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for name := range g.Metrics {
		if _, ok := back[name]; !ok {
			t.Errorf("JSON lacks %q: %s", name, b)
		}
	}
}

func TestZeroTargetIsAnError(t *testing.T) {
	y := []float64{1, 0, 2}
	p := []float64{1, 1, 2}
	if _, err := Regression(y, p); err == nil || !strings.Contains(err.Error(), "target 1 is 0") {
		t.Errorf("Regression err = %v", err)
	}
	for _, name := range []string{"mape", "median_ape", "within_10pct"} {
		fn, _, _ := ByName(name)
		if _, err := fn(y, p); err == nil {
			t.Errorf("%s: want error for a zero target", name)
		}
	}
	// MAE and friends stay defined.
	if v, err := MAE(y, p); err != nil || v != 1.0/3 {
		t.Errorf("MAE = %v, %v", v, err)
	}
	if _, err := SMAPE([]float64{0}, []float64{0}); err == nil {
		t.Error("SMAPE(0, 0): want error")
	}
}

func TestInputErrors(t *testing.T) {
	if _, err := MAE([]float64{1}, []float64{1, 2}); err == nil {
		t.Error("length mismatch: want error")
	}
	if _, err := RMSE(nil, nil); err == nil {
		t.Error("empty: want error")
	}
	if _, err := R2([]float64{1, math.NaN()}, []float64{1, 2}); err == nil {
		t.Error("NaN target: want error")
	}
	if _, _, err := ByName("accuracy"); err == nil {
		t.Error("unknown metric: want error")
	}
}

func TestR2ConstantTarget(t *testing.T) {
	if v, _ := R2([]float64{3, 3}, []float64{3, 3}); v != 1 {
		t.Errorf("perfect constant fit: R2 = %v, want 1", v)
	}
	if v, _ := R2([]float64{3, 3}, []float64{3, 4}); v != 0 {
		t.Errorf("imperfect constant fit: R2 = %v, want 0", v)
	}
}

func TestHigherIsBetter(t *testing.T) {
	for _, name := range Names() {
		_, hib, err := ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		want := name == "r2" || strings.HasPrefix(name, "within_")
		if hib != want {
			t.Errorf("%s: higherIsBetter = %v", name, hib)
		}
	}
}

func TestWithinIsStrict(t *testing.T) {
	// APE exactly 0.5 is not within 50 %; 0.25 is.
	v, err := WithinPct([]float64{2, 4}, []float64{3, 5}, 50)
	if err != nil || v != 50 {
		t.Errorf("WithinPct = %v, %v; want 50", v, err)
	}
}
