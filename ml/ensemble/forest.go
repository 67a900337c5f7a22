package ensemble

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

// ForestParams configures a RandomForest. Unlike scikit-learn, the zero
// value of Bootstrap is false; DefaultForestParams gives scikit-learn 1.2's
// RandomForestRegressor defaults.
type ForestParams struct {
	NEstimators     int     `json:"n_estimators"`      // trees grown by Fit; 0 = 100
	MaxDepth        int     `json:"max_depth"`         // 0 = unlimited
	MinSamplesSplit int     `json:"min_samples_split"` // 0 = 2
	MinSamplesLeaf  int     `json:"min_samples_leaf"`  // 0 = 1
	MaxFeatures     string  `json:"max_features"`      // features tried per split, see tree.ResolveMaxFeatures; "" = all
	Bootstrap       bool    `json:"bootstrap"`         // draw each tree's rows with replacement
	MaxSamples      float64 `json:"max_samples"`       // rows drawn per tree: 0 = all, (0,1] a fraction, > 1 a count
	MaxBins         int     `json:"max_bins"`          // bins per feature, 2..255; 0 = 255
	Seed            uint64  `json:"seed"`
	Workers         int     `json:"workers"`   // goroutines; 0 = GOMAXPROCS. Never changes the result.
	OOBScore        bool    `json:"oob_score"` // compute the out-of-bag R² (needs Bootstrap)
}

// DefaultForestParams returns scikit-learn 1.2's RandomForestRegressor
// defaults: 100 bootstrapped trees, all features per split, fully grown.
func DefaultForestParams() ForestParams {
	return ForestParams{NEstimators: 100, Bootstrap: true, MaxFeatures: "all"}
}

// withDefaults fills the zero values that stand for a default and checks
// the result.
func (p ForestParams) withDefaults() (ForestParams, error) {
	setDefault(&p.NEstimators, 100)
	setDefault(&p.MaxBins, defaultMaxBins)
	if err := p.validate(); err != nil {
		return p, err
	}
	p.MinSamplesSplit = max(p.MinSamplesSplit, 2)
	p.MinSamplesLeaf = max(p.MinSamplesLeaf, 1)
	return p, tree.CheckMaxFeatures(p.MaxFeatures)
}

// validate checks the ranges of the numeric params and the params that
// need Bootstrap; MinSamplesSplit and MinSamplesLeaf may still be 0.
func (p ForestParams) validate() error {
	switch {
	case p.NEstimators < 1:
		return fmt.Errorf("ensemble: NEstimators %d must be >= 1", p.NEstimators)
	case p.MaxDepth < 0:
		return fmt.Errorf("ensemble: MaxDepth %d must be >= 0 (0 = unlimited)", p.MaxDepth)
	case p.MinSamplesSplit != 0 && p.MinSamplesSplit < 2:
		return fmt.Errorf("ensemble: MinSamplesSplit %d must be >= 2", p.MinSamplesSplit)
	case p.MinSamplesLeaf < 0:
		return fmt.Errorf("ensemble: MinSamplesLeaf %d must be >= 1", p.MinSamplesLeaf)
	case !validMaxSamples(p.MaxSamples):
		return fmt.Errorf("ensemble: MaxSamples %v must be 0, a fraction in (0, 1] or a whole count", p.MaxSamples)
	case p.MaxSamples != 0 && !p.Bootstrap:
		return fmt.Errorf("ensemble: MaxSamples needs Bootstrap")
	case p.OOBScore && !p.Bootstrap:
		return fmt.Errorf("ensemble: OOBScore needs Bootstrap (without it no row is out of bag)")
	case p.MaxBins < 2 || p.MaxBins > defaultMaxBins:
		return fmt.Errorf("ensemble: MaxBins %d must be in 2..%d", p.MaxBins, defaultMaxBins)
	}
	return nil
}

// validMaxSamples reports whether v is 0, a fraction in (0, 1] or a whole
// count.
func validMaxSamples(v float64) bool {
	return !(v < 0 || math.IsNaN(v) || (v > 1 && v != math.Trunc(v)))
}

// setDefault sets *v to def when it is the zero value, which the params
// structs use for "the default".
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// drawCount is the number of bootstrap draws per tree for n rows.
func (p ForestParams) drawCount(n int) (int, error) {
	switch {
	case p.MaxSamples == 0:
		return n, nil
	case p.MaxSamples <= 1:
		return max(1, int(math.Round(p.MaxSamples*float64(n)))), nil
	case int(p.MaxSamples) > n:
		return 0, fmt.Errorf("ensemble: MaxSamples %v exceeds the %d training rows", p.MaxSamples, n)
	}
	return int(p.MaxSamples), nil
}

// RandomForest is a bagged ensemble of CART regression trees grown on
// histogram bins. Tree i depends only on (Seed, i) and the data, so a fit is
// bit-identical for any number of workers, and Grow extends a forest exactly
// as a larger Fit would have grown it.
//
// All fitted state is exported; json.Marshal/Unmarshal round-trips it
// bit-identically. Predict, PredictQuantiles and PredictWithQuantiles are
// safe for concurrent use; Fit and Grow are not.
type RandomForest struct {
	Params      ForestParams  `json:"params"`
	NFeatures   int           `json:"n_features"`
	Trees       []tree.Nodes  `json:"trees"`
	Importances []ml.Float64s `json:"tree_importances"` // per tree, normalised MDI
	OOB         *OOBResult    `json:"oob,omitempty"`

	cache *growCache
	flat  *tree.Flat // prediction layout of Trees, rebuilt by Grow and UnmarshalJSON
}

// OOBResult is the out-of-bag estimate of generalisation.
type OOBResult struct {
	R2   float64 `json:"r2"`
	Rows int     `json:"rows"` // training rows out of bag for at least one tree
}

// growCache is the training state Grow reuses across calls on the same data.
type growCache struct {
	x       *ml.Matrix
	y       []float64
	maxBins int
	data    *binned
	oobSum  []float64
	oobCnt  []int32
	oobT    int // trees already accumulated into oobSum
}

// NewRandomForest returns an unfitted forest.
func NewRandomForest(p ForestParams) *RandomForest { return &RandomForest{Params: p} }

// Kind names the model type for the artifact container.
func (f *RandomForest) Kind() string { return "random_forest" }

// NumTrees returns the number of fitted trees.
func (f *RandomForest) NumTrees() int { return len(f.Trees) }

// Fit grows Params.NEstimators trees on X (no missing values) and y,
// replacing any previous fit.
func (f *RandomForest) Fit(X *ml.Matrix, y []float64) error {
	p, err := f.Params.withDefaults()
	if err != nil {
		return err
	}
	f.Trees, f.Importances, f.OOB, f.cache, f.flat, f.NFeatures = nil, nil, nil, nil, nil, 0
	return f.Grow(X, y, p.NEstimators)
}

// Grow adds trees until the forest has total, keeping the existing ones; the
// result is bit-identical to Fit with NEstimators = total. X and y must be
// the training data of the existing trees (Grow rebins them unless they are
// the very slices of the previous call). Params.NEstimators is left as set.
func (f *RandomForest) Grow(X *ml.Matrix, y []float64, total int) error {
	p, err := f.Params.withDefaults()
	if err != nil {
		return err
	}
	if total < len(f.Trees) {
		return fmt.Errorf("ensemble: Grow to %d trees, the forest already has %d", total, len(f.Trees))
	}
	if err := ml.CheckXY(X, y); err != nil {
		return fmt.Errorf("ensemble: %w", err)
	}
	if len(f.Trees) > 0 && X.Cols != f.NFeatures {
		return fmt.Errorf("ensemble: Grow on %d columns, the forest was fitted on %d", X.Cols, f.NFeatures)
	}
	if X.Rows >= packShift {
		return fmt.Errorf("ensemble: %d training rows; the forest supports fewer than %d", X.Rows, packShift)
	}
	mtry, err := tree.ResolveMaxFeatures(p.MaxFeatures, X.Cols)
	if err != nil {
		return err
	}
	draws, err := p.drawCount(X.Rows)
	if err != nil {
		return err
	}
	c := f.cacheFor(X, y, p)
	rules := treeRules{maxDepth: p.MaxDepth, minSplit: p.MinSamplesSplit, minLeaf: p.MinSamplesLeaf, mtry: mtry}
	first := len(f.Trees)
	newTrees := make([]tree.Nodes, total-first)
	newImp := make([]ml.Float64s, total-first)
	// Sample buffers go back to a pool when a tree is done; which buffer a
	// tree gets does not matter because it is overwritten.
	var bufs sync.Pool
	_ = ml.ParallelFor(len(newTrees), p.Workers, func(k int) error {
		i := first + k
		rng := ml.NewRand(p.Seed, uint64(i))
		counts := inBag(rng, X.Rows, draws, p.Bootstrap)
		var buf []sample
		if v, ok := bufs.Get().(*[]sample); ok {
			buf = *v
		}
		b := newForestBuilder(c.data, y, counts, rules, rng, buf)
		nodes, imp := b.build()
		newTrees[k], newImp[k] = nodes, imp
		bufs.Put(&b.buf)
		return nil
	})
	f.NFeatures = X.Cols
	f.Trees = append(f.Trees, newTrees...)
	f.Importances = append(f.Importances, newImp...)
	if p.OOBScore {
		f.OOB = c.updateOOB(f.Trees, p, draws)
	}
	f.flat = tree.Flatten(f.Trees)
	return nil
}

// cacheFor returns the binned training data, reusing the previous call's
// when Grow is called again with the same slices.
func (f *RandomForest) cacheFor(X *ml.Matrix, y []float64, p ForestParams) *growCache {
	c := f.cache
	if c != nil && c.x == X && c.x.Rows == X.Rows && len(c.y) == len(y) && &c.y[0] == &y[0] && c.maxBins == p.MaxBins {
		return c
	}
	c = &growCache{x: X, y: y, maxBins: p.MaxBins, data: binMatrix(X, p.MaxBins, p.Workers)}
	f.cache = c
	return c
}

// inBag draws a tree's bootstrap sample as per-row draw counts (every row
// once without bootstrap). It is the first use of the tree's generator, so
// the out-of-bag pass can redraw it.
func inBag(rng interface{ IntN(int) int }, n, draws int, bootstrap bool) []uint16 {
	counts := make([]uint16, n)
	if !bootstrap {
		for i := range counts {
			counts[i] = 1
		}
		return counts
	}
	for k := 0; k < draws; k++ {
		counts[rng.IntN(n)]++
	}
	return counts
}

// updateOOB adds the trees not yet accounted for to each row's out-of-bag
// sum (in tree order, so Fit and Grow agree bit for bit) and returns R² of
// the out-of-bag means over the rows that have one.
func (c *growCache) updateOOB(trees []tree.Nodes, p ForestParams, draws int) *OOBResult {
	n := c.x.Rows
	if c.oobSum == nil {
		c.oobSum, c.oobCnt = make([]float64, n), make([]int32, n)
	}
	bags := make([][]uint16, len(trees)-c.oobT)
	_ = ml.ParallelFor(len(bags), p.Workers, func(k int) error {
		bags[k] = inBag(ml.NewRand(p.Seed, uint64(c.oobT+k)), n, draws, true)
		return nil
	})
	const chunk = 512
	_ = ml.ParallelFor((n+chunk-1)/chunk, p.Workers, func(ch int) error {
		for i := ch * chunk; i < min(n, (ch+1)*chunk); i++ {
			row := c.x.Row(i)
			for k, bag := range bags {
				if bag[i] == 0 {
					c.oobSum[i] += trees[c.oobT+k].PredictRow(row)
					c.oobCnt[i]++
				}
			}
		}
		return nil
	})
	c.oobT = len(trees)
	var pred, truth []float64
	for i, cnt := range c.oobCnt {
		if cnt > 0 {
			pred = append(pred, c.oobSum[i]/float64(cnt))
			truth = append(truth, c.y[i])
		}
	}
	return &OOBResult{R2: r2(truth, pred), Rows: len(pred)}
}

// r2 is the coefficient of determination (NaN with fewer than two rows).
func r2(y, pred []float64) float64 {
	if len(y) < 2 {
		return math.NaN()
	}
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	var ssRes, ssTot float64
	for i, v := range y {
		ssRes += (v - pred[i]) * (v - pred[i])
		ssTot += (v - mean) * (v - mean)
	}
	return 1 - ssRes/ssTot
}

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

// predictRange fills out[lo:hi] with the forest mean of rows lo..hi-1. Trees
// are the outer loop so each tree's nodes stay in cache across the rows;
// every row still sums the trees in index order.
func (f *RandomForest) predictRange(X *ml.Matrix, out []float64, lo, hi int) {
	if fl := f.flat; fl != nil && fl.Trees() == len(f.Trees) {
		data := X.Data[lo*X.Cols : hi*X.Cols]
		for t := range f.Trees {
			fl.AddTree(t, data, X.Cols, out[lo:hi])
		}
	} else {
		for t := range f.Trees {
			for i := lo; i < hi; i++ {
				out[i] += f.Trees[t].PredictRow(X.Row(i))
			}
		}
	}
	n := float64(len(f.Trees))
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
	mean = make([]float64, X.Rows)
	quantiles = make([][]float64, len(qs))
	for k := range quantiles {
		quantiles[k] = make([]float64, X.Rows)
	}
	T := len(f.Trees)
	rows := min(X.Rows, predictChunk)
	perTree := make([]float64, T*rows) // perTree[t*m+i]: tree t on row lo+i
	sorted := make([]float64, T)
	for lo := 0; lo < X.Rows; lo += predictChunk {
		hi := min(X.Rows, lo+predictChunk)
		m := hi - lo
		f.perTree(X, lo, hi, perTree[:T*m])
		for i := 0; i < m; i++ {
			sum := 0.0
			for t := 0; t < T; t++ {
				v := perTree[t*m+i]
				sum += v
				sorted[t] = v
			}
			mean[lo+i] = sum / float64(T)
			slices.Sort(sorted)
			for k, q := range qs {
				quantiles[k][lo+i] = quantileSorted(sorted, q)
			}
		}
	}
	return mean, quantiles, nil
}

// perTree fills dst[t*m+i] with tree t's prediction for row lo+i, m = hi-lo.
func (f *RandomForest) perTree(X *ml.Matrix, lo, hi int, dst []float64) {
	clear(dst)
	m := hi - lo
	data := X.Data[lo*X.Cols : hi*X.Cols]
	fl := f.flat
	for t := range f.Trees {
		out := dst[t*m : (t+1)*m]
		if fl != nil && fl.Trees() == len(f.Trees) {
			fl.AddTree(t, data, X.Cols, out)
			continue
		}
		for i := range out {
			out[i] = f.Trees[t].PredictRow(data[i*X.Cols : (i+1)*X.Cols])
		}
	}
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

// FeatureImportances returns the mean of the trees' normalised MDI
// importances, renormalised to sum to 1 (trees without a split are left out,
// as in scikit-learn). Nil before Fit.
func (f *RandomForest) FeatureImportances() []float64 {
	if len(f.Trees) == 0 {
		return nil
	}
	out := make([]float64, f.NFeatures)
	for t, imp := range f.Importances {
		if f.Trees[t].Len() > 1 {
			for j, v := range imp {
				out[j] += v
			}
		}
	}
	tree.Normalise(out)
	return out
}

// UnmarshalJSON decodes a saved forest and validates every tree, so a
// corrupt model file fails at load time rather than at predict time.
func (f *RandomForest) UnmarshalJSON(data []byte) error {
	type plain RandomForest
	var v plain
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("ensemble: decode random forest: %w", err)
	}
	if len(v.Importances) != len(v.Trees) {
		return fmt.Errorf("ensemble: %d trees but %d importance vectors", len(v.Trees), len(v.Importances))
	}
	for t := range v.Trees {
		if err := v.Trees[t].Validate(v.NFeatures); err != nil {
			return fmt.Errorf("ensemble: tree %d: %w", t, err)
		}
		if len(v.Importances[t]) != v.NFeatures {
			return fmt.Errorf("ensemble: tree %d has %d importances for %d features", t, len(v.Importances[t]), v.NFeatures)
		}
	}
	*f = RandomForest(v)
	f.flat = tree.Flatten(f.Trees)
	return nil
}
