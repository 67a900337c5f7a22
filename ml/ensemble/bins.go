package ensemble

import (
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

// defaultMaxBins is the largest number of bins per feature; codes are uint8.
const defaultMaxBins = 255

// binned is a training matrix reduced to bin codes, column-major so a
// histogram pass over one feature reads one contiguous column.
type binned struct {
	rows, cols int
	stride     int         // rows rounded up to a power of two
	codes      []uint8     // codes[f*stride+i]: bin of row i in feature f
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

func (d *binned) col(f int) []uint8 { return d.codes[f*d.stride : f*d.stride+d.rows] }

// padded returns column f with its padding: its length is a power of two,
// so an index masked with len-1 needs no bounds check.
func (d *binned) padded(f int) []uint8 { return d.codes[f*d.stride : (f+1)*d.stride] }

// SharedBins is the binning of one training matrix shared by the forests
// fitted on it (the trials of a sweep): binning depends only on the matrix
// and MaxBins, so it is computed once, by the first forest that needs it,
// and only read afterwards. Safe for concurrent use.
type SharedBins struct {
	x     *ml.Matrix
	mu    sync.Mutex
	byMax map[int]*binned
}

// NewSharedBins returns an empty binning cache for X, which must not be
// modified while forests use it.
func NewSharedBins(X *ml.Matrix) *SharedBins {
	return &SharedBins{x: X, byMax: map[int]*binned{}}
}

// get returns the binning of X with maxBins bins, computing it on first use.
func (s *SharedBins) get(X *ml.Matrix, maxBins, workers int) (*binned, bool) {
	if s == nil || s.x != X {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.byMax[maxBins]
	if d == nil {
		d = binMatrix(X, maxBins, workers)
		s.byMax[maxBins] = d
	}
	return d, true
}

// binMatrix bins every column of X. Columns with at most maxBins distinct
// values get one bin per value (so splits are exact CART thresholds);
// others are cut at quantiles, always between distinct values. Columns are
// independent, so they are binned in parallel without affecting the result.
func binMatrix(X *ml.Matrix, maxBins, workers int) *binned {
	stride := 1 << bits.Len(uint(max(X.Rows-1, 1)))
	d := &binned{rows: X.Rows, cols: X.Cols, stride: stride, codes: make([]uint8, stride*X.Cols),
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
