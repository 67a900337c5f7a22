package tune

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotBestSoFar saves a PNG (or SVG/PDF by extension) of each trial's metric
// and the best-so-far curve against the trial number (1-based).
func PlotBestSoFar(res *Result, path string) error {
	if res == nil || len(res.Trials) == 0 {
		return errors.New("tune: plot: no trials")
	}
	p := plot.New()
	p.Title.Text = "Sweep progress"
	p.X.Label.Text = "trial"
	p.Y.Label.Text = res.Config.Metric.Name
	var done, stopped, best plotter.XYs
	for i, t := range res.Trials {
		if t.Err != nil {
			continue
		}
		pt := plotter.XY{X: float64(i + 1), Y: t.Metric}
		if t.StoppedEarly {
			stopped = append(stopped, pt)
		} else {
			done = append(done, pt)
		}
		if !math.IsNaN(res.BestSoFar[i]) {
			best = append(best, plotter.XY{X: float64(i + 1), Y: res.BestSoFar[i]})
		}
	}
	if err := addScatter(p, done, color.RGBA{R: 40, G: 90, B: 200, A: 255}, "completed"); err != nil {
		return err
	}
	if err := addScatter(p, stopped, color.RGBA{R: 160, G: 160, B: 160, A: 255}, "stopped early (metric at its band)"); err != nil {
		return err
	}
	if len(best) > 0 {
		line, err := plotter.NewLine(best)
		if err != nil {
			return fmt.Errorf("tune: plot: %w", err)
		}
		line.Color = color.RGBA{R: 200, G: 40, B: 40, A: 255}
		line.Width = vg.Points(2)
		line.StepStyle = plotter.PreStep
		p.Add(line)
		p.Legend.Add("best so far", line)
	}
	// Minimising sweeps descend, so the top right is the empty corner.
	p.Legend.Top = res.Config.Metric.Goal == GoalMinimize
	p.Add(plotter.NewGrid())
	return save(p, path, 8, 5)
}

func addScatter(p *plot.Plot, pts plotter.XYs, c color.Color, label string) error {
	if len(pts) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return fmt.Errorf("tune: plot: %w", err)
	}
	s.Color = c
	p.Add(s)
	p.Legend.Add(label, s)
	return nil
}

// PlotParallelCoordinates saves a parallel-coordinates chart: one vertical
// axis per parameter (scaled to its search range, log-scaled for log
// distributions, categories evenly spaced) plus one for the metric, and one
// polyline per successful trial coloured by rank from blue (best) to red
// (worst); rank rather than value so a few very bad trials do not wash the
// rest into one colour. Early-stopped trials are dashed.
func PlotParallelCoordinates(res *Result, path string) error {
	if res == nil || len(res.Trials) == 0 {
		return errors.New("tune: plot: no trials")
	}
	ds := dims(res.Config)
	lo, hi := metricRange(res)
	if math.IsInf(lo, 0) {
		return errors.New("tune: plot: no successful trials")
	}
	cmap := moreland.SmoothBlueRed()
	cmap.SetMin(0)
	cmap.SetMax(1)
	p := plot.New()
	p.Title.Text = "Parameters by " + res.Config.Metric.Name
	p.Y.Label.Text = "position in search range"
	ticks := make(plot.ConstantTicks, 0, len(ds)+1)
	for j, d := range ds {
		ticks = append(ticks, plot.Tick{Value: float64(j), Label: d.name})
	}
	ticks = append(ticks, plot.Tick{Value: float64(len(ds)), Label: res.Config.Metric.Name})
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = -0.3, float64(len(ds))+0.3
	p.Y.Min, p.Y.Max = -0.05, 1.05
	ranks := goodnessRanks(res)
	for i, t := range res.Trials {
		if t.Err != nil {
			continue
		}
		pts := make(plotter.XYs, 0, len(ds)+1)
		for j, d := range ds {
			pts = append(pts, plotter.XY{X: float64(j), Y: d.position(t.Params[d.name])})
		}
		m := scale(t.Metric, lo, hi)
		pts = append(pts, plotter.XY{X: float64(len(ds)), Y: m})
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("tune: plot: %w", err)
		}
		c, err := cmap.At(ranks[i])
		if err != nil {
			return fmt.Errorf("tune: plot: colour: %w", err)
		}
		line.Color = c
		line.Width = vg.Points(1.2)
		if t.StoppedEarly {
			line.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		}
		p.Add(line)
	}
	if err := addAxisLabels(p, ds, lo, hi); err != nil {
		return err
	}
	return save(p, path, float64(2+1.6*float64(len(ds)+1)), 5)
}

// addAxisLabels writes each axis's low and high value at its ends.
func addAxisLabels(p *plot.Plot, ds []dim, lo, hi float64) error {
	var xys plotter.XYs
	var labels []string
	for j, d := range ds {
		bottom, top := d.endLabels()
		xys = append(xys, plotter.XY{X: float64(j), Y: 0}, plotter.XY{X: float64(j), Y: 1})
		labels = append(labels, bottom, top)
	}
	xys = append(xys, plotter.XY{X: float64(len(ds)), Y: 0}, plotter.XY{X: float64(len(ds)), Y: 1})
	labels = append(labels, formatNum(lo), formatNum(hi))
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return fmt.Errorf("tune: plot: %w", err)
	}
	p.Add(l)
	return nil
}

func (d dim) endLabels() (string, string) {
	switch d.kind {
	case dimConst:
		return fmt.Sprint(d.spec.Value), ""
	case dimCat:
		return fmt.Sprint(d.spec.Values[0]), fmt.Sprint(d.spec.Values[len(d.spec.Values)-1])
	}
	return formatNum(d.lo), formatNum(d.hi)
}

// position maps a parameter value to [0, 1] along its axis.
func (d dim) position(v any) float64 {
	switch d.kind {
	case dimConst:
		return 0.5
	case dimCat:
		if len(d.spec.Values) == 1 {
			return 0.5
		}
		return float64(max(indexOf(d.spec.Values, v), 0)) / float64(len(d.spec.Values)-1)
	}
	x, ok := toFloat(v)
	if !ok {
		return 0.5
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

func metricRange(res *Result) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range res.Trials {
		if t.Err == nil {
			lo, hi = math.Min(lo, t.Metric), math.Max(hi, t.Metric)
		}
	}
	return lo, hi
}

func formatNum(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }

func save(p *plot.Plot, path string, wInch, hInch float64) error {
	if err := p.Save(vg.Length(wInch)*vg.Inch, vg.Length(hInch)*vg.Inch, path); err != nil {
		return fmt.Errorf("tune: plot: save %s: %w", path, err)
	}
	return nil
}
