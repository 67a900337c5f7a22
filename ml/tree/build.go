package tree

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/housing-mlops/mlops/ml"
)

// featureThreshold is scikit-learn's FEATURE_THRESHOLD: values closer than
// this are treated as equal, so no threshold is placed between them.
const featureThreshold = 1e-7

// impurityEpsilon is scikit-learn's EPSILON (machine epsilon): a node whose
// variance is at most this is pure and becomes a leaf.
const impurityEpsilon = 2.220446049250313e-16

// exactBuilder grows one exact CART tree. Every feature is sorted once; each
// node owns the same range [start, end) of every per-feature sorted list, and
// a split stably partitions those ranges, so the whole build costs
// O(n·features) per tree level instead of a sort per node.
type exactBuilder struct {
	x    []float64
	cols int
	y    []float64
	p    Params
	mtry int
	rng  *rand.Rand // nil when every feature is visited (order is irrelevant then)

	rows [][]int32   // rows[f]: row indices ordered by feature f within each node range
	vals [][]float64 // vals[f][k] = x[rows[f][k], f], kept next to rows for locality

	goLeft  []bool
	tmpRows []int32
	tmpVals []float64
	perm    []int

	nodes    Nodes
	nodeN    []float64 // samples per node, for importances
	nodeImp  []float64 // variance per node
	nodeFeat []int
}

type split struct {
	feature   int
	pos       int // first index of the right child in the sorted range
	threshold float64
	proxy     float64
}

func newExactBuilder(X *ml.Matrix, y []float64, p Params, mtry int) *exactBuilder {
	n, cols := X.Rows, X.Cols
	b := &exactBuilder{x: X.Data, cols: cols, y: y, p: p, mtry: mtry,
		rows: make([][]int32, cols), vals: make([][]float64, cols),
		goLeft: make([]bool, n), tmpRows: make([]int32, n), tmpVals: make([]float64, n),
		perm: make([]int, cols)}
	if mtry < cols {
		b.rng = ml.NewRand(p.Seed, 0)
	}
	type entry struct {
		v float64
		r int32
	}
	es := make([]entry, n)
	for f := 0; f < cols; f++ {
		for i := range es {
			es[i] = entry{X.Data[i*cols+f], int32(i)}
		}
		// Ties are ordered by row, which makes the summation order (and so
		// every rounding) reproducible.
		slices.SortFunc(es, func(a, c entry) int {
			switch {
			case a.v < c.v:
				return -1
			case a.v > c.v:
				return 1
			}
			return int(a.r - c.r)
		})
		r, v := make([]int32, n), make([]float64, n)
		for k, e := range es {
			r[k], v[k] = e.r, e.v
		}
		b.rows[f], b.vals[f] = r, v
	}
	return b
}

type pending struct {
	node, start, end, depth int
}

// build grows the tree depth-first and returns it.
func (b *exactBuilder) build() {
	n := len(b.y)
	root := b.addNode(0, n)
	stack := []pending{{root, 0, n, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if b.isLeaf(it) {
			continue
		}
		s, ok := b.bestSplit(it.start, it.end)
		if !ok {
			continue
		}
		b.partition(s, it.start, it.end)
		left := b.addNode(it.start, s.pos)
		right := b.addNode(s.pos, it.end)
		b.nodes.Feature[it.node] = int32(s.feature)
		b.nodes.Threshold[it.node] = s.threshold
		b.nodes.SetChildren(it.node, left, right)
		b.nodeFeat[it.node] = s.feature
		// Right is pushed first so the left subtree is grown first, as in
		// scikit-learn's depth-first builder.
		stack = append(stack, pending{right, s.pos, it.end, it.depth + 1}, pending{left, it.start, s.pos, it.depth + 1})
	}
}

// addNode appends a leaf for the samples in [start, end) with their mean and
// variance (two-pass, so a constant target gives exactly zero).
func (b *exactBuilder) addNode(start, end int) int {
	rows := b.rows[0][start:end]
	sum := 0.0
	for _, i := range rows {
		sum += b.y[i]
	}
	cnt := float64(end - start)
	mean := sum / cnt
	ss := 0.0
	for _, i := range rows {
		d := b.y[i] - mean
		ss += d * d
	}
	id := b.nodes.Add(Leaf, 0, mean)
	b.nodeN = append(b.nodeN, cnt)
	b.nodeImp = append(b.nodeImp, ss/cnt)
	b.nodeFeat = append(b.nodeFeat, Leaf)
	return id
}

func (b *exactBuilder) isLeaf(it pending) bool {
	n := it.end - it.start
	return (b.p.MaxDepth > 0 && it.depth >= b.p.MaxDepth) ||
		n < b.p.MinSamplesSplit || n < 2*b.p.MinSamplesLeaf ||
		b.nodeImp[it.node] <= impurityEpsilon
}

// bestSplit visits features (in a seeded random order when only mtry of them
// are considered) until mtry non-constant ones were evaluated, keeping the
// first split with the strictly highest impurity-decrease proxy.
func (b *exactBuilder) bestSplit(start, end int) (split, bool) {
	best := split{proxy: math.Inf(-1), pos: -1}
	for j := range b.perm {
		b.perm[j] = j
	}
	visited := 0
	total := 0.0
	for _, i := range b.rows[0][start:end] {
		total += b.y[i]
	}
	for j := 0; j < b.cols && visited < b.mtry; j++ {
		if b.rng != nil {
			r := j + b.rng.IntN(b.cols-j)
			b.perm[j], b.perm[r] = b.perm[r], b.perm[j]
		}
		f := b.perm[j]
		v := b.vals[f]
		if v[end-1] <= v[start]+featureThreshold {
			continue // constant here: does not count towards mtry
		}
		visited++
		b.scanFeature(f, start, end, total, &best)
	}
	return best, best.pos >= 0
}

// scanFeature evaluates every threshold of feature f between distinct values
// that leaves at least MinSamplesLeaf samples on both sides.
func (b *exactBuilder) scanFeature(f, start, end int, total float64, best *split) {
	rows, v := b.rows[f], b.vals[f]
	n := end - start
	minLeaf := b.p.MinSamplesLeaf
	sumL := 0.0
	for k := start; k < end-1; k++ {
		sumL += b.y[rows[k]]
		nL := k + 1 - start
		if v[k+1] <= v[k]+featureThreshold {
			continue
		}
		if nL < minLeaf {
			continue
		}
		nR := n - nL
		if nR < minLeaf {
			break
		}
		sumR := total - sumL
		proxy := sumL*sumL/float64(nL) + sumR*sumR/float64(nR)
		if proxy > best.proxy {
			*best = split{feature: f, pos: k + 1, threshold: Midpoint(v[k], v[k+1]), proxy: proxy}
		}
	}
}

// Midpoint returns the threshold scikit-learn places between consecutive
// distinct values lo < hi: their midpoint, or lo when rounding would make the
// midpoint equal hi (so hi still goes right).
func Midpoint(lo, hi float64) float64 {
	t := lo/2 + hi/2
	if t == hi || math.IsInf(t, 0) {
		t = lo
	}
	return t
}

// partition stably reorders every feature's range [start, end) so that the
// rows going left (those before s.pos in the split feature's order) come
// first.
func (b *exactBuilder) partition(s split, start, end int) {
	for k := start; k < end; k++ {
		b.goLeft[b.rows[s.feature][k]] = k < s.pos
	}
	for f := 0; f < b.cols; f++ {
		if f == s.feature {
			continue // already ordered: left rows are exactly the prefix
		}
		rows, v := b.rows[f], b.vals[f]
		li, ri := start, 0
		for k := start; k < end; k++ {
			r := rows[k]
			if b.goLeft[r] {
				rows[li], v[li] = r, v[k]
				li++
			} else {
				b.tmpRows[ri], b.tmpVals[ri] = r, v[k]
				ri++
			}
		}
		copy(rows[li:end], b.tmpRows[:ri])
		copy(v[li:end], b.tmpVals[:ri])
	}
}

// importances returns scikit-learn's MDI: each split's weighted impurity
// decrease credited to its feature, normalised to sum to 1 (all zeros for a
// single-leaf tree).
func importances(t *Nodes, nodeN, nodeImp []float64, cols int) []float64 {
	out := make([]float64, cols)
	for i, f := range t.Feature {
		if f == Leaf {
			continue
		}
		l, r := t.Left[i], t.Right[i]
		out[f] += nodeN[i]*nodeImp[i] - nodeN[l]*nodeImp[l] - nodeN[r]*nodeImp[r]
	}
	Normalise(out)
	return out
}

// Normalise scales v in place to sum to 1; a zero vector stays zero.
func Normalise(v []float64) {
	s := 0.0
	for _, x := range v {
		s += x
	}
	if s > 0 {
		for i := range v {
			v[i] /= s
		}
	}
}
