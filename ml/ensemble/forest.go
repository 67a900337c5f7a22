package ensemble

import (
	"fmt"
	"math"
	"math/rand/v2"
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

	cache  *growCache
	shared *SharedBins // binning to take when Grow is called on its matrix
	flat   *lazyFlat   // prediction layout of Trees, renewed by Grow and UnmarshalJSON
}

// lazyFlat is the prediction layout of a set of trees, built on first use:
// the forests of a sweep score themselves with GrowPredict and mostly never
// call Predict, and flattening is serial work between a trial's bands.
type lazyFlat struct {
	once  sync.Once
	trees []tree.Nodes
	flat  *tree.Flat
}

func newLazyFlat(trees []tree.Nodes) *lazyFlat { return &lazyFlat{trees: trees} }

// get returns the layout (nil for a nil receiver), building it once.
func (l *lazyFlat) get() *tree.Flat {
	if l == nil {
		return nil
	}
	l.once.Do(func() { l.flat, l.trees = tree.Flatten(l.trees), nil })
	return l.flat
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
	return f.grow(X, y, total, nil, nil)
}

// GrowPredict is Grow that also adds the new trees' predictions for the rows
// of V to sum, tree after tree in index order as Predict sums them: when sum
// held the sum of the earlier trees' predictions, sum[i] / NumTrees() is
// Predict(V)[i], bit for bit. The rows of V go down each tree while it
// grows, which costs a fraction of predicting them afterwards; a sweep
// trial scores its Hyperband bands this way.
func (f *RandomForest) GrowPredict(X *ml.Matrix, y []float64, total int, V *ml.Matrix, sum []float64) error {
	if V == nil || V.Cols != X.Cols || len(sum) != V.Rows {
		return fmt.Errorf("ensemble: GrowPredict wants rows to predict with the %d columns of X and one sum per row", X.Cols)
	}
	return f.grow(X, y, total, V, sum)
}

// grow is Grow, predicting the rows of V (if not nil) into sum.
func (f *RandomForest) grow(X *ml.Matrix, y []float64, total int, V *ml.Matrix, sum []float64) error {
	p, err := f.Params.withDefaults()
	if err != nil {
		return err
	}
	if err := f.checkGrow(X, y, total); err != nil {
		return err
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
	var eval *evalRows
	var preds [][]float64
	if V != nil {
		eval, preds = columnMajor(V), make([][]float64, len(newTrees))
	}
	// A worker takes a builder from the pool for each tree; which one it
	// gets does not matter, as reset overwrites all of its state.
	builders := sync.Pool{New: func() any { return newForestBuilder(c.data, y, rules) }}
	_ = ml.ParallelFor(len(newTrees), p.Workers, func(k int) error {
		b := builders.Get().(*forestBuilder)
		var pred []float64
		if eval != nil {
			pred = make([]float64, eval.rows)
			preds[k] = pred
		}
		b.reset(ml.NewRand(p.Seed, uint64(first+k)), draws, p.Bootstrap, eval, pred)
		newTrees[k], newImp[k] = b.build()
		builders.Put(b)
		return nil
	})
	f.NFeatures = X.Cols
	f.Trees = append(f.Trees, newTrees...)
	f.Importances = append(f.Importances, newImp...)
	if p.OOBScore {
		f.OOB = c.updateOOB(f.Trees, p, draws)
	}
	f.flat = newLazyFlat(f.Trees)
	if V != nil {
		addInOrder(sum, preds, p.Workers)
	}
	return nil
}

func (f *RandomForest) checkGrow(X *ml.Matrix, y []float64, total int) error {
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
	return nil
}

// columnMajor copies the rows of V column by column.
func columnMajor(V *ml.Matrix) *evalRows {
	e := &evalRows{rows: V.Rows, cols: make([]float64, V.Rows*V.Cols)}
	for i := 0; i < V.Rows; i++ {
		for j, v := range V.Row(i) {
			e.cols[j*V.Rows+i] = v
		}
	}
	return e
}

// addInOrder adds the per-tree predictions to sum, each row taking the trees
// in index order; rows are split between the workers.
func addInOrder(sum []float64, preds [][]float64, workers int) {
	const chunk = 512
	_ = ml.ParallelFor((len(sum)+chunk-1)/chunk, workers, func(c int) error {
		lo, hi := c*chunk, min(len(sum), (c+1)*chunk)
		for _, p := range preds {
			for i := lo; i < hi; i++ {
				sum[i] += p[i]
			}
		}
		return nil
	})
}

// ShareBins makes Fit and Grow on the matrix of s take its binning instead
// of binning the matrix again. The forest is the same either way.
func (f *RandomForest) ShareBins(s *SharedBins) { f.shared = s }

// cacheFor returns the binned training data, reusing the previous call's
// when Grow is called again with the same slices.
func (f *RandomForest) cacheFor(X *ml.Matrix, y []float64, p ForestParams) *growCache {
	c := f.cache
	if c != nil && c.x == X && c.x.Rows == X.Rows && len(c.y) == len(y) && &c.y[0] == &y[0] && c.maxBins == p.MaxBins {
		return c
	}
	data, ok := f.shared.get(X, p.MaxBins, p.Workers)
	if !ok {
		data = binMatrix(X, p.MaxBins, p.Workers)
	}
	c = &growCache{x: X, y: y, maxBins: p.MaxBins, data: data}
	f.cache = c
	return c
}

// inBag draws a tree's bootstrap sample as per-row draw counts (every row
// once without bootstrap). It is the first use of the tree's generator, so
// the out-of-bag pass can redraw it.
func inBag(rng *rand.Rand, n, draws int, bootstrap bool) []uint16 {
	return drawBag(rng, draws, bootstrap, make([]uint16, n))
}

// drawBag is inBag into counts, whose length is the number of rows (below
// 2³²) and whose contents are overwritten. Each 64-bit output of the
// generator gives two uniform row indices, by Lemire's multiply-and-reject
// method on its 32-bit halves, which is unbiased.
func drawBag(rng *rand.Rand, draws int, bootstrap bool, counts []uint16) []uint16 {
	if !bootstrap {
		for i := range counts {
			counts[i] = 1
		}
		return counts
	}
	clear(counts)
	n := uint64(len(counts))
	reject := uint32(-uint32(n) % uint32(n)) // 2³² mod n: low products below it are biased
	for k := 0; k < draws; {
		x := rng.Uint64()
		if m := (x & (1<<32 - 1)) * n; uint32(m) >= reject {
			counts[m>>32]++
			k++
		}
		if m := (x >> 32) * n; k < draws && uint32(m) >= reject {
			counts[m>>32]++
			k++
		}
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
