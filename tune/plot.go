package tune

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/housing-mlops/mlops/chart"
)

// BestSoFarSVG draws each trial's metric, completed and early-stopped
// trials apart, and the best-so-far curve against the trial number
// (1-based), as a standalone SVG document. Failed trials are left out.
func BestSoFarSVG(res *Result) ([]byte, error) {
	if res == nil || len(res.Trials) == 0 {
		return nil, errors.New("tune: plot: no trials")
	}
	done := chart.Series{Name: "completed", Class: "s1", Draw: chart.Dots}
	stopped := chart.Series{Name: "stopped early (metric at its band)", Class: "muted", Draw: chart.Dots}
	best := chart.Series{Name: "best so far", Class: "s3", Draw: chart.Steps}
	for i, t := range res.Trials {
		if t.Err != nil {
			continue
		}
		x := float64(i + 1)
		if t.StoppedEarly {
			stopped.X, stopped.Y = append(stopped.X, x), append(stopped.Y, t.Metric)
		} else {
			done.X, done.Y = append(done.X, x), append(done.Y, t.Metric)
		}
		if i < len(res.BestSoFar) {
			// NaN before the first completed trial: the chart skips it.
			best.X, best.Y = append(best.X, x), append(best.Y, res.BestSoFar[i])
		}
	}
	metric := res.Config.Metric.Name
	svg, err := chart.LineChart{
		Options:  chart.Options{Title: "Sweep progress: " + metric + " by trial", XLabel: "trial", YLabel: metric, Width: 800, Height: 500, Standalone: true},
		Series:   []chart.Series{done, stopped, best},
		IntegerX: true,
	}.SVG()
	if err != nil {
		return nil, fmt.Errorf("tune: plot: %w", err)
	}
	return []byte(svg), nil
}

// ParallelCoordinatesSVG draws a parallel-coordinates chart as a
// standalone SVG document: one vertical axis per parameter (scaled to its
// search range, log-scaled for log distributions, categories evenly
// spaced) plus one for the metric, and one line per successful trial
// coloured by rank, yellow best to purple worst; rank rather than value so
// a few very bad trials do not wash the rest into one colour. The best
// trials are drawn last, on top; early-stopped trials are dashed.
func ParallelCoordinatesSVG(res *Result) ([]byte, error) {
	if res == nil || len(res.Trials) == 0 {
		return nil, errors.New("tune: plot: no trials")
	}
	ds := dims(res.Config)
	lo, hi := metricRange(res)
	if math.IsNaN(lo) {
		return nil, errors.New("tune: plot: no successful trial with a finite metric")
	}
	metric := res.Config.Metric.Name
	axes := make([]chart.Axis, 0, len(ds)+1)
	for _, d := range ds {
		axes = append(axes, d.axis())
	}
	axes = append(axes, chart.Axis{Name: metric, Ticks: []chart.Tick{{Pos: 0, Label: chart.Num(lo)}, {Pos: 1, Label: chart.Num(hi)}}})
	ranks := goodnessRanks(res)
	order := make([]int, 0, len(ranks))
	for i := range res.Trials {
		if _, ok := ranks[i]; ok {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return ranks[order[a]] > ranks[order[b]] })
	lines := make([]chart.Polyline, 0, len(order))
	for _, i := range order {
		t := res.Trials[i]
		pos := make([]float64, 0, len(ds)+1)
		for _, d := range ds {
			pos = append(pos, d.position(t.Params[d.name]))
		}
		pos = append(pos, scale(t.Metric, lo, hi))
		lines = append(lines, chart.Polyline{
			Name:   "trial " + strconv.Itoa(i+1) + ": " + metric + " " + chart.Num(t.Metric),
			Pos:    pos,
			Colour: 1 - ranks[i],
			Dashed: t.StoppedEarly,
		})
	}
	svg, err := chart.ParallelChart{
		Options: chart.Options{Title: "Parameters by " + metric + " (yellow: best rank; dashed: stopped early)",
			YLabel: "position in search range", Width: 160 + 150*float64(len(axes)), Height: 500, Standalone: true},
		Axes:  axes,
		Lines: lines,
	}.SVG()
	if err != nil {
		return nil, fmt.Errorf("tune: plot: %w", err)
	}
	return []byte(svg), nil
}

// axis is the chart axis of a parameter: its bounds at the ends, every
// category at its place, a constant in the middle.
func (d dim) axis() chart.Axis {
	a := chart.Axis{Name: d.name}
	switch d.kind {
	case dimConst:
		a.Ticks = []chart.Tick{{Pos: 0.5, Label: fmt.Sprint(d.spec.Value)}}
	case dimCat:
		for _, v := range d.spec.Values {
			a.Ticks = append(a.Ticks, chart.Tick{Pos: d.position(v), Label: fmt.Sprint(v)})
		}
	default:
		if d.log {
			a.Name += " (log)"
		}
		a.Ticks = []chart.Tick{{Pos: 0, Label: chart.Num(d.lo)}, {Pos: 1, Label: chart.Num(d.hi)}}
	}
	return a
}

// position maps a parameter value to [0, 1] along its axis; NaN when the
// trial has no usable value, which the chart leaves out.
func (d dim) position(v any) float64 {
	switch d.kind {
	case dimConst:
		return 0.5
	case dimCat:
		i := indexOf(d.spec.Values, v)
		switch {
		case i < 0:
			return math.NaN()
		case len(d.spec.Values) == 1:
			return 0.5
		}
		return float64(i) / float64(len(d.spec.Values)-1)
	}
	x, ok := toFloat(v)
	if !ok {
		return math.NaN()
	}
	if d.log {
		return scale(math.Log(x), math.Log(d.lo), math.Log(d.hi))
	}
	return scale(x, d.lo, d.hi)
}

// goodnessRanks maps each successful trial to its rank in [0, 1], 0 = best.
func goodnessRanks(res *Result) map[int]float64 {
	var idx []int
	for i, t := range res.Trials {
		if t.Err == nil {
			idx = append(idx, i)
		}
	}
	sign := 1.0
	if res.Config.Metric.Goal == GoalMaximize {
		sign = -1
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return sign*res.Trials[idx[a]].Metric < sign*res.Trials[idx[b]].Metric
	})
	out := make(map[int]float64, len(idx))
	for r, i := range idx {
		out[i] = 0.5
		if len(idx) > 1 {
			out[i] = float64(r) / float64(len(idx)-1)
		}
	}
	return out
}

func scale(x, lo, hi float64) float64 {
	if hi == lo {
		return 0.5
	}
	return (x - lo) / (hi - lo)
}

// metricRange is the range of the successful trials' finite metrics (NaN,
// NaN if none).
func metricRange(res *Result) (float64, float64) {
	var ms []float64
	for _, t := range res.Trials {
		if t.Err == nil {
			ms = append(ms, t.Metric)
		}
	}
	return chart.Extent(ms)
}
