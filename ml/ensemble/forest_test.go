package ensemble

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

func mustMatrix(t testing.TB, rows, cols int, data []float64) *ml.Matrix {
	t.Helper()
	m, err := ml.MatrixFrom(rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBits(t *testing.T, what string, a, b []float64) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d values", what, len(a), len(b))
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			t.Fatalf("%s: value %d is %v vs %v", what, i, a[i], b[i])
		}
	}
}

// TestForestHousingQuality fits the original system's tuned forest and
// checks it generalises about as well as scikit-learn's (test R² 0.783).
func TestForestHousingQuality(t *testing.T) {
	h := loadHousing(t)
	p := tunedForest()
	p.OOBScore = true
	f := NewRandomForest(p)
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	pred, err := f.Predict(h.Xte)
	if err != nil {
		t.Fatal(err)
	}
	testR2 := r2(h.yte, pred)
	t.Logf("test R² %.4f RMSE %.0f; OOB R² %.4f over %d rows", testR2, rmse(h.yte, pred), f.OOB.R2, f.OOB.Rows)
	if testR2 < 0.778 {
		t.Errorf("test R² %.4f, want >= 0.778 (scikit-learn: 0.783)", testR2)
	}
	if math.Abs(f.OOB.R2-testR2) > 0.05 {
		t.Errorf("OOB R² %.4f is far from test R² %.4f", f.OOB.R2, testR2)
	}
	// With 128 bootstrap trees every training row is out of bag somewhere.
	if f.OOB.Rows != h.Xtr.Rows {
		t.Errorf("OOB covers %d of %d rows", f.OOB.Rows, h.Xtr.Rows)
	}
	imp := f.FeatureImportances()
	if s := sum(imp); math.Abs(s-1) > 1e-12 {
		t.Errorf("importances sum to %v", s)
	}
	// median_income (column 7) dominates in every published analysis of
	// this data set, and in scikit-learn's forest.
	if top := argmax(imp); top != 7 {
		t.Errorf("most important feature is column %d (%v), want 7 (median_income)", top, imp)
	}
	if f.NumTrees() != 128 || f.Kind() != "random_forest" {
		t.Errorf("%d trees, kind %q", f.NumTrees(), f.Kind())
	}
	checkForestLimits(t, f, h.Xtr)
	nodes := 0
	for i := range f.Trees {
		nodes += f.Trees[i].Len()
	}
	t.Logf("%d nodes in 128 trees; JSON %d bytes", nodes, len(marshal(t, f)))
}

// checkForestLimits redraws a few trees' bootstrap samples and checks that
// every leaf holds at least MinSamplesLeaf distinct drawn rows (the
// scikit-learn rule) and no tree is deeper than MaxDepth.
func checkForestLimits(t *testing.T, f *RandomForest, X *ml.Matrix) {
	t.Helper()
	for _, i := range []int{0, 1, 77} {
		nodes := &f.Trees[i]
		if d := nodes.Depth(); d > f.Params.MaxDepth {
			t.Errorf("tree %d has depth %d, MaxDepth is %d", i, d, f.Params.MaxDepth)
		}
		bag := inBag(ml.NewRand(f.Params.Seed, uint64(i)), X.Rows, X.Rows, true)
		perLeaf := make(map[int]int)
		for r, c := range bag {
			if c > 0 {
				perLeaf[leafOf(nodes, X.Row(r))]++
			}
		}
		for leaf, n := range perLeaf {
			if n < f.Params.MinSamplesLeaf {
				t.Errorf("tree %d leaf %d holds %d distinct rows, MinSamplesLeaf is %d", i, leaf, n, f.Params.MinSamplesLeaf)
			}
		}
		if len(perLeaf) != nodes.Leaves() {
			t.Errorf("tree %d: in-bag rows reach %d of its %d leaves", i, len(perLeaf), nodes.Leaves())
		}
	}
}

func leafOf(t *tree.Nodes, x []float64) int {
	i := int32(0)
	for t.Feature[i] != tree.Leaf {
		if x[t.Feature[i]] <= t.Threshold[i] {
			i = t.Left[i]
		} else {
			i = t.Right[i]
		}
	}
	return int(i)
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// smallForest keeps the expensive tests fast.
func smallForest() ForestParams {
	p := tunedForest()
	p.NEstimators = 12
	p.OOBScore = true
	return p
}

func TestForestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	h := loadHousing(t)
	fit := func(procs, workers int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		p := smallForest()
		p.Workers = workers
		f := NewRandomForest(p)
		if err := f.Fit(h.Xtr, h.ytr); err != nil {
			t.Fatal(err)
		}
		b := marshal(t, f)
		// Workers is a parameter and so part of the bytes; compare the rest.
		return bytes.Replace(b, []byte(`"workers":2`), []byte(`"workers":0`), 1)
	}
	one, two, auto := fit(1, 0), fit(2, 2), fit(2, 0)
	if !bytes.Equal(one, two) || !bytes.Equal(one, auto) {
		t.Fatal("forest JSON differs between GOMAXPROCS 1 and 2")
	}
	p := smallForest()
	p.Seed = 43
	other := NewRandomForest(p)
	if err := other.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(marshal(t, other), one) {
		t.Error("seeds 42 and 43 gave the same forest")
	}
}

func TestForestGrowEqualsFit(t *testing.T) {
	h := loadHousing(t)
	p := smallForest()
	full := NewRandomForest(p)
	if err := full.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	// Grow in steps on the same slices (cached state) ...
	p.NEstimators = 3
	warm := NewRandomForest(p)
	if err := warm.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	for _, total := range []int{5, 5, 12} {
		if err := warm.Grow(h.Xtr, h.ytr, total); err != nil {
			t.Fatal(err)
		}
	}
	// ... and after a save/load, which loses the cache.
	half := NewRandomForest(p)
	if err := half.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	var loaded RandomForest
	if err := json.Unmarshal(marshal(t, half), &loaded); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Grow(h.Xtr, h.ytr, 12); err != nil {
		t.Fatal(err)
	}
	want := marshal(t, full.Trees)
	for name, f := range map[string]*RandomForest{"cached": warm, "reloaded": &loaded} {
		if f.NumTrees() != 12 || !bytes.Equal(marshal(t, f.Trees), want) {
			t.Errorf("%s Grow: trees differ from Fit with 12 trees", name)
		}
		if math.Float64bits(f.OOB.R2) != math.Float64bits(full.OOB.R2) {
			t.Errorf("%s Grow: OOB R² %v, Fit %v", name, f.OOB.R2, full.OOB.R2)
		}
		sameBits(t, name+" importances", f.FeatureImportances(), full.FeatureImportances())
	}
	if err := warm.Grow(h.Xtr, h.ytr, 11); err == nil {
		t.Error("Grow to fewer trees than the forest has was accepted")
	}
}

func TestForestJSONRoundTrip(t *testing.T) {
	h := loadHousing(t)
	f := NewRandomForest(smallForest())
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	var back RandomForest
	if err := json.Unmarshal(marshal(t, f), &back); err != nil {
		t.Fatal(err)
	}
	p1, _ := f.Predict(h.Xte)
	p2, err := back.Predict(h.Xte)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "predictions after round trip", p1, p2)
	sameBits(t, "importances after round trip", f.FeatureImportances(), back.FeatureImportances())
	// Corruption is caught at load time.
	bad := NewRandomForest(smallForest())
	_ = json.Unmarshal(marshal(t, f), bad)
	bad.Trees[3].Feature = append(bad.Trees[3].Feature[:0:0], bad.Trees[3].Feature...)
	bad.Trees[3].Feature[0] = 13
	if err := json.Unmarshal(marshal(t, bad), new(RandomForest)); err == nil {
		t.Error("a tree splitting on feature 13 of 13 was accepted")
	}
}

func TestForestQuantiles(t *testing.T) {
	h := loadHousing(t)
	f := NewRandomForest(smallForest())
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	X := h.Xte.SelectRows(seq(8))
	qs := []float64{0, 0.05, 0.5, 0.95, 1}
	out, err := f.PredictQuantiles(X, qs)
	if err != nil {
		t.Fatal(err)
	}
	mean, _ := f.Predict(X)
	for i := 0; i < X.Rows; i++ {
		var per []float64
		for t := range f.Trees {
			per = append(per, f.Trees[t].PredictRow(X.Row(i)))
		}
		if out[0][i] != slices.Min(per) || out[4][i] != slices.Max(per) {
			t.Errorf("row %d: q0/q1 = %v/%v, per-tree min/max %v/%v", i, out[0][i], out[4][i], slices.Min(per), slices.Max(per))
		}
		for k := 1; k < len(qs); k++ {
			if out[k][i] < out[k-1][i] {
				t.Errorf("row %d: quantile %v below quantile %v", i, qs[k], qs[k-1])
			}
		}
		if mean[i] < out[0][i] || mean[i] > out[4][i] {
			t.Errorf("row %d: mean %v outside the tree range", i, mean[i])
		}
		// 12 trees: the median interpolates halfway between order statistics 5 and 6.
		slices.Sort(per)
		if want := per[5] + 0.5*(per[6]-per[5]); math.Abs(out[2][i]-want) > 1e-9*math.Abs(want) {
			t.Errorf("row %d: median %v, want %v", i, out[2][i], want)
		}
	}
	// The combined call agrees with both separate ones bit for bit, also
	// over more rows than one internal chunk.
	all := h.Xte.SelectRows(seq(1300))
	m, q, err := f.PredictWithQuantiles(all, qs)
	if err != nil {
		t.Fatal(err)
	}
	pm, _ := f.Predict(all)
	pq, _ := f.PredictQuantiles(all, qs)
	sameBits(t, "means of PredictWithQuantiles", m, pm)
	for k := range qs {
		sameBits(t, "quantiles of PredictWithQuantiles", q[k], pq[k])
		sameBits(t, "quantiles over 8 vs 1300 rows", q[k][:8], out[k])
	}
	if _, err := f.PredictQuantiles(X, []float64{1.5}); err == nil {
		t.Error("quantile 1.5 accepted")
	}
}

func TestForestConcurrentPredict(t *testing.T) {
	h := loadHousing(t)
	f := NewRandomForest(smallForest())
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	want, _ := f.Predict(h.Xte)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 200; i += 4 {
				got, err := f.Predict(h.Xte.SelectRows([]int{i}))
				if err != nil || math.Float64bits(got[0]) != math.Float64bits(want[i]) {
					errs[g] = errors.New("concurrent single-row prediction differs from the batch prediction")
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestForestSyntheticStepAndConstant(t *testing.T) {
	var data, y []float64
	for i := 0; i < 40; i++ {
		data = append(data, float64(i), float64((i*7)%40))
		y = append(y, map[bool]float64{true: -2, false: 3}[i < 17])
	}
	X := mustMatrix(t, 40, 2, data)
	f := NewRandomForest(ForestParams{NEstimators: 2, Seed: 1})
	if err := f.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	p, _ := f.Predict(X)
	sameBits(t, "step function", p, y)
	if n := f.Trees[0]; n.Len() != 3 || n.Feature[0] != 0 || n.Threshold[0] != 16.5 {
		t.Errorf("step tree: %d nodes, root splits feature %d at %v; want 3 nodes, feature 0 at 16.5", n.Len(), n.Feature[0], n.Threshold[0])
	}

	c := NewRandomForest(ForestParams{NEstimators: 3, Bootstrap: true})
	if err := c.Fit(X, make([]float64, 40)); err != nil {
		t.Fatal(err)
	}
	for i := range c.Trees {
		if c.Trees[i].Len() != 1 {
			t.Errorf("constant target: tree %d has %d nodes, want 1", i, c.Trees[i].Len())
		}
	}
	if imp := c.FeatureImportances(); sum(imp) != 0 {
		t.Errorf("constant target: importances %v, want zeros", imp)
	}
}

func TestForestErrors(t *testing.T) {
	X := mustMatrix(t, 4, 2, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	y := []float64{1, 2, 3, 4}
	if _, err := NewRandomForest(ForestParams{}).Predict(X); !errors.Is(err, ml.ErrNotFitted) {
		t.Errorf("predict before fit: %v", err)
	}
	nan := mustMatrix(t, 4, 2, []float64{1, 2, 3, math.NaN(), 5, 6, 7, 8})
	ok := ForestParams{NEstimators: 2, Bootstrap: true}
	with := func(mod func(*ForestParams)) ForestParams { p := ok; mod(&p); return p }
	cases := map[string]struct {
		p ForestParams
		X *ml.Matrix
		y []float64
	}{
		"NaN in X":          {ok, nan, y},
		"short y":           {ok, X, y[:3]},
		"MaxFeatures bogus": {with(func(p *ForestParams) { p.MaxFeatures = "bogus" }), X, y},
		"negative trees":    {with(func(p *ForestParams) { p.NEstimators = -1 }), X, y},
		"OOB no bootstrap":  {with(func(p *ForestParams) { p.Bootstrap = false; p.OOBScore = true }), X, y},
		"MaxSamples > n":    {with(func(p *ForestParams) { p.MaxSamples = 5 }), X, y},
		"MaxSamples 1.5":    {with(func(p *ForestParams) { p.MaxSamples = 1.5 }), X, y},
		"MaxBins 300":       {with(func(p *ForestParams) { p.MaxBins = 300 }), X, y},
	}
	for name, c := range cases {
		if err := NewRandomForest(c.p).Fit(c.X, c.y); err == nil {
			t.Errorf("%s: Fit accepted", name)
		}
	}
	f := NewRandomForest(ok)
	if err := f.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Predict(mustMatrix(t, 1, 3, []float64{1, 2, 3})); err == nil {
		t.Error("predict with 3 columns on a 2-column forest accepted")
	}
	if err := f.Grow(mustMatrix(t, 1, 3, []float64{1, 2, 3}), []float64{1}, 4); err == nil {
		t.Error("Grow on 3 columns accepted")
	}
}

func TestBinEdges(t *testing.T) {
	// Few distinct values: one bin each, thresholds at midpoints.
	if e := binEdges([]float64{1, 1, 2, 4, 4, 4}, 255); !slices.Equal(e, []float64{1.5, 3}) {
		t.Errorf("edges %v, want [1.5 3]", e)
	}
	// Many distinct values: at most maxBins bins, each non-empty, and codes
	// agree with the thresholds.
	h := loadHousing(t)
	d := binMatrix(h.Xtr, 255, 2)
	for f := 0; f < d.cols; f++ {
		edges := d.edges[f]
		if len(edges)+1 > 255 {
			t.Errorf("feature %d: %d bins", f, len(edges)+1)
		}
		used := make([]int, len(edges)+1)
		for i, c := range d.col(f) {
			x := h.Xtr.At(i, f)
			used[c]++
			if (int(c) < len(edges) && x > edges[c]) || (c > 0 && x <= edges[c-1]) {
				t.Fatalf("feature %d row %d: value %v in bin %d, edges %v..", f, i, x, c, edges[max(0, int(c)-1)])
			}
		}
		if slices.Contains(used, 0) {
			t.Errorf("feature %d has an empty bin", f)
		}
	}
	// median_income has ~12,900 distinct train values: quantile bins should
	// hold about n/255 rows each.
	counts := make([]int, 256)
	for _, c := range d.col(7) {
		counts[c]++
	}
	if m := slices.Max(counts); m > 3*h.Xtr.Rows/255 {
		t.Errorf("median_income: largest bin holds %d rows, want about %d", m, h.Xtr.Rows/255)
	}
}
