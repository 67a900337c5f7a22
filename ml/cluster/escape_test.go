package cluster

import (
	"math"
	"slices"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// TestEscapeLeavesLocalOptimum: pairs {0,1} {10,11} {20,21} seeded at 0, 1
// and 15 converge under Lloyd to {0} {1} {10,11,20,21}, inertia 101, and no
// single row move helps (10 leaving saves 4/3·5.5² ≈ 40.3 but joining {1}
// costs 1/2·9² = 40.5). Splitting the big cluster and deleting {0} (whose
// row joins {1} at a cost of 1) reaches the optimum, three pairs at 0.5
// each: one escape, after which none helps.
func TestEscapeLeavesLocalOptimum(t *testing.T) {
	X := mustMatrix(t, 6, 1, 0, 1, 10, 11, 20, 21)
	r := lloyd(X, []float64{0, 1, 15}, 3, 300, 0)
	h := newHartiganState(X, 3, r.labels, r.centers)
	h.converge(300)
	if !slices.Equal(h.labels, []int{0, 1, 2, 2, 2, 2}) || h.inertia != 101 {
		t.Fatalf("before escape: labels %v inertia %v, want [0 1 2 2 2 2] and 101", h.labels, h.inertia)
	}
	h, swaps := escape(h, 300, 300)
	if swaps != 1 || math.Abs(h.inertia-1.5) > 1e-12 {
		t.Errorf("%d escapes to inertia %v, want 1 to 1.5", swaps, h.inertia)
	}
	l := h.labels
	if l[0] != l[1] || l[2] != l[3] || l[4] != l[5] || l[0] == l[2] || l[2] == l[4] || l[0] == l[4] {
		t.Errorf("labels %v do not pair the points", l)
	}
}

// TestEscapeSingletons: when every cluster is one row there is nothing to
// split, so escape keeps the partition.
func TestEscapeSingletons(t *testing.T) {
	X := mustMatrix(t, 3, 1, 0, 5, 9)
	r := lloyd(X, []float64{0, 5, 9}, 3, 300, 0)
	h := newHartiganState(X, 3, r.labels, r.centers)
	h.converge(300)
	if h2, swaps := escape(h, 300, 300); h2 != h || swaps != 0 || h.inertia != 0 {
		t.Errorf("%d escapes, inertia %v; want none and 0", swaps, h.inertia)
	}
}

// TestSplitCluster: {0,1,20,21,22} (inertia 506.8 about 12.8) splits into
// {0,1} and {20,21,22} (0.5 + 2), saving 504.3; identical rows do not split.
func TestSplitCluster(t *testing.T) {
	X := mustMatrix(t, 5, 1, 0, 1, 20, 21, 22)
	s := splitCluster(X, []int{0, 1, 2, 3, 4}, []float64{12.8})
	if math.Abs(s.gain-504.3) > 1e-9 || math.Abs(s.left[0]-0.5) > 1e-12 || math.Abs(s.right[0]-21) > 1e-12 ||
		!slices.Equal(s.rightRows, []int{2, 3, 4}) {
		t.Errorf("split %+v, want gain 504.3, halves 0.5 and 21, right rows [2 3 4]", s)
	}
	same := mustMatrix(t, 3, 2, 1, 2, 1, 2, 1, 2)
	if s := splitCluster(same, []int{0, 1, 2}, []float64{1, 2}); s.left != nil {
		t.Errorf("identical rows split: %+v", s)
	}
}

// threeCols returns longitude, latitude and median income of housing.csv:
// data with three columns, to cover the code paths that are not unrolled
// for coordinates.
func threeCols(t *testing.T) *ml.Matrix {
	t.Helper()
	X, names := loadCSV(t, "housing.csv", "ocean_proximity")
	var cols []int
	for _, want := range []string{"longitude", "latitude", "median_income"} {
		for j, n := range names {
			if n == want {
				cols = append(cols, j)
			}
		}
	}
	if len(cols) != 3 {
		t.Fatalf("columns not found in %v", names)
	}
	return X.SelectCols(cols)
}

// TestLloydBoundsMatchFullScan: the bounds only skip rows that provably
// keep their centre, so Lloyd must produce bit for bit what comparing every
// row with every centre does.
func TestLloydBoundsMatchFullScan(t *testing.T) {
	geo, _ := loadGeo(t)
	for _, c := range []struct {
		X *ml.Matrix
		k int
	}{{geo, 12}, {threeCols(t), 7}} {
		seeds := kmeansPlusPlus(c.X, c.k, ml.NewRand(1, 0))
		got := lloyd(c.X, slices.Clone(seeds), c.k, 300, 0)
		labels, centers, iters := fullScanLloyd(c.X, seeds, c.k, 300)
		if !slices.Equal(got.labels, labels) || !sameBits(got.centers, centers) || got.nIter != iters {
			t.Errorf("%d columns, K=%d: bounded Lloyd differs from the full scan (%d vs %d iterations)",
				c.X.Cols, c.k, got.nIter, iters)
		}
	}
}

// fullScanLloyd is lloyd without bounds and with tol 0.
func fullScanLloyd(X *ml.Matrix, centers []float64, k, maxIter int) ([]int, []float64, int) {
	d := X.Cols
	labels, prev := make([]int, X.Rows), make([]int, X.Rows)
	next, counts := make([]float64, k*d), make([]int, k)
	iter, strict := 0, false
	for iter < maxIter {
		iter++
		for i := range labels {
			labels[i], _ = nearest(X.Row(i), centers, k)
		}
		updateCenters(X, labels, centers, next, counts)
		shift := 0.0
		for c := 0; c < k; c++ {
			shift += sqDist(centers[c*d:(c+1)*d], next[c*d:(c+1)*d])
		}
		centers, next = next, centers
		if iter > 1 && slices.Equal(labels, prev) {
			strict = true
			break
		}
		if shift <= 0 {
			break
		}
		copy(prev, labels)
	}
	if !strict {
		for i := range labels {
			labels[i], _ = nearest(X.Row(i), centers, k)
		}
	}
	return labels, centers, iter
}

// TestHartiganBoundsMatchFullComparison: likewise, the pruned Hartigan
// passes must make exactly the moves of comparing every row with every
// cluster, in as many passes.
func TestHartiganBoundsMatchFullComparison(t *testing.T) {
	geo, _ := loadGeo(t)
	three := threeCols(t)
	for _, c := range []struct {
		X *ml.Matrix
		k int
	}{{geo, 12}, {geo, 20}, {three, 7}, {three, 15}} {
		// One Lloyd iteration leaves the partition far from converged, so
		// the centres move a lot during the passes.
		seeds := kmeansPlusPlus(c.X, c.k, ml.NewRand(2, 0))
		r := lloyd(c.X, seeds, c.k, 1, 0)
		want := slices.Clone(r.labels)
		passes := fullComparisonHartigan(c.X, c.k, want, 300)
		hartigan(c.X, c.k, 300, &r)
		if !slices.Equal(r.labels, want) || r.sweeps != passes {
			t.Errorf("%d columns, K=%d: pruned Hartigan differs from the full comparison (%d vs %d passes)",
				c.X.Cols, c.k, r.sweeps, passes)
		}
		if passes < 2 {
			t.Errorf("%d columns, K=%d: no row moved, so nothing was compared", c.X.Cols, c.k)
		}
	}
}

// fullComparisonHartigan is hartigan without bounds; it relabels in place
// and returns the number of passes.
func fullComparisonHartigan(X *ml.Matrix, k int, labels []int, maxSweeps int) int {
	d := X.Cols
	sums, counts := make([]float64, k*d), make([]int, k)
	centers, join, leave := make([]float64, k*d), make([]float64, k), make([]float64, k)
	passes := 0
	for passes < maxSweeps {
		passes++
		clusterSums(X, labels, sums, counts)
		for c, n := range counts {
			setFactors(c, counts, join, leave)
			for j := c * d; n > 0 && j < (c+1)*d; j++ {
				centers[j] = sums[j] * (1 / float64(n))
			}
		}
		moved := false
		for i, a := range labels {
			if counts[a] < 2 {
				continue
			}
			x := X.Row(i)
			gain := leave[a] * sqDist(x, centers[a*d:(a+1)*d])
			b, cost, _ := bestJoin(x, centers, join, a)
			if b < 0 || gain-cost <= 1e-12*gain {
				continue
			}
			labels[i] = b
			moveRow(x, a, b, sums, counts, centers)
			setFactors(a, counts, join, leave)
			setFactors(b, counts, join, leave)
			moved = true
		}
		if !moved {
			break
		}
	}
	return passes
}

// TestSwapBoundsMatchFullComparison: after an escape's relabelling the two
// moved centres are accounted for in every row's bounds, so the trial's
// passes must again make exactly the moves of the full comparison.
func TestSwapBoundsMatchFullComparison(t *testing.T) {
	X, _ := loadGeo(t)
	const k = 12
	r := lloyd(X, kmeansPlusPlus(X, k, ml.NewRand(3, 0)), k, 300, 0)
	h := newHartiganState(X, k, r.labels, r.centers)
	h.converge(300)
	splits := splitAll(h, newSplitCache(k))
	pairs := rankPairs(splits, removalCosts(h), 3)
	if len(pairs) != 3 {
		t.Fatalf("%d candidate pairs, want 3", len(pairs))
	}
	for _, p := range pairs {
		trial := h.clone()
		trial.swap(splits[p.split], p.remove)
		want := slices.Clone(trial.labels)
		passes := fullComparisonHartigan(X, k, want, 300)
		before := trial.sweeps
		trial.converge(300)
		if !slices.Equal(trial.labels, want) || trial.sweeps-before != passes {
			t.Errorf("split %d, remove %d: pruned passes differ from the full comparison (%d vs %d passes)",
				p.split, p.remove, trial.sweeps-before, passes)
		}
	}
}
