package tune

import (
	"math"
	"slices"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

const mixedSpace = `
method: bayes
metric: {name: loss}
parameters:
  n: {min: 50, max: 500}
  lr: {distribution: log_uniform_values, min: 0.001, max: 10.0}
  u: {distribution: uniform, min: -2.0, max: 3.0}
  q: {distribution: q_uniform, min: 0, max: 100, q: 5}
  ql: {distribution: q_log_uniform_values, min: 1, max: 1000, q: 1}
  e: {distribution: log_uniform, min: 0, max: 2}
  c: {values: [sqrt, log2, 0.5]}
  k: {value: fixed}
`

func mustParse(t *testing.T, s string) *SweepConfig {
	t.Helper()
	cfg, err := ParseSweepConfig([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkInDomain fails unless every value respects its parameter's bounds,
// type, step and choices.
func checkInDomain(t *testing.T, p map[string]any) {
	t.Helper()
	n, ok := p["n"].(int)
	if !ok || n < 50 || n > 500 {
		t.Fatalf("n = %v (%T)", p["n"], p["n"])
	}
	lr, ok := p["lr"].(float64)
	if !ok || lr < 0.001 || lr > 10 {
		t.Fatalf("lr = %v", p["lr"])
	}
	u, ok := p["u"].(float64)
	if !ok || u < -2 || u > 3 {
		t.Fatalf("u = %v", p["u"])
	}
	q, ok := p["q"].(int)
	if !ok || q < 0 || q > 100 || q%5 != 0 {
		t.Fatalf("q = %v (%T)", p["q"], p["q"])
	}
	ql, ok := p["ql"].(int)
	if !ok || ql < 1 || ql > 1000 {
		t.Fatalf("ql = %v (%T)", p["ql"], p["ql"])
	}
	e, ok := p["e"].(float64)
	if !ok || e < 1-1e-12 || e > math.Exp(2)+1e-12 {
		t.Fatalf("e = %v", p["e"])
	}
	if c := p["c"]; c != "sqrt" && c != "log2" && c != 0.5 {
		t.Fatalf("c = %v", c)
	}
	if p["k"] != "fixed" {
		t.Fatalf("k = %v", p["k"])
	}
}

func TestRandomSamplerDomainsAndScales(t *testing.T) {
	cfg := mustParse(t, mixedSpace)
	s := randomSampler{dims: dims(cfg)}
	const n = 4000
	var lrBelowGeoMean, nBelowMid int
	cats := map[any]int{}
	for i := 0; i < n; i++ {
		p := s.sample(i, nil, ml.NewRand(1, uint64(i)))
		checkInDomain(t, p)
		if p["lr"].(float64) < math.Sqrt(0.001*10) {
			lrBelowGeoMean++
		}
		if p["n"].(int) < 275 {
			nBelowMid++
		}
		cats[p["c"]]++
	}
	// Log-uniform: half the mass below the geometric mean (0.1), not the
	// arithmetic one. Binomial sd at n=4000 is ~32, so ±150 is ~5 sd.
	if math.Abs(float64(lrBelowGeoMean)-n/2) > 150 {
		t.Errorf("lr below geometric mean %d of %d", lrBelowGeoMean, n)
	}
	if math.Abs(float64(nBelowMid)-n/2) > 150 {
		t.Errorf("n below midpoint %d of %d", nBelowMid, n)
	}
	for _, c := range []any{"sqrt", "log2", 0.5} {
		if math.Abs(float64(cats[c])-n/3.0) > 150 {
			t.Errorf("category %v drawn %d of %d", c, cats[c], n)
		}
	}
}

func TestTPESamplesStayInDomain(t *testing.T) {
	cfg := mustParse(t, mixedSpace)
	s := newTPE(dims(cfg))
	var hist []observation
	for i := 0; i < 60; i++ {
		p := s.sample(i, hist, ml.NewRand(3, uint64(i)))
		checkInDomain(t, p)
		// A loss that prefers small lr and the "log2" choice.
		loss := math.Abs(math.Log10(p["lr"].(float64)) + 2)
		if p["c"] != "log2" {
			loss += 1
		}
		hist = append(hist, observation{index: i, params: p, loss: loss})
	}
	// After the startup trials TPE should pick the better category most of
	// the time; random would pick it a third of the time.
	log2 := 0
	for _, o := range hist[30:] {
		if o.params["c"] == "log2" {
			log2++
		}
	}
	if log2 < 20 {
		t.Errorf("TPE chose the better category %d of 30 times", log2)
	}
}

func TestGridPointsOrderAndValues(t *testing.T) {
	cfg := mustParse(t, `
method: grid
metric: {name: m}
parameters:
  b: {values: [x, y]}
  a: {min: 1, max: 3}
  c: {distribution: q_uniform, min: 0.0, max: 0.5, q: 0.25}
`)
	pts, err := cfg.GridPoints()
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3*2*3 {
		t.Fatalf("%d points", len(pts))
	}
	if pts[0]["a"] != 1 || pts[0]["b"] != "x" || pts[0]["c"] != 0.0 {
		t.Errorf("first %v", pts[0])
	}
	if pts[1]["c"] != 0.25 || pts[2]["c"] != 0.5 || pts[3]["b"] != "y" || pts[6]["a"] != 2 {
		t.Errorf("order %v", pts[:7])
	}
	if last := pts[len(pts)-1]; last["a"] != 3 || last["b"] != "y" || last["c"] != 0.5 {
		t.Errorf("last %v", last)
	}
}

func TestKernelSigmasFollowOptunaRule(t *testing.T) {
	// Observations 0.1 and 0.15 on [0, 1] with the prior mean 0.5: neighbour
	// gaps give 0.1→0.05 (end point not considered), 0.15→max(0.05, 0.35);
	// the magic clip floor is 1/min(100, 2+2) = 0.25.
	got := kernelSigmas([]float64{0.1, 0.15}, 0, 1)
	want := []float64{0.25, 0.35}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("sigmas %v, want %v", got, want)
		}
	}
	// With many observations the floor is range/100.
	mus := make([]float64, 200)
	for i := range mus {
		mus[i] = float64(i) / 1000 // 0..0.199, gaps of 0.001
	}
	for i, s := range kernelSigmas(mus, 0, 1) {
		if s != 0.01 && i < 199 {
			t.Fatalf("sigma[%d] = %v, want the 0.01 floor", i, s)
		}
	}
}

func TestTPEWeightsAndGamma(t *testing.T) {
	if w := tpeWeights(3); !slices.Equal(w, []float64{1, 1, 1}) {
		t.Errorf("weights(3) %v", w)
	}
	w := tpeWeights(30)
	if math.Abs(w[0]-1.0/30) > 1e-15 || w[4] != 1 || w[5] != 1 || w[29] != 1 || !(w[1] > w[0] && w[3] > w[2]) {
		t.Errorf("weights(30) %v", w)
	}
	for n, want := range map[int]int{1: 1, 10: 1, 11: 2, 100: 10, 249: 25, 1000: 25} {
		if got := tpeGamma(n); got != want {
			t.Errorf("gamma(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestNormalHelpers(t *testing.T) {
	// P(|Z| ≤ 1) = erf(1/√2) = 0.682689492137...
	if m := normMass(0, 1, -1, 1); math.Abs(m-0.6826894921370859) > 1e-14 {
		t.Errorf("mass %v", m)
	}
	// Far upper tail keeps precision: P(8 ≤ Z ≤ 9) ≈ 6.22e-16.
	if m := normMass(0, 1, 8, 9); !(m > 6.2e-16 && m < 6.25e-16) {
		t.Errorf("tail mass %v", m)
	}
	prev := 8.0
	for _, u := range []float64{0, 0.1, 0.5, 0.9, 0.999} {
		x := truncNormSample(0, 1, 8, 9, u)
		if x < prev || x > 9 {
			t.Fatalf("tail sample(u=%v) = %v after %v", u, x, prev)
		}
		prev = x
	}
	if x := truncNormSample(2, 1, 0, 4, 0.5); math.Abs(x-2) > 1e-12 {
		t.Errorf("median of symmetric truncation %v", x)
	}
}
