package monitor

import "math"

// kolmogorovSF returns P(D_n ≥ x) for the one-sample two-sided
// Kolmogorov–Smirnov statistic D_n of n observations (scipy.stats.kstwo.sf).
// The two-sample test uses it with n = round(n1·n2/(n1+n2)) for samples too
// large for the exact lattice count.
//
// The case split follows Simard & L'Ecuyer (2011), "Computing the two-sided
// Kolmogorov–Smirnov distribution", which scipy also implements: closed
// forms at the ends of the range (Ruben–Gambino), twice the one-sided
// Smirnov tail where the two tails cannot overlap, the exact
// Durbin/Marsaglia–Tsang–Wang matrix power in the body. Where scipy
// switches to the Pelz–Good series for large n we keep the exact matrix
// while it stays small (differences from scipy ≤ 1e-7), and beyond that
// (n·x > 200, so n above ~18,000) fall back to the limiting Kolmogorov
// distribution with Stephens' correction (differences ~1e-5). Under
// Evidently's rule KS runs only with a reference of ≤ 1000 rows, so n < 1000
// and the exact matrix always applies.
func kolmogorovSF(n int, x float64) float64 {
	if n <= 0 || math.IsNaN(x) {
		return math.NaN()
	}
	nf := float64(n)
	t := nf * x
	switch {
	case x >= 1:
		return 0
	case x <= 0 || t <= 0.5:
		return 1
	case t <= 1:
		// P(D_n < x) = n!/n^n · (2t−1)^n for 1/(2n) < x ≤ 1/n.
		lcdf := lnFactorial(n) - nf*math.Log(nf) + nf*math.Log(2*t-1)
		return clip01(-math.Expm1(lcdf))
	case t >= nf-1:
		return clip01(2 * math.Pow(1-x, nf))
	case x >= 0.5:
		return clip01(2 * smirnovSF(n, x))
	}
	nx2 := t * x
	if n <= 140 {
		if nx2 <= 4 {
			return clip01(1 - durbinCDF(n, x))
		}
		return clip01(2 * smirnovSF(n, x))
	}
	switch {
	case nx2 >= 370:
		return 0
	case nx2 >= 2.2:
		return clip01(2 * smirnovSF(n, x))
	}
	if int(math.Ceil(t)) <= durbinMaxK {
		return clip01(1 - durbinCDF(n, x))
	}
	// Stephens' (1970) finite-n correction of the limit law: within ~1e-4.
	sn := math.Sqrt(nf)
	return clip01(kolmogorovLimitSF((sn + 0.12 + 0.11/sn) * x))
}

// durbinMaxK bounds the matrix of durbinCDF at 2k−1 = 399 rows, a few
// hundred milliseconds; it is reached only for n in the tens of thousands.
const durbinMaxK = 200

// smirnovSF is the exact one-sided tail P(D+_n ≥ x) by the Birnbaum–Tingey
// sum x·Σ_j C(n,j)(1−x−j/n)^(n−j)(x+j/n)^(j−1), summed in log space.
func smirnovSF(n int, x float64) float64 {
	nf := float64(n)
	jmax := int(math.Floor(nf * (1 - x)))
	var s float64
	for j := 0; j <= jmax; j++ {
		jf := float64(j)
		a := 1 - x - jf/nf
		if a <= 0 {
			continue
		}
		lt := lnChoose(n, j) + (nf-jf)*math.Log(a) + (jf-1)*math.Log(x+jf/nf)
		s += math.Exp(lt)
	}
	return x * s
}

// durbinCDF is P(D_n < x) by Durbin's matrix formula as given by Marsaglia,
// Tsang and Wang (2003): with k = ⌈n·x⌉, h = k − n·x and the (2k−1)-square
// matrix H below, P = n!/n^n · (H^n)[k−1][k−1]. The power is taken by
// repeated squaring with a separately tracked power-of-two exponent so the
// entries never overflow.
func durbinCDF(n int, x float64) float64 {
	nf := float64(n)
	k := int(math.Ceil(nf * x))
	h := float64(k) - nf*x
	m := 2*k - 1
	H := durbinMatrix(m, h)
	P, exp := matPow(H, m, n)
	v := P[(k-1)*m+(k-1)]
	if v <= 0 {
		return 0
	}
	lp := math.Log(v) + float64(exp)*math.Ln2 + lnFactorial(n) - nf*math.Log(nf)
	return clip01(math.Exp(lp))
}

// durbinMatrix builds Marsaglia–Tsang–Wang's H (row-major, m×m):
// H[i][j] = 1/(i−j+1)! on and below the first superdiagonal, with the first
// column and last row corrected by powers of h.
func durbinMatrix(m int, h float64) []float64 {
	H := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if d := i - j + 1; d >= 0 {
				H[i*m+j] = 1 / math.Gamma(float64(d)+1)
			}
		}
	}
	for i := 0; i < m; i++ {
		H[i*m] -= math.Pow(h, float64(i+1)) / math.Gamma(float64(i+2))
		H[(m-1)*m+i] -= math.Pow(h, float64(m-i)) / math.Gamma(float64(m-i+1))
	}
	if 2*h-1 > 0 {
		H[(m-1)*m] += math.Pow(2*h-1, float64(m)) / math.Gamma(float64(m+1))
	}
	return H
}

// matPow returns A^p as a mantissa matrix and a power-of-two exponent.
func matPow(A []float64, m, p int) ([]float64, int) {
	result := make([]float64, m*m)
	for i := 0; i < m; i++ {
		result[i*m+i] = 1
	}
	base := A
	var resExp, baseExp int
	for p > 0 {
		if p&1 == 1 {
			result = matMul(result, base, m)
			resExp += baseExp + renormalize(result)
		}
		p >>= 1
		if p > 0 {
			base = matMul(base, base, m)
			baseExp = 2*baseExp + renormalize(base)
		}
	}
	return result, resExp
}

// renormalize scales A by a power of two so its largest entry is near 1 and
// returns the exponent removed.
func renormalize(A []float64) int {
	var big float64
	for _, v := range A {
		big = max(big, math.Abs(v))
	}
	if big == 0 || math.IsInf(big, 0) {
		return 0
	}
	_, e := math.Frexp(big)
	s := math.Ldexp(1, -e)
	for i := range A {
		A[i] *= s
	}
	return e
}

func matMul(A, B []float64, m int) []float64 {
	C := make([]float64, m*m)
	for i := 0; i < m; i++ {
		ci := C[i*m : (i+1)*m]
		for l := 0; l < m; l++ {
			a := A[i*m+l]
			if a == 0 {
				continue
			}
			bl := B[l*m : (l+1)*m]
			for j := range ci {
				ci[j] += a * bl[j]
			}
		}
	}
	return C
}

// kolmogorovLimitSF is the limiting tail P(K ≥ z) = 2Σ(−1)^(k−1)e^(−2k²z²).
func kolmogorovLimitSF(z float64) float64 {
	if z < 0.2 {
		return 1
	}
	var s float64
	for k := 1; k <= 100; k++ {
		term := math.Exp(-2 * float64(k*k) * z * z)
		if k%2 == 0 {
			s -= term
		} else {
			s += term
		}
		if term < 1e-17 {
			break
		}
	}
	return 2 * s
}

func lnFactorial(n int) float64 {
	v, _ := math.Lgamma(float64(n) + 1)
	return v
}

func lnChoose(n, k int) float64 { return lnFactorial(n) - lnFactorial(k) - lnFactorial(n-k) }
