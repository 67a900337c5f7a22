package ensemble

import (
	"bytes"
	"math"
	"runtime"
	"testing"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

// A tree of the binned builder on features with fewer distinct values than
// bins, without bootstrap and with every feature tried, must be exact CART:
// the same partitions as ml/tree's sorted-scan builder, so the same
// predictions. Two one-hot-like columns make features constant deep in the
// tree, which the builder skips once it knows; fully grown trees exercise
// the smallest nodes.
func TestForestTreeIsExactCART(t *testing.T) {
	rng := ml.NewRand(3, 0)
	const n = 400
	X := ml.NewMatrix(n, 5)
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		x0, x1 := float64(rng.IntN(120)), float64(rng.IntN(90))
		x2, x3, x4 := float64(rng.IntN(2)), float64(rng.IntN(2)), float64(rng.IntN(3))
		X.Set(i, 0, x0)
		X.Set(i, 1, x1)
		X.Set(i, 2, x2)
		X.Set(i, 3, x3)
		X.Set(i, 4, x4)
		// Integer targets with ties, so some nodes are pure before they
		// are small.
		y[i] = math.Round(x0/10) + 4*x2*math.Round(x1/30) + 3*x3 + float64(rng.IntN(3))
	}
	test := ml.NewMatrix(200, 5)
	for i := range test.Data {
		test.Data[i] = float64(rng.IntN(121)) - 0.5
		if c := i % 5; c >= 2 {
			test.Data[i] = float64(rng.IntN(3))
		}
	}
	for _, r := range []struct{ depth, split, leaf int }{{0, 2, 1}, {0, 2, 3}, {6, 10, 2}, {0, 25, 7}} {
		f := NewRandomForest(ForestParams{NEstimators: 1, MaxDepth: r.depth, MinSamplesSplit: r.split,
			MinSamplesLeaf: r.leaf, MaxFeatures: "all"})
		if err := f.Fit(X, y); err != nil {
			t.Fatal(err)
		}
		exact := tree.New(tree.Params{MaxDepth: r.depth, MinSamplesSplit: r.split, MinSamplesLeaf: r.leaf})
		if err := exact.Fit(X, y); err != nil {
			t.Fatal(err)
		}
		if got, want := f.Trees[0].Len(), exact.Tree.Len(); got != want {
			t.Errorf("%+v: %d nodes, exact CART %d", r, got, want)
		}
		for _, m := range []*ml.Matrix{X, test} {
			p, _ := f.Predict(m)
			q, _ := exact.Predict(m)
			for i := range p {
				if math.Abs(p[i]-q[i]) > 1e-9*math.Max(1, math.Abs(q[i])) {
					t.Fatalf("%+v: row %d predicted %v, exact CART %v", r, i, p[i], q[i])
				}
			}
		}
	}
}

// GrowPredict's running sum over the number of trees must be Predict, bit
// for bit, after every step, for any GOMAXPROCS, and the trees must be
// those of a plain Fit.
func TestForestGrowPredictEqualsPredict(t *testing.T) {
	h := loadHousing(t)
	V := h.Xte.SelectRows(seq(700))
	var sums [][]float64
	for _, procs := range []int{1, 2} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			p := smallForest()
			p.OOBScore = false
			f := NewRandomForest(p)
			sum := make([]float64, V.Rows)
			for _, total := range []int{3, 3, 8, 12} {
				if err := f.GrowPredict(h.Xtr, h.ytr, total, V, sum); err != nil {
					t.Fatal(err)
				}
				want, err := f.Predict(V)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float64, len(sum))
				for i, s := range sum {
					got[i] = s / float64(f.NumTrees())
				}
				sameBits(t, "GrowPredict sum / trees vs Predict", got, want)
			}
			fit := NewRandomForest(p)
			fit.Params.NEstimators = 12
			if err := fit.Fit(h.Xtr, h.ytr); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(marshal(t, f.Trees), marshal(t, fit.Trees)) {
				t.Error("GrowPredict grew other trees than Fit")
			}
			sums = append(sums, sum)
		}()
	}
	sameBits(t, "sums with GOMAXPROCS 1 and 2", sums[0], sums[1])

	f := NewRandomForest(smallForest())
	for name, c := range map[string]struct {
		V   *ml.Matrix
		sum []float64
	}{"no rows": {nil, nil}, "columns": {ml.NewMatrix(2, 3), make([]float64, 2)}, "sum": {V, make([]float64, 3)}} {
		if err := f.GrowPredict(h.Xtr, h.ytr, 2, c.V, c.sum); err == nil {
			t.Errorf("%s: GrowPredict accepted", name)
		}
	}
}

// Forests sharing one binning, grown concurrently, must equal forests that
// bin for themselves.
func TestForestShareBins(t *testing.T) {
	h := loadHousing(t)
	shared := NewSharedBins(h.Xtr)
	params := []ForestParams{smallForest(), smallForest()}
	params[1].MaxDepth, params[1].MinSamplesLeaf, params[1].Seed = 0, 1, 7
	got := make([][]byte, len(params))
	done := make(chan int)
	for k, p := range params {
		go func() {
			f := NewRandomForest(p)
			f.ShareBins(shared)
			if err := f.Fit(h.Xtr, h.ytr); err != nil {
				t.Error(err)
			}
			got[k] = marshal(t, f)
			done <- k
		}()
	}
	for range params {
		<-done
	}
	for k, p := range params {
		own := NewRandomForest(p)
		if err := own.Fit(h.Xtr, h.ytr); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[k], marshal(t, own)) {
			t.Errorf("forest %d with shared bins differs from one binning its own data", k)
		}
	}
}

// BenchmarkRandomForestDeep fits fully grown trees (min_samples_leaf 1, the
// costliest corner of the sweep space), where most nodes are small.
func BenchmarkRandomForestDeep(b *testing.B) {
	h := loadHousing(b)
	p := ForestParams{NEstimators: 32, MinSamplesLeaf: 1, MaxFeatures: "sqrt", Bootstrap: true, Seed: 42}
	var f *RandomForest
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f = NewRandomForest(p)
		if err := f.Fit(h.Xtr, h.ytr); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	pred, _ := f.Predict(h.Xte)
	b.ReportMetric(r2(h.yte, pred), "R2")
}
