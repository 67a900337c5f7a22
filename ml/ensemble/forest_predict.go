package ensemble

import (
	"fmt"
	"math"
	"slices"

	"github.com/housing-mlops/mlops/ml"
)

// Predict returns the mean of the trees' predictions for each row of X.
func (f *RandomForest) Predict(X *ml.Matrix) ([]float64, error) {
	if err := f.checkPredict(X); err != nil {
		return nil, err
	}
	out := make([]float64, X.Rows)
	if X.Rows <= predictChunk {
		f.predictRange(X, out, 0, X.Rows)
		return out, nil
	}
	// Big batches (evaluation sets) are split in fixed chunks over the
	// workers; each row's sum is the same whichever goroutine computes it.
	chunks := (X.Rows + predictChunk - 1) / predictChunk
	_ = ml.ParallelFor(chunks, f.Params.Workers, func(c int) error {
		f.predictRange(X, out, c*predictChunk, min(X.Rows, (c+1)*predictChunk))
		return nil
	})
	return out, nil
}

// predictChunk is the batch size below which Predict stays on the calling
// goroutine (serving requests are 1..100 rows).
const predictChunk = 512

// predictRange fills out[lo:hi] with the forest mean of rows lo..hi-1. Every
// row sums the trees in index order, starting from 0, whichever walk
// computes it, so all paths agree bit for bit.
func (f *RandomForest) predictRange(X *ml.Matrix, out []float64, lo, hi int) {
	n := float64(len(f.Trees))
	fl := f.flat.get()
	switch {
	case fl == nil || fl.Trees() != len(f.Trees):
		for t := range f.Trees {
			for i := lo; i < hi; i++ {
				out[i] += f.Trees[t].PredictRow(X.Row(i))
			}
		}
	case hi-lo < 8:
		// Too few rows to walk a tree with several at once: walk several
		// trees at once instead.
		fl.ForEachRow(X.Data[lo*X.Cols:hi*X.Cols], hi-lo, X.Cols, func(i int, vals []float64) {
			sum := 0.0
			for _, v := range vals {
				sum += v
			}
			out[lo+i] = sum
		})
	default:
		// Trees are the outer loop so each tree's nodes stay in cache
		// across the rows.
		fl.AddTrees(X.Data[lo*X.Cols:hi*X.Cols], X.Cols, out[lo:hi])
	}
	for i := lo; i < hi; i++ {
		out[i] /= n
	}
}

func (f *RandomForest) checkPredict(X *ml.Matrix) error {
	if len(f.Trees) == 0 {
		return ml.ErrNotFitted
	}
	if err := ml.CheckCols(X, f.NFeatures); err != nil {
		return fmt.Errorf("ensemble: %w", err)
	}
	return nil
}

// PredictQuantiles returns, for each q in qs (in [0, 1]), the q-quantile of
// the per-tree predictions of every row: out[k][i] is quantile qs[k] for row
// i (linear interpolation between order statistics, numpy's default). The
// spread of the trees gives a cheap prediction interval, e.g. qs = {0.05,
// 0.95} for a 90 % band.
func (f *RandomForest) PredictQuantiles(X *ml.Matrix, qs []float64) ([][]float64, error) {
	_, out, err := f.PredictWithQuantiles(X, qs)
	return out, err
}

// PredictWithQuantiles returns Predict's means and PredictQuantiles'
// quantiles from a single pass over the trees (what a serving endpoint
// reporting a value and an interval needs). The means are bit-identical to
// Predict's.
func (f *RandomForest) PredictWithQuantiles(X *ml.Matrix, qs []float64) (mean []float64, quantiles [][]float64, err error) {
	if err := f.checkPredict(X); err != nil {
		return nil, nil, err
	}
	for _, q := range qs {
		if !(q >= 0 && q <= 1) {
			return nil, nil, fmt.Errorf("ensemble: quantile %v is outside [0, 1]", q)
		}
	}
	T := len(f.Trees)
	// One allocation for the means and every quantile row.
	all := make([]float64, X.Rows*(1+len(qs)))
	mean = all[:X.Rows:X.Rows]
	quantiles = make([][]float64, len(qs))
	for k := range quantiles {
		quantiles[k] = all[(k+1)*X.Rows : (k+2)*X.Rows : (k+2)*X.Rows]
	}
	sel := newOrderStats(T, qs)
	row := func(i int, vals []float64) {
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		mean[i] = sum / float64(T)
		// A finite sum means no value is NaN or infinite, so plain
		// comparisons order them exactly as cmp.Compare does.
		sel.quantiles(vals, quantiles, i, !math.IsNaN(sum) && !math.IsInf(sum, 0))
	}
	if fl := f.flat.get(); fl != nil && fl.Trees() == T {
		fl.ForEachRow(X.Data, X.Rows, X.Cols, row)
		return mean, quantiles, nil
	}
	vals := make([]float64, T)
	for i := 0; i < X.Rows; i++ {
		for t := range f.Trees {
			vals[t] = 0 + f.Trees[t].PredictRow(X.Row(i))
		}
		row(i, vals)
	}
	return mean, quantiles, nil
}

// orderStats computes quantiles of n values (linear interpolation between
// the order statistics around q·(n-1), as numpy does) from the few order
// statistics they need. Quantiles near the ends, like the 5 % and 95 % of a
// prediction interval, need only the k smallest and largest values, which a
// bounded insertion pass finds in about n comparisons; others sort. Order
// statistics do not depend on how they are found, so either way the result
// is what sorting all n values gives.
type orderStats struct {
	n         int
	qs        []float64
	low, high int       // how many of the smallest / largest values are needed
	sortAll   bool      // sort instead of selecting
	cand      []float64 // ends' scratch
}

// selectLimit is the most order statistics selected from one end before a
// full sort is cheaper.
const selectLimit = 16

func newOrderStats(n int, qs []float64) orderStats {
	s := orderStats{n: n, qs: qs}
	for _, q := range qs {
		lo, hi := quantileRanks(q, n)
		for _, r := range []int{lo, hi} {
			if r < n/2 {
				s.low = max(s.low, r+1)
			} else {
				s.high = max(s.high, n-r)
			}
		}
	}
	s.sortAll = s.low > selectLimit || s.high > selectLimit
	if !s.sortAll {
		s.cand = make([]float64, 2*n)
	}
	return s
}

// quantileRanks returns the ranks (0-based, ascending) of the two order
// statistics quantile q of n values interpolates between.
func quantileRanks(q float64, n int) (lo, hi int) {
	pos := q * float64(n-1)
	lo = min(int(math.Floor(pos)), n-1)
	return lo, min(lo+1, n-1)
}

// quantiles stores quantile qs[k] of vals in out[k][i]; it may reorder
// vals. finite says that no value is NaN or infinite.
func (s *orderStats) quantiles(vals []float64, out [][]float64, i int, finite bool) {
	if s.sortAll || !finite {
		slices.Sort(vals)
		for k, q := range s.qs {
			out[k][i] = quantileSorted(vals, q)
		}
		return
	}
	var lowBuf, highBuf [selectLimit]float64
	low, high := lowBuf[:s.low], highBuf[:s.high]
	ends(vals, low, high, s.cand)
	rank := func(r int) float64 {
		if r < s.n/2 {
			return low[r]
		}
		return high[s.n-1-r]
	}
	for k, q := range s.qs {
		lo, hi := quantileRanks(q, s.n)
		a, b := rank(lo), rank(hi)
		frac := q*float64(s.n-1) - float64(lo)
		if lo >= s.n-1 {
			out[k][i] = a
			continue
		}
		out[k][i] = a + frac*(b-a)
	}
}

// ends fills low with the len(low) smallest of vals in ascending order and
// high with the len(high) largest in descending order, using cand (room
// for twice len(vals)) as scratch. The values must not be NaN (plain
// comparisons).
//
// Inserting every value into the buffers costs a branch per value that
// the processor cannot predict whenever a value belongs in a buffer. So a
// first, branch-free pass bounds each end: split vals into g groups, g the
// longer buffer's length; the g group minima are g values no larger than
// the largest of them, so every value low needs is at most that bound
// (likewise for high). Only the values within the bounds, a dozen or two
// of 128, then go through the insertion.
func ends(vals, low, high, cand []float64) {
	g := max(len(low), len(high))
	if g == 0 || len(vals) < 4*g {
		insertEnds(vals, low, high)
		return
	}
	lowBound, highBound := endBounds(vals, g)
	cl, ch := cand[:len(vals)], cand[len(vals):2*len(vals)]
	nl, nh := 0, 0
	for _, v := range vals {
		cl[nl], ch[nh] = v, v
		nl += isTrue(v <= lowBound)
		nh += isTrue(v >= highBound)
	}
	insertEnds(cl[:nl], low, nil)
	insertEnds(ch[:nh], nil, high)
}

// endBounds splits vals (at least g values, g at most selectLimit) into g
// groups and returns the largest group minimum and the smallest group
// maximum.
func endBounds(vals []float64, g int) (lowBound, highBound float64) {
	var mins, maxs [selectLimit]float64
	copy(mins[:g], vals)
	copy(maxs[:g], vals)
	for i := g; i < len(vals); i += g {
		group := vals[i:min(i+g, len(vals))]
		for j, v := range group {
			mins[j] = min(mins[j], v)
			maxs[j] = max(maxs[j], v)
		}
	}
	lowBound, highBound = mins[0], maxs[0]
	for j := 1; j < g; j++ {
		lowBound = max(lowBound, mins[j])
		highBound = min(highBound, maxs[j])
	}
	return lowBound, highBound
}

// isTrue is 1 for true and 0 for false, written so the compiler sets a
// register from the flags instead of branching.
func isTrue(b bool) int {
	var n int
	if b {
		n = 1
	}
	return n
}

// insertEnds is ends by inserting every value: about one comparison per
// value and end once the buffers are full.
func insertEnds(vals, low, high []float64) {
	nl, nh := 0, 0
	for _, v := range vals {
		if len(low) > 0 && (nl < len(low) || v < low[len(low)-1]) {
			nl = insertAscending(low, nl, v)
		}
		if len(high) > 0 && (nh < len(high) || v > high[len(high)-1]) {
			nh = insertDescending(high, nh, v)
		}
	}
}

// insertAscending inserts v into the sorted buf[:n], dropping the last
// value when buf is full, and returns the new length.
func insertAscending(buf []float64, n int, v float64) int {
	j := min(n, len(buf)-1)
	for ; j > 0 && v < buf[j-1]; j-- {
		buf[j] = buf[j-1]
	}
	buf[j] = v
	return min(n+1, len(buf))
}

// insertDescending is insertAscending for descending order.
func insertDescending(buf []float64, n int, v float64) int {
	j := min(n, len(buf)-1)
	for ; j > 0 && v > buf[j-1]; j-- {
		buf[j] = buf[j-1]
	}
	buf[j] = v
	return min(n+1, len(buf))
}

// quantileSorted interpolates linearly between the order statistics of
// sorted around position q*(n-1).
func quantileSorted(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}
