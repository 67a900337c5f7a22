package tree

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

func mustMatrix(t testing.TB, rows, cols int, data []float64) *ml.Matrix {
	t.Helper()
	m, err := ml.MatrixFrom(rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStepFunctionLearntExactly(t *testing.T) {
	// y steps from 1 to 5 between x=3 and x=4; the second column is noise
	// that must not be chosen.
	var data, y []float64
	for i := 0; i < 8; i++ {
		data = append(data, float64(i), float64((i*5)%8))
		if i <= 3 {
			y = append(y, 1)
		} else {
			y = append(y, 5)
		}
	}
	X := mustMatrix(t, 8, 2, data)
	r := New(Params{})
	if err := r.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	if r.Leaves() != 2 || r.Depth() != 1 {
		t.Fatalf("%d leaves, depth %d; want 2 leaves, depth 1", r.Leaves(), r.Depth())
	}
	if r.Tree.Feature[0] != 0 || r.Tree.Threshold[0] != 3.5 {
		t.Errorf("root splits feature %d at %v, want feature 0 at 3.5", r.Tree.Feature[0], r.Tree.Threshold[0])
	}
	p, err := r.Predict(mustMatrix(t, 4, 2, []float64{3, 0, 3.5, 0, 3.6, 0, 100, 0}))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{1, 1, 5, 5} {
		if p[i] != want {
			t.Errorf("prediction %d = %v, want %v", i, p[i], want)
		}
	}
	imp := r.FeatureImportances()
	if imp[0] != 1 || imp[1] != 0 {
		t.Errorf("importances %v, want [1 0]", imp)
	}
}

func TestConstantTargetGivesOneLeaf(t *testing.T) {
	X := mustMatrix(t, 5, 1, []float64{1, 2, 3, 4, 5})
	r := New(Params{})
	if err := r.Fit(X, []float64{7, 7, 7, 7, 7}); err != nil {
		t.Fatal(err)
	}
	if r.Leaves() != 1 || r.Depth() != 0 {
		t.Fatalf("%d leaves, depth %d; want a single leaf", r.Leaves(), r.Depth())
	}
	if imp := r.FeatureImportances(); imp[0] != 0 {
		t.Errorf("importance %v for a tree without splits, want 0", imp)
	}
}

func TestMinSamplesLeafAndDepth(t *testing.T) {
	h := loadHousing(t)
	rows := allRows(2000)
	X, y := h.matrix(rows, h.medians(rows))
	r := New(Params{MinSamplesLeaf: 25, MaxDepth: 6})
	if err := r.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	counts := make([]int, r.Tree.Len())
	for i := 0; i < X.Rows; i++ {
		counts[leafOf(&r.Tree, X.Row(i))]++
	}
	for node, c := range counts {
		if r.Tree.Feature[node] == Leaf && c < 25 {
			t.Errorf("leaf %d holds %d training rows, MinSamplesLeaf is 25", node, c)
		}
	}
	if r.Depth() > 6 {
		t.Errorf("depth %d exceeds MaxDepth 6", r.Depth())
	}
}

func leafOf(t *Nodes, x []float64) int {
	i := int32(0)
	for t.Feature[i] != Leaf {
		if x[t.Feature[i]] <= t.Threshold[i] {
			i = t.Left[i]
		} else {
			i = t.Right[i]
		}
	}
	return int(i)
}

func TestUnlimitedTreeInterpolatesDistinctRows(t *testing.T) {
	h := loadHousing(t)
	rows := allRows(500)
	X, y := h.matrix(rows, h.medians(rows))
	r := New(Params{})
	if err := r.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	p, _ := r.Predict(X)
	for i := range p {
		if p[i] != y[i] {
			t.Fatalf("row %d: fully grown tree predicts %v, target %v", i, p[i], y[i])
		}
	}
}

func TestMaxFeaturesSeeded(t *testing.T) {
	h := loadHousing(t)
	rows := allRows(3000)
	X, y := h.matrix(rows, h.medians(rows))
	fit := func(seed uint64) []byte {
		r := New(Params{MaxFeatures: "sqrt", MaxDepth: 10, Seed: seed})
		if err := r.Fit(X, y); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		return b
	}
	a, b, c := fit(1), fit(1), fit(2)
	if string(a) != string(b) {
		t.Error("same seed gave different trees")
	}
	if string(a) == string(c) {
		t.Error("seeds 1 and 2 gave the same tree with MaxFeatures=sqrt")
	}
}

func TestResolveMaxFeatures(t *testing.T) {
	for _, c := range []struct {
		s    string
		n, k int
	}{{"", 13, 13}, {"all", 13, 13}, {"sqrt", 13, 3}, {"log2", 13, 3}, {"log2", 1, 1},
		{"0.5", 13, 6}, {"1.0", 13, 13}, {"0.01", 13, 1}, {"4", 13, 4}, {"13", 13, 13}} {
		k, err := ResolveMaxFeatures(c.s, c.n)
		if err != nil || k != c.k {
			t.Errorf("ResolveMaxFeatures(%q, %d) = %d, %v; want %d", c.s, c.n, k, err, c.k)
		}
	}
	for _, s := range []string{"bogus", "0", "14", "1.5", "-0.5", "nan"} {
		if _, err := ResolveMaxFeatures(s, 13); err == nil {
			t.Errorf("ResolveMaxFeatures(%q, 13) accepted", s)
		}
	}
}

func TestErrors(t *testing.T) {
	X := mustMatrix(t, 3, 2, []float64{1, 2, 3, 4, 5, 6})
	y := []float64{1, 2, 3}
	if _, err := New(Params{}).Predict(X); !errors.Is(err, ml.ErrNotFitted) {
		t.Errorf("predict before fit: %v, want ErrNotFitted", err)
	}
	nan := mustMatrix(t, 3, 2, []float64{1, 2, math.NaN(), 4, 5, 6})
	for name, fit := range map[string]func() error{
		"NaN in X":          func() error { return New(Params{}).Fit(nan, y) },
		"short y":           func() error { return New(Params{}).Fit(X, y[:2]) },
		"MaxFeatures bogus": func() error { return New(Params{MaxFeatures: "bogus"}).Fit(X, y) },
		"MaxFeatures 3 > 2": func() error { return New(Params{MaxFeatures: "3"}).Fit(X, y) },
		"MinSamplesSplit 1": func() error { return New(Params{MinSamplesSplit: 1}).Fit(X, y) },
		"negative depth":    func() error { return New(Params{MaxDepth: -1}).Fit(X, y) },
		"nil X":             func() error { return New(Params{}).Fit(nil, y) },
	} {
		if err := fit(); err == nil {
			t.Errorf("%s: Fit accepted", name)
		}
	}
	r := New(Params{})
	if err := r.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Predict(mustMatrix(t, 1, 3, []float64{1, 2, 3})); err == nil || !strings.Contains(err.Error(), "columns") {
		t.Errorf("predict with 3 columns on a 2-column tree: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	h := loadHousing(t)
	rows := allRows(3000)
	X, y := h.matrix(rows, h.medians(rows))
	r := New(Params{MaxDepth: 12, MinSamplesLeaf: 3})
	if err := r.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Regressor
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	p1, _ := r.Predict(X)
	p2, err := back.Predict(X)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p1 {
		if math.Float64bits(p1[i]) != math.Float64bits(p2[i]) {
			t.Fatalf("row %d: %v before save, %v after", i, p1[i], p2[i])
		}
	}
	if back.Kind() != "decision_tree" || back.Depth() != r.Depth() {
		t.Errorf("kind %q depth %d after round trip", back.Kind(), back.Depth())
	}
	// A corrupted link must be rejected at load time.
	bad := *r
	bad.Tree.Left = append(ml.Int32s(nil), r.Tree.Left...)
	bad.Tree.Left[0] = 0
	b, _ = json.Marshal(&bad)
	if err := json.Unmarshal(b, new(Regressor)); err == nil {
		t.Error("a tree whose root links to itself was accepted")
	}
}

// BenchmarkTreeFit grows a fully grown exact tree on the 13-feature
// housing train split.
func BenchmarkTreeFit(b *testing.B) {
	h := loadHousing(b)
	sp := loadSplit(b)
	X, y := h.matrix13(sp.Train, h.medians(sp.Train))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := New(Params{}).Fit(X, y); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFlatMatchesNodes(t *testing.T) {
	h := loadHousing(t)
	rows := allRows(4000)
	X, y := h.matrix(rows, h.medians(rows))
	var trees []Nodes
	for seed := uint64(0); seed < 3; seed++ {
		r := New(Params{MaxFeatures: "0.5", MinSamplesLeaf: 1 + int(seed)*4, Seed: seed})
		if err := r.Fit(X, y); err != nil {
			t.Fatal(err)
		}
		trees = append(trees, r.Tree)
	}
	flat := Flatten(trees)
	if flat.Trees() != 3 {
		t.Fatalf("%d flat trees, want 3", flat.Trees())
	}
	// Training rows, plus rows with NaN (which must go right, as in Nodes).
	check := func(x []float64) {
		for k := range trees {
			a, b := trees[k].PredictRow(x), flat.PredictRow(k, x)
			if math.Float64bits(a) != math.Float64bits(b) {
				t.Fatalf("tree %d row %v: Nodes %v, Flat %v", k, x, a, b)
			}
		}
	}
	for i := 0; i < X.Rows; i++ {
		check(X.Row(i))
	}
	var nanRows []float64
	for j := 0; j < X.Cols; j++ {
		x := append([]float64(nil), X.Row(7)...)
		x[j] = math.NaN()
		check(x)
		nanRows = append(nanRows, x...)
	}
	// AddTrees walks rows eight at a time; 4000 rows and 8+3 rows cover
	// both the full and the padded lane groups.
	nanRows = append(nanRows, X.Data[:3*X.Cols]...)
	for _, data := range [][]float64{X.Data, nanRows} {
		rows := len(data) / X.Cols
		out := make([]float64, rows)
		for i := range out {
			out[i] = float64(i) // AddTrees must add, not overwrite
		}
		flat.AddTrees(data, X.Cols, out)
		for i := range out {
			want := float64(i)
			for k := range trees {
				want += trees[k].PredictRow(data[i*X.Cols : (i+1)*X.Cols])
			}
			if math.Float64bits(out[i]) != math.Float64bits(want) {
				t.Fatalf("row %d: AddTrees gives %v, want %v", i, out[i], want)
			}
		}
	}
}
