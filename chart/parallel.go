package chart

import "math"

// Axis is one vertical axis of a parallel-coordinates chart.
type Axis struct {
	Name  string
	Ticks []Tick
}

// Tick is a label at a position along an axis, 0 at the bottom and 1 at
// the top.
type Tick struct {
	Pos   float64
	Label string
}

// Polyline is one item (a sweep trial) across the axes.
type Polyline struct {
	Name string // its tooltip
	// Pos is the item's position on each axis in [0, 1] (clamped to it);
	// NaN where the item has no value, and the line then joins the axes
	// on either side.
	Pos []float64
	// Colour is the item's place on the Viridis scale (1 is yellow), NaN
	// for grey.
	Colour float64
	Dashed bool // drawn dashed (class "stopped"): a trial stopped early
}

// ParallelChart draws one vertical axis per dimension, evenly spaced, and
// each item as a line across them. Lines are drawn in order, so the last
// is on top. XLabel is not drawn: the axes name themselves.
type ParallelChart struct {
	Options
	Axes  []Axis
	Lines []Polyline
}

// SVG draws the chart. A line with fewer than two finite positions is
// left out; with no line left the error wraps ErrNoData. Fewer than two
// axes, or a line with a position count other than the axis count, are
// errors.
func (c ParallelChart) SVG() (string, error) {
	o := c.Options
	if err := o.check(); err != nil {
		return "", err
	}
	if len(c.Axes) < 2 {
		return "", o.errorf("%d axes: want at least 2", len(c.Axes))
	}
	ok := 0
	for i, l := range c.Lines {
		if len(l.Pos) != len(c.Axes) {
			return "", o.errorf("line %d (%q): %d positions for %d axes: want one per axis", i, l.Name, len(l.Pos), len(c.Axes))
		}
		if countFinite(l.Pos) >= 2 {
			ok++
		}
	}
	if ok == 0 {
		return "", o.errorf("%w", ErrNoData)
	}
	ml := 40.0
	if o.YLabel != "" {
		ml = 60
	}
	fr := frame{left: ml, right: o.Width - 80, top: o.headroom() + 32, bottom: o.Height - 24}
	if err := fr.check(o); err != nil {
		return "", err
	}
	fr.sx = Linear(0, float64(len(c.Axes)-1), fr.left, fr.right)
	fr.sy = Linear(0, 1, fr.bottom, fr.top)
	d := o.open("parallel")
	for i := range c.Axes {
		x := fr.sx(float64(i))
		d.Line(x, fr.top, x, fr.bottom, Style{Class: "axis"})
	}
	for _, l := range c.Lines {
		drawPolyline(d, fr, l)
	}
	c.labels(d, fr)
	if o.YLabel != "" {
		d.VText(12, (fr.top+fr.bottom)/2, "label", o.YLabel)
	}
	return d.Close(), nil
}

// labels names the axes and writes their ticks, over the lines.
func (c ParallelChart) labels(d *Doc, fr frame) {
	for i, a := range c.Axes {
		x := fr.sx(float64(i))
		d.Text(x, fr.top-10, Middle, "label", a.Name)
		for _, t := range a.Ticks {
			if Finite(t.Pos) {
				d.Text(x+4, fr.sy(clamp01(t.Pos))+4, Start, "tick", t.Label)
			}
		}
	}
}

func drawPolyline(d *Doc, fr frame, l Polyline) {
	if countFinite(l.Pos) < 2 {
		return
	}
	var p Path
	for i, v := range l.Pos {
		if !Finite(v) {
			continue
		}
		x, y := fr.sx(float64(i)), fr.sy(clamp01(v))
		if p.Empty() {
			p.MoveTo(x, y)
		} else {
			p.LineTo(x, y)
		}
	}
	cls := "pc"
	if l.Dashed {
		cls += " stopped"
	}
	d.Path(&p, Style{Class: cls, Stroke: Viridis(l.Colour), Title: l.Name})
}

func countFinite(vs []float64) int {
	n := 0
	for _, v := range vs {
		if Finite(v) {
			n++
		}
	}
	return n
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }
