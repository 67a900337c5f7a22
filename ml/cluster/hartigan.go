package cluster

import (
	"math"

	"github.com/housing-mlops/mlops/ml"
)

// boundSlack loosens every distance bound (of Lloyd's and Hartigan's
// pruning) by this much, relative to the bound and to the largest
// coordinate (distances between points far from the origin carry rounding
// relative to it): far more than the rounding in keeping the bound, so it
// never claims more than is true.
const boundSlack = 1e-9

// hartiganState is the working state of the Hartigan refinement: a
// partition with its sums, counts and means, and for each row an upper
// bound on its distance to its own centre and a lower bound on its
// distance to any other.
//
// A row cannot gain from moving when even the cheapest conceivable join,
// min_b n_b/(n_b+1) times the squared lower bound, costs at least what
// leaving could save, n_a/(n_a−1) times the squared upper bound (or, that
// failing, the exact squared distance); then it needs no distance, or one,
// instead of K. Bounds are set by a full comparison and then loosened, as
// in Hamerly's k-means, by how far the centres have moved since: every
// move and refresh adds each centre's shift to moveCur (since this pass
// began) and movePrev (since the previous one began); a row, examined once
// per pass, adds its own centre's total to the upper bound and subtracts
// the largest total from the lower one. Since this only skips comparisons
// that would have found nothing, the moves are exactly those of comparing
// every row with every cluster.
type hartiganState struct {
	X             *ml.Matrix
	d             int
	labels        []int
	centers, sums []float64
	counts        []int
	// join[c] = n_c/(n_c+1), the factor on the squared distance of a row
	// joining c (0 for an empty cluster: joining it costs nothing);
	// leave[c] = n_c/(n_c−1). Kept per cluster so the inner loop does not
	// divide. minJoin is at most every join[c] (it only falls within a
	// pass).
	join, leave []float64
	minJoin     float64
	// lower[i] and upper[i] bound row i's distance to any other cluster's
	// centre from below and to its own from above, as of pass boundPass[i]
	// (a row with older bounds gets a full comparison).
	lower, upper      []float64
	boundPass         []int
	pass              int
	moveCur, movePrev []float64
	maxCur, maxPrev   float64
	slack             float64   // boundSlack times the largest |coordinate|
	version           []int     // bumped whenever a cluster gains or loses a row
	old               []float64 // two centres before a move, scratch
	sweeps            int       // passes made by converge, over all calls
	inertia           float64   // set by converge, from scratch
}

// newHartiganState starts from a partition (labels) and any centres (they
// are replaced by the means on the first pass); it takes ownership of both.
func newHartiganState(X *ml.Matrix, k int, labels []int, centers []float64) *hartiganState {
	h := &hartiganState{
		X: X, d: X.Cols, labels: labels, centers: centers,
		sums: make([]float64, k*X.Cols), counts: make([]int, k),
		join: make([]float64, k), leave: make([]float64, k),
		lower: make([]float64, X.Rows), upper: make([]float64, X.Rows),
		boundPass: make([]int, X.Rows),
		pass:      2, // so boundPass 0 is always older than pass−1: never set
		moveCur:   make([]float64, k), movePrev: make([]float64, k),
		old: make([]float64, 2*X.Cols), version: make([]int, k),
	}
	h.slack = boundSlack * maxAbs(X.Data)
	return h
}

// copyFrom makes h an independent copy of o (same shapes).
func (h *hartiganState) copyFrom(o *hartiganState) {
	copy(h.labels, o.labels)
	copy(h.centers, o.centers)
	copy(h.sums, o.sums)
	copy(h.counts, o.counts)
	copy(h.join, o.join)
	copy(h.leave, o.leave)
	copy(h.lower, o.lower)
	copy(h.upper, o.upper)
	copy(h.boundPass, o.boundPass)
	copy(h.moveCur, o.moveCur)
	copy(h.movePrev, o.movePrev)
	copy(h.version, o.version)
	h.minJoin, h.pass, h.maxCur, h.maxPrev, h.slack = o.minJoin, o.pass, o.maxCur, o.maxPrev, o.slack
	h.sweeps, h.inertia = o.sweeps, o.inertia
}

// clone returns an independent copy of h.
func (h *hartiganState) clone() *hartiganState {
	c := newHartiganState(h.X, len(h.counts), make([]int, len(h.labels)), make([]float64, len(h.centers)))
	c.copyFrom(h)
	return c
}

// converge refines the partition by single-point moves. Moving row x from
// cluster a (n_a rows, mean c_a) to cluster b changes the inertia by
//
//	n_b/(n_b+1)·|x−c_b|² − n_a/(n_a−1)·|x−c_a|²
//
// because both means shift towards or away from x. Lloyd only looks at the
// unweighted distances, so it stops at partitions where such a move still
// pays; here every row, in row order, moves to the cluster that lowers the
// inertia most, both means are updated at once, and passes repeat until one
// moves nothing (or maxSweeps passes have run). Fixed row order and strict
// improvement make the result deterministic. On return the centres are
// exactly the cluster means and the inertia is recomputed from scratch.
func (h *hartiganState) converge(maxSweeps int) {
	settled := false
	for pass := 0; pass < maxSweeps && !settled; pass++ {
		h.sweeps++
		h.pass++
		h.movePrev, h.moveCur = h.moveCur, h.movePrev
		clear(h.moveCur)
		h.maxCur, h.maxPrev = 0, 0
		for _, m := range h.movePrev {
			h.maxPrev = max(h.maxPrev, m)
		}
		h.refresh()
		settled = !h.sweep()
	}
	h.refresh()
	inertia := 0.0
	for i, c := range h.labels {
		inertia += sqDist(h.X.Row(i), h.centers[c*h.d:(c+1)*h.d])
	}
	h.inertia = inertia
}

// store copies the outcome into r.
func (h *hartiganState) store(r *run) {
	copy(r.labels, h.labels)
	copy(r.centers, h.centers)
	r.inertia, r.sweeps = h.inertia, h.sweeps
}

// refresh recomputes the sums, counts, factors and means from the labels,
// so rounding from incremental updates does not build up across passes,
// and counts how far that moved each centre.
func (h *hartiganState) refresh() {
	clusterSums(h.X, h.labels, h.sums, h.counts)
	d := h.d
	h.minJoin = math.Inf(1)
	for c, cnt := range h.counts {
		setFactors(c, h.counts, h.join, h.leave)
		h.minJoin = min(h.minJoin, h.join[c])
		if cnt == 0 {
			continue
		}
		inv := 1 / float64(cnt)
		mean := h.centers[c*d : (c+1)*d]
		copy(h.old, mean)
		for j := range mean {
			mean[j] = h.sums[c*d+j] * inv
		}
		h.moved(c, h.old[:d])
	}
}

// moved adds how far centre c has moved from old to both shift totals.
func (h *hartiganState) moved(c int, old []float64) {
	m := math.Sqrt(sqDist(old, h.centers[c*h.d:(c+1)*h.d]))
	h.moveCur[c] += m
	h.movePrev[c] += m
	h.maxCur = max(h.maxCur, h.moveCur[c])
	h.maxPrev = max(h.maxPrev, h.movePrev[c])
}

// bounds returns lower and upper bounds, as of now, on row i's distance
// to the nearest other centre and to its own (cluster a's), or ok false if
// the row has none recent enough.
func (h *hartiganState) bounds(i, a int) (lo, hi float64, ok bool) {
	var shift, own float64
	switch h.boundPass[i] {
	case h.pass:
		shift, own = h.maxCur, h.moveCur[a]
	case h.pass - 1:
		shift, own = h.maxPrev, h.movePrev[a]
	default:
		return 0, 0, false
	}
	lo = max(0, (h.lower[i]-shift)*(1-boundSlack)-h.slack)
	hi = (h.upper[i]+own)*(1+boundSlack) + h.slack
	return lo, hi, true
}

// sweep examines every row once and reports whether any moved.
func (h *hartiganState) sweep() bool {
	moved := false
	for i, a := range h.labels {
		if h.counts[a] < 2 {
			continue // a singleton cannot leave: its cluster would vanish
		}
		lo, hi, ok := h.bounds(i, a)
		// Bounds alone: leaving saves at most leave·hi², joining costs at
		// least minJoin·lo². Most rows stop here.
		if ok && h.minJoin*lo*lo >= h.leave[a]*hi*hi {
			h.lower[i], h.upper[i], h.boundPass[i] = lo, hi, h.pass
			continue
		}
		if h.examine(i, a, lo, ok) {
			moved = true
		}
	}
	return moved
}

// examine moves row i, in cluster a, to the cluster that lowers the
// inertia most, if any, and reports whether it moved; lo is its lower
// bound from bounds (if ok).
func (h *hartiganState) examine(i, a int, lo float64, ok bool) bool {
	d := h.d
	x := h.X.Row(i)
	own := sqDist(x, h.centers[a*d:(a+1)*d])
	gain := h.leave[a] * own
	if ok && h.minJoin*lo*lo >= gain {
		h.lower[i], h.upper[i], h.boundPass[i] = lo, math.Sqrt(own), h.pass
		return false
	}
	b, cost, nearest := bestJoin(x, h.centers, h.join, a)
	h.lower[i], h.upper[i], h.boundPass[i] = math.Sqrt(nearest), math.Sqrt(own), h.pass
	// The margin keeps rounding noise from moving a row back and forth;
	// any real improvement is far larger.
	if b < 0 || gain-cost <= 1e-12*gain {
		return false
	}
	h.labels[i] = b
	h.boundPass[i] = 0 // its own cluster changed: compare in full next time
	copy(h.old[:d], h.centers[a*d:(a+1)*d])
	copy(h.old[d:], h.centers[b*d:(b+1)*d])
	moveRow(x, a, b, h.sums, h.counts, h.centers)
	h.moved(a, h.old[:d])
	h.moved(b, h.old[d:])
	setFactors(a, h.counts, h.join, h.leave)
	setFactors(b, h.counts, h.join, h.leave)
	h.version[a]++
	h.version[b]++
	h.minJoin = min(h.minJoin, h.join[a])
	return true
}

// setFactors updates cluster c's join and leave factors from its count.
func setFactors(c int, counts []int, join, leave []float64) {
	nc := float64(counts[c])
	join[c] = nc / (nc + 1)
	if counts[c] > 1 {
		leave[c] = nc / (nc - 1)
	}
}

// bestJoin returns the cluster other than a that x costs least to join,
// join[b]·|x−c_b|², that cost, and the smallest squared distance to a
// centre other than a's; -1 if there is no other cluster. The lowest index
// wins a tie.
func bestJoin(x, centers, join []float64, a int) (int, float64, float64) {
	if len(x) == 2 {
		return bestJoin2(x[0], x[1], centers, join, a)
	}
	d := len(x)
	best, bestCost, nearest := -1, 0.0, math.Inf(1)
	for c, w := range join {
		if c == a {
			continue
		}
		dist := sqDist(x, centers[c*d:(c+1)*d])
		nearest = min(nearest, dist)
		if cost := w * dist; best < 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, bestCost, nearest
}

// bestJoin2 is bestJoin unrolled for two-dimensional rows (coordinates),
// the hot path of the refinement.
func bestJoin2(px, py float64, centers, join []float64, a int) (int, float64, float64) {
	centers = centers[:2*len(join)]
	best, bestCost, nearest := -1, 0.0, math.Inf(1)
	for c, w := range join {
		if c == a {
			continue
		}
		dx, dy := px-centers[2*c], py-centers[2*c+1]
		dist := dx*dx + dy*dy
		nearest = min(nearest, dist)
		if cost := w * dist; best < 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, bestCost, nearest
}

// moveRow moves a row with values x from cluster a to cluster b, updating
// both clusters' sums, counts and means.
func moveRow(x []float64, a, b int, sums []float64, counts []int, centers []float64) {
	d := len(x)
	counts[a]--
	counts[b]++
	ia, ib := 1/float64(counts[a]), 1/float64(counts[b])
	for j, v := range x {
		sums[a*d+j] -= v
		sums[b*d+j] += v
		centers[a*d+j] = sums[a*d+j] * ia
		centers[b*d+j] = sums[b*d+j] * ib
	}
}

// clusterSums recomputes each cluster's coordinate sums and row count from
// the labels, so rounding from incremental updates does not build up across
// passes.
func clusterSums(X *ml.Matrix, labels []int, sums []float64, counts []int) {
	d := X.Cols
	clear(sums)
	clear(counts)
	for i, c := range labels {
		counts[c]++
		for j, v := range X.Row(i) {
			sums[c*d+j] += v
		}
	}
}
