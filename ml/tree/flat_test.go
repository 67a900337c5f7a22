package tree

import (
	"math"
	"testing"
)

// flatFixture fits n small trees on housing rows and returns them with
// their training matrix (row-major, cols columns), plus rows with NaN
// values, which must go right as in Nodes.
func flatFixture(t testing.TB, n int) (trees []Nodes, data []float64, cols int) {
	t.Helper()
	h := loadHousing(t)
	rows := allRows(600)
	X, y := h.matrix(rows, h.medians(rows))
	for seed := uint64(0); seed < uint64(n); seed++ {
		r := New(Params{MaxFeatures: "0.5", MaxDepth: 3 + int(seed%9), MinSamplesLeaf: 1 + int(seed%4), Seed: seed})
		if err := r.Fit(X, y); err != nil {
			t.Fatal(err)
		}
		trees = append(trees, r.Tree)
	}
	data = append([]float64(nil), X.Data...)
	for j := 0; j < X.Cols; j++ {
		x := append([]float64(nil), X.Row(j)...)
		x[j] = math.NaN()
		data = append(data, x...)
	}
	return trees, data, X.Cols
}

func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// TestFlatWalksMatchNodes checks every walk of Flat against Nodes.PredictRow
// bit for bit, for tree and row counts around the eight lanes (so full,
// partial and padded lane groups all run) and across ForEachRow's chunks.
func TestFlatWalksMatchNodes(t *testing.T) {
	all, data, cols := flatFixture(t, 19)
	rowsIn := len(data) / cols
	for _, T := range []int{1, 7, 8, 9, 16, 19} {
		trees := all[:T]
		flat := Flatten(trees)
		vals := make([]float64, T)
		for i := 0; i < rowsIn; i++ {
			x := data[i*cols : (i+1)*cols]
			flat.PredictTrees(x, vals)
			for k := range trees {
				if want := 0 + trees[k].PredictRow(x); !sameFloat(vals[k], want) {
					t.Fatalf("T=%d row %d tree %d: PredictTrees %v, Nodes %v", T, i, k, vals[k], want)
				}
			}
		}
		for _, rows := range []int{1, 3, 7, 8, 9, 15, 17, rowsIn} {
			block := data[(rowsIn-rows)*cols:] // the last rows hold the NaN ones
			checkForEachRow(t, flat, trees, block, rows, cols)
			out := make([]float64, rows)
			for i := range out {
				out[i] = float64(i) // AddTrees must add, not overwrite
			}
			flat.AddTrees(block, cols, out)
			for i := range out {
				want := float64(i)
				for k := range trees {
					want += trees[k].PredictRow(block[i*cols : (i+1)*cols])
				}
				if !sameFloat(out[i], want) {
					t.Fatalf("T=%d rows=%d row %d: AddTrees %v, want %v", T, rows, i, out[i], want)
				}
			}
		}
	}
}

// checkForEachRow checks that ForEachRow visits every row once, in order,
// with each tree's prediction.
func checkForEachRow(t *testing.T, flat *Flat, trees []Nodes, data []float64, rows, cols int) {
	t.Helper()
	next := 0
	flat.ForEachRow(data, rows, cols, func(i int, vals []float64) {
		if i != next || len(vals) != len(trees) {
			t.Fatalf("rows=%d: got row %d with %d values, want row %d with %d", rows, i, len(vals), next, len(trees))
		}
		next++
		for k := range trees {
			if want := 0 + trees[k].PredictRow(data[i*cols:(i+1)*cols]); !sameFloat(vals[k], want) {
				t.Fatalf("rows=%d row %d tree %d: ForEachRow %v, Nodes %v", rows, i, k, vals[k], want)
			}
		}
		vals[0] = math.Inf(1) // callers may scribble on vals
	})
	if next != rows {
		t.Fatalf("ForEachRow visited %d of %d rows", next, rows)
	}
}

// TestForEachRowChunks runs more rows than one ForEachRow pass holds.
func TestForEachRowChunks(t *testing.T) {
	trees, data, cols := flatFixture(t, 3)
	for len(data)/cols <= 2*forEachChunk {
		data = append(data, data...)
	}
	checkForEachRow(t, Flatten(trees), trees, data, len(data)/cols, cols)
}

// TestFlatNegativeZeroLeaf pins the one case where adding to a cleared
// slot and reading the leaf differ: a -0 leaf gives +0 from every walk that
// reports per-tree values, and PredictRow keeps the leaf itself.
func TestFlatNegativeZeroLeaf(t *testing.T) {
	var n Nodes
	root := n.Add(0, 0.5, 1)
	l, r := n.Add(Leaf, 0, math.Copysign(0, -1)), n.Add(Leaf, 0, 2)
	n.SetChildren(root, l, r)
	if err := n.Validate(1); err != nil {
		t.Fatal(err)
	}
	flat := Flatten([]Nodes{n})
	x := []float64{0}
	if got := flat.PredictRow(0, x); !math.Signbit(got) {
		t.Errorf("PredictRow = %v, want the -0 leaf", got)
	}
	vals := []float64{math.NaN()}
	flat.PredictTrees(x, vals)
	flat.ForEachRow(x, 1, 1, func(_ int, v []float64) { vals = append(vals, v[0]) })
	for _, v := range vals {
		if v != 0 || math.Signbit(v) {
			t.Errorf("per-tree value %v, want +0", v)
		}
	}
}

// TestFlattenRenumbersNonAdjacentSiblings gives Flatten a tree whose right
// child does not follow its left one.
func TestFlattenRenumbersNonAdjacentSiblings(t *testing.T) {
	n := Nodes{
		Feature:   []int32{0, Leaf, 1, Leaf, Leaf},
		Threshold: []float64{0.5, 0, 2.5, 0, 0},
		Left:      []int32{2, Leaf, 3, Leaf, Leaf},
		Right:     []int32{1, Leaf, 4, Leaf, Leaf},
		Value:     []float64{0, 10, 0, 20, 30},
	}
	if err := n.Validate(2); err != nil {
		t.Fatal(err)
	}
	flat := Flatten([]Nodes{n})
	for _, x := range [][]float64{{0, 0}, {0, 3}, {1, 0}, {math.NaN(), 0}, {0, math.NaN()}} {
		if got, want := flat.PredictRow(0, x), n.PredictRow(x); !sameFloat(got, want) {
			t.Errorf("x=%v: Flat %v, Nodes %v", x, got, want)
		}
	}
}

// BenchmarkFlatWalks times the walks on 64 trees: one row across the trees
// (PredictTrees) and a 100-row batch tree by tree (AddTrees).
func BenchmarkFlatWalks(b *testing.B) {
	trees, data, cols := flatFixture(b, 64)
	flat := Flatten(trees)
	b.Run("PredictTrees/1", func(b *testing.B) {
		vals := make([]float64, len(trees))
		for b.Loop() {
			flat.PredictTrees(data[:cols], vals)
		}
	})
	b.Run("AddTrees/100", func(b *testing.B) {
		out := make([]float64, 100)
		for b.Loop() {
			flat.AddTrees(data[:100*cols], cols, out)
		}
	})
	b.Run("PredictRow/100", func(b *testing.B) {
		out := make([]float64, 100)
		for b.Loop() {
			for k := range trees {
				for i := range out {
					out[i] += flat.PredictRow(k, data[i*cols:(i+1)*cols])
				}
			}
		}
	})
}

// TestFlatRefusesNarrowRows checks that a walk given rows narrower than the
// features its trees split on panics instead of reading past the rows (the
// walks load features without bounds checks).
func TestFlatRefusesNarrowRows(t *testing.T) {
	trees, data, cols := flatFixture(t, 4)
	flat := Flatten(trees)
	for _, walk := range []func(){
		func() { flat.AddTrees(data[:9*(cols-1)], cols-1, make([]float64, 9)) },
		func() { flat.PredictTrees(data[:cols-1], make([]float64, len(trees))) },
		func() { flat.AddTrees(data[:8*cols-1], cols, make([]float64, 8)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("walk over too-narrow rows did not panic")
				}
			}()
			walk()
		}()
	}
}
