package chart

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Linear maps the domain [d0, d1] onto the range [r0, r1]; a flat domain
// maps to the middle of the range.
func Linear(d0, d1, r0, r1 float64) func(float64) float64 {
	if d1 == d0 {
		return func(float64) float64 { return (r0 + r1) / 2 }
	}
	return func(v float64) float64 { return r0 + (v-d0)/(d1-d0)*(r1-r0) }
}

// Extent is the least and greatest finite value of vs (NaN, NaN if none).
func Extent(vs ...[]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		for _, x := range v {
			if Finite(x) {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
	}
	if lo > hi {
		return math.NaN(), math.NaN()
	}
	return lo, hi
}

// Finite tells whether x is a number a chart can place: not NaN, not ±Inf.
func Finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Ticks returns about n+1 round values (1, 2, 2.5 or 5 times a power of
// ten apart) within [lo, hi]: just lo when the range is flat, none when it
// is not finite.
func Ticks(lo, hi float64, n int) []float64 { return ticks(lo, hi, n, false) }

// IntTicks is Ticks for counts (trials, K): whole numbers at least 1
// apart, so no axis reads "trial 2.5".
func IntTicks(lo, hi float64, n int) []float64 { return ticks(lo, hi, n, true) }

func ticks(lo, hi float64, n int, whole bool) []float64 {
	if !Finite(lo) || !Finite(hi) || hi < lo {
		return nil
	}
	if hi == lo || math.IsInf(hi-lo, 0) {
		return []float64{lo}
	}
	n = max(n, 1)
	step := tickStep(lo, hi, n, whole)
	if !(step > 0) { // a range below the smallest float's reach
		return []float64{lo}
	}
	// Multiples of the step, not a running sum: no drift like 0.30000000000000004.
	first := math.Ceil(lo/step - 1e-9)
	var out []float64
	for i := first; i*step <= hi+step*1e-9 && len(out) <= 4*n; i++ {
		out = append(out, i*step)
	}
	return out
}

// tickStep is the round step that puts the number of ticks in [lo, hi]
// nearest to n+1; on a tie the larger, for less crowded labels.
func tickStep(lo, hi float64, n int, whole bool) float64 {
	mag := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(n))))
	step, off := 0.0, math.Inf(1)
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		s := m * mag
		if whole && (s < 1 || s != math.Trunc(s)) {
			continue
		}
		count := math.Floor(hi/s+1e-9) - math.Ceil(lo/s-1e-9) + 1
		if d := math.Abs(count - float64(n+1)); d <= off {
			step, off = s, d
		}
	}
	if whole && step == 0 { // the range is narrower than n whole steps
		return 1
	}
	return step
}

// tickLabel prints an axis value: Num, with millions and billions
// shortened, so 25000000 reads 25M rather than 2.5e+07.
func tickLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return Num(v/1e9) + "G"
	case a >= 1e6:
		return Num(v/1e6) + "M"
	}
	return Num(v)
}

// Num prints a number with at most 4 decimals, the way a person reads a
// metric or an axis; very large and very small numbers in e-notation;
// NaN and infinities spelled out.
func Num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "−∞"
	}
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1e6 || a < 1e-3:
		return strconv.FormatFloat(v, 'g', 4, 64)
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'f', 4, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Viridis maps t in [0, 1] (clamped) onto matplotlib's perceptually
// uniform colour map, dark purple to yellow; NaN is grey.
func Viridis(t float64) string {
	stops := [...][3]float64{
		{68, 1, 84}, {71, 44, 122}, {59, 81, 139}, {44, 113, 142}, {33, 144, 141},
		{39, 173, 129}, {92, 200, 99}, {170, 220, 50}, {253, 231, 37},
	}
	if math.IsNaN(t) {
		return "#999"
	}
	x := math.Max(0, math.Min(1, t)) * float64(len(stops)-1)
	i := min(int(x), len(stops)-2)
	f := x - float64(i)
	var c [3]int
	for k := range c {
		c[k] = int(math.Round(stops[i][k]*(1-f) + stops[i+1][k]*f))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
}
