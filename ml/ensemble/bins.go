package ensemble

import (
	"math"
	"slices"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

// defaultMaxBins is the largest number of bins per feature; codes are uint8.
const defaultMaxBins = 255

// binned is a training matrix reduced to bin codes, column-major so a
// histogram pass over one feature reads one contiguous column.
type binned struct {
	rows, cols int
	codes      []uint8     // codes[f*rows+i]: bin of row i in feature f
	edges      [][]float64 // edges[f][b]: threshold between bins b and b+1 (x <= edge goes to bin <= b)
	lo, hi     [][]float64 // lo[f][b], hi[f][b]: smallest and largest training value in bin b
}

// cutBetween returns the threshold for a split of feature f whose left side
// ends with bin left and whose right side starts with bin right (bins in
// between are empty in the node): the midpoint of the two nearest training
// values, as exact CART would place it.
func (d *binned) cutBetween(f, left, right int) float64 {
	return tree.Midpoint(d.hi[f][left], d.lo[f][right])
}

func (d *binned) col(f int) []uint8 { return d.codes[f*d.rows : (f+1)*d.rows] }

// binMatrix bins every column of X. Columns with at most maxBins distinct
// values get one bin per value (so splits are exact CART thresholds);
// others are cut at quantiles, always between distinct values. Columns are
// independent, so they are binned in parallel without affecting the result.
func binMatrix(X *ml.Matrix, maxBins, workers int) *binned {
	d := &binned{rows: X.Rows, cols: X.Cols, codes: make([]uint8, X.Rows*X.Cols),
		edges: make([][]float64, X.Cols), lo: make([][]float64, X.Cols), hi: make([][]float64, X.Cols)}
	_ = ml.ParallelFor(X.Cols, workers, func(f int) error {
		col := X.Col(f)
		sorted := slices.Clone(col)
		slices.Sort(sorted)
		edges := binEdges(sorted, maxBins)
		codes := d.col(f)
		lo := make([]float64, len(edges)+1)
		hi := make([]float64, len(edges)+1)
		for b := range lo {
			lo[b], hi[b] = math.Inf(1), math.Inf(-1)
		}
		for i, v := range col {
			// Bin b holds values in (edges[b-1], edges[b]].
			b, _ := slices.BinarySearch(edges, v)
			codes[i] = uint8(b)
			lo[b], hi[b] = min(lo[b], v), max(hi[b], v)
		}
		d.edges[f], d.lo[f], d.hi[f] = edges, lo, hi
		return nil
	})
	return d
}

// binEdges returns at most maxBins-1 thresholds for the sorted values.
func binEdges(sorted []float64, maxBins int) []float64 {
	n := len(sorted)
	var distinct []float64
	var counts []int
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			distinct = append(distinct, v)
			counts = append(counts, 0)
		}
		counts[len(counts)-1]++
	}
	var edges []float64
	if len(distinct) <= maxBins {
		for k := 0; k+1 < len(distinct); k++ {
			edges = append(edges, tree.Midpoint(distinct[k], distinct[k+1]))
		}
		return edges
	}
	// Cut after the distinct value at which the running count first reaches
	// the next of the maxBins-1 evenly spaced targets; a heavy value may pass
	// several targets at once, which only leaves fewer bins.
	cum, next := 0, 1
	for k := 0; k+1 < len(distinct); k++ {
		cum += counts[k]
		if float64(cum)*float64(maxBins) >= float64(next)*float64(n) {
			edges = append(edges, tree.Midpoint(distinct[k], distinct[k+1]))
			for float64(cum)*float64(maxBins) >= float64(next)*float64(n) {
				next++
			}
			if len(edges) == maxBins-1 {
				break
			}
		}
	}
	return edges
}
