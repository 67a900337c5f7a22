package ensemble

import (
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/housing-mlops/mlops/ml/tree"
)

// impurityEpsilon is scikit-learn's EPSILON: a node whose weighted variance
// is at most this is pure.
const impurityEpsilon = 2.220446049250313e-16

// treeRules are the stopping rules of one forest tree.
type treeRules struct {
	maxDepth, minSplit, minLeaf, mtry int
}

// histBin accumulates one bin of a node histogram: the weighted target sum,
// and the bootstrap weight and the number of distinct rows (for the
// min-samples rules, counted like scikit-learn) packed into one float64 as
// weight·2²⁴ + rows. Both are whole numbers far below 2⁵³, so the packed sum
// is exact, and a histogram pass does two additions per row instead of
// three.
type histBin struct {
	wn, s float64
}

// packShift separates the weight from the row count in histBin.wn; row
// counts stay below it (16.7 million rows per tree).
const packShift = 1 << 24

// unpack splits a packed weight·2²⁴ + rows sum.
func unpack(wn float64) (w float64, n int32) {
	u := uint64(wn)
	return float64(u >> 24), int32(u & (packShift - 1))
}

// forestBuilder grows one weighted CART tree on bin codes. The rows drawn by
// the bootstrap are listed once in smp with their weights (draw counts), so
// no feature row is copied; a node owns smp[start:end] and a split
// partitions that range.
type forestBuilder struct {
	data  *binned
	rules treeRules
	rng   *rand.Rand

	smp   []sample // rows in the tree, grouped by node
	spare []sample // scratch for partition
	buf   []sample // backing store of smp and spare, for reuse

	hist [256]histBin
	mask [4]uint64 // occupied bins of hist
	perm []int

	nodes   tree.Nodes
	nodeW   []float64 // total weight per node
	nodeS   []float64 // weighted target sum per node
	nodeImp []float64 // weighted variance per node
}

// sample is one distinct bootstrap row of a tree. Keeping a row's fields
// together means a split moves one record and a histogram pass reads
// contiguous memory.
type sample struct {
	wy, y float64 // weight*target, target
	row   int32
	w     float32 // bootstrap draw count (exact in float32)
}

type histSplit struct {
	feature int
	bin     int // rows with code <= bin go left
	next    int // first occupied bin on the right
	proxy   float64
}

// newForestBuilder prepares a tree over the rows with non-zero counts. buf,
// if large enough, is reused for the sample records (its contents do not
// matter), which spares the garbage collector most of a forest's
// allocations.
func newForestBuilder(data *binned, y []float64, counts []uint16, rules treeRules, rng *rand.Rand, buf []sample) *forestBuilder {
	b := &forestBuilder{data: data, rules: rules, rng: rng, perm: make([]int, data.cols)}
	n := 0
	for _, c := range counts {
		if c != 0 {
			n++
		}
	}
	if cap(buf) < 2*n {
		buf = make([]sample, 2*n)
	}
	b.buf, b.smp, b.spare = buf, buf[:0:n], buf[n:2*n]
	for i, c := range counts {
		if c != 0 {
			b.smp = append(b.smp, sample{wy: float64(c) * y[i], y: y[i], row: int32(i), w: float32(c)})
		}
	}
	// Pre-size the node arrays: a tree has at most 2·n/minLeaf nodes.
	nodes := min(2*n/rules.minLeaf+1, 1<<14)
	b.nodes = tree.Nodes{Feature: make([]int32, 0, nodes), Threshold: make([]float64, 0, nodes),
		Left: make([]int32, 0, nodes), Right: make([]int32, 0, nodes), Value: make([]float64, 0, nodes)}
	b.nodeW, b.nodeS, b.nodeImp = make([]float64, 0, nodes), make([]float64, 0, nodes), make([]float64, 0, nodes)
	return b
}

type histPending struct{ node, start, end, depth int }

// build grows the tree depth-first and returns its nodes and its MDI feature
// importances (weighted impurity decreases, normalised to sum to 1).
func (b *forestBuilder) build() (tree.Nodes, []float64) {
	n := len(b.smp)
	root := b.addNode(0, n)
	stack := []histPending{{root, 0, n, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if b.isLeaf(it) {
			continue
		}
		s, ok := b.bestSplit(it.start, it.end, b.nodeW[it.node], b.nodeS[it.node])
		if !ok {
			continue
		}
		mid := b.partition(s, it.start, it.end)
		left := b.addNode(it.start, mid)
		right := b.addNode(mid, it.end)
		b.nodes.Feature[it.node] = int32(s.feature)
		b.nodes.Threshold[it.node] = b.data.cutBetween(s.feature, s.bin, s.next)
		b.nodes.SetChildren(it.node, left, right)
		stack = append(stack, histPending{right, mid, it.end, it.depth + 1}, histPending{left, it.start, mid, it.depth + 1})
	}
	imp := make([]float64, b.data.cols)
	t := &b.nodes
	for i, f := range t.Feature {
		if f != tree.Leaf {
			l, r := t.Left[i], t.Right[i]
			imp[f] += b.nodeW[i]*b.nodeImp[i] - b.nodeW[l]*b.nodeImp[l] - b.nodeW[r]*b.nodeImp[r]
		}
	}
	tree.Normalise(imp)
	return b.nodes, imp
}

// addNode appends a leaf predicting the weighted mean of smp[start:end] and
// records its weight and weighted variance. Deviations are taken from the
// first target so a constant node has exactly zero variance.
func (b *forestBuilder) addNode(start, end int) int {
	y0 := b.smp[start].y
	var W, S, Q, WY float64
	for _, s := range b.smp[start:end] {
		w, d := float64(s.w), s.y-y0
		W += w
		S += w * d
		Q += w * d * d
		WY += s.wy
	}
	mean := S / W
	id := b.nodes.Add(tree.Leaf, 0, y0+mean)
	b.nodeW = append(b.nodeW, W)
	b.nodeS = append(b.nodeS, WY)
	b.nodeImp = append(b.nodeImp, math.Max(0, Q/W-mean*mean))
	return id
}

func (b *forestBuilder) isLeaf(it histPending) bool {
	n := it.end - it.start
	r := b.rules
	return (r.maxDepth > 0 && it.depth >= r.maxDepth) || n < r.minSplit || n < 2*r.minLeaf ||
		b.nodeImp[it.node] <= impurityEpsilon
}

// bestSplit draws features without replacement until mtry non-constant ones
// were evaluated (constant ones do not count, as in scikit-learn) and keeps
// the split with the strictly highest proxy sL²/wL + sR²/wR.
// W and S are the node's total weight and weighted target sum.
func (b *forestBuilder) bestSplit(start, end int, W, S float64) (histSplit, bool) {
	best := histSplit{feature: -1, proxy: math.Inf(-1)}
	cols := b.data.cols
	for j := range b.perm {
		b.perm[j] = j
	}
	visited := 0
	for j := 0; j < cols && visited < b.rules.mtry; j++ {
		if b.rules.mtry < cols {
			r := j + b.rng.IntN(cols-j)
			b.perm[j], b.perm[r] = b.perm[r], b.perm[j]
		}
		f := b.perm[j]
		if !b.fillHist(f, start, end) {
			continue
		}
		visited++
		b.scanHist(f, end-start, W, S, &best)
	}
	return best, best.feature >= 0
}

// fillHist builds feature f's histogram over smp[start:end] and a bitmap of
// its non-empty bins, so scanHist visits (and clears) only those: deep nodes
// hold few rows spread over a wide bin range. (A byte-per-bin marker array
// avoids the bitmap's read-modify-write but was measured ~15 % slower
// overall, because every scan then walks 32 words.) It reports whether at
// least two bins are occupied; otherwise the feature is constant here and
// the histogram is already cleared.
func (b *forestBuilder) fillHist(f, start, end int) bool {
	codes := b.data.col(f)
	h := &b.hist
	m := &b.mask
	for _, s := range b.smp[start:end] {
		c := codes[s.row]
		h[c].wn += float64(s.w)*packShift + 1
		h[c].s += s.wy
		m[c>>6] |= 1 << (c & 63)
	}
	if bits.OnesCount64(m[0])+bits.OnesCount64(m[1])+bits.OnesCount64(m[2])+bits.OnesCount64(m[3]) > 1 {
		return true
	}
	b.clearHist()
	return false
}

// clearHist empties the occupied bins and the bitmap.
func (b *forestBuilder) clearHist() {
	for w := range b.mask {
		for m := b.mask[w]; m != 0; m &= m - 1 {
			b.hist[w<<6|bits.TrailingZeros64(m)] = histBin{}
		}
		b.mask[w] = 0
	}
}

// scanHist evaluates every cut between occupied bins, in increasing order,
// then clears the histogram.
func (b *forestBuilder) scanHist(f, n int, W, S float64, best *histSplit) {
	minLeaf := int32(b.rules.minLeaf)
	nAll := int32(n)
	var wnL, sL float64
	h := &b.hist
	fresh := false // best was just set at the previous occupied bin
scan:
	for w := range b.mask {
		for m := b.mask[w]; m != 0; m &= m - 1 {
			c := w<<6 | bits.TrailingZeros64(m)
			if fresh {
				best.next, fresh = c, false
			}
			bin := h[c]
			wnL += bin.wn
			sL += bin.s
			wL, nL := unpack(wnL)
			if nL < minLeaf {
				continue
			}
			if nAll-nL < minLeaf {
				break scan // also stops at the last bin, which is no cut
			}
			wR, sR := W-wL, S-sL
			proxy := sL*sL/wL + sR*sR/wR
			if proxy > best.proxy {
				*best = histSplit{feature: f, bin: c, proxy: proxy}
				fresh = true
			}
		}
	}
	b.clearHist()
}

// partition moves the rows of smp[start:end] going left to the front,
// keeping both sides in order, and returns the first index of the right
// child. It is branch-free: the side of a row is unpredictable, so each row
// is written to both candidate places and only one cursor advances.
func (b *forestBuilder) partition(s histSplit, start, end int) int {
	codes := b.data.col(s.feature)
	cut := uint32(s.bin)
	seg := b.smp[start:end]
	right := b.spare[:len(seg)]
	l, r := 0, 0
	for _, x := range seg {
		isRight := int((cut - uint32(codes[x.row])) >> 31)
		seg[l] = x
		right[r] = x
		l += 1 - isRight
		r += isRight
	}
	copy(seg[l:], right[:r])
	return start + l
}
