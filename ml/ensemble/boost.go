package ensemble

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

// BoostParams configures GradientBoosting (squared error, histogram bins,
// leaf-wise trees as in scikit-learn's HistGradientBoostingRegressor and
// LightGBM). Zero values take the defaults noted on each field.
type BoostParams struct {
	NEstimators    int     `json:"n_estimators"`     // boosting iterations (trees); 0 = 100
	LearningRate   float64 `json:"learning_rate"`    // shrinkage; 0 = 0.1
	MaxLeafNodes   int     `json:"max_leaf_nodes"`   // leaves per tree; 0 = 31
	MaxDepth       int     `json:"max_depth"`        // 0 = unlimited
	MinSamplesLeaf int     `json:"min_samples_leaf"` // 0 = 20
	L2             float64 `json:"l2_regularization"`
	Subsample      float64 `json:"subsample"` // fraction of rows per iteration, (0, 1]; 0 = 1
	MaxBins        int     `json:"max_bins"`  // bins per feature, 2..255; 0 = 255
	Seed           uint64  `json:"seed"`      // subsampling
	Workers        int     `json:"workers"`   // goroutines; 0 = GOMAXPROCS. Never changes the result.
}

// withDefaults fills the zero values that stand for a default and checks
// the result.
func (p BoostParams) withDefaults() (BoostParams, error) {
	setDefault(&p.NEstimators, 100)
	setDefault(&p.LearningRate, 0.1)
	setDefault(&p.MaxLeafNodes, 31)
	setDefault(&p.MinSamplesLeaf, 20)
	setDefault(&p.Subsample, 1)
	setDefault(&p.MaxBins, defaultMaxBins)
	return p, p.validate()
}

// validate checks the ranges of the params after defaulting.
func (p BoostParams) validate() error {
	switch {
	case p.NEstimators < 1:
		return fmt.Errorf("ensemble: NEstimators %d must be >= 1", p.NEstimators)
	case !(p.LearningRate > 0) || math.IsInf(p.LearningRate, 0):
		return fmt.Errorf("ensemble: LearningRate %v must be > 0", p.LearningRate)
	case p.MaxLeafNodes < 2:
		return fmt.Errorf("ensemble: MaxLeafNodes %d must be >= 2", p.MaxLeafNodes)
	case p.MaxDepth < 0:
		return fmt.Errorf("ensemble: MaxDepth %d must be >= 0 (0 = unlimited)", p.MaxDepth)
	case p.MinSamplesLeaf < 1:
		return fmt.Errorf("ensemble: MinSamplesLeaf %d must be >= 1", p.MinSamplesLeaf)
	case !(p.L2 >= 0) || math.IsInf(p.L2, 0):
		return fmt.Errorf("ensemble: L2 %v must be >= 0", p.L2)
	case !(p.Subsample > 0 && p.Subsample <= 1):
		return fmt.Errorf("ensemble: Subsample %v must be in (0, 1]", p.Subsample)
	case p.MaxBins < 2 || p.MaxBins > defaultMaxBins:
		return fmt.Errorf("ensemble: MaxBins %d must be in 2..%d", p.MaxBins, defaultMaxBins)
	}
	return nil
}

// GradientBoosting is a gradient-boosted ensemble of regression trees for
// squared error: it starts from the mean target and each tree fits the
// residuals of the previous ones, its leaf values scaled by the learning
// rate. Features are binned once per fit, and each tree is grown best-first
// up to MaxLeafNodes leaves on histograms.
//
// All fitted state is exported; json.Marshal/Unmarshal round-trips it
// bit-identically. Predict is safe for concurrent use; Fit and Grow are not.
type GradientBoosting struct {
	Params    BoostParams   `json:"params"`
	NFeatures int           `json:"n_features"`
	Init      float64       `json:"init"`       // baseline prediction (mean of the training target)
	Trees     []tree.Nodes  `json:"trees"`      // leaf values include the learning rate
	Gains     []ml.Float64s `json:"tree_gains"` // per tree, split gain credited to each feature

	cache *boostCache
	flat  *tree.Flat // prediction layout of Trees, rebuilt by Grow and UnmarshalJSON
}

// boostCache is the training state Grow continues from.
type boostCache struct {
	x   *ml.Matrix
	y   []float64
	p   BoostParams
	bld *boostBuilder
	raw []float64 // current prediction of every training row
}

// NewGradientBoosting returns an unfitted model.
func NewGradientBoosting(p BoostParams) *GradientBoosting { return &GradientBoosting{Params: p} }

// Kind names the model type for the artifact container.
func (m *GradientBoosting) Kind() string { return "gradient_boosting" }

// NumTrees returns the number of fitted trees (boosting iterations).
func (m *GradientBoosting) NumTrees() int { return len(m.Trees) }

// Fit boosts Params.NEstimators trees on X (no missing values) and y,
// replacing any previous fit.
func (m *GradientBoosting) Fit(X *ml.Matrix, y []float64) error {
	p, err := m.Params.withDefaults()
	if err != nil {
		return err
	}
	m.Trees, m.Gains, m.cache, m.flat, m.NFeatures, m.Init = nil, nil, nil, nil, 0, 0
	return m.Grow(X, y, p.NEstimators)
}

// Grow continues boosting until the model has total trees; the result is
// bit-identical to Fit with NEstimators = total. X and y must be the data of
// the existing trees. Called again with the same slices it resumes from the
// kept training predictions, so growing step by step costs no more than one
// fit; otherwise it rebuilds them from the trees first.
func (m *GradientBoosting) Grow(X *ml.Matrix, y []float64, total int) error {
	p, err := m.Params.withDefaults()
	if err != nil {
		return err
	}
	if total < len(m.Trees) {
		return fmt.Errorf("ensemble: Grow to %d trees, the model already has %d", total, len(m.Trees))
	}
	if err := ml.CheckXY(X, y); err != nil {
		return fmt.Errorf("ensemble: %w", err)
	}
	if len(m.Trees) > 0 && X.Cols != m.NFeatures {
		return fmt.Errorf("ensemble: Grow on %d columns, the model was fitted on %d", X.Cols, m.NFeatures)
	}
	c := m.cacheFor(X, y, p)
	grad := make([]float64, X.Rows)
	rows := make([]int32, 0, X.Rows)
	for it := len(m.Trees); it < total; it++ {
		for i, r := range c.raw {
			grad[i] = r - y[i]
		}
		rows = sampleRows(rows[:0], X.Rows, p.Subsample, p.Seed, it)
		nodes := c.bld.build(rows, grad)
		c.apply(nodes, rows)
		m.Trees = append(m.Trees, nodes)
		m.Gains = append(m.Gains, append(ml.Float64s(nil), c.bld.gains...))
	}
	m.flat = tree.Flatten(m.Trees)
	return nil
}

// cacheFor returns the training state for X and y: the previous call's when
// the slices are the same, else freshly binned data with the predictions of
// the existing trees (computed like Predict, so they equal what the earlier
// fit had accumulated).
func (m *GradientBoosting) cacheFor(X *ml.Matrix, y []float64, p BoostParams) *boostCache {
	// The kept state depends on every parameter but the tree count.
	key := p
	key.NEstimators = 0
	if c := m.cache; c != nil && c.x == X && c.x.Rows == X.Rows && len(c.y) == len(y) && &c.y[0] == &y[0] && c.p == key {
		return c
	}
	if len(m.Trees) == 0 {
		m.Init = mean(y)
		m.NFeatures = X.Cols
	}
	data := binMatrix(X, p.MaxBins, p.Workers)
	rules := boostRules{maxLeaves: p.MaxLeafNodes, maxDepth: p.MaxDepth, minLeaf: p.MinSamplesLeaf, l2: p.L2, lr: p.LearningRate}
	c := &boostCache{x: X, y: y, p: key, bld: newBoostBuilder(data, rules, p.Workers), raw: m.rawPredict(X)}
	m.cache = c
	return c
}

// sampleRows returns the rows of iteration it: all of them, or each kept
// with probability frac by the iteration's own generator (so the sample does
// not depend on how many iterations an earlier call ran).
func sampleRows(dst []int32, n int, frac float64, seed uint64, it int) []int32 {
	if frac >= 1 {
		for i := 0; i < n; i++ {
			dst = append(dst, int32(i))
		}
		return dst
	}
	rng := ml.NewRand(seed, uint64(it))
	for i := 0; i < n; i++ {
		if rng.Float64() < frac {
			dst = append(dst, int32(i))
		}
	}
	if len(dst) == 0 {
		dst = append(dst, int32(rng.IntN(n)))
	}
	return dst
}

// apply adds a new tree's output to the training predictions: rows the tree
// was grown on are grouped by leaf in rows already; the others (left out by
// subsampling) are routed through the tree's bin cuts.
func (c *boostCache) apply(nodes tree.Nodes, rows []int32) {
	for _, l := range c.bld.leafs {
		v := nodes.Value[l.node]
		for _, r := range rows[l.start:l.end] {
			c.raw[r] += v
		}
	}
	if len(rows) == len(c.raw) {
		return
	}
	in := make([]bool, len(c.raw))
	for _, r := range rows {
		in[r] = true
	}
	for i := range c.raw {
		if !in[i] {
			c.raw[i] += nodes.Value[c.bld.route(i)]
		}
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// rawPredict returns Init plus every tree's output, summed in tree order.
// Big batches run in fixed-size chunks in parallel; each row's sum is the
// same whichever goroutine computes it.
func (m *GradientBoosting) rawPredict(X *ml.Matrix) []float64 {
	out := make([]float64, X.Rows)
	if X.Rows <= predictChunk {
		m.predictRange(X, out, 0, X.Rows)
		return out
	}
	chunks := (X.Rows + predictChunk - 1) / predictChunk
	_ = ml.ParallelFor(chunks, m.Params.Workers, func(c int) error {
		m.predictRange(X, out, c*predictChunk, min(X.Rows, (c+1)*predictChunk))
		return nil
	})
	return out
}

// predictRange fills out[lo:hi], trees outermost so each tree's nodes stay
// in cache across the rows.
func (m *GradientBoosting) predictRange(X *ml.Matrix, out []float64, lo, hi int) {
	for i := lo; i < hi; i++ {
		out[i] = m.Init
	}
	if fl := m.flat; fl != nil && fl.Trees() == len(m.Trees) {
		fl.AddTrees(X.Data[lo*X.Cols:hi*X.Cols], X.Cols, out[lo:hi])
		return
	}
	for t := range m.Trees {
		for i := lo; i < hi; i++ {
			out[i] += m.Trees[t].PredictRow(X.Row(i))
		}
	}
}

// Predict returns the model's prediction for each row of X.
func (m *GradientBoosting) Predict(X *ml.Matrix) ([]float64, error) {
	if len(m.Trees) == 0 {
		return nil, ml.ErrNotFitted
	}
	if err := ml.CheckCols(X, m.NFeatures); err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	return m.rawPredict(X), nil
}

// FeatureImportances returns each feature's share of the total split gain
// (the squared-error reduction) over all trees; they sum to 1. Nil before
// Fit.
func (m *GradientBoosting) FeatureImportances() []float64 {
	if len(m.Trees) == 0 {
		return nil
	}
	out := make([]float64, m.NFeatures)
	for _, g := range m.Gains {
		for j, v := range g {
			out[j] += v
		}
	}
	tree.Normalise(out)
	return out
}

// UnmarshalJSON decodes a saved model and validates every tree.
func (m *GradientBoosting) UnmarshalJSON(data []byte) error {
	type plain GradientBoosting
	var v plain
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("ensemble: decode gradient boosting: %w", err)
	}
	if len(v.Gains) != len(v.Trees) {
		return fmt.Errorf("ensemble: %d trees but %d gain vectors", len(v.Trees), len(v.Gains))
	}
	for t := range v.Trees {
		if err := v.Trees[t].Validate(v.NFeatures); err != nil {
			return fmt.Errorf("ensemble: tree %d: %w", t, err)
		}
		if len(v.Gains[t]) != v.NFeatures {
			return fmt.Errorf("ensemble: tree %d has %d gains for %d features", t, len(v.Gains[t]), v.NFeatures)
		}
	}
	*m = GradientBoosting(v)
	m.flat = tree.Flatten(m.Trees)
	return nil
}
