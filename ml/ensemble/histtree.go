package ensemble

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/housing-mlops/mlops/ml/tree"
)

// treeRules are the stopping rules of one forest tree.
type treeRules struct {
	maxDepth, minSplit, minLeaf, mtry int
}

// histBin accumulates one bin of a node histogram: the weighted target sum,
// and the bootstrap weight and the number of distinct rows (for the
// min-samples rules, counted like scikit-learn) packed into one integer as
// weight·2²⁴ + rows, so a histogram pass does two additions per row instead
// of three.
type histBin struct {
	wn uint64
	s  float64
}

// packShift separates the weight from the row count in histBin.wn; row
// counts stay below it (16.7 million rows per tree).
const packShift = 1 << 24

// forestBuilder grows weighted CART trees on bin codes, one after another:
// a worker keeps one builder and its buffers for all the trees it grows. The
// rows drawn by the bootstrap are listed once in smp with their weights
// (draw counts), so no feature row is copied; a node at depth d owns
// smp[d&1][start:end], and a split partitions that range into the other
// buffer, where its children find their rows: a partition writes each row
// once and copies nothing back.
//
// A node's weight and weighted target sum come from its parent's histogram
// scan, so the rows of a node are read only to build histograms and to
// partition them, and not at all when both children are leaves.
type forestBuilder struct {
	data  *binned
	y     []float64
	rules treeRules
	rng   *rand.Rand

	counts []uint16    // scratch: bootstrap draw counts per training row
	smp    [2][]sample // rows in the tree, grouped by node, see above

	hist [maxLanes][256]histBin
	mask [maxLanes][4]uint64 // occupied bins of hist
	perm []int

	// Scratch of scanHist: per occupied bin, in order, its code and the
	// running sums up to it.
	occ [256]uint8
	cw  [256]uint64
	cs  [256]float64

	nodes tree.Nodes // the tree being grown; build returns a copy sized to fit
	imp   []float64  // per feature, the weighted impurity decrease of its splits
	stack []histPending

	// Rows to predict while the tree grows (nil eval: none): like smp, a
	// node at depth d owns vidx[d&1][vstart:vend]; a leaf writes its value
	// to pred.
	eval *evalRows
	vidx [2][]int32
	pred []float64
}

// evalRows are rows to predict, column-major so that routing them down a
// split reads one contiguous column.
type evalRows struct {
	rows int
	cols []float64 // cols[f*rows+i]: feature f of row i
}

// sample is one distinct bootstrap row of a tree. Keeping a row's fields
// together means a split moves one record and a histogram pass reads
// contiguous memory.
type sample struct {
	y   float64 // target
	row int32
	w   uint32 // bootstrap draw count
}

// histSplit is the best cut found in a node so far.
type histSplit struct {
	feature int
	bin     int     // rows with code <= bin go left
	next    int     // first occupied bin on the right
	proxy   float64 // sL²/wL + sR²/wR, see scanHist

	// The left side: weight·2²⁴ + distinct rows, and weighted target sum.
	wnL uint64
	sL  float64
	// constant[0] (constant[1]) is the set of features constant in the
	// left (right) child, as far as the split shows.
	constant [2]featureSet
}

// featureSet is a set of feature indices; features from 64 on are never in
// it (the forest then only forgoes an optimisation). Go's shifts by 64 or
// more give 0, which keeps them out without a branch.
type featureSet uint64

// bit is 1 if f is in s, else 0.
func (s featureSet) bit(f int) int { return int(s >> uint(f) & 1) }

func (s *featureSet) add(f int) { *s |= 1 << uint(f) }

func newForestBuilder(data *binned, y []float64, rules treeRules) *forestBuilder {
	return &forestBuilder{data: data, y: y, rules: rules, perm: make([]int, data.cols), imp: make([]float64, data.cols)}
}

// reset prepares the next tree: rng is its generator, whose first use draws
// the bootstrap sample, and pred (with eval) receives its predictions of the
// eval rows.
func (b *forestBuilder) reset(rng *rand.Rand, draws int, bootstrap bool, eval *evalRows, pred []float64) {
	b.rng, b.eval, b.pred = rng, eval, pred
	if len(b.counts) != b.data.rows {
		b.counts = make([]uint16, b.data.rows)
	}
	drawBag(rng, draws, bootstrap, b.counts)
	if len(b.smp[1]) < b.data.rows {
		b.smp = [2][]sample{make([]sample, b.data.rows), make([]sample, b.data.rows)}
	}
	// Every row is written and the cursor advances past the drawn ones:
	// whether a row was drawn is a coin flip no branch predictor learns.
	smp, y, n := b.smp[0][:b.data.rows], b.y[:len(b.counts)], 0
	for i, c := range b.counts {
		smp[n] = sample{y: y[i], row: int32(i), w: uint32(c)}
		n += int((uint32(c) + 0xffff) >> 16) // 1 if c > 0
	}
	b.smp[0] = smp[:n]
	b.nodes = tree.Nodes{Feature: b.nodes.Feature[:0], Threshold: b.nodes.Threshold[:0],
		Left: b.nodes.Left[:0], Right: b.nodes.Right[:0], Value: b.nodes.Value[:0]}
	clear(b.imp)
	if eval != nil {
		if len(b.vidx[1]) < eval.rows {
			b.vidx = [2][]int32{make([]int32, eval.rows), make([]int32, eval.rows)}
		}
		for i := range eval.rows {
			b.vidx[0][i] = int32(i)
		}
	}
}

// histPending is a node to split. w and s are its weight and weighted
// target sum. constant holds features known to be constant in it: found
// constant in an ancestor (a constant feature stays constant in every
// subset of the rows), or split on by its parent with a single occupied bin
// on its side.
type histPending struct {
	node, start, end, depth int
	vstart, vend            int // its eval rows
	w, s                    float64
	constant                featureSet
}

// build grows the tree depth-first and returns its nodes and its MDI feature
// importances (weighted impurity decreases, normalised to sum to 1).
func (b *forestBuilder) build() (tree.Nodes, []float64) {
	var W, S float64
	for _, s := range b.smp[0] {
		W += float64(s.w)
		S += float64(s.w) * s.y
	}
	root := histPending{node: b.nodes.Add(tree.Leaf, 0, S/W), end: len(b.smp[0]), w: W, s: S}
	if b.eval != nil {
		root.vend = b.eval.rows
	}
	b.stack = b.stack[:0]
	b.push(root, b.mayGrow(root))
	for len(b.stack) > 0 {
		it := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		if s, ok := b.bestSplit(&it); ok {
			b.split(it, s)
		} else {
			b.predictLeaf(it)
		}
	}
	t := &b.nodes
	out := tree.Nodes{Feature: slices.Clone(t.Feature), Threshold: slices.Clone(t.Threshold),
		Left: slices.Clone(t.Left), Right: slices.Clone(t.Right), Value: slices.Clone(t.Value)}
	imp := slices.Clone(b.imp)
	tree.Normalise(imp)
	return out, imp
}

// split turns node it into a split by s: its two children are added (next
// to each other) as leaves predicting their weighted means, its rows are
// partitioned unless neither child can be split, and the children that can
// be are pushed, left on top.
func (b *forestBuilder) split(it histPending, s histSplit) {
	nL := int(s.wnL & (packShift - 1))
	wL := float64(s.wnL >> 24)
	left := histPending{start: it.start, end: it.start + nL, depth: it.depth + 1, w: wL, s: s.sL,
		constant: it.constant | s.constant[0]}
	right := histPending{start: it.start + nL, end: it.end, depth: it.depth + 1, w: it.w - wL, s: it.s - s.sL,
		constant: it.constant | s.constant[1]}
	left.node = b.nodes.Add(tree.Leaf, 0, left.s/left.w)
	right.node = b.nodes.Add(tree.Leaf, 0, right.s/right.w)
	thr := b.data.cutBetween(s.feature, s.bin, s.next)
	b.nodes.Feature[it.node] = int32(s.feature)
	b.nodes.Threshold[it.node] = thr
	b.nodes.SetChildren(it.node, left.node, right.node)
	// The weighted impurity decrease W·var - wL·varL - wR·varR is the proxy
	// less S²/W.
	b.imp[s.feature] += s.proxy - it.s*it.s/it.w
	vmid := b.route(s.feature, thr, it)
	left.vstart, left.vend, right.vstart, right.vend = it.vstart, vmid, vmid, it.vend
	growL, growR := b.mayGrow(left), b.mayGrow(right)
	if growL || growR {
		b.partition(s, it)
	}
	b.push(right, growR)
	b.push(left, growL)
}

// mayGrow reports whether the rules allow splitting it.
func (b *forestBuilder) mayGrow(it histPending) bool {
	n, r := it.end-it.start, b.rules
	return (r.maxDepth == 0 || it.depth < r.maxDepth) && n >= r.minSplit && n >= 2*r.minLeaf
}

// push queues it for splitting if grow and its targets are not all equal
// (scikit-learn's impurity <= EPSILON test, without the rounding of a
// variance); otherwise it is a leaf.
func (b *forestBuilder) push(it histPending, grow bool) {
	if grow && !b.pure(it) {
		b.stack = append(b.stack, it)
		return
	}
	b.predictLeaf(it)
}

// pure reports whether the rows of it all have the same target. Most nodes
// are told apart within a few rows.
func (b *forestBuilder) pure(it histPending) bool {
	rows := b.rows(it)
	for _, s := range rows[1:] {
		if s.y != rows[0].y {
			return false
		}
	}
	return true
}

// rows returns the rows of node it.
func (b *forestBuilder) rows(it histPending) []sample { return b.smp[it.depth&1][it.start:it.end] }

// route divides the eval rows of node it by the split (feature f at
// threshold thr, compared as Nodes.PredictRow compares) like partition
// divides its training rows, and returns the first index of the right side.
func (b *forestBuilder) route(f int, thr float64, it histPending) int {
	if b.eval == nil {
		return it.vstart
	}
	col := b.eval.cols[f*b.eval.rows : (f+1)*b.eval.rows]
	src := b.vidx[it.depth&1][it.vstart:it.vend]
	dst := b.vidx[(it.depth+1)&1][it.vstart:it.vend]
	l, r := 0, len(dst)-1
	for _, i := range src {
		isRight := 0
		if !(col[i] <= thr) {
			isRight = 1
		}
		dst[l] = i
		dst[r] = i
		l += 1 - isRight
		r -= isRight
	}
	return it.vstart + l
}

// predictLeaf writes the value of leaf it to its eval rows.
func (b *forestBuilder) predictLeaf(it histPending) {
	if b.eval == nil {
		return
	}
	v := b.nodes.Value[it.node]
	for _, i := range b.vidx[it.depth&1][it.vstart:it.vend] {
		b.pred[i] = v
	}
}

// maxLanes is the number of features whose histograms one pass over a
// node's rows fills.
const maxLanes = 3

// bestSplit draws features without replacement until mtry non-constant ones
// were evaluated (constant ones do not count, as in scikit-learn) and keeps
// the split with the strictly highest proxy sL²/wL + sR²/wR.
// Features found constant are added to it.constant.
//
// Features are filled in groups of up to maxLanes: a group never holds more
// features than non-constant ones are still wanted, so each of them would
// have been drawn and evaluated one at a time too, and the random stream and
// the result are the same. Features already known to be constant are drawn
// but not filled.
func (b *forestBuilder) bestSplit(it *histPending) (histSplit, bool) {
	best := histSplit{feature: -1, proxy: -1}
	cols, mtry := b.data.cols, b.rules.mtry
	for j := range b.perm {
		b.perm[j] = j
	}
	var group [maxLanes]int
	visited := 0
	for j := 0; j < cols && visited < mtry; {
		k := 0
		for ; j < cols && k < min(mtry-visited, maxLanes); j++ {
			if mtry < cols {
				r := j + b.rng.IntN(cols-j)
				b.perm[j], b.perm[r] = b.perm[r], b.perm[j]
			}
			// A feature known to be constant is drawn but not kept (k does
			// not advance past it); without a branch, as which features
			// are constant depends on the node.
			f := b.perm[j]
			group[k] = f
			k += 1 - it.constant.bit(f)
		}
		b.fillHist(group[:k], b.rows(*it))
		for l, f := range group[:k] {
			if b.occupied(l) < 2 {
				it.constant.add(f)
				b.clearHist(l)
				continue
			}
			visited++
			b.scanHist(l, f, it, &best)
		}
	}
	return best, best.feature >= 0
}

// denseRows is the node size from which fillHist leaves the bitmaps to
// markBins: in a large node most bins are occupied, so one pass over the
// bins is cheaper than marking every row.
const denseRows = 512

// spreadBins is the largest number of bins a feature may have for fillHist
// to spread its histogram over four copies in a dense node: row j adds to
// bin code + 64·(j mod 4), and foldSpread sums the copies. A feature with
// few bins (a one-hot column has two) sends most consecutive rows to the
// same bin, and each addition then waits for the previous one's store; with
// four copies, consecutive rows never touch the same memory. Measured on
// the housing root node: 3.1 → 2.5 ns per row with one one-hot lane among
// three, 3.7 → 2.6 with three.
const spreadBins = 64

// fillHist builds the histograms of the features of group (lanes 0, 1, ...)
// over smp[start:end] and bitmaps of their non-empty bins, so scanHist
// visits (and clears) only those: deep nodes hold few rows spread over a
// wide bin range. (A byte-per-bin marker array avoids the bitmap's
// read-modify-write but was measured ~15 % slower overall, because every
// scan then walks 32 words.) Three features are filled in one pass: their
// additions are independent, so the processor overlaps them.
func (b *forestBuilder) fillHist(group []int, smp []sample) {
	mark := len(smp) < denseRows
	// spread[l] is 0xc0 when lane l spreads its rows over four copies (see
	// spreadBins), else 0: masking the row's position, shifted, with it
	// gives the copy's offset.
	var spread [maxLanes]uint
	if !mark {
		for l, f := range group {
			if len(b.data.edges[f]) < spreadBins {
				spread[l] = 0xc0
			}
		}
	}
	if len(group) == 3 {
		b.fill3(group, smp, mark, spread)
	} else {
		for l, f := range group {
			codes, last := b.data.padded(f), uint(b.data.stride-1)
			_ = codes[last]
			h, m, sp := &b.hist[l], &b.mask[l], spread[l]
			for j, s := range smp {
				c := codes[uint(s.row)&last]
				k := uint(c) | uint(j)<<6&sp
				h[k&255].wn += uint64(s.w)<<24 | 1
				h[k&255].s += float64(s.w) * s.y
				if mark {
					m[c>>6] |= 1 << (c & 63)
				}
			}
		}
	}
	if !mark {
		for l, f := range group {
			nb := len(b.data.edges[f]) + 1
			if spread[l] != 0 {
				b.foldSpread(l, nb)
			}
			b.markBins(l, nb)
		}
	}
}

// fill3 is fillHist of three features in one pass over the rows. Small
// nodes mark their bins as they go; large ones may spread their bins over
// copies. Each case has a loop of its own: one loop doing both keeps more
// values live than there are registers, and spills them on every row.
func (b *forestBuilder) fill3(group []int, smp []sample, mark bool, spread [maxLanes]uint) {
	c0, c1, c2 := b.data.padded(group[0]), b.data.padded(group[1]), b.data.padded(group[2])
	// Row indices are below the padded length, a power of two, so
	// masking them with len-1 changes nothing but the bounds checks.
	last := uint(b.data.stride - 1)
	_, _, _ = c0[last], c1[last], c2[last]
	h0, h1, h2 := &b.hist[0], &b.hist[1], &b.hist[2]
	if mark {
		m0, m1, m2 := &b.mask[0], &b.mask[1], &b.mask[2]
		for _, s := range smp {
			wn, wy := uint64(s.w)<<24|1, float64(s.w)*s.y
			i := uint(s.row) & last
			a, bb, c := c0[i], c1[i], c2[i]
			h0[a].wn += wn
			h0[a].s += wy
			h1[bb].wn += wn
			h1[bb].s += wy
			h2[c].wn += wn
			h2[c].s += wy
			m0[a>>6] |= 1 << (a & 63)
			m1[bb>>6] |= 1 << (bb & 63)
			m2[c>>6] |= 1 << (c & 63)
		}
		return
	}
	sp0, sp1, sp2 := spread[0], spread[1], spread[2]
	for j, s := range smp {
		wn, wy := uint64(s.w)<<24|1, float64(s.w)*s.y
		i, off := uint(s.row)&last, uint(j)<<6
		ka, kb, kc := (uint(c0[i])|off&sp0)&255, (uint(c1[i])|off&sp1)&255, (uint(c2[i])|off&sp2)&255
		h0[ka].wn += wn
		h0[ka].s += wy
		h1[kb].wn += wn
		h1[kb].s += wy
		h2[kc].wn += wn
		h2[kc].s += wy
	}
}

// foldSpread adds the three upper copies of lane l's first nb bins into
// the first and clears them.
func (b *forestBuilder) foldSpread(l, nb int) {
	h := &b.hist[l]
	for c := 0; c < nb && c < spreadBins; c++ {
		for k := c + spreadBins; k < len(h); k += spreadBins {
			h[c].wn += h[k].wn
			h[c].s += h[k].s
			h[k] = histBin{}
		}
	}
}

// markBins sets the bitmap of lane l from its first nb bins.
func (b *forestBuilder) markBins(l, nb int) {
	h, m := &b.hist[l], &b.mask[l]
	for c := 0; c < nb && c < len(h); c++ {
		// A bin's wn counts its rows in the low bits, below 2²⁴: negated,
		// its sign bit says whether the bin is occupied.
		m[c>>6] |= -h[c].wn >> 63 << (c & 63)
	}
}

// occupied returns the number of non-empty bins of lane l.
func (b *forestBuilder) occupied(l int) int {
	m := &b.mask[l]
	return bits.OnesCount64(m[0]) + bits.OnesCount64(m[1]) + bits.OnesCount64(m[2]) + bits.OnesCount64(m[3])
}

// clearHist empties the occupied bins and the bitmap of lane l.
func (b *forestBuilder) clearHist(l int) {
	h, mask := &b.hist[l], &b.mask[l]
	for w := range mask {
		for m := mask[w]; m != 0; m &= m - 1 {
			h[w<<6|bits.TrailingZeros64(m)] = histBin{}
		}
		mask[w] = 0
	}
}

// scanHist evaluates every cut between occupied bins of lane l (feature f)
// of node it, in increasing order, and clears the histogram. It lists the
// occupied bins with the running sums first, so the loop over the cuts
// carries nothing but the best one.
//
// The proxy sL²/wL + sR²/wR is computed as (sL²·wR + sR²·wL) / (wL·wR),
// with one division.
func (b *forestBuilder) scanHist(l, f int, it *histPending, best *histSplit) {
	h, mask := &b.hist[l], &b.mask[l]
	minLeaf, nAll := uint64(b.rules.minLeaf), uint64(it.end-it.start)
	W, S := it.w, it.s
	// Pass 1: the running sums after each occupied bin, clearing the bins.
	// Row counts rise with the bin, so the valid cuts, after bins lo..hi-1,
	// are one range: lo counts the cuts with fewer than minLeaf rows on the
	// left, hi those with at least minLeaf on the right, without branches
	// (they would depend on the data).
	occ, cw, cs := &b.occ, &b.cw, &b.cs
	var wnL uint64
	var sL float64
	// One loop over the occupied bins, whose number is known, rather than
	// one per bitmap word: each such loop would end at a data-dependent,
	// mispredicted point.
	k, lo, hi := b.occupied(l), 0, 0
	w, m := 0, mask[0]
	for j := 0; j < k; j++ {
		for m == 0 {
			w++
			m = mask[w&3]
		}
		c := w<<6 | bits.TrailingZeros64(m)
		m &= m - 1
		wnL += h[c&255].wn
		sL += h[c&255].s
		h[c&255] = histBin{}
		occ[j&255], cw[j&255], cs[j&255] = uint8(c), wnL, sL
		// Counts are below 2²⁴: the sign bit of a difference is the
		// comparison.
		nL := wnL & (packShift - 1)
		lo += int((nL - minLeaf) >> 63)
		hi += 1 - int((nAll-nL-minLeaf)>>63)
	}
	*mask = [4]uint64{}
	hi = min(hi, k-1) // the last bin is no cut
	if lo >= hi {
		return
	}
	// Pass 2: the best valid cut.
	bestBits, bestK := maxProxy(cw[lo:hi], cs[lo:hi], W, S, int64(math.Float64bits(best.proxy)))
	bestK += lo
	if bestK < lo {
		return
	}
	*best = histSplit{feature: f, bin: int(occ[bestK&255]), next: int(occ[(bestK+1)&255]),
		proxy: math.Float64frombits(uint64(bestBits)), wnL: cw[bestK&255], sL: cs[bestK&255]}
	if bestK == 0 {
		best.constant[0].add(f)
	}
	if bestK+2 == k {
		best.constant[1].add(f)
	}
}

// maxProxy returns the largest proxy (as its bits) of the cuts whose left
// sides have running sums cw[j], cs[j] and the first j that has it, or -1
// when none is above best. Proxies are never negative, and the bits of
// non-negative floats order like the floats, so the comparison is on
// integers, which the compiler turns into conditional moves: which cut
// wins is data a branch predictor cannot learn. (The bits of the -1 that
// stands for no split yet are below every proxy's.)
func maxProxy(cw []uint64, cs []float64, W, S float64, best int64) (int64, int) {
	k := -1
	for j, wn := range cw {
		wL, sL := float64(wn>>24), cs[j]
		wR, sR := W-wL, S-sL
		proxy := (sL*sL*wR + sR*sR*wL) / (wL * wR)
		if bits := int64(math.Float64bits(proxy)); bits > best {
			best, k = bits, j
		}
	}
	return best, k
}

// partition writes the rows of node it to the same range of the other
// buffer, those going left by split s from the front in order and those
// going right from the back in reverse order. It is branch-free: the side
// of a row is unpredictable, so each row is written at both cursors and
// only one advances; a write at the idle cursor lands on a slot a later row
// overwrites, or, for the last row, is that row's own.
func (b *forestBuilder) partition(s histSplit, it histPending) {
	codes, last := b.data.padded(s.feature), uint(b.data.stride-1)
	_ = codes[last]
	cut := uint32(s.bin)
	src := b.rows(it)
	dst := b.smp[(it.depth+1)&1][it.start:it.end]
	l, r := 0, len(dst)-1
	for _, x := range src {
		isRight := int((cut - uint32(codes[uint(x.row)&last])) >> 31)
		dst[l] = x
		dst[r] = x
		l += 1 - isRight
		r -= isRight
	}
}
