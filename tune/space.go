package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/housing-mlops/mlops/ml/selection"
)

// maxGridPoints bounds grid searches (and int ranges walked by the grid) so a
// typo like max: 1e9 fails at validation instead of exhausting memory.
const maxGridPoints = 1_000_000

type dimKind int

const (
	dimConst dimKind = iota
	dimCat
	dimNum
)

// dim is a parameter prepared for sampling: bounds in the value domain,
// whether kernels live on a log scale, and the step of discrete domains.
type dim struct {
	name  string
	spec  ParamSpec
	kind  dimKind
	lo    float64 // lowest value (exp(min) for W&B's log_uniform)
	hi    float64 // highest reachable value (on the step grid when step > 0)
	step  float64 // 0 for continuous domains
	log   bool
	asInt bool
}

// dims returns the sweep's parameters in ParamNames order.
func dims(c *SweepConfig) []dim {
	names := c.ParamNames()
	out := make([]dim, len(names))
	for i, n := range names {
		out[i] = newDim(n, c.Parameters[n])
	}
	return out
}

func newDim(name string, p ParamSpec) dim {
	d := dim{name: name, spec: p, kind: dimNum, lo: p.Min, hi: p.Max}
	switch p.Distribution {
	case DistConstant:
		d.kind = dimConst
	case DistCategorical:
		d.kind = dimCat
	case DistIntUniform:
		d.step, d.asInt = 1, true
	case DistQUniform:
		d.step, d.asInt = p.Q, p.IntValued
	case DistLogUniform:
		d.lo, d.hi, d.log = math.Exp(p.Min), math.Exp(p.Max), true
	case DistLogUniformValues:
		d.log = true
	case DistQLogUniformValues:
		d.step, d.asInt, d.log = p.Q, p.IntValued, true
	}
	if d.step > 0 {
		// The last grid point inside [min, max]; the epsilon absorbs
		// representation error in (max-min)/q for decimal steps.
		k := math.Floor((d.hi-d.lo)/d.step + 1e-9)
		d.hi = d.lo + k*d.step
	}
	return d
}

// points is the number of values of a discrete dimension.
func (d dim) points() int {
	switch d.kind {
	case dimConst:
		return 1
	case dimCat:
		return len(d.spec.Values)
	}
	return int(math.Round((d.hi-d.lo)/d.step)) + 1
}

// align snaps x onto the dimension's step grid and clamps it into bounds.
func (d dim) align(x float64) float64 {
	if d.step > 0 {
		x = d.lo + math.Round((x-d.lo)/d.step)*d.step
	}
	return math.Min(math.Max(x, d.lo), d.hi)
}

// value converts an internal numeric sample to the parameter value callers see.
func (d dim) value(x float64) any {
	x = d.align(x)
	if d.asInt {
		return int(math.Round(x))
	}
	return x
}

// sampleRandom draws one value uniformly: uniformly over the grid for
// discrete domains, log-uniformly for log ones.
func (d dim) sampleRandom(rng *rand.Rand) any {
	switch d.kind {
	case dimConst:
		return d.spec.Value
	case dimCat:
		return d.spec.Values[rng.IntN(len(d.spec.Values))]
	}
	if d.step > 0 && !d.log {
		return d.value(d.lo + float64(rng.IntN(d.points()))*d.step)
	}
	if d.log {
		lo, hi := d.logBounds()
		return d.value(math.Exp(lo + rng.Float64()*(hi-lo)))
	}
	return d.value(d.lo + rng.Float64()*(d.hi-d.lo))
}

// logBounds are the log-domain bounds, widened by half a step for discrete
// domains so the end points get their fair share of mass (Optuna's rule).
func (d dim) logBounds() (float64, float64) {
	lo, hi := d.lo, d.hi
	if d.step > 0 {
		lo, hi = math.Max(lo-d.step/2, math.SmallestNonzeroFloat64), hi+d.step/2
	}
	return math.Log(lo), math.Log(hi)
}

// gridValues lists a discrete dimension's values in ascending (or listed) order.
func (d dim) gridValues() []any {
	switch d.kind {
	case dimConst:
		return []any{d.spec.Value}
	case dimCat:
		return d.spec.Values
	}
	n := d.points()
	out := make([]any, n)
	for k := range out {
		out[k] = d.value(d.lo + float64(k)*d.step)
	}
	return out
}

// gridSize is the number of grid points, or an error past maxGridPoints.
func (c *SweepConfig) gridSize() (int, error) {
	size := 1
	for _, d := range dims(c) {
		n := d.points()
		if n > maxGridPoints || size > maxGridPoints/n {
			return 0, fmt.Errorf("parameters: the grid has more than %d points", maxGridPoints)
		}
		size *= n
	}
	return size, nil
}

// GridPoints lists every combination of a grid sweep in a fixed order
// (parameters sorted by name, the last varying fastest).
func (c *SweepConfig) GridPoints() ([]map[string]any, error) {
	if _, err := c.gridSize(); err != nil {
		return nil, err
	}
	grid := map[string][]any{}
	for _, d := range dims(c) {
		if d.kind == dimNum && d.step == 0 {
			return nil, fmt.Errorf("tune: parameters.%s: continuous parameters have no grid", d.name)
		}
		if d.kind == dimNum && d.log {
			return nil, fmt.Errorf("tune: parameters.%s: log distributions have no grid", d.name)
		}
		grid[d.name] = d.gridValues()
	}
	return selection.ExpandGrid(grid)
}

// Bands returns the Hyperband budgets strictly below limit, ascending:
// MinIter·Eta^k, or int(MaxIter/Eta^k) for k = 1..S when MaxIter is set.
func (h *Hyperband) Bands(limit int) []int {
	var out []int
	eta := h.Eta
	if eta == 0 {
		eta = 3
	}
	if h.MaxIter > 0 {
		b := float64(h.MaxIter)
		for i := 0; i < h.S; i++ {
			b /= eta
			if b < 1 {
				break
			}
			out = append(out, int(b))
		}
	} else if h.MinIter > 0 {
		// 100 bands as in W&B; the float cap keeps int conversion exact.
		for b := float64(h.MinIter); len(out) < 100 && b < 1<<53; b *= eta {
			out = append(out, int(b))
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	n := 0
	for _, b := range out {
		if b < limit {
			out[n] = b
			n++
		}
	}
	return out[:n]
}
