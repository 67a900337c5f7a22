package cluster

import "github.com/housing-mlops/mlops/ml"

// hartigan refines a Lloyd result in place by single-point moves. Moving row
// x from cluster a (n_a rows, mean c_a) to cluster b changes the inertia by
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
func hartigan(X *ml.Matrix, k, maxSweeps int, r *run) {
	n, d := X.Rows, X.Cols
	labels, centers := r.labels, r.centers
	sums := make([]float64, k*d)
	counts := make([]int, k)
	// join[c] = n_c/(n_c+1), the factor on the squared distance of a row
	// joining c (0 for an empty cluster: joining it costs nothing);
	// leave[c] = n_c/(n_c−1). Kept per cluster so the inner loop does not
	// divide.
	join := make([]float64, k)
	leave := make([]float64, k)
	for r.sweeps < maxSweeps {
		r.sweeps++
		clusterSums(X, labels, sums, counts)
		means(sums, counts, centers, d)
		for c := range counts {
			setFactors(c, counts, join, leave)
		}
		moved := false
		for i := 0; i < n; i++ {
			a := labels[i]
			if counts[a] < 2 {
				continue // a singleton cannot leave: its cluster would vanish
			}
			x := X.Row(i)
			gain := leave[a] * sqDist(x, centers[a*d:(a+1)*d])
			b, cost := bestJoin(x, centers, join, a)
			// The margin keeps rounding noise from moving a row back and
			// forth; any real improvement is far larger.
			if b < 0 || gain-cost <= 1e-12*gain {
				continue
			}
			labels[i] = b
			moveRow(x, a, b, sums, counts, centers)
			setFactors(a, counts, join, leave)
			setFactors(b, counts, join, leave)
			moved = true
		}
		if !moved {
			break
		}
	}
	clusterSums(X, labels, sums, counts)
	means(sums, counts, centers, d)
	inertia := 0.0
	for i := 0; i < n; i++ {
		c := labels[i]
		inertia += sqDist(X.Row(i), centers[c*d:(c+1)*d])
	}
	r.inertia = inertia
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
// join[b]·|x−c_b|², and that cost; -1 if there is no other cluster. The
// lowest index wins a tie.
func bestJoin(x, centers, join []float64, a int) (int, float64) {
	if len(x) == 2 {
		return bestJoin2(x[0], x[1], centers, join, a)
	}
	d := len(x)
	best, bestCost := -1, 0.0
	for c, w := range join {
		if c == a {
			continue
		}
		if cost := w * sqDist(x, centers[c*d:(c+1)*d]); best < 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, bestCost
}

// bestJoin2 is bestJoin unrolled for two-dimensional rows (coordinates),
// the hot path of the refinement.
func bestJoin2(px, py float64, centers, join []float64, a int) (int, float64) {
	centers = centers[:2*len(join)]
	best, bestCost := -1, 0.0
	for c, w := range join {
		if c == a {
			continue
		}
		dx, dy := px-centers[2*c], py-centers[2*c+1]
		if cost := w * (dx*dx + dy*dy); best < 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best, bestCost
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

// means writes sums/counts into centers, leaving an empty cluster's centre
// as it was (finite, and never used: joining an empty cluster costs 0).
func means(sums []float64, counts []int, centers []float64, d int) {
	for c, cnt := range counts {
		if cnt == 0 {
			continue
		}
		inv := 1 / float64(cnt)
		for j := c * d; j < (c+1)*d; j++ {
			centers[j] = sums[j] * inv
		}
	}
}
