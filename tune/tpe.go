package tune

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
)

// Optuna's TPESampler defaults, which this sampler reproduces: univariate
// Parzen estimators, prior weight 1, magic clip on, end points not
// considered, 24 expected-improvement candidates after 10 random trials.
const (
	tpeStartupTrials = 10
	tpeEICandidates  = 24
	tpePriorWeight   = 1.0
)

// observation is a finished trial as the samplers see it: its parameters and
// a loss where lower is better (the metric negated for maximize goals).
type observation struct {
	index   int
	params  map[string]any
	loss    float64
	stopped bool // ended early by Hyperband: ranked after every complete trial
	budget  int
}

// sampler proposes parameters for trial index given the finished history.
type sampler interface {
	sample(index int, history []observation, rng *rand.Rand) map[string]any
}

type randomSampler struct{ dims []dim }

func (s randomSampler) sample(_ int, _ []observation, rng *rand.Rand) map[string]any {
	out := make(map[string]any, len(s.dims))
	for _, d := range s.dims {
		out[d.name] = d.sampleRandom(rng)
	}
	return out
}

type gridSampler struct{ points []map[string]any }

func (s gridSampler) sample(index int, _ []observation, _ *rand.Rand) map[string]any {
	p := s.points[index]
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// tpeSampler is a Tree-structured Parzen Estimator (Bergstra et al. 2011) in
// Optuna's univariate form: each parameter is proposed independently from
// the ratio of a density over the best trials, l(x), to one over the rest,
// g(x).
type tpeSampler struct {
	dims   []dim
	random randomSampler
}

func newTPE(ds []dim) *tpeSampler { return &tpeSampler{dims: ds, random: randomSampler{ds}} }

func (s *tpeSampler) sample(index int, history []observation, rng *rand.Rand) map[string]any {
	if len(history) < tpeStartupTrials {
		return s.random.sample(index, history, rng)
	}
	below, above := splitObservations(history, tpeGamma(len(history)))
	out := make(map[string]any, len(s.dims))
	for _, d := range s.dims {
		switch d.kind {
		case dimConst:
			out[d.name] = d.spec.Value
		case dimCat:
			out[d.name] = sampleCategorical(d, below, above, rng)
		default:
			out[d.name] = sampleNumeric(d, below, above, rng)
		}
	}
	return out
}

// tpeGamma is Optuna's default split size: min(ceil(0.1·n), 25).
func tpeGamma(n int) int {
	return min(int(math.Ceil(0.1*float64(n))), 25)
}

// tpeWeights is Optuna's default_weights: flat for fewer than 25
// observations, else a linear ramp from 1/n for the oldest trials up to 1
// for the 25 most recent.
func tpeWeights(n int) []float64 {
	w := make([]float64, n)
	if n < 25 {
		for i := range w {
			w[i] = 1
		}
		return w
	}
	ramp := n - 25
	for i := 0; i < ramp; i++ {
		if ramp == 1 {
			w[i] = 1 / float64(n)
		} else {
			w[i] = 1/float64(n) + (1-1/float64(n))*float64(i)/float64(ramp-1)
		}
	}
	for i := ramp; i < n; i++ {
		w[i] = 1
	}
	return w
}

// splitObservations puts the nBelow best trials in below and the rest in
// above, each then ordered by trial index so the weight ramp favours recent
// trials. Complete trials rank by loss; early-stopped ones rank after them,
// those that went further first (Optuna's handling of pruned trials).
func splitObservations(history []observation, nBelow int) (below, above []observation) {
	order := slices.Clone(history)
	slices.SortStableFunc(order, func(a, b observation) int {
		if a.stopped != b.stopped {
			if a.stopped {
				return 1
			}
			return -1
		}
		if a.stopped && a.budget != b.budget {
			return b.budget - a.budget
		}
		switch {
		case a.loss < b.loss:
			return -1
		case a.loss > b.loss:
			return 1
		}
		return a.index - b.index
	})
	below = slices.Clone(order[:nBelow])
	above = slices.Clone(order[nBelow:])
	byIndex := func(a, b observation) int { return a.index - b.index }
	slices.SortFunc(below, byIndex)
	slices.SortFunc(above, byIndex)
	return below, above
}

// parzen is a one-dimensional mixture of truncated Gaussians on the
// transformed (log for log domains) axis; discrete domains integrate each
// kernel over the cell around a grid point.
type parzen struct {
	d          dim
	mus, sigma []float64
	weights    []float64 // normalised
	logZ       []float64 // log of each kernel's mass inside [lo, hi]
	lo, hi     float64   // transformed bounds, widened by half a step when discrete
}

func (d dim) transform(x float64) float64 {
	if d.log {
		return math.Log(x)
	}
	return x
}

func (d dim) untransform(t float64) float64 {
	if d.log {
		return math.Exp(t)
	}
	return t
}

// transformedBounds are the kernel support: Optuna widens discrete domains by
// half a step on each side before any log transform.
func (d dim) transformedBounds() (float64, float64) {
	if d.log {
		return d.logBounds()
	}
	return d.lo - d.step/2, d.hi + d.step/2
}

func newParzen(d dim, obs []observation) *parzen {
	lo, hi := d.transformedBounds()
	mus := make([]float64, 0, len(obs)+1)
	for _, o := range obs {
		x, ok := toFloat(o.params[d.name])
		if !ok {
			continue
		}
		mus = append(mus, d.transform(x))
	}
	n := len(mus)
	sigmas := kernelSigmas(mus, lo, hi)
	w := tpeWeights(n)
	if n > 0 {
		w = append(w, tpePriorWeight)
	} else {
		w = []float64{1}
	}
	mus = append(mus, 0.5*(lo+hi))
	sigmas = append(sigmas, hi-lo)
	normalise(w)
	logZ := make([]float64, len(mus))
	for k := range mus {
		logZ[k] = math.Log(normMass(mus[k], sigmas[k], lo, hi))
	}
	return &parzen{d: d, mus: mus, sigma: sigmas, weights: w, logZ: logZ, lo: lo, hi: hi}
}

// kernelSigmas is Optuna's univariate bandwidth rule: each kernel's sigma is
// the larger gap to its neighbours among the observations, the prior mean
// and the bounds; with end points not considered, the outermost kernels use
// their inner gap only; then clipped to [range/min(100, n+2), range].
func kernelSigmas(mus []float64, lo, hi float64) []float64 {
	n := len(mus)
	withPrior := append(slices.Clone(mus), 0.5*(lo+hi))
	idx := make([]int, len(withPrior))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case withPrior[a] < withPrior[b]:
			return -1
		case withPrior[a] > withPrior[b]:
			return 1
		}
		return 0
	})
	ext := make([]float64, len(withPrior)+2)
	ext[0], ext[len(ext)-1] = lo, hi
	for k, i := range idx {
		ext[k+1] = withPrior[i]
	}
	sorted := make([]float64, len(withPrior))
	for k := range sorted {
		sorted[k] = math.Max(ext[k+1]-ext[k], ext[k+2]-ext[k+1])
	}
	if len(ext) >= 4 {
		sorted[0] = ext[2] - ext[1]
		sorted[len(sorted)-1] = ext[len(ext)-2] - ext[len(ext)-3]
	}
	sigmas := make([]float64, n)
	maxSigma := hi - lo
	minSigma := (hi - lo) / math.Min(100, float64(n+2))
	for k, i := range idx {
		if i < n {
			sigmas[i] = math.Min(math.Max(sorted[k], minSigma), maxSigma)
		}
	}
	return sigmas
}

func normalise(w []float64) {
	s := 0.0
	for _, v := range w {
		s += v
	}
	for i := range w {
		w[i] /= s
	}
}

// sample draws one value (in the value domain, aligned to the step grid).
func (p *parzen) sample(rng *rand.Rand) float64 {
	k := pickIndex(p.weights, rng.Float64())
	t := truncNormSample(p.mus[k], p.sigma[k], p.lo, p.hi, rng.Float64())
	return p.d.align(p.d.untransform(t))
}

// logPDF is the log density (continuous) or log probability mass (discrete)
// of value x under the mixture.
func (p *parzen) logPDF(x float64) float64 {
	terms := make([]float64, len(p.mus))
	for k := range p.mus {
		terms[k] = math.Log(p.weights[k]) + p.kernelLogPDF(k, x)
	}
	return logSumExp(terms)
}

func (p *parzen) kernelLogPDF(k int, x float64) float64 {
	mu, s, logZ := p.mus[k], p.sigma[k], p.logZ[k]
	if p.d.step == 0 {
		z := (p.d.transform(x) - mu) / s
		return -0.5*z*z - math.Log(s*math.Sqrt(2*math.Pi)) - logZ
	}
	a := p.d.transform(math.Max(x-p.d.step/2, math.SmallestNonzeroFloat64))
	if !p.d.log {
		a = x - p.d.step/2
	}
	b := p.d.transform(x + p.d.step/2)
	return math.Log(normMass(mu, s, math.Max(a, p.lo), math.Min(b, p.hi))) - logZ
}

func sampleNumeric(d dim, below, above []observation, rng *rand.Rand) any {
	l, g := newParzen(d, below), newParzen(d, above)
	best, bestScore := 0.0, math.Inf(-1)
	for c := 0; c < tpeEICandidates; c++ {
		x := l.sample(rng)
		score := l.logPDF(x) - g.logPDF(x)
		if math.IsNaN(score) {
			score = math.Inf(-1)
		}
		if c == 0 || score > bestScore {
			best, bestScore = x, score
		}
	}
	return d.value(best)
}

// categoricalProbs is the mixture over choices: each observation's kernel puts
// weight 1 on its choice plus prior_weight/n_kernels on every choice; the
// prior kernel is uniform.
func categoricalProbs(d dim, obs []observation) []float64 {
	nc := len(d.spec.Values)
	probs := make([]float64, nc)
	var observed []int
	for _, o := range obs {
		if i := indexOf(d.spec.Values, o.params[d.name]); i >= 0 {
			observed = append(observed, i)
		}
	}
	if len(observed) == 0 {
		for c := range probs {
			probs[c] = 1 / float64(nc)
		}
		return probs
	}
	w := append(tpeWeights(len(observed)), tpePriorWeight)
	normalise(w)
	nKernels := float64(len(observed) + 1)
	base := tpePriorWeight / nKernels
	rowSum := base*float64(nc) + 1
	for k, choice := range observed {
		for c := range probs {
			v := base
			if c == choice {
				v++
			}
			probs[c] += w[k] * v / rowSum
		}
	}
	for c := range probs {
		probs[c] += w[len(w)-1] / float64(nc)
	}
	return probs
}

func sampleCategorical(d dim, below, above []observation, rng *rand.Rand) any {
	l, g := categoricalProbs(d, below), categoricalProbs(d, above)
	best, bestScore := 0, math.Inf(-1)
	for c := 0; c < tpeEICandidates; c++ {
		i := pickIndex(l, rng.Float64())
		score := math.Log(l[i]) - math.Log(g[i])
		if c == 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return d.spec.Values[best]
}

// pickIndex returns the index whose cumulative weight first exceeds u·total.
func pickIndex(w []float64, u float64) int {
	total := 0.0
	for _, v := range w {
		total += v
	}
	target, acc := u*total, 0.0
	for i, v := range w {
		acc += v
		if target < acc {
			return i
		}
	}
	return len(w) - 1
}

func indexOf(values []any, v any) int {
	for i, c := range values {
		if reflect.DeepEqual(c, v) {
			return i
		}
	}
	// YAML may give 3 where the list holds 3.0 (or the reverse).
	if f, ok := toFloat(v); ok {
		for i, c := range values {
			if g, ok := toFloat(c); ok && f == g {
				return i
			}
		}
	}
	return -1
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// stdNormCDF is Φ(x).
func stdNormCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// stdNormQuantile is Φ⁻¹(p), accurate in both tails via erfcinv.
func stdNormQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// normMass is P(a ≤ X ≤ b) for X ~ N(mu, s²), computed on the side of the
// mean where the tail probabilities keep their precision.
func normMass(mu, s, a, b float64) float64 {
	za, zb := (a-mu)/s, (b-mu)/s
	if za > 0 {
		return stdNormCDF(-za) - stdNormCDF(-zb)
	}
	return stdNormCDF(zb) - stdNormCDF(za)
}

// truncNormSample maps u ∈ [0,1) to N(mu, s²) truncated to [a, b] by inverse
// CDF, working in the upper tail by symmetry when the interval lies there.
func truncNormSample(mu, s, a, b, u float64) float64 {
	za, zb := (a-mu)/s, (b-mu)/s
	var z float64
	if za > 0 {
		pa, pb := stdNormCDF(-zb), stdNormCDF(-za)
		z = -stdNormQuantile(pb - u*(pb-pa))
	} else {
		pa, pb := stdNormCDF(za), stdNormCDF(zb)
		z = stdNormQuantile(pa + u*(pb-pa))
	}
	x := mu + s*z
	if math.IsNaN(x) {
		x = mu
	}
	return math.Min(math.Max(x, a), b)
}

func logSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		if x > m {
			m = x
		}
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
