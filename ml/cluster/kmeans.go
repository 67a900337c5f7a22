// Package cluster implements KMeans (k-means++ seeding, Lloyd iterations
// refined by Hartigan single-point moves and split-and-remove escapes from
// local optima, best of several restarts) and the two internal validity
// scores pipeline step 03 uses to choose K: the silhouette coefficient and
// the Davies-Bouldin index. Semantics follow scikit-learn 1.2, except that
// the refinement (on by default) lowers each restart's inertia below where
// Lloyd stops, often into a better local optimum.
package cluster

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/housing-mlops/mlops/ml"
)

// KMeans partitions rows into K clusters minimising the within-cluster sum of
// squared Euclidean distances (inertia).
//
// Configuration fields are read at Fit; zero NInit or MaxIter mean the
// defaults (10 and 300), and an empty Algorithm means AlgorithmHartigan.
// The fitted fields (Dim, Centers, Inertia, NIter) are all Predict needs, so
// a KMeans restored from JSON predicts identically.
type KMeans struct {
	K       int     `json:"k"`
	NInit   int     `json:"n_init"`   // restarts; the lowest inertia wins
	MaxIter int     `json:"max_iter"` // caps Lloyd iterations, passes per Hartigan search, and kept escapes
	Tol     float64 `json:"tol"`      // centre-shift tolerance, relative to the mean feature variance
	Seed    uint64  `json:"seed"`     // restart r draws from ml.NewRand(Seed, r)
	// Algorithm is AlgorithmHartigan (also when empty, so models saved
	// before the field existed refit the same way as new ones) or
	// AlgorithmLloyd.
	Algorithm string `json:"algorithm,omitempty"`
	Workers   int    `json:"-"` // goroutines for restarts; <= 0 means all cores

	Dim     int         `json:"dim"`     // number of features seen at Fit
	Centers ml.Float64s `json:"centers"` // K×Dim, row-major
	Inertia float64     `json:"inertia"` // of the winning restart
	NIter   int         `json:"n_iter"`  // Lloyd iterations of the winning restart
	// NSweeps counts the Hartigan passes over the rows that led to the
	// winning restart's partition (0 for AlgorithmLloyd); NSwaps counts the
	// escapes it kept (see AlgorithmHartigan).
	NSweeps int `json:"n_sweeps,omitempty"`
	NSwaps  int `json:"n_swaps,omitempty"`

	labels []int
}

// Algorithm values for KMeans.Algorithm.
const (
	// AlgorithmHartigan runs Lloyd iterations to convergence, then
	// Hartigan single-point moves until none lowers the inertia, then
	// escapes: move one centre from where it is worth least to where it is
	// worth most, repeat the single-point moves, and keep the result only
	// if the inertia fell (see escape). Every Hartigan optimum is also a
	// Lloyd fixed point but not conversely, and escapes are kept only when
	// they help, so the refinement can only lower each restart's inertia;
	// on the housing coordinates it usually reaches a lower local optimum.
	AlgorithmHartigan = "hartigan"
	// AlgorithmLloyd runs Lloyd iterations only, as scikit-learn does.
	AlgorithmLloyd = "lloyd"
)

// NewKMeans returns a KMeans with scikit-learn's defaults: 10 restarts,
// at most 300 iterations, tolerance 1e-4.
func NewKMeans(k int, seed uint64) *KMeans {
	return &KMeans{K: k, NInit: 10, MaxIter: 300, Tol: 1e-4, Seed: seed}
}

// Kind names the model in saved pipelines.
func (km *KMeans) Kind() string { return "kmeans" }

// Labels returns the cluster of each training row from the last Fit (nil
// for a KMeans restored from JSON).
func (km *KMeans) Labels() []int { return km.labels }

// run is the outcome of one restart.
type run struct {
	centers []float64
	labels  []int
	inertia float64
	nIter   int
	sweeps  int
	swaps   int
}

// Fit runs NInit restarts of k-means++ seeding followed by Lloyd iterations
// (and, by default, the refinement of AlgorithmHartigan) and keeps the one
// with the lowest inertia (the lowest restart index on a tie). Restarts run
// in parallel; each has its own seeded generator and the refinement draws
// nothing, so the result does not depend on GOMAXPROCS.
func (km *KMeans) Fit(X *ml.Matrix) error {
	if err := km.check(X); err != nil {
		return err
	}
	nInit, maxIter := km.NInit, km.MaxIter
	if nInit <= 0 {
		nInit = 10
	}
	if maxIter <= 0 {
		maxIter = 300
	}
	tol := km.Tol * meanVariance(X)
	runs := make([]run, nInit)
	err := ml.ParallelFor(nInit, km.Workers, func(r int) error {
		rng := ml.NewRand(km.Seed, uint64(r))
		centers := kmeansPlusPlus(X, km.K, rng)
		runs[r] = lloyd(X, centers, km.K, maxIter, tol)
		if km.Algorithm != AlgorithmLloyd {
			refine(X, km.K, maxIter, &runs[r])
		}
		return nil
	})
	if err != nil {
		return err
	}
	best := 0
	for r := 1; r < nInit; r++ {
		if runs[r].inertia < runs[best].inertia {
			best = r
		}
	}
	b := runs[best]
	km.Dim, km.Centers, km.Inertia, km.NIter, km.labels = X.Cols, b.centers, b.inertia, b.nIter, b.labels
	km.NSweeps, km.NSwaps = b.sweeps, b.swaps
	return nil
}

func (km *KMeans) check(X *ml.Matrix) error {
	if X == nil {
		return errors.New("cluster: kmeans: X is nil")
	}
	if km.K < 1 {
		return fmt.Errorf("cluster: kmeans: K is %d, want at least 1", km.K)
	}
	if X.Rows < km.K {
		return fmt.Errorf("cluster: kmeans: %d rows cannot form K=%d clusters", X.Rows, km.K)
	}
	if X.Cols < 1 {
		return errors.New("cluster: kmeans: X has no columns")
	}
	if km.Tol < 0 {
		return fmt.Errorf("cluster: kmeans: Tol is %v, want >= 0", km.Tol)
	}
	switch km.Algorithm {
	case "", AlgorithmHartigan, AlgorithmLloyd:
	default:
		return fmt.Errorf("cluster: kmeans: Algorithm is %q, want %q or %q", km.Algorithm, AlgorithmHartigan, AlgorithmLloyd)
	}
	if err := ml.CheckFinite(X); err != nil {
		return fmt.Errorf("cluster: kmeans: %w", err)
	}
	return nil
}

// Predict returns the index of the nearest centre for each row of X.
func (km *KMeans) Predict(X *ml.Matrix) ([]int, error) {
	if len(km.Centers) == 0 || km.Dim == 0 {
		return nil, ml.ErrNotFitted
	}
	if len(km.Centers) != km.K*km.Dim {
		return nil, fmt.Errorf("cluster: kmeans: %d centre values, want K×Dim = %d", len(km.Centers), km.K*km.Dim)
	}
	if err := ml.CheckCols(X, km.Dim); err != nil {
		return nil, fmt.Errorf("cluster: kmeans: %w", err)
	}
	if err := ml.CheckFinite(X); err != nil {
		return nil, fmt.Errorf("cluster: kmeans: %w", err)
	}
	labels := make([]int, X.Rows)
	for i := range labels {
		labels[i], _ = nearest(X.Row(i), km.Centers, km.K)
	}
	return labels, nil
}

// meanVariance is the mean over columns of the population variance; the
// tolerance is scaled by it so it does not depend on the data's units.
func meanVariance(X *ml.Matrix) float64 {
	total := 0.0
	for j := 0; j < X.Cols; j++ {
		m := 0.0
		for i := 0; i < X.Rows; i++ {
			m += X.Data[i*X.Cols+j]
		}
		m /= float64(X.Rows)
		v := 0.0
		for i := 0; i < X.Rows; i++ {
			d := X.Data[i*X.Cols+j] - m
			v += d * d
		}
		total += v / float64(X.Rows)
	}
	return total / float64(X.Cols)
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for k, v := range a {
		d := v - b[k]
		s += d * d
	}
	return s
}

// nearest returns the index of the centre closest to x (the lowest index on a
// tie) and the squared distance to it.
func nearest(x []float64, centers []float64, k int) (int, float64) {
	d := len(x)
	best, bestD := 0, math.Inf(1)
	for c := 0; c < k; c++ {
		if dist := sqDist(x, centers[c*d:(c+1)*d]); dist < bestD {
			best, bestD = c, dist
		}
	}
	return best, bestD
}

// kmeansPlusPlus seeds k centres with greedy k-means++: each new centre is
// the best, by resulting potential, of 2+ln(k) candidates drawn with
// probability proportional to the squared distance to the nearest centre.
func kmeansPlusPlus(X *ml.Matrix, k int, rng *rand.Rand) []float64 {
	n, d := X.Rows, X.Cols
	trials := 2 + int(math.Log(float64(k)))
	centers := make([]float64, k*d)
	copy(centers, X.Row(rng.IntN(n)))
	closest := make([]float64, n)
	pot := 0.0
	for i := range closest {
		closest[i] = sqDist(X.Row(i), centers[:d])
		pot += closest[i]
	}
	cum := make([]float64, n)
	cand := make([]float64, n)
	best := make([]float64, n)
	for c := 1; c < k; c++ {
		acc := 0.0
		for i, v := range closest {
			acc += v
			cum[i] = acc
		}
		bestPot, bestID := math.Inf(1), -1
		for t := 0; t < trials; t++ {
			id := searchCum(cum, rng.Float64()*pot)
			candPot := closerTo(X, X.Row(id), closest, cand)
			if candPot < bestPot {
				bestPot, bestID = candPot, id
				best, cand = cand, best
			}
		}
		copy(centers[c*d:], X.Row(bestID))
		closest, best = best, closest
		pot = bestPot
	}
	return centers
}

// closerTo sets cand[i] to the smaller of closest[i] and row i's squared
// distance to p, and returns their sum (the potential with p as a centre).
// Two-dimensional rows get an unrolled loop with the same arithmetic.
func closerTo(X *ml.Matrix, p, closest, cand []float64) float64 {
	pot := 0.0
	if X.Cols != 2 {
		for i := range cand {
			cand[i] = min(closest[i], sqDist(X.Row(i), p))
			pot += cand[i]
		}
		return pot
	}
	px, py := p[0], p[1]
	data := X.Data[:2*len(cand)]
	closest = closest[:len(cand)]
	for i := range cand {
		dx, dy := data[2*i]-px, data[2*i+1]-py
		cand[i] = min(closest[i], dx*dx+dy*dy)
		pot += cand[i]
	}
	return pot
}

// searchCum returns the first index whose cumulative sum reaches v (numpy's
// searchsorted, side left), clipped to the last index.
func searchCum(cum []float64, v float64) int {
	lo, hi := 0, len(cum)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cum[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return min(lo, len(cum)-1)
}
