package ensemble

import (
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/tree"
)

// gradBin is one histogram bin of a boosting node: the sum of gradients and
// the number of rows (the hessian of squared error is 1 per row).
type gradBin struct{ g, n float64 }

// boostRules are the growth limits of one boosting tree.
type boostRules struct {
	maxLeaves, maxDepth, minLeaf int
	l2, lr                       float64
}

// growingLeaf is a leaf of the tree being grown, with its histogram and, once
// searched, its best split.
type growingLeaf struct {
	node, start, end, depth int
	g                       float64 // gradient sum
	hist                    []gradBin
	split                   bestCut
}

type bestCut struct {
	ok      bool
	feature int
	bin     int // rows with code <= bin go left
	gain    float64
	gLeft   float64 // gradient sum of the left child
}

// boostBuilder grows one leaf-wise tree on binned data. It is reused across
// iterations so histograms and index buffers are allocated once.
type boostBuilder struct {
	data     *binned
	rowCodes []uint8 // rowCodes[i*cols+f]: the codes of data, row-major
	rules    boostRules
	workers  int

	idx   []int32   // rows in the tree, grouped by leaf
	spare []int32   // scratch for partitionRows
	gOrd  []float64 // gradients gathered in idx order for the node being built
	pool  [][]gradBin
	leafs []*growingLeaf

	nodes  tree.Nodes
	cutBin []int // per node: split bin in code space (for routing rows not in idx)
	gains  []float64
}

func newBoostBuilder(data *binned, rules boostRules, workers int) *boostBuilder {
	rc := make([]uint8, data.rows*data.cols)
	for f := 0; f < data.cols; f++ {
		for i, c := range data.col(f) {
			rc[i*data.cols+f] = c
		}
	}
	return &boostBuilder{data: data, rowCodes: rc, rules: rules, workers: ml.Workers(workers, data.cols),
		gOrd: make([]float64, data.rows), spare: make([]int32, data.rows), gains: make([]float64, data.cols)}
}

func (b *boostBuilder) getHist() []gradBin {
	if n := len(b.pool); n > 0 {
		h := b.pool[n-1]
		b.pool = b.pool[:n-1]
		clear(h)
		return h
	}
	return make([]gradBin, b.data.cols*256)
}

// build grows a tree on the given rows (all rows, or an iteration's
// subsample) with gradients grad, and returns it with leaf values already
// scaled by the learning rate. rows is reordered in place.
func (b *boostBuilder) build(rows []int32, grad []float64) tree.Nodes {
	b.idx = rows
	b.nodes = tree.Nodes{}
	b.cutBin = b.cutBin[:0]
	clear(b.gains)
	root := &growingLeaf{node: b.addNode(), start: 0, end: len(rows), hist: b.getHist()}
	for _, i := range rows {
		root.g += grad[i]
	}
	b.fillHist(root, grad)
	b.findSplit(root)
	b.leafs = append(b.leafs[:0], root)
	for len(b.leafs) < b.rules.maxLeaves {
		k := b.bestLeaf()
		if k < 0 {
			break
		}
		b.splitLeaf(k, grad)
	}
	for _, l := range b.leafs {
		b.nodes.Value[l.node] = -b.rules.lr * l.g / (float64(l.end-l.start) + b.rules.l2)
		b.pool = append(b.pool, l.hist)
	}
	return b.nodes
}

func (b *boostBuilder) addNode() int {
	b.cutBin = append(b.cutBin, -1)
	return b.nodes.Add(tree.Leaf, 0, 0)
}

// bestLeaf returns the index in b.leafs of the splittable leaf with the
// highest gain (the lowest node id on ties), or -1.
func (b *boostBuilder) bestLeaf() int {
	best := -1
	for k, l := range b.leafs {
		if l.split.ok && (best < 0 || l.split.gain > b.leafs[best].split.gain) {
			best = k
		}
	}
	return best
}

// splitLeaf replaces leaf k by its two children: the smaller child's
// histogram is built from its rows, the larger one's is the parent's minus
// the smaller's (LightGBM's subtraction trick, which halves the work).
func (b *boostBuilder) splitLeaf(k int, grad []float64) {
	p := b.leafs[k]
	s := p.split
	codes := b.data.col(s.feature)
	cut := uint8(s.bin)
	mid := partitionRows(b.idx, p.start, p.end, codes, cut, b.spare)
	left := &growingLeaf{node: b.addNode(), start: p.start, end: mid, depth: p.depth + 1, g: s.gLeft}
	right := &growingLeaf{node: b.addNode(), start: mid, end: p.end, depth: p.depth + 1, g: p.g - s.gLeft}
	b.nodes.Feature[p.node] = int32(s.feature)
	b.nodes.Threshold[p.node] = b.data.edges[s.feature][s.bin]
	b.nodes.SetChildren(p.node, left.node, right.node)
	b.cutBin[p.node] = s.bin
	b.gains[s.feature] += s.gain

	small, large := left, right
	if right.end-right.start < left.end-left.start {
		small, large = right, left
	}
	small.hist = b.getHist()
	b.fillHist(small, grad)
	large.hist = p.hist
	for i := range large.hist {
		large.hist[i].g -= small.hist[i].g
		large.hist[i].n -= small.hist[i].n
	}
	b.findSplit(left)
	b.findSplit(right)
	b.leafs[k] = left
	b.leafs = append(b.leafs, right)
}

// partitionRows moves rows of idx[start:end] whose code is <= cut to the
// front, keeping each side in its original order (stable, so later
// histogram passes read the columns in increasing row order), and returns
// the boundary.
func partitionRows(idx []int32, start, end int, codes []uint8, cut uint8, scratch []int32) int {
	// Left rows are compacted forward in place; right rows go to scratch
	// and are copied back behind them.
	seg := idx[start:end]
	w := 0
	right := scratch[:len(seg)]
	w, j := 0, 0
	for _, r := range seg {
		// Branch-free: the side is data-dependent and unpredictable, so
		// write both candidates and advance one cursor.
		isRight := int((uint32(cut) - uint32(codes[r])) >> 31)
		seg[w] = r
		right[j] = r
		w += 1 - isRight
		j += isRight
	}
	copy(seg[w:], right[:j])
	return start + w
}

// histParallelMin is the node size from which a histogram is built with
// one goroutine per feature group; below it goroutine start-up costs more
// than it saves. The result is the same either way (features are
// independent).
const histParallelMin = 2048

// fillHist builds the per-feature histograms of leaf l. It walks the rows
// once and updates every feature from the row-major codes (one gradient
// load and one contiguous code read per row); large leaves split the
// features between goroutines, which does not change any sum.
func (b *boostBuilder) fillHist(l *growingLeaf, grad []float64) {
	rows := b.idx[l.start:l.end]
	g := b.gOrd[:len(rows)]
	for k, r := range rows {
		g[k] = grad[r]
	}
	cols := b.data.cols
	rc := b.rowCodes
	hist := l.hist
	part := func(f0, f1 int) {
		for k, r := range rows {
			gk := g[k]
			codes := rc[int(r)*cols+f0 : int(r)*cols+f1]
			for j, c := range codes {
				h := &hist[(f0+j)<<8|int(c)]
				h.g += gk
				h.n++
			}
		}
	}
	if len(rows) < histParallelMin || b.workers == 1 {
		part(0, cols)
		return
	}
	parts := min(b.workers, cols)
	_ = ml.ParallelFor(parts, parts, func(i int) error {
		part(i*cols/parts, (i+1)*cols/parts)
		return nil
	})
}

// findSplit records the best cut of leaf l over all features, if any
// respects the size and depth limits and has positive gain.
func (b *boostBuilder) findSplit(l *growingLeaf) {
	l.split = bestCut{}
	n := l.end - l.start
	r := b.rules
	if n < 2*r.minLeaf || (r.maxDepth > 0 && l.depth >= r.maxDepth) {
		return
	}
	lam := r.l2
	parent := l.g * l.g / (float64(n) + lam)
	for f := 0; f < b.data.cols; f++ {
		h := l.hist[f*256 : (f+1)*256]
		nb := len(b.data.edges[f]) // last bin index; no cut after it
		var gL, nL float64
		for c := 0; c < nb; c++ {
			if h[c].n == 0 {
				continue
			}
			gL += h[c].g
			nL += h[c].n
			if int(nL) < r.minLeaf {
				continue
			}
			nR := float64(n) - nL
			if int(nR) < r.minLeaf {
				break
			}
			gR := l.g - gL
			gain := gL*gL/(nL+lam) + gR*gR/(nR+lam) - parent
			if gain > l.split.gain && gain > 1e-10*parent {
				l.split = bestCut{ok: true, feature: f, bin: c, gain: gain, gLeft: gL}
			}
		}
	}
}

// route returns the leaf node that row i of the binned data falls into,
// following the code-space cuts (used for rows left out by subsampling).
func (b *boostBuilder) route(i int) int {
	node := 0
	for b.nodes.Feature[node] != tree.Leaf {
		f := b.nodes.Feature[node]
		if b.data.codes[int(f)*b.data.stride+i] <= uint8(b.cutBin[node]) {
			node = int(b.nodes.Left[node])
		} else {
			node = int(b.nodes.Right[node])
		}
	}
	return node
}
