package chart

import (
	"math"
	"slices"
)

// BarChart draws one bar per label, from zero to its value.
type BarChart struct {
	Options
	Labels []string
	Values []float64
	// Highlight is the label of the bar drawn in the highlight colour
	// (classes "bar best"), "" for none; the first bar of that label when
	// several share it. HighlightNote names it in the legend and the
	// bar's tooltip ("best" when empty).
	Highlight, HighlightNote string
}

// SVG draws the chart. A NaN or infinite value gets no bar, only "n/a"
// above its label; with no finite value the error wraps ErrNoData. Labels
// and values of different lengths, or a Highlight that no bar has, are
// errors. A value is printed above its bar where the bar is wide enough.
func (c BarChart) SVG() (string, error) {
	o := c.Options
	if err := o.check(); err != nil {
		return "", err
	}
	if len(c.Labels) != len(c.Values) {
		return "", o.errorf("%d labels but %d values: want one label per value", len(c.Labels), len(c.Values))
	}
	hl := -1
	if c.Highlight != "" {
		if hl = slices.Index(c.Labels, c.Highlight); hl < 0 {
			return "", o.errorf("highlight %q: no bar has that label", c.Highlight)
		}
	}
	lo, hi := Extent(c.Values)
	if math.IsNaN(lo) {
		return "", o.errorf("%w", ErrNoData)
	}
	note := c.HighlightNote
	if note == "" {
		note = "best"
	}
	const ml, mr, mb = 60.0, 16.0, 40.0
	var items []legendItem
	var lh float64
	if hl >= 0 {
		items, lh = layoutLegend([]string{c.Highlight + " (" + note + ")"}, []string{"best"}, ml, o.Width-mr, o.headroom()+6)
	}
	fr := frame{left: ml, right: o.Width - mr, top: o.headroom() + 12 + lh, bottom: o.Height - mb}
	if err := fr.check(o); err != nil {
		return "", err
	}
	y0, y1 := barDomain(lo, hi)
	fr.sy = Linear(y0, y1, fr.bottom, fr.top)
	d := o.open("bars")
	fr.yAxis(d, Ticks(y0, y1, 5), o.YLabel)
	c.bars(d, fr, hl, note)
	d.Line(fr.left, fr.sy(0), fr.right, fr.sy(0), Style{Class: "axis"})
	if o.XLabel != "" {
		d.Text((fr.left+fr.right)/2, o.Height-6, Middle, "label", o.XLabel)
	}
	drawLegend(d, items)
	return d.Close(), nil
}

// barDomain is the value range of the y axis: zero always in view, and
// room beyond the longest bar for its value.
func barDomain(lo, hi float64) (float64, float64) {
	y0, y1 := math.Min(0, lo), math.Max(0, hi)
	if y0 == y1 {
		return 0, 1
	}
	pad := (y1 - y0) * 0.08
	if y1 > 0 {
		y1 += pad
	}
	if y0 < 0 {
		y0 -= pad
	}
	return y0, y1
}

// bars draws the bars, their labels (every few when they would collide)
// and their values where they fit.
func (c BarChart) bars(d *Doc, fr frame, hl int, note string) {
	bw := (fr.right - fr.left) / float64(len(c.Values))
	widest := 0.0
	for _, l := range c.Labels {
		widest = math.Max(widest, textWidth(l))
	}
	every := max(1, int(math.Ceil((widest+6)/bw)))
	base := fr.sy(0)
	for i, v := range c.Values {
		x := fr.left + float64(i)*bw
		if i%every == 0 {
			d.Text(x+bw/2, fr.bottom+14, Middle, "tick", c.Labels[i])
		}
		if !Finite(v) {
			d.Text(x+bw/2, base-4, Middle, "tick na", "n/a")
			continue
		}
		st := Style{Class: "bar", Title: c.Labels[i] + ": " + Num(v)}
		if i == hl {
			st.Class, st.Title = "bar best", st.Title+" ("+note+")"
		}
		y := fr.sy(v)
		d.Rect(x+bw*0.1, math.Min(y, base), bw*0.8, math.Abs(base-y), st)
		if textWidth(Num(v)) <= bw {
			ty := y - 4
			if v < 0 {
				ty = y + 12
			}
			d.Text(x+bw/2, ty, Middle, "tick", Num(v))
		}
	}
}
