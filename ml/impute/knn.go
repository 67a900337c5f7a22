package impute

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/housing-mlops/mlops/ml"
)

// KNN fills each missing value with the mean of that column over the
// NNeighbors nearest fitted rows that have the column observed, like
// scikit-learn's KNNImputer with uniform weights.
//
// Distance is nan_euclidean: sqrt(w · Σ (x_j - y_j)²) over the coordinates
// present in both rows, with w = columns / coordinates present. Ties go to the
// lower fitted row index. Candidates sharing no observed coordinate with the
// row are skipped (their distance is undefined); a row left with no candidate
// gets the column's fitted mean, as in scikit-learn. scikit-learn instead
// pads the k neighbours with such rows, picked by np.argpartition, when
// fewer than k are comparable; that choice is arbitrary, so it is not copied.
//
// With Standardize, each coordinate difference is divided by the column's
// standard deviation (a StandardScaler fitted on the same rows, NaN
// ignored), which is what imputing standardised data and transforming back
// computes: the imputed value is the mean of the donors' original values.
type KNN struct {
	NNeighbors  int  `json:"n_neighbors"` // <= 0 means 5
	Standardize bool `json:"standardize"`
	Workers     int  `json:"-"` // goroutines for Transform; <= 0 means all cores

	Cols  int         `json:"cols"`  // columns seen at Fit
	FitX  ml.Float64s `json:"fit_x"` // the fitted rows, row-major, NaN kept
	Means []float64   `json:"means"` // observed mean of each column: the last-resort fill
	Scale []float64   `json:"scale"` // per-column distance multiplier (1/std, or 1)

	mu     sync.Mutex
	scaled []float64 // FitX × Scale, built on first use
}

// NewKNN returns an unfitted KNN imputer using k neighbours.
func NewKNN(k int) *KNN { return &KNN{NNeighbors: k} }

// Kind names the transformer in saved pipelines.
func (m *KNN) Kind() string { return "knn_imputer" }

// Fit stores the training rows (they are the donors) and the per-column
// statistics. Every column needs at least one observed value.
func (m *KNN) Fit(X *Matrix) error {
	if err := checkInput(X, -1); err != nil {
		return fmt.Errorf("impute: knn: %w", err)
	}
	if X.Rows == 0 {
		return errors.New("impute: knn: no rows to fit")
	}
	means := make([]float64, X.Cols)
	scale := make([]float64, X.Cols)
	col := make([]float64, 0, X.Rows)
	for j := range means {
		col = observed(X, j, col[:0])
		if len(col) == 0 {
			return fmt.Errorf("impute: knn: column %d has no observed value", j)
		}
		means[j] = mean(col)
		scale[j] = 1
		if m.Standardize {
			if sd := stdDev(col, means[j]); sd > 0 {
				scale[j] = 1 / sd
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Cols, m.FitX, m.Means, m.Scale = X.Cols, append(ml.Float64s(nil), X.Data...), means, scale
	m.scaled = nil
	return nil
}

// stdDev is the population standard deviation (ddof 0, as StandardScaler).
func stdDev(v []float64, mu float64) float64 {
	s := 0.0
	for _, x := range v {
		d := x - mu
		s += d * d
	}
	return math.Sqrt(s / float64(len(v)))
}

// Transform returns a copy of X with missing values imputed from the fitted
// rows. Rows are processed in parallel, each writing only its own output row.
func (m *KNN) Transform(X *Matrix) (*Matrix, error) {
	fit, err := m.donors()
	if err != nil {
		return nil, err
	}
	if err := checkInput(X, m.Cols); err != nil {
		return nil, fmt.Errorf("impute: knn: %w", err)
	}
	out := X.Clone()
	var todo []int
	for i := 0; i < X.Rows; i++ {
		if hasNaN(X.Row(i)) {
			todo = append(todo, i)
		}
	}
	k := m.NNeighbors
	if k <= 0 {
		k = 5
	}
	err = ml.ParallelFor(len(todo), m.Workers, func(t int) error {
		i := todo[t]
		fit.imputeRow(X.Row(i), out.Row(i), k)
		return nil
	})
	return out, err
}

// donors returns the fitted rows in scaled form, building them once.
func (m *KNN) donors() (*donorSet, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.Cols
	if d == 0 || len(m.FitX) == 0 {
		return nil, ErrNotFitted
	}
	if len(m.FitX)%d != 0 || len(m.Means) != d || len(m.Scale) != d {
		return nil, fmt.Errorf("impute: knn: fitted state is inconsistent (%d values, %d columns, %d means, %d scales)", len(m.FitX), d, len(m.Means), len(m.Scale))
	}
	if m.scaled == nil {
		m.scaled = make([]float64, len(m.FitX))
		for k, v := range m.FitX {
			m.scaled[k] = v * m.Scale[k%d]
		}
	}
	ds := &donorSet{d: d, n: len(m.FitX) / d, raw: m.FitX, scaled: m.scaled, means: m.Means, scale: m.Scale}
	ds.complete = make([]bool, ds.n)
	for i := range ds.complete {
		ds.complete[i] = !hasNaN(m.FitX[i*d : (i+1)*d])
	}
	return ds, nil
}

func hasNaN(row []float64) bool {
	for _, v := range row {
		if math.IsNaN(v) {
			return true
		}
	}
	return false
}

// donorSet is the read-only view of the fitted rows one Transform uses.
type donorSet struct {
	d, n     int
	raw      []float64 // original values: what is averaged
	scaled   []float64 // values × scale: what distances use
	complete []bool    // row has no NaN: the fast distance path applies
	means    []float64
	scale    []float64
}

// neighbour is a candidate donor: weighted squared distance and row index.
type neighbour struct {
	d2  float64
	idx int
}

// imputeRow fills the NaNs of src into dst, one missing column at a time.
func (ds *donorSet) imputeRow(src, dst []float64, k int) {
	x := make([]float64, ds.d)
	var present []int
	for j, v := range src {
		x[j] = v * ds.scale[j]
		if !math.IsNaN(v) {
			present = append(present, j)
		}
	}
	best := make([]neighbour, 0, k)
	for c, v := range src {
		if !math.IsNaN(v) {
			continue
		}
		if len(present) == 0 {
			dst[c] = ds.means[c] // an all-missing row has no distance to anyone
			continue
		}
		best = ds.nearest(x, present, c, best[:0], k)
		if len(best) == 0 {
			dst[c] = ds.means[c] // no donor shares a coordinate with this row
			continue
		}
		sum := 0.0
		for _, nb := range best {
			sum += ds.raw[nb.idx*ds.d+c]
		}
		dst[c] = sum / float64(len(best))
	}
}

// nearest returns the k fitted rows with column c observed that are closest
// to x, in increasing (distance, index) order, skipping rows that share no
// observed coordinate with x. A candidate is abandoned as soon as its partial
// distance reaches the current k-th best, which cannot change the result
// because the partial sum only grows and a tie never displaces a lower index.
func (ds *donorSet) nearest(x []float64, present []int, c int, best []neighbour, k int) []neighbour {
	d := ds.d
	wFull := float64(d) / float64(len(present)) // weight when the donor is complete
	for i := 0; i < ds.n; i++ {
		y := ds.scaled[i*d : (i+1)*d]
		if math.IsNaN(y[c]) {
			continue
		}
		limit := math.Inf(1)
		if len(best) == k {
			limit = best[k-1].d2
		}
		var d2 float64
		var ok bool
		if ds.complete[i] {
			d2, ok = partialDist(x, y, present, wFull, limit)
		} else {
			d2, ok = maskedDist(x, y, present, d, limit)
		}
		if ok {
			best = insertNeighbour(best, neighbour{d2, i}, k)
		}
	}
	return best
}

// partialDist is the weighted squared distance over present coordinates
// when y has them all; ok is false once it cannot beat limit.
func partialDist(x, y []float64, present []int, w, limit float64) (float64, bool) {
	s := 0.0
	for _, j := range present {
		diff := x[j] - y[j]
		s += diff * diff
		if s*w >= limit {
			return 0, false
		}
	}
	return s * w, true
}

// maskedDist handles a donor with missing values: only coordinates present
// in both rows count, and the weight depends on how many there are.
func maskedDist(x, y []float64, present []int, d int, limit float64) (float64, bool) {
	s, n := 0.0, 0
	for _, j := range present {
		if math.IsNaN(y[j]) {
			continue
		}
		diff := x[j] - y[j]
		s += diff * diff
		n++
	}
	if n == 0 {
		return 0, false // no shared coordinate: no distance, not a candidate
	}
	d2 := s * (float64(d) / float64(n)) // same rounding as partialDist for a complete donor
	return d2, d2 < limit
}

// insertNeighbour keeps best sorted and at most k long. Candidates arrive in
// increasing index order, so a candidate equal to the k-th best loses.
func insertNeighbour(best []neighbour, nb neighbour, k int) []neighbour {
	if len(best) == k {
		if !(nb.d2 < best[k-1].d2) {
			return best
		}
		best = best[:k-1]
	}
	pos := len(best)
	for pos > 0 && nb.d2 < best[pos-1].d2 {
		pos--
	}
	best = append(best, neighbour{})
	copy(best[pos+1:], best[pos:])
	best[pos] = nb
	return best
}
