package chart

import "math"

// Draw is how a series is drawn.
type Draw int

const (
	// Lines joins the points with a line (the zero value).
	Lines Draw = iota
	// LinesAndDots joins the points and marks each with a dot.
	LinesAndDots
	// Dots marks each point with a dot and joins none: a scatter.
	Dots
	// Steps holds each value until the next point's x, the shape of a
	// running extreme such as the best metric so far.
	Steps
)

// Series is one set of points of a line chart.
type Series struct {
	Name  string // in the legend and the tooltip
	X, Y  []float64
	Class string // its colour: s1, s2, s3 or muted
	Draw  Draw
}

// LineChart draws series against shared numeric axes.
type LineChart struct {
	Options
	Series []Series
	// IntegerX puts the x ticks on whole numbers only, for counts such as
	// trials or K.
	IntegerX bool
}

type pt struct{ x, y float64 }

// drawn is a series reduced to its runs of finite points.
type drawn struct {
	Series
	runs [][]pt
	n    int
}

// SVG draws the chart. A point with a NaN or infinite coordinate is
// skipped and the line broken there; a series left with no point is left
// out, legend included; with no series left the error wraps ErrNoData.
// A legend is drawn when two or more series are. Scatters (Dots) are
// drawn after the lines, on top.
func (c LineChart) SVG() (string, error) {
	o := c.Options
	if err := o.check(); err != nil {
		return "", err
	}
	ds, err := c.runs()
	if err != nil {
		return "", err
	}
	if len(ds) == 0 {
		return "", o.errorf("%w", ErrNoData)
	}
	var names, classes []string
	if len(ds) > 1 {
		for _, s := range ds {
			names, classes = append(names, s.Name), append(classes, s.Class)
		}
	}
	const ml, mr, mb = 60.0, 16.0, 40.0
	items, lh := layoutLegend(names, classes, ml, o.Width-mr, o.headroom()+6)
	fr := frame{left: ml, right: o.Width - mr, top: o.headroom() + 12 + lh, bottom: o.Height - mb}
	if err := fr.check(o); err != nil {
		return "", err
	}
	x0, x1, y0, y1 := extents(ds)
	y0, y1 = padDomain(y0, y1)
	fr.sx, fr.sy = Linear(x0, x1, fr.left, fr.right), Linear(y0, y1, fr.bottom, fr.top)
	xt := Ticks(x0, x1, 6)
	if c.IntegerX {
		xt = IntTicks(x0, x1, 6)
	}
	d := o.open("line")
	fr.yAxis(d, Ticks(y0, y1, 5), o.YLabel)
	fr.xAxis(d, xt, o.XLabel, o.Height)
	// Lines first, so no line hides a dot.
	for _, s := range ds {
		if s.Draw != Dots {
			drawSeries(d, fr, s)
		}
	}
	for _, s := range ds {
		if s.Draw == Dots {
			drawSeries(d, fr, s)
		}
	}
	drawLegend(d, items)
	return d.Close(), nil
}

// runs checks the series and splits each into runs of finite points,
// dropping the series that have none.
func (c LineChart) runs() ([]drawn, error) {
	var out []drawn
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return nil, c.errorf("series %q: %d x values but %d y values: want one x per y", s.Name, len(s.X), len(s.Y))
		}
		dr := drawn{Series: s}
		var run []pt
		for i := range s.X {
			if !Finite(s.X[i]) || !Finite(s.Y[i]) {
				if len(run) > 0 {
					dr.runs, run = append(dr.runs, run), nil
				}
				continue
			}
			run = append(run, pt{s.X[i], s.Y[i]})
			dr.n++
		}
		if len(run) > 0 {
			dr.runs = append(dr.runs, run)
		}
		if dr.n > 0 {
			out = append(out, dr)
		}
	}
	return out, nil
}

func extents(ds []drawn) (x0, x1, y0, y1 float64) {
	x0, y0 = math.Inf(1), math.Inf(1)
	x1, y1 = math.Inf(-1), math.Inf(-1)
	for _, s := range ds {
		for _, r := range s.runs {
			for _, p := range r {
				x0, x1 = math.Min(x0, p.x), math.Max(x1, p.x)
				y0, y1 = math.Min(y0, p.y), math.Max(y1, p.y)
			}
		}
	}
	return x0, x1, y0, y1
}

// padDomain widens a value range for a y axis: a flat range around its
// value, zero kept in view when it is near, and headroom so the top point
// is not on the frame.
func padDomain(lo, hi float64) (float64, float64) {
	if lo == hi {
		d := math.Abs(lo) * 0.1
		if d == 0 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	if lo > 0 && lo < hi-lo {
		lo = 0
	}
	return lo, hi + (hi-lo)*0.05
}

// drawSeries draws a series as a path in frame coordinates; a series of
// one point is a dot whatever its Draw, or it would not show.
func drawSeries(d *Doc, fr frame, s drawn) {
	dots := s.Draw == Dots || s.n == 1
	if !dots {
		var p Path
		for _, r := range s.runs {
			p.MoveTo(fr.sx(r[0].x), fr.sy(r[0].y))
			for i := 1; i < len(r); i++ {
				if s.Draw == Steps {
					p.LineTo(fr.sx(r[i].x), fr.sy(r[i-1].y))
				}
				p.LineTo(fr.sx(r[i].x), fr.sy(r[i].y))
			}
		}
		d.Path(&p, Style{Class: "series " + s.Class, Title: s.Name})
	}
	if dots || s.Draw == LinesAndDots {
		var p Path
		for _, r := range s.runs {
			for _, q := range r {
				p.Dot(fr.sx(q.x), fr.sy(q.y))
			}
		}
		d.Path(&p, Style{Class: "series pts " + s.Class, Title: s.Name})
	}
}

// frame is the plot area of a chart in pixels and the scales onto it.
type frame struct {
	left, right, top, bottom float64
	sx, sy                   func(float64) float64
}

func (fr frame) check(o Options) error {
	if fr.right-fr.left < 20 || fr.bottom-fr.top < 20 {
		return o.errorf("size %v×%v leaves no room to plot: want a larger width or height", o.Width, o.Height)
	}
	return nil
}

// yAxis draws the grid lines and labels of the y ticks, the axis and its
// label.
func (fr frame) yAxis(d *Doc, ticks []float64, label string) {
	for _, t := range ticks {
		y := fr.sy(t)
		d.Line(fr.left, y, fr.right, y, Style{Class: "grid"})
		d.Text(fr.left-4, y+4, End, "tick", tickLabel(t))
	}
	d.Line(fr.left, fr.top, fr.left, fr.bottom, Style{Class: "axis"})
	if label != "" {
		d.VText(12, (fr.top+fr.bottom)/2, "label", label)
	}
}

// xAxis draws the x axis at the bottom of the frame with its ticks, and
// its label at the bottom of a chart h high.
func (fr frame) xAxis(d *Doc, ticks []float64, label string, h float64) {
	for _, t := range ticks {
		x := fr.sx(t)
		d.Line(x, fr.bottom, x, fr.bottom+4, Style{Class: "axis"})
		d.Text(x, fr.bottom+16, Middle, "tick", tickLabel(t))
	}
	d.Line(fr.left, fr.bottom, fr.right, fr.bottom, Style{Class: "axis"})
	if label != "" {
		d.Text((fr.left+fr.right)/2, h-6, Middle, "label", label)
	}
}
