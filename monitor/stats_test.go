package monitor

import (
	"math"
	"testing"
)

// The expected numbers below were computed offline with scipy 1.10.1 and
// numpy 1.24.2 (Debian python3-scipy); each case names the call. seq
// reproduces the inputs exactly in Python:
//
//	seq = lambda n, mult, scale=1.0, shift=0.0: np.array([((i*mult) % 1.0)*scale + shift for i in range(1, n+1)])
func seq(n int, mult, scale, shift float64) []float64 {
	out := make([]float64, n)
	for i := 1; i <= n; i++ {
		out[i-1] = math.Mod(float64(i)*mult, 1)*scale + shift
	}
	return out
}

const (
	phi1 = 0.6180339887498949
	phi2 = 0.7548776662466927
)

var (
	smallA = []float64{1.2, 3.4, 0.5, 2.2, 5.1, 3.3, 0.9, 4.4}
	smallB = []float64{2.5, 3.9, 4.1, 6.0, 1.7, 5.5, 4.8}
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.17g, want %.17g (tolerance %g)", what, got, want, tol)
	}
}

func TestKS2SampMatchesScipy(t *testing.T) {
	cases := []struct {
		name  string
		a, b  []float64
		d, p  float64
		exact bool
	}{
		// stats.ks_2samp(A, B): exact.
		{"small", smallA, smallB, 0.4642857142857143, 0.31313131313131315, true},
		// stats.ks_2samp(seq(200, phi1), seq(300, phi2, 1.1, 0.05)): exact, unequal sizes.
		{"200x300", seq(200, phi1, 1, 0), seq(300, phi2, 1.1, 0.05), 0.13666666666666666, 0.021091805157267017, true},
		// stats.ks_2samp(seq(500, phi1), seq(500, phi2, 1.0, 0.08)): exact, equal sizes.
		{"500x500", seq(500, phi1, 1, 0), seq(500, phi2, 1, 0.08), 0.086, 0.04950261174890187, true},
		// stats.ks_2samp(seq(6, phi1), seq(9, phi2, 1.0, 0.3)): exact, gcd 3.
		{"6x9", seq(6, phi1, 1, 0), seq(9, phi2, 1, 0.3), 0.3888888888888889, 0.5628371628371629, true},
		// stats.ks_2samp(seq(1000, phi1), seq(9999, phi2, 1.0, 0.05)): exact, near the threshold.
		{"1000x9999", seq(1000, phi1, 1, 0), seq(9999, phi2, 1, 0.05), 0.051381138113811384, 0.015775931513744037, true},
		// stats.ks_2samp(seq(7, phi1), seq(10000, phi2, 1.0, 0.2)): still exact at max(n1,n2) = 10000.
		{"7x10000", seq(7, phi1, 1, 0), seq(10000, phi2, 1, 0.2), 0.34894285714285717, 0.28958372179784964, true},
		// stats.ks_2samp([1,1,2,2,3,3,3,4,5,5], [2,3,3,4,4,4,5,6,6,6,7]): ties.
		{"ties", []float64{1, 1, 2, 2, 3, 3, 3, 4, 5, 5}, []float64{2, 3, 3, 4, 4, 4, 5, 6, 6, 6, 7}, 0.42727272727272725, 0.22742376302747822, true},
		// stats.ks_2samp(seq(800, phi1), seq(12000, phi2, 1.0, 0.03)): asymptotic (kstwo, n=750).
		// scipy evaluates kstwo there with the Pelz–Good series, we with the
		// exact Durbin matrix: they differ by 7e-8.
		{"800x12000", seq(800, phi1, 1, 0), seq(12000, phi2, 1, 0.03), 0.03200000000000003, 0.4175102542120277, false},
		// stats.ks_2samp(seq(11000, phi1), seq(90, phi2, 1.0, 0.1)): asymptotic, n=89 (≤ 140 branch).
		{"11000x90", seq(11000, phi1, 1, 0), seq(90, phi2, 1, 0.1), 0.11066666666666669, 0.2096375707883359, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, p := KS2Samp(c.a, c.b)
			near(t, "D", d, c.d, 1e-12)
			tol := 1e-9
			if !c.exact {
				tol = 1e-6
			}
			near(t, "p", p, c.p, tol)
			// Symmetric in its arguments.
			d2, p2 := KS2Samp(c.b, c.a)
			near(t, "D swapped", d2, d, 1e-15)
			near(t, "p swapped", p2, p, 1e-12)
		})
	}
}

func TestKS2SampLargeAsymptotic(t *testing.T) {
	if testing.Short() {
		t.Skip("35k values; the smaller asymptotic cases run in short mode")
	}
	// stats.ks_2samp(seq(15000, phi1), seq(20000, phi2, 1.0, 0.012)):
	// asymptotic, n = round(15000·20000/35000) = 8571.
	d, p := KS2Samp(seq(15000, phi1, 1, 0), seq(20000, phi2, 1, 0.012))
	near(t, "D", d, 0.01223333333333343, 1e-12)
	near(t, "p", p, 0.15246088671845093, 1e-6)
}

func TestKS2SampHandCases(t *testing.T) {
	x := seq(50, phi1, 1, 0)
	d, p := KS2Samp(x, x)
	if d != 0 || p != 1 {
		t.Errorf("identical samples: D=%v p=%v, want 0 and 1", d, p)
	}
	// Disjoint samples: D = 1 and the exact p-value is 2/C(m+n, m), the two
	// extreme interleavings out of all of them: 2/C(8,4) = 2/70.
	d, p = KS2Samp([]float64{1, 2, 3, 4}, []float64{5, 6, 7, 8})
	near(t, "disjoint D", d, 1, 0)
	near(t, "disjoint p", p, 2.0/70, 1e-15)
}

func TestKolmogorovSFMatchesScipy(t *testing.T) {
	// stats.kstwo.sf(x, n)
	cases := []struct {
		n    int
		x, p float64
	}{
		{1000, 0.03, 0.3226902143914636},
		{1000, 0.05, 0.013012074781090332},
		{500, 0.08, 0.0031305058199356268},
		{100, 0.1, 0.2526927570063874},
		{100, 0.25, 5.408871776434847e-06},
		{1000, 0.004, 1.0},
		{50, 0.6, 9.634070456142374e-18},
		{2000, 0.02, 0.3953133626892045},
		{30000, 0.005, 0.4398876725102874},
	}
	for _, c := range cases {
		got := kolmogorovSF(c.n, c.x)
		tol := 1e-9
		if c.n > 140 && float64(c.n)*math.Pow(c.x, 1.5) > 1.4 && float64(c.n)*c.x*c.x < 2.2 {
			// scipy switches to the Pelz–Good series here; we keep the
			// exact Durbin matrix (differences seen: ≤ 1e-7).
			tol = 1e-6
		}
		near(t, "kstwo.sf", got, c.p, tol)
	}
}

func TestWassersteinMatchesScipy(t *testing.T) {
	// stats.wasserstein_distance(A, B)
	near(t, "small", Wasserstein(smallA, smallB), 1.4464285714285712, 1e-12)
	a, b := seq(200, phi1, 1, 0), seq(300, phi2, 1.1, 0.05)
	// stats.wasserstein_distance(a, b) and that / max(np.std(a), 0.001)
	near(t, "200x300", Wasserstein(a, b), 0.09658177777554272, 1e-12)
	near(t, "normed", WassersteinNorm(a, b), 0.3353563732458024, 1e-12)
	if w := Wasserstein(a, a); w != 0 {
		t.Errorf("identical samples: %v, want 0", w)
	}
	// Shifting every value by 3 moves all the mass by exactly 3.
	shifted := make([]float64, len(a))
	for i, v := range a {
		shifted[i] = v + 3
	}
	near(t, "shift", Wasserstein(a, shifted), 3, 1e-12)
}

func TestChiSquareMatchesScipy(t *testing.T) {
	// stats.chisquare([30, 14, 34, 45, 57, 20], [20, 20, 30, 40, 60, 30])
	stat, p := ChiSquare([]float64{30, 14, 34, 45, 57, 20}, []float64{20, 20, 30, 40, 60, 30})
	near(t, "stat", stat, 11.441666666666666, 1e-12)
	near(t, "p", p, 0.04329313031580497, 1e-12)
	// stats.chisquare([12, 30, 8], [10.5, 28.0, 11.5])
	stat, p = ChiSquare([]float64{12, 30, 8}, []float64{10.5, 28, 11.5})
	near(t, "stat2", stat, 1.4223602484472049, 1e-12)
	near(t, "p2", p, 0.491064338454275, 1e-12)
	stat, p = ChiSquare([]float64{1, 2, 3}, []float64{0, 3, 3})
	if !math.IsInf(stat, 1) || p != 0 {
		t.Errorf("unseen category: stat=%v p=%v, want +Inf and 0", stat, p)
	}
}

func TestJensenShannonMatchesScipy(t *testing.T) {
	p, q := []float64{0.5, 0.3, 0.2, 0}, []float64{0.1, 0.2, 0.3, 0.4}
	// distance.jensenshannon(p, q) and distance.jensenshannon(p, q, 2)
	near(t, "base e", JensenShannon(p, q, 0), 0.47060916310185213, 1e-12)
	near(t, "base 2", JensenShannon(p, q, 2), 0.5652592115818719, 1e-12)
	near(t, "disjoint", JensenShannon([]float64{1, 0}, []float64{0, 1}, 2), 1, 1e-15)
	near(t, "disjoint base e", JensenShannon([]float64{1, 0}, []float64{0, 1}, 0), math.Sqrt(math.Ln2), 1e-15)
	if d := JensenShannon(p, p, 2); d != 0 {
		t.Errorf("identical: %v, want 0", d)
	}
}

func TestZTestMatchesEvidentlyFormula(t *testing.T) {
	// Evidently's proportions_diff_z_stat_ind / proportions_diff_z_test
	// evaluated with numpy + scipy.stats.norm for 40/100 vs 55/120.
	z, p := ZTestProportions(40, 100, 55, 120)
	near(t, "z", z, -0.8697650418763532, 1e-12)
	near(t, "p", p, 0.3844288193282097, 1e-12)
	if _, p := ZTestProportions(10, 10, 7, 7); p != 1 {
		t.Errorf("both all one category: p=%v, want 1", p)
	}
}

func TestPSI(t *testing.T) {
	a, b := seq(200, phi1, 1, 0), seq(300, phi2, 1.1, 0.05)
	// An independent numpy implementation of the documented definition
	// (np.quantile interior edges, duplicates merged, open outer bins,
	// shares floored at 1e-4), in /tmp when the tests were written:
	// psi(a, b) = 0.15214664649808327.
	near(t, "psi", PSI(a, b, 10), 0.15214664649808327, 1e-12)
	// Heavily tied reference: quantile edges collapse.
	ref := []float64{0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 5, 5, 5}
	cur := []float64{0, 0, 1, 1, 2, 3, 3, 6, 7}
	near(t, "psi ties", PSI(ref, cur, 10), 0.9203380865631519, 1e-12)
	if v := PSI(a, a, 10); v != 0 {
		t.Errorf("identical samples: PSI %v, want 0", v)
	}
	// Disjoint: all current values lie above the reference, so they all
	// fall in the open top bin; the nine others (10 % of the reference
	// each) are empty and count as PSIEpsilon.
	hi := seq(100, phi2, 1, 10)
	want := 9*(PSIEpsilon-0.1)*math.Log(PSIEpsilon/0.1) + (1-0.1)*math.Log(1/0.1)
	near(t, "disjoint", PSI(a, hi, 10), want, 1e-12)
	if v := PSICategorical([]string{"a", "b", "a", "c"}, []string{"a", "c", "b", "a"}); v != 0 {
		t.Errorf("same category shares: PSI %v, want 0", v)
	}
	// Hand-computed: shares a: 0.5→0.25, b: 0.5→0.75.
	want = (0.25-0.5)*math.Log(0.25/0.5) + (0.75-0.5)*math.Log(0.75/0.5)
	near(t, "categorical", PSICategorical([]string{"a", "b"}, []string{"a", "b", "b", "b"}), want, 1e-15)
}

func TestPSIBand(t *testing.T) {
	for _, c := range []struct {
		psi  float64
		want string
	}{{0, BandNone}, {0.0999, BandNone}, {0.1, BandModerate}, {0.1999, BandModerate}, {0.2, BandSignificant}, {3, BandSignificant}} {
		if got := PSIBand(c.psi); got != c.want {
			t.Errorf("PSIBand(%v) = %q, want %q", c.psi, got, c.want)
		}
	}
}

func TestKolmogorovSFLargeN(t *testing.T) {
	// stats.kstwo.sf(x, n) where n·x > 200: our Stephens-corrected limit law
	// against scipy's Pelz–Good series.
	for _, c := range []struct {
		n    int
		x, p float64
	}{{100000, 0.004, 0.08130148920222469}, {50000, 0.006, 0.05442749636006261}} {
		near(t, "kstwo.sf large n", kolmogorovSF(c.n, c.x), c.p, 1e-4)
	}
}
