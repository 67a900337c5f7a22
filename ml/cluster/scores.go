package cluster

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/housing-mlops/mlops/ml"
)

// silhouetteBlock is the number of rows one parallel task scores: large
// enough to amortise scheduling, small enough to balance two cores.
const silhouetteBlock = 256

// silhouetteTile is the side of the square tiles of the 2-D pair loop.
const silhouetteTile = 512

// Silhouette returns the mean silhouette coefficient of all rows of X under
// labels, computed exactly over every pair of rows with Euclidean distance
// (scikit-learn's silhouette_score without sampling).
//
// For row i with mean distance a to the other rows of its cluster and mean
// distance b to the rows of the nearest other cluster, s(i) = (b-a)/max(a,b);
// a row alone in its cluster scores 0. Every partial sum has one fixed
// place and order of accumulation, and per-row scores are summed in order,
// so the result is the same for any number of workers.
func Silhouette(X *ml.Matrix, labels []int, workers int) (float64, error) {
	g, err := groupRows(X, labels)
	if err != nil {
		return 0, fmt.Errorf("cluster: silhouette: %w", err)
	}
	n := X.Rows
	var scores []float64
	if g.dim == 2 {
		scores, err = g.scores2D(workers)
	} else {
		scores, err = g.scoresRowwise(X, workers)
	}
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, s := range scores {
		total += s
	}
	return total / float64(n), nil
}

// scoresRowwise scores each row from its distances to every other row
// (any dimension); scores are indexed by original row.
func (g *groups) scoresRowwise(X *ml.Matrix, workers int) ([]float64, error) {
	n := X.Rows
	scores := make([]float64, n)
	blocks := (n + silhouetteBlock - 1) / silhouetteBlock
	err := ml.ParallelFor(blocks, workers, func(b int) error {
		sums := make([]float64, len(g.start)-1)
		for i := b * silhouetteBlock; i < min(n, (b+1)*silhouetteBlock); i++ {
			g.distanceSums(X.Row(i), sums)
			scores[i] = g.score(g.label[i], sums)
		}
		return nil
	})
	return scores, err
}

// groups holds X's rows sorted by cluster so each cluster's points are
// contiguous: the inner loop of Silhouette then streams through memory and
// accumulates one cluster's distance sum at a time.
type groups struct {
	dim    int
	label  []int     // dense cluster id of each original row
	start  []int     // cluster c occupies sorted rows [start[c], start[c+1])
	points []float64 // sorted rows, row-major
	xs, ys []float64 // the two columns of points when dim == 2
}

// groupRows validates labels and builds the sorted layout. Labels may be any
// integers; they are mapped to 0..C-1 in increasing order.
func groupRows(X *ml.Matrix, labels []int) (*groups, error) {
	dense, nClusters, err := denseLabels(X, labels)
	if err != nil {
		return nil, err
	}
	if nClusters < 2 || nClusters > X.Rows-1 {
		return nil, fmt.Errorf("%d clusters among %d rows; need 2 <= clusters <= rows-1", nClusters, X.Rows)
	}
	g := &groups{dim: X.Cols, label: dense, start: make([]int, nClusters+1)}
	for _, c := range dense {
		g.start[c+1]++
	}
	for c := 1; c <= nClusters; c++ {
		g.start[c] += g.start[c-1]
	}
	next := slices.Clone(g.start[:nClusters])
	g.points = make([]float64, len(X.Data))
	for i, c := range dense {
		copy(g.points[next[c]*X.Cols:], X.Row(i))
		next[c]++
	}
	if X.Cols == 2 {
		g.xs, g.ys = make([]float64, X.Rows), make([]float64, X.Rows)
		for k := range g.xs {
			g.xs[k], g.ys[k] = g.points[2*k], g.points[2*k+1]
		}
	}
	return g, nil
}

// denseLabels checks X and labels and maps labels to 0..C-1.
func denseLabels(X *ml.Matrix, labels []int) ([]int, int, error) {
	if X == nil {
		return nil, 0, errors.New("input matrix is nil")
	}
	if len(labels) != X.Rows {
		return nil, 0, fmt.Errorf("%d rows but %d labels", X.Rows, len(labels))
	}
	if err := ml.CheckFinite(X); err != nil {
		return nil, 0, err
	}
	uniq := slices.Compact(slices.Sorted(slices.Values(labels)))
	dense := make([]int, len(labels))
	for i, l := range labels {
		dense[i], _ = slices.BinarySearch(uniq, l)
	}
	return dense, len(uniq), nil
}

// distanceSums sets sums[c] to the sum of Euclidean distances from x to the
// rows of cluster c (x's own zero distance included, harmlessly).
func (g *groups) distanceSums(x []float64, sums []float64) {
	for c := range sums {
		lo, hi := g.start[c], g.start[c+1]
		if g.dim == 2 {
			sums[c] = sumDist2(x[0], x[1], g.xs[lo:hi], g.ys[lo:hi])
			continue
		}
		s := 0.0
		for k := lo; k < hi; k++ {
			s += math.Sqrt(sqDist(x, g.points[k*g.dim:(k+1)*g.dim]))
		}
		sums[c] = s
	}
}

// sumDist2 is the 2-D inner loop: sum over k of |(px,py) - (xs[k],ys[k])|.
// Two accumulators let consecutive square roots overlap in the pipeline.
func sumDist2(px, py float64, xs, ys []float64) float64 {
	ys = ys[:len(xs)]
	var s0, s1 float64
	k := 0
	for ; k+1 < len(xs); k += 2 {
		dx0, dy0 := px-xs[k], py-ys[k]
		dx1, dy1 := px-xs[k+1], py-ys[k+1]
		s0 += math.Sqrt(dx0*dx0 + dy0*dy0)
		s1 += math.Sqrt(dx1*dx1 + dy1*dy1)
	}
	if k < len(xs) {
		dx, dy := px-xs[k], py-ys[k]
		s0 += math.Sqrt(dx*dx + dy*dy)
	}
	return s0 + s1
}

// segment is a run of sorted rows inside one tile that share a cluster.
type segment struct{ lo, hi, cluster int }

// scores2D is the 2-D fast path. It uses the symmetry d(i,j) = d(j,i) to
// take each square root once: the sorted rows are cut into tiles, tile pair
// (I, J) with I < J computes each distance once and adds it both to row i's
// sum over J's cluster segment and to row j's sum over I's segment. Each
// (row, segment) sum lives in its own slot of part, written by exactly one
// tile pair in a fixed order, and rows add their slots up in segment order.
// Scores are indexed by sorted position (their sum's order is the caller's
// only concern and it is fixed).
func (g *groups) scores2D(workers int) ([]float64, error) {
	n := len(g.xs)
	tiles := (n + silhouetteTile - 1) / silhouetteTile
	segs, tileSegs := g.segments(tiles)
	part := make([]float64, n*len(segs)) // part[i*len(segs)+s]: row i's distance sum over segment s
	type pair struct{ I, J int }
	var pairs []pair
	for I := 0; I < tiles; I++ {
		for J := I; J < tiles; J++ {
			pairs = append(pairs, pair{I, J})
		}
	}
	err := ml.ParallelFor(len(pairs), workers, func(p int) error {
		g.tilePair(pairs[p].I, pairs[p].J, segs, tileSegs, part)
		return nil
	})
	if err != nil {
		return nil, err
	}
	scores := make([]float64, n)
	err = ml.ParallelFor(tiles, workers, func(I int) error {
		sums := make([]float64, len(g.start)-1)
		for i := I * silhouetteTile; i < min(n, (I+1)*silhouetteTile); i++ {
			clear(sums)
			row := part[i*len(segs) : (i+1)*len(segs)]
			for s, seg := range segs {
				sums[seg.cluster] += row[s]
			}
			scores[i] = g.score(g.sortedLabel(i), sums)
		}
		return nil
	})
	return scores, err
}

// segments cuts every tile at cluster boundaries; tileSegs[t] lists the
// indices into segs of tile t's segments.
func (g *groups) segments(tiles int) ([]segment, [][]int) {
	n := len(g.xs)
	var segs []segment
	tileSegs := make([][]int, tiles)
	c := 0
	for t := 0; t < tiles; t++ {
		lo, hi := t*silhouetteTile, min(n, (t+1)*silhouetteTile)
		for lo < hi {
			for g.start[c+1] <= lo {
				c++
			}
			end := min(hi, g.start[c+1])
			tileSegs[t] = append(tileSegs[t], len(segs))
			segs = append(segs, segment{lo, end, c})
			lo = end
		}
	}
	return segs, tileSegs
}

// sortedLabel returns the cluster of sorted row i.
func (g *groups) sortedLabel(i int) int {
	c, _ := slices.BinarySearch(g.start, i+1)
	return c - 1
}

// tilePair accumulates the distance sums between tiles I <= J into part.
func (g *groups) tilePair(I, J int, segs []segment, tileSegs [][]int, part []float64) {
	ns := len(segs)
	xs, ys := g.xs, g.ys
	if I == J {
		for _, si := range tileSegs[I] {
			for i := segs[si].lo; i < segs[si].hi; i++ {
				for _, sj := range tileSegs[J] {
					part[i*ns+sj] = sumDist2(xs[i], ys[i], xs[segs[sj].lo:segs[sj].hi], ys[segs[sj].lo:segs[sj].hi])
				}
			}
		}
		return
	}
	j0 := J * silhouetteTile
	j1 := min(len(xs), j0+silhouetteTile)
	col := make([]float64, j1-j0) // running sums of rows j over the current segment of I
	for _, si := range tileSegs[I] {
		clear(col)
		for i := segs[si].lo; i < segs[si].hi; i++ {
			px, py := xs[i], ys[i]
			for _, sj := range tileSegs[J] {
				lo, hi := segs[sj].lo, segs[sj].hi
				part[i*ns+sj] = sumDist2Both(px, py, xs[lo:hi], ys[lo:hi], col[lo-j0:hi-j0])
			}
		}
		for j := j0; j < j1; j++ {
			part[j*ns+si] = col[j-j0]
		}
	}
}

// sumDist2Both returns the sum of distances from (px,py) to the points and
// adds each distance to the matching entry of col.
func sumDist2Both(px, py float64, xs, ys, col []float64) float64 {
	ys = ys[:len(xs)]
	col = col[:len(xs)]
	s := 0.0
	for k := range xs {
		dx, dy := px-xs[k], py-ys[k]
		d := math.Sqrt(dx*dx + dy*dy)
		s += d
		col[k] += d
	}
	return s
}

// score turns one row's per-cluster distance sums into its silhouette value.
func (g *groups) score(own int, sums []float64) float64 {
	size := g.start[own+1] - g.start[own]
	if size <= 1 {
		return 0
	}
	a := sums[own] / float64(size-1)
	b := math.Inf(1)
	for c, s := range sums {
		if c != own {
			b = min(b, s/float64(g.start[c+1]-g.start[c]))
		}
	}
	den := max(a, b)
	if den == 0 {
		return 0 // duplicate points everywhere: scikit-learn's nan_to_num gives 0
	}
	return (b - a) / den
}

// clusterMeans returns the row-major nClusters×d centroids of the rows of X
// by their dense labels.
func clusterMeans(X *ml.Matrix, dense []int, nClusters int) []float64 {
	d := X.Cols
	centroids := make([]float64, nClusters*d)
	counts := make([]int, nClusters)
	for i, c := range dense {
		counts[c]++
		for j, v := range X.Row(i) {
			centroids[c*d+j] += v
		}
	}
	for c, n := range counts {
		for j := c * d; j < (c+1)*d; j++ {
			centroids[j] /= float64(n)
		}
	}
	return centroids
}

// meanIntraDistances returns each cluster's mean distance of its rows to its
// centroid, and whether all of them are (numerically) zero.
func meanIntraDistances(X *ml.Matrix, dense []int, centroids []float64, nClusters int) ([]float64, bool) {
	d := X.Cols
	intra := make([]float64, nClusters)
	counts := make([]int, nClusters)
	for i, c := range dense {
		counts[c]++
		intra[c] += math.Sqrt(sqDist(X.Row(i), centroids[c*d:(c+1)*d]))
	}
	allZero := true
	for c := range intra {
		intra[c] /= float64(counts[c])
		allZero = allZero && intra[c] < 1e-8
	}
	return intra, allZero
}

// DaviesBouldin returns the Davies-Bouldin index of labels on X: the mean over
// clusters of the largest (S_i + S_j) / d(c_i, c_j), where S is the mean
// distance of a cluster's rows to its centroid c. Lower is better.
func DaviesBouldin(X *ml.Matrix, labels []int) (float64, error) {
	dense, nClusters, err := denseLabels(X, labels)
	if err != nil {
		return 0, fmt.Errorf("cluster: davies-bouldin: %w", err)
	}
	if nClusters < 2 || nClusters > X.Rows-1 {
		return 0, fmt.Errorf("cluster: davies-bouldin: %d clusters among %d rows; need 2 <= clusters <= rows-1", nClusters, X.Rows)
	}
	d := X.Cols
	centroids := clusterMeans(X, dense, nClusters)
	intra, allZero := meanIntraDistances(X, dense, centroids, nClusters)
	if allZero {
		return 0, nil // every cluster is a single point repeated: scikit-learn returns 0
	}
	total := 0.0
	for i := 0; i < nClusters; i++ {
		worst := 0.0
		for j := 0; j < nClusters; j++ {
			m := math.Sqrt(sqDist(centroids[i*d:(i+1)*d], centroids[j*d:(j+1)*d]))
			if j != i && m > 0 {
				worst = max(worst, (intra[i]+intra[j])/m)
			}
		}
		total += worst
	}
	return total / float64(nClusters), nil
}
