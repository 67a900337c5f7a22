package ensemble

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// TestBoostingHousingQuality checks the defaults beat scikit-learn's
// HistGradientBoostingRegressor defaults on the same split (RMSE 48,058).
func TestBoostingHousingQuality(t *testing.T) {
	h := loadHousing(t)
	m := NewGradientBoosting(BoostParams{})
	if err := m.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	pred, err := m.Predict(h.Xte)
	if err != nil {
		t.Fatal(err)
	}
	e := rmse(h.yte, pred)
	t.Logf("test RMSE %.0f, R² %.4f", e, r2(h.yte, pred))
	if e > 48058 {
		t.Errorf("test RMSE %.0f, scikit-learn's HistGradientBoosting gets 48,058", e)
	}
	if imp := m.FeatureImportances(); math.Abs(sum(imp)-1) > 1e-12 || argmax(imp) != 7 {
		t.Errorf("importances %v: want a sum of 1 and median_income (7) on top", imp)
	}
	if m.NumTrees() != 100 || m.Kind() != "gradient_boosting" {
		t.Errorf("%d trees, kind %q", m.NumTrees(), m.Kind())
	}
	for i := range m.Trees {
		if l := m.Trees[i].Leaves(); l > 31 {
			t.Fatalf("tree %d has %d leaves, MaxLeafNodes is 31", i, l)
		}
	}
}

// subsampled exercises every code path: row sampling and routing of rows
// left out.
func subsampled() BoostParams {
	return BoostParams{NEstimators: 12, Subsample: 0.7, MaxDepth: 5, L2: 1, Seed: 3}
}

func TestBoostingDeterministicAcrossGOMAXPROCS(t *testing.T) {
	h := loadHousing(t)
	fit := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := NewGradientBoosting(subsampled())
		if err := m.Fit(h.Xtr, h.ytr); err != nil {
			t.Fatal(err)
		}
		return marshal(t, m)
	}
	if !bytes.Equal(fit(1), fit(2)) {
		t.Fatal("model JSON differs between GOMAXPROCS 1 and 2")
	}
}

func TestBoostingTrainingStateMatchesPredict(t *testing.T) {
	// Training updates follow bin codes, Predict follows thresholds: they
	// must put every training row in the same leaf.
	h := loadHousing(t)
	m := NewGradientBoosting(subsampled())
	if err := m.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Predict(h.Xtr)
	sameBits(t, "training-state vs Predict", m.cache.raw, p)
	for i := range m.Trees {
		if d, l := m.Trees[i].Depth(), m.Trees[i].Leaves(); d > 5 || l > 31 {
			t.Errorf("tree %d: depth %d, %d leaves; limits are 5 and 31", i, d, l)
		}
	}
}

func TestBoostingGrowEqualsFit(t *testing.T) {
	h := loadHousing(t)
	p := subsampled()
	full := NewGradientBoosting(p)
	if err := full.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	p.NEstimators = 4
	warm := NewGradientBoosting(p)
	if err := warm.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	for _, total := range []int{7, 7, 12} {
		if err := warm.Grow(h.Xtr, h.ytr, total); err != nil {
			t.Fatal(err)
		}
	}
	half := NewGradientBoosting(p)
	if err := half.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	var loaded GradientBoosting
	if err := json.Unmarshal(marshal(t, half), &loaded); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Grow(h.Xtr, h.ytr, 12); err != nil {
		t.Fatal(err)
	}
	want := marshal(t, full.Trees)
	for name, m := range map[string]*GradientBoosting{"cached": warm, "reloaded": &loaded} {
		if m.NumTrees() != 12 || !bytes.Equal(marshal(t, m.Trees), want) {
			t.Errorf("%s Grow: trees differ from Fit with 12 trees", name)
		}
		sameBits(t, name+" importances", m.FeatureImportances(), full.FeatureImportances())
	}
	if err := warm.Grow(h.Xtr, h.ytr, 3); err == nil {
		t.Error("Grow to fewer trees than the model has was accepted")
	}
}

func TestBoostingJSONRoundTrip(t *testing.T) {
	h := loadHousing(t)
	m := NewGradientBoosting(subsampled())
	if err := m.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	var back GradientBoosting
	if err := json.Unmarshal(marshal(t, m), &back); err != nil {
		t.Fatal(err)
	}
	p1, _ := m.Predict(h.Xte)
	p2, err := back.Predict(h.Xte)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "predictions after round trip", p1, p2)
	if err := json.Unmarshal([]byte(`{"n_features":2,"trees":[{}],"tree_gains":[[0,0]]}`), new(GradientBoosting)); err == nil {
		t.Error("a model with an empty tree was accepted")
	}
}

func TestBoostingSynthetic(t *testing.T) {
	var data, y []float64
	for i := 0; i < 30; i++ {
		data = append(data, float64(i), float64((i*11)%30))
		y = append(y, map[bool]float64{true: 10, false: 4}[i < 12])
	}
	X := mustMatrix(t, 30, 2, data)
	// One stump at learning rate 1 recovers a step exactly.
	m := NewGradientBoosting(BoostParams{NEstimators: 1, LearningRate: 1, MaxLeafNodes: 2, MinSamplesLeaf: 1})
	if err := m.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Predict(X)
	for i := range p {
		if math.Abs(p[i]-y[i]) > 1e-12 {
			t.Fatalf("row %d: %v, want %v", i, p[i], y[i])
		}
	}
	if n := m.Trees[0]; n.Feature[0] != 0 || n.Threshold[0] != 11.5 {
		t.Errorf("stump splits feature %d at %v, want feature 0 at 11.5", n.Feature[0], n.Threshold[0])
	}
	// A constant target needs no split at all.
	c := NewGradientBoosting(BoostParams{NEstimators: 3, MinSamplesLeaf: 1})
	if err := c.Fit(X, constant(30, 5)); err != nil {
		t.Fatal(err)
	}
	p, _ = c.Predict(X)
	for i := range c.Trees {
		if c.Trees[i].Len() != 1 {
			t.Errorf("constant target: tree %d has %d nodes", i, c.Trees[i].Len())
		}
	}
	sameBits(t, "constant target", p, constant(30, 5))
}

func constant(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestBoostingErrors(t *testing.T) {
	X := mustMatrix(t, 4, 2, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	y := []float64{1, 2, 3, 4}
	if _, err := NewGradientBoosting(BoostParams{}).Predict(X); !errors.Is(err, ml.ErrNotFitted) {
		t.Errorf("predict before fit: %v", err)
	}
	nan := mustMatrix(t, 4, 2, []float64{1, 2, 3, math.NaN(), 5, 6, 7, 8})
	cases := map[string]struct {
		p BoostParams
		X *ml.Matrix
		y []float64
	}{
		"NaN in X":          {BoostParams{}, nan, y},
		"short y":           {BoostParams{}, X, y[:3]},
		"NaN in y":          {BoostParams{}, X, []float64{1, math.NaN(), 3, 4}},
		"Subsample 1.5":     {BoostParams{Subsample: 1.5}, X, y},
		"negative rate":     {BoostParams{LearningRate: -0.1}, X, y},
		"one leaf":          {BoostParams{MaxLeafNodes: 1}, X, y},
		"negative L2":       {BoostParams{L2: -1}, X, y},
		"negative trees":    {BoostParams{NEstimators: -3}, X, y},
		"MaxBins 1":         {BoostParams{MaxBins: 1}, X, y},
		"negative MinLeaf":  {BoostParams{MinSamplesLeaf: -1}, X, y},
		"negative MaxDepth": {BoostParams{MaxDepth: -1}, X, y},
	}
	for name, c := range cases {
		if err := NewGradientBoosting(c.p).Fit(c.X, c.y); err == nil {
			t.Errorf("%s: Fit accepted", name)
		}
	}
	m := NewGradientBoosting(BoostParams{NEstimators: 2, MinSamplesLeaf: 1})
	if err := m.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(mustMatrix(t, 1, 3, []float64{1, 2, 3})); err == nil {
		t.Error("predict with 3 columns on a 2-column model accepted")
	}
}
