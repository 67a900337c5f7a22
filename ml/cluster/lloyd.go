package cluster

import (
	"math"
	"slices"

	"github.com/housing-mlops/mlops/ml"
)

// lloyd alternates assignment and centre update from the given seeds until
// labels stop changing, the total squared centre shift is at most tol, or
// maxIter iterations have run.
func lloyd(X *ml.Matrix, centers []float64, k, maxIter int, tol float64) run {
	n, d := X.Rows, X.Cols
	labels := make([]int, n)
	prev := make([]int, n)
	for i := range prev {
		prev[i] = -1
	}
	next := make([]float64, k*d)
	counts := make([]int, k)
	b := newBounds(X, k)
	strict := false
	iter := 0
	for iter < maxIter {
		iter++
		b.assign(X, centers, labels)
		for _, i := range updateCenters(X, labels, centers, next, counts) {
			b.forget(i)
		}
		shift := 0.0
		for c := 0; c < k; c++ {
			shift += sqDist(centers[c*d:(c+1)*d], next[c*d:(c+1)*d])
		}
		b.centersMoved(centers, next, labels)
		centers, next = next, centers
		if slices.Equal(labels, prev) {
			strict = true
			break
		}
		if shift <= tol {
			break
		}
		copy(prev, labels)
	}
	if !strict {
		// The labels belong to the previous centres.
		b.assign(X, centers, labels)
	}
	inertia := 0.0
	for i, c := range labels {
		inertia += sqDist(X.Row(i), centers[c*d:(c+1)*d])
	}
	return run{centers: centers, labels: labels, inertia: inertia, nIter: iter}
}

// bounds lets Lloyd's assignment skip rows that provably keep their
// centre, as in Hamerly's k-means (2010): upper[i] bounds row i's distance
// to its centre from above and lower[i] its distance to any other centre
// from below. A row whose upper bound is below its lower bound, or below
// half the distance from its centre to the nearest other centre, is
// strictly nearer its own centre than any other; otherwise its distances
// are computed. When the centres move, each upper bound grows by its own
// centre's shift and each lower bound shrinks by the largest other shift.
// The bounds carry a slack (boundSlack) far above the rounding, so a skipped
// row is one whose nearest centre is unique and unchanged: the labels are
// exactly those of comparing every row with every centre.
type bounds struct {
	upper, lower []float64
	half, shift  []float64
	slack        float64 // boundSlack times the largest |coordinate|
}

func newBounds(X *ml.Matrix, k int) *bounds {
	b := &bounds{
		upper: make([]float64, X.Rows), lower: make([]float64, X.Rows),
		half: make([]float64, k), shift: make([]float64, k),
		slack: boundSlack * maxAbs(X.Data),
	}
	b.forgetAll()
	return b
}

// maxAbs returns the largest absolute value in v.
func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// above and below return a distance rounded up and down by the slack.
func (b *bounds) above(dist float64) float64 { return dist*(1+boundSlack) + b.slack }
func (b *bounds) below(dist float64) float64 { return max(0, dist*(1-boundSlack)-b.slack) }

// forgetAll and forget mark rows for a full comparison.
func (b *bounds) forgetAll() {
	for i := range b.upper {
		b.forget(i)
	}
}

func (b *bounds) forget(i int) {
	b.upper[i], b.lower[i] = math.Inf(1), 0
}

// assign sets each row's label to its nearest centre (the lowest index on
// a tie), computing distances only where the bounds cannot rule out a
// change.
func (b *bounds) assign(X *ml.Matrix, centers []float64, labels []int) {
	d, k := X.Cols, len(b.half)
	for c := range b.half {
		other := math.Inf(1)
		for o := 0; o < k; o++ {
			if o != c {
				other = min(other, sqDist(centers[c*d:(c+1)*d], centers[o*d:(o+1)*d]))
			}
		}
		b.half[c] = b.below(math.Sqrt(other) / 2)
	}
	for i, a := range labels {
		m := max(b.half[a], b.lower[i])
		if b.upper[i] < m {
			continue
		}
		x := X.Row(i)
		b.upper[i] = b.above(math.Sqrt(sqDist(x, centers[a*d:(a+1)*d])))
		if b.upper[i] < m {
			continue
		}
		best, bestD, second := nearestTwo(x, centers, k)
		labels[i] = best
		b.upper[i], b.lower[i] = b.above(math.Sqrt(bestD)), b.below(math.Sqrt(second))
	}
}

// centersMoved loosens the bounds for the centres' move from old to now.
func (b *bounds) centersMoved(old, now []float64, labels []int) {
	d := len(old) / len(b.shift)
	top, second, topC := 0.0, 0.0, -1
	for c := range b.shift {
		s := b.above(math.Sqrt(sqDist(old[c*d:(c+1)*d], now[c*d:(c+1)*d])))
		b.shift[c] = s
		if s > top {
			top, second, topC = s, top, c
		} else if s > second {
			second = s
		}
	}
	for i, a := range labels {
		b.upper[i] += b.shift[a]
		if a == topC {
			b.lower[i] -= second
		} else {
			b.lower[i] -= top
		}
	}
}

// nearestTwo returns the index of the centre closest to x (the lowest index
// on a tie), the squared distance to it, and the squared distance to the
// next closest (+Inf if k is 1). Two-dimensional rows get an unrolled loop
// with the same arithmetic as sqDist.
func nearestTwo(x, centers []float64, k int) (int, float64, float64) {
	best, bestD, second := 0, math.Inf(1), math.Inf(1)
	if len(x) == 2 {
		px, py := x[0], x[1]
		centers = centers[:2*k]
		for c := 0; c < k; c++ {
			dx, dy := px-centers[2*c], py-centers[2*c+1]
			if dist := dx*dx + dy*dy; dist < bestD {
				best, bestD, second = c, dist, bestD
			} else if dist < second {
				second = dist
			}
		}
		return best, bestD, second
	}
	d := len(x)
	for c := 0; c < k; c++ {
		if dist := sqDist(x, centers[c*d:(c+1)*d]); dist < bestD {
			best, bestD, second = c, dist, bestD
		} else if dist < second {
			second = dist
		}
	}
	return best, bestD, second
}

// updateCenters writes the mean of each cluster's rows into next. A cluster
// left empty takes the row farthest from its centre (as scikit-learn
// relocates empty clusters), which leaves that row's old cluster; it
// returns the rows so moved.
func updateCenters(X *ml.Matrix, labels []int, centers, next []float64, counts []int) []int {
	d := X.Cols
	clear(next)
	clear(counts)
	for i, c := range labels {
		counts[c]++
		row := X.Row(i)
		dst := next[c*d : (c+1)*d]
		for j, v := range row {
			dst[j] += v
		}
	}
	moved := relocateEmpty(X, labels, centers, next, counts)
	for c, cnt := range counts {
		if cnt == 0 {
			copy(next[c*d:(c+1)*d], centers[c*d:(c+1)*d])
			continue
		}
		inv := 1 / float64(cnt)
		for j := c * d; j < (c+1)*d; j++ {
			next[j] *= inv
		}
	}
	return moved
}

// relocateEmpty moves the rows farthest from their centres into empty
// clusters, one row per empty cluster, adjusting the running sums, and
// returns the rows it moved.
func relocateEmpty(X *ml.Matrix, labels []int, centers, sums []float64, counts []int) []int {
	if !slices.Contains(counts, 0) {
		return nil
	}
	d := X.Cols
	dist := make([]float64, len(labels))
	for i, c := range labels {
		dist[i] = sqDist(X.Row(i), centers[c*d:(c+1)*d])
	}
	var moved []int
	for c, cnt := range counts {
		if cnt != 0 {
			continue
		}
		far := -1
		for i, v := range dist {
			if !slices.Contains(moved, i) && counts[labels[i]] > 1 && (far < 0 || v > dist[far]) {
				far = i
			}
		}
		if far < 0 {
			break
		}
		moved = append(moved, far)
		old := labels[far]
		row := X.Row(far)
		for j, v := range row {
			sums[old*d+j] -= v
			sums[c*d+j] = v
		}
		counts[old]--
		counts[c] = 1
		labels[far] = c
	}
	return moved
}
