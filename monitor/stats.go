package monitor

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// ksMaxExactN is the sample size above which KS2Samp switches from the exact
// p-value to the asymptotic one, as scipy.stats.ks_2samp(method="auto") does
// (its MAX_AUTO_N): the exact lattice count costs O(n1·n2).
const ksMaxExactN = 10000

// KS2Samp is the two-sided two-sample Kolmogorov–Smirnov test. It returns
// the statistic D = sup|F1−F2| and the p-value computed as
// scipy.stats.ks_2samp(a, b, method="auto") does: exact when both samples
// have at most 10,000 values, otherwise the Kolmogorov distribution of
// D for n = round(n1·n2/(n1+n2)). NaNs must be removed by the caller. Ties
// are handled like scipy: D is evaluated after all tied values, and the
// p-value is the one for continuous data.
func KS2Samp(a, b []float64) (d, p float64) {
	return ksSorted(sortedCopy(a), sortedCopy(b))
}

// ksSorted is KS2Samp on sorted samples.
func ksSorted(a, b []float64) (d, p float64) {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN(), math.NaN()
	}
	m, n := int64(len(a)), int64(len(b))
	maxDiff := ksMaxDiff(a, b)
	d = float64(maxDiff) / float64(m*n)
	if max(m, n) <= ksMaxExactN {
		g := gcd(m, n)
		return d, ksExactSF(int(m), int(n), g, maxDiff/g)
	}
	big, small := float64(max(m, n)), float64(min(m, n))
	en := math.RoundToEven(big * small / (big + small))
	return d, kolmogorovSF(int(en), d)
}

// ksMaxDiff returns max over all x of |i(x)·n − j(x)·m|, where i(x) and j(x)
// count the values ≤ x in a (size m) and b (size n). Working in integers
// keeps D exactly a multiple of 1/lcm(m, n), which the exact p-value needs.
func ksMaxDiff(a, b []float64) int64 {
	m, n := int64(len(a)), int64(len(b))
	var i, j int
	var best int64
	for i < len(a) || j < len(b) {
		v := math.Inf(1)
		if i < len(a) {
			v = a[i]
		}
		if j < len(b) && b[j] < v {
			v = b[j]
		}
		for i < len(a) && a[i] == v {
			i++
		}
		for j < len(b) && b[j] == v {
			j++
		}
		diff := int64(i)*n - int64(j)*m
		if diff < 0 {
			diff = -diff
		}
		best = max(best, diff)
	}
	return best
}

// ksExactSF returns P(D ≥ h·g/(m·n)) under the null hypothesis, for
// samples of sizes m and n with g = gcd(m, n).
//
// Every interleaving of the two sorted samples is a monotone lattice path
// from (0,0) to (m,n), all equally likely. The path stays strictly inside
// the band |i·n/g − j·m/g| < h exactly when D < h·g/(m·n). Rather than
// counting paths (binomial coefficients overflow float64 quickly), the
// recursion carries the probability of reaching (i,j) inside the band:
// from (i,j) the next value comes from the first sample with probability
// (m−i)/(m−i+n−j), which keeps every number in [0,1].
func ksExactSF(m, n int, g, h int64) float64 {
	if h <= 0 {
		return 1
	}
	mg, ng := int64(m)/g, int64(n)/g
	row := make([]float64, n+1)
	lo, hi := bandLimits(0, mg, ng, h, n)
	row[0] = 1
	for j := 1; j <= hi; j++ {
		row[j] = row[j-1] * stepY(0, j-1, m, n)
	}
	for i := 1; i <= m; i++ {
		prevLo := lo
		lo, hi = bandLimits(int64(i), mg, ng, h, n)
		if lo > hi {
			return 1
		}
		for j := prevLo; j < lo; j++ {
			row[j] = 0
		}
		for j := lo; j <= hi; j++ {
			v := row[j] * stepX(i-1, j, m, n)
			if j > lo {
				v += row[j-1] * stepY(i, j-1, m, n)
			}
			row[j] = v
		}
	}
	return clip01(1 - row[n])
}

// bandLimits returns the j range with |i·ng − j·mg| < h, clamped to [0, n].
func bandLimits(i, mg, ng, h int64, n int) (lo, hi int) {
	// j > (i·ng − h)/mg and j < (i·ng + h)/mg, in exact integer arithmetic.
	lo64 := floorDiv(i*ng-h, mg) + 1
	hi64 := ceilDiv(i*ng+h, mg) - 1
	return int(max(lo64, 0)), int(min(hi64, int64(n)))
}

// stepX is the probability that the path at (i,j) next moves along the
// first sample; stepY the probability it moves along the second.
func stepX(i, j, m, n int) float64 { return float64(m-i) / float64(m-i+n-j) }
func stepY(i, j, m, n int) float64 { return float64(n-j) / float64(m-i+n-j) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Wasserstein returns the first Wasserstein (earth mover's) distance between
// the empirical distributions of a and b, ∫|F_a − F_b| dx, as
// scipy.stats.wasserstein_distance(a, b) without weights.
func Wasserstein(a, b []float64) float64 {
	return wassersteinSorted(sortedCopy(a), sortedCopy(b))
}

// wassersteinSorted is Wasserstein on sorted samples.
func wassersteinSorted(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	var i, j int
	var sum, prev float64
	first := true
	for i < len(a) || j < len(b) {
		v := math.Inf(1)
		if i < len(a) {
			v = a[i]
		}
		if j < len(b) && b[j] < v {
			v = b[j]
		}
		if !first {
			fa, fb := float64(i)/float64(len(a)), float64(j)/float64(len(b))
			sum += math.Abs(fa-fb) * (v - prev)
		}
		first = false
		for i < len(a) && a[i] == v {
			i++
		}
		for j < len(b) && b[j] == v {
			j++
		}
		prev = v
	}
	return sum
}

// WassersteinNorm is Evidently's "Wasserstein distance (normed)": the
// distance divided by the population standard deviation of the reference
// (ddof 0, as np.std), floored at 0.001 so a constant reference does not
// divide by zero.
func WassersteinNorm(reference, current []float64) float64 {
	return Wasserstein(reference, current) / max(popStd(reference), 0.001)
}

// ChiSquare is Pearson's goodness-of-fit test of observed counts against
// expected counts, as scipy.stats.chisquare(observed, expected) with
// len−1 degrees of freedom. A category expected 0 times but observed is
// infinitely unlikely: statistic +Inf, p-value 0.
func ChiSquare(observed, expected []float64) (stat, p float64) {
	for k := range observed {
		diff := observed[k] - expected[k]
		switch {
		case expected[k] == 0 && diff == 0:
			continue
		case expected[k] == 0:
			return math.Inf(1), 0
		}
		stat += diff * diff / expected[k]
	}
	df := float64(len(observed) - 1)
	if df < 1 {
		return stat, math.NaN()
	}
	return stat, distuv.ChiSquared{K: df}.Survival(stat)
}

// JensenShannon returns the Jensen–Shannon distance (the square root of the
// divergence) between two discrete distributions, as
// scipy.spatial.distance.jensenshannon(p, q, base). Both are normalised to
// sum to 1 first; base ≤ 0 means natural logarithms. With base 2 the
// distance lies in [0, 1]; with base e in [0, √ln2].
func JensenShannon(p, q []float64, base float64) float64 {
	sp, sq := sum(p), sum(q)
	var js float64
	for k := range p {
		pk, qk := p[k]/sp, q[k]/sq
		mk := (pk + qk) / 2
		js += relEntr(pk, mk) + relEntr(qk, mk)
	}
	if base > 0 {
		js /= math.Log(base)
	}
	return math.Sqrt(max(js, 0) / 2)
}

// relEntr is x·ln(x/y) with the conventions of scipy.special.rel_entr.
func relEntr(x, y float64) float64 {
	switch {
	case x == 0 && y >= 0:
		return 0
	case x > 0 && y > 0:
		return x * math.Log(x/y)
	}
	return math.Inf(1)
}

// ZTestProportions is the two-sided z-test for the difference of two
// proportions with a pooled variance, as Evidently's z_stat_test: k1 of n1
// reference rows and k2 of n2 current rows fall in the first category.
func ZTestProportions(k1, n1, k2, n2 int) (z, p float64) {
	p1, p2 := float64(k1)/float64(n1), float64(k2)/float64(n2)
	pool := float64(k1+k2) / float64(n1+n2)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		// Both samples sit entirely in one category: identical.
		return 0, 1
	}
	z = (p1 - p2) / se
	return z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

func sortedCopy(x []float64) []float64 {
	c := slices.Clone(x)
	slices.Sort(c)
	return c
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

// popStd is the population standard deviation (ddof 0), two-pass.
func popStd(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	mean := sum(x) / float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(len(x)))
}

func clip01(x float64) float64 { return min(max(x, 0), 1) }
